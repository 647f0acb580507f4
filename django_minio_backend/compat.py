"""The public methods of django-minio-backend 3.x / 4.x, kept as thin shims.

Code written for those versions calls them (health checks, admin actions, data
migrations); each one does what it did, through this package's own machinery.
Where a better API exists the shim says so with a ``DeprecationWarning``.

Subclasses written for django-storages override ``get_object_parameters(self, name)``
and return boto3 parameters; they are adapted here (see ``__init_subclass__``).
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from minio import Minio

from .buckets import sync_bucket
from .client import client_for, split_endpoint
from .conf import MEDIA_BUCKET_DEFAULT, STATIC_BUCKET_DEFAULT
from .headers import boto3_headers
from .plugins.public_read import bucket_locations
from .policies import public_read_policy

if TYPE_CHECKING:
    from minio.datatypes import Object

    from .conf import StorageConfig
    from .storage import MinioBackend


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"MinioBackend.{old} is deprecated; {new}.", DeprecationWarning, stacklevel=3)


def _takes_content(method: Callable[..., Any]) -> bool:
    """Whether ``method(self, name, content)`` can be called."""
    try:
        inspect.signature(method).bind(None, "name", None)
    except TypeError:
        return False
    return True


def _adapt_one_argument(
    cls: type[UpstreamCompatMixin], method: Callable[..., Any]
) -> Callable[..., dict[str, str]]:
    """Wrap a django-storages style ``get_object_parameters(self, name)``.

    Its boto3 parameters become headers, laid over what this backend would send
    (storage options, plugins, guessed Content-Type), as django-storages lays them
    over ``AWS_S3_OBJECT_PARAMETERS`` and its own guess.
    """

    @functools.wraps(method)
    def get_object_parameters(self: MinioBackend, name: str, content: Any = None) -> dict[str, str]:
        own = boto3_headers(method(self, name))
        # cls is a MinioBackend subclass; mypy sees only the mixin, whose bases lack the method.
        base: dict[str, str] = super(cls, self).get_object_parameters(name, content)  # type: ignore[misc]
        lowered = {key.lower() for key in own}
        return {**{k: v for k, v in base.items() if k.lower() not in lowered}, **own}

    return get_object_parameters


class UpstreamCompatMixin:
    """3.x / 4.x attributes and methods of ``MinioBackend``."""

    DEFAULT_MEDIA_FILES_BUCKET = MEDIA_BUCKET_DEFAULT
    DEFAULT_STATIC_FILES_BUCKET = STATIC_BUCKET_DEFAULT

    if TYPE_CHECKING:  # provided by MinioBackend, read-only there

        @property
        def config(self) -> StorageConfig: ...
        @property
        def client(self) -> Minio: ...
        @property
        def bucket(self) -> str: ...
        @property
        def is_public(self) -> bool: ...
        def _stat(self, name: str) -> Any: ...
        def with_bucket(self, bucket_name: str) -> MinioBackend: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("get_object_parameters")
        if callable(method) and not _takes_content(method):
            # Defined on MinioBackend, which mypy cannot see from the mixin.
            cls.get_object_parameters = _adapt_one_argument(cls, method)  # type: ignore[attr-defined]

    # -- attributes ----------------------------------------------------------------

    @property
    def PRIVATE_BUCKETS(self) -> list[str]:
        """``MINIO_PRIVATE_BUCKETS`` of this storage."""
        return list(self.config.private_buckets)

    @property
    def PUBLIC_BUCKETS(self) -> list[str]:
        """``MINIO_PUBLIC_BUCKETS`` of this storage."""
        return list(self.config.public_buckets)

    @property
    def is_bucket_public(self) -> bool:
        """Deprecated: ``is_public``."""
        _deprecated("is_bucket_public", "use MinioBackend.is_public")
        return self.is_public

    @property
    def same_endpoints(self) -> bool:
        """Whether browsers are given the endpoint the backend talks to."""
        external = self.config.external_endpoint
        return not external or external == self.config.endpoint

    @property
    def base_url(self) -> str:
        """``http(s)://MINIO_ENDPOINT`` (a scheme written in the endpoint wins)."""
        host, https = split_endpoint(self.config.endpoint, self.config.use_https)
        return f"{'https' if https else 'http'}://{host}"

    @property
    def base_url_external(self) -> str:
        """``http(s)://MINIO_EXTERNAL_ENDPOINT`` (``base_url`` when there is none)."""
        config = self.config
        if not config.external_endpoint:
            return self.base_url
        host, https = split_endpoint(config.external_endpoint, config.external_endpoint_use_https)
        return f"{'https' if https else 'http'}://{host}"

    @property
    def client_external(self) -> Minio:
        """Deprecated: a minio client for ``MINIO_EXTERNAL_ENDPOINT``; ``url()`` signs without one."""
        _deprecated("client_external", "url() signs for MINIO_EXTERNAL_ENDPOINT locally")
        config = self.config
        if self.same_endpoints:
            return self.client
        external = dataclasses.replace(
            config, endpoint=config.external_endpoint or "", use_https=config.external_endpoint_use_https
        )
        return client_for(external)

    client_fake = client_external  # the 3.x name

    # -- objects -------------------------------------------------------------------

    def stat(self, name: str) -> Object:
        """The object's information (size, etag, metadata, ...); FileNotFoundError when missing."""
        result: Object = self._stat(name)
        return result

    # -- buckets -------------------------------------------------------------------

    def set_bucket_policy(self, bucket: str, policy: dict[str, Any]) -> None:
        """Deprecated: set ``policy`` on ``bucket`` now, outside the reconciliation."""
        _deprecated(
            "set_bucket_policy",
            "declare it in MINIO_POLICY_HOOKS (or a bucket_policy plugin) and run initialize_buckets",
        )
        self.client.set_bucket_policy(bucket, json.dumps(policy))

    def set_bucket_to_public(self) -> None:
        """Deprecated: give this bucket the public-read policy now."""
        _deprecated("set_bucket_to_public", "list the bucket in MINIO_PUBLIC_BUCKETS")
        locations = bucket_locations(self.bucket, cast("MinioBackend", self))
        policy = public_read_policy(self.bucket, locations=locations)
        self.client.set_bucket_policy(self.bucket, json.dumps(policy))

    def check_bucket_existence(self) -> None:
        """Deprecated: create this bucket if missing and reconcile its policy."""
        _deprecated("check_bucket_existence", "run manage.py initialize_buckets")
        sync_bucket(cast("MinioBackend", self))  # the mixin is only mixed into MinioBackend

    def check_bucket_existences(self) -> None:
        """Deprecated: create every bucket of this storage's bucket lists and reconcile policies."""
        _deprecated("check_bucket_existences", "run manage.py initialize_buckets")
        config = self.config
        for name in dict.fromkeys([*config.public_buckets, *config.private_buckets]):
            sync_bucket(self.with_bucket(name))

    def validate_settings(self) -> None:
        """Deprecated: raise ConfigurationError naming every configuration error of this storage."""
        from django.core.checks import ERROR

        from .checks import config_messages
        from .exceptions import ConfigurationError

        _deprecated("validate_settings", "manage.py check reports the same errors")
        errors = [m.msg for m in config_messages(type(self).__name__, self.config) if m.level >= ERROR]
        if errors:
            raise ConfigurationError(" ".join(errors))
