"""Hashed static file names on the static bucket: Django's ``ManifestStaticFilesStorage`` semantics.

``collectstatic`` uploads ``css/site.css`` and ``css/site.55e7cbb9ba48.css`` and a
``staticfiles.json`` manifest mapping one to the other; ``{% static "css/site.css" %}``
then gives the hashed name's URL, which can be cached by browsers forever.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.contrib.staticfiles.storage import HashedFilesMixin, ManifestFilesMixin
from django.utils.deconstruct import deconstructible

from .exceptions import ConfigurationError
from .storage import MinioBackendStatic

_LAZY = ("hashed_files", "manifest_hash")


# url() is HashedFilesMixin's (name, force), as on Django's ManifestStaticFilesStorage; mypy
# flags its clash with MinioBackend.url(name, expire, response_headers).
@deconstructible(path="django_minio_backend.models.MinioManifestStaticStorage")
class MinioManifestStaticStorage(ManifestFilesMixin, MinioBackendStatic):  # type: ignore[misc]
    """``MinioBackendStatic`` with hashed names and a manifest (``staticfiles.json`` in the bucket).

    The manifest is read from the bucket on the first URL asked, not when the
    storage is built: constructing a storage never touches the network.
    Options are those of ``MinioBackendStatic``; ``manifest_storage`` as in Django.
    The bucket must be public (``MINIO_PUBLIC_BUCKETS``): CSS and JS files refer to
    each other by relative URLs, which carry no signature.
    """

    def __init__(self, *args: Any, manifest_storage: Any = None, **kwargs: Any) -> None:
        # ManifestFilesMixin.__init__ would read the manifest here; __getattr__ does it on first use.
        HashedFilesMixin.__init__(self, *args, **kwargs)
        self.manifest_storage = self if manifest_storage is None else manifest_storage
        del self.hashed_files

    def __getattr__(self, name: str) -> Any:
        if name not in _LAZY:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        # django-stubs types load_manifest() as a dict; Django 4.2+ returns (hashed_files, hash).
        self.hashed_files, self.manifest_hash = self.load_manifest()  # type: ignore[assignment]
        return self.__dict__[name]

    def post_process(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if not self.is_public:
            # The rewritten references would point at private objects (403), and Django
            # builds them from url(), whose signature it would mangle into the name.
            raise ConfigurationError(
                f"MinioManifestStaticStorage needs a public bucket: add {self.bucket!r} to "
                "MINIO_PUBLIC_BUCKETS (hashed static files are meant to be cached by anyone)."
            )
        yield from super().post_process(*args, **kwargs)
