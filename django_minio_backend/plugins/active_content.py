"""User uploads of active types (HTML, SVG, XML, JavaScript) are stored as downloads.

An object named ``evil.html`` or ``x.svg`` in a public bucket would otherwise be
served inline as ``text/html`` / ``image/svg+xml``: stored cross-site scripting on
the storage's domain as soon as users can upload. This built-in answers
``object_parameters`` with ``Content-Disposition: attachment`` for such types, so
browsers download them instead of rendering them; the Content-Type stays true.

It applies to media storages only: static files (``MinioBackendStatic``) are the
site's own code and must be served as such. A storage whose ``content_disposition``
option is set keeps its own choice, and any other plugin setting the header wins
(this one is trylast). Disable it with
``MINIO_DISABLED_PLUGINS = ["django_minio_backend.plugins.active_content"]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..storage import MinioBackend

# Types a browser runs or renders with scripts when opened directly.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "image/svg+xml",
        "text/xml",
        "application/xml",
        "text/xsl",
        "application/xslt+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/ecmascript",
        "application/ecmascript",
        "application/x-shockwave-flash",
        "multipart/x-mixed-replace",
        "text/x-component",
    }
)
# Types that tell a browser nothing, so it sniffs the bytes (and may find HTML).
SNIFFED_TYPES = frozenset({"", "unknown/unknown", "application/unknown", "*/*"})


def is_active(content_type: str | None) -> bool:
    """Whether a browser may run script from a document of ``content_type``."""
    if content_type is not None and "," in content_type:
        return True  # a list: browsers may pick any of its types (text/plain;,text/html)
    main = (content_type or "").split(";", 1)[0].strip().lower()
    subtype = main.partition("/")[2]
    return (
        main in ACTIVE_TYPES
        or main in SNIFFED_TYPES
        or subtype.endswith("+xml")
        or "html" in subtype
        or "script" in subtype
    )


@hookimpl(trylast=True)
def object_parameters(name: str, content: Any, storage: MinioBackend) -> dict[str, str] | None:
    if storage.is_static or storage.config.content_disposition:
        return None
    from ..manager import content_type_guess

    # The type the object will be stored with (the upload's own claim included: a
    # browser may declare text/html for "cat.png").
    content_type = content_type_guess(name=name, content=content, storage=storage)
    if content_type is None or not is_active(content_type):  # None: stored as application/octet-stream
        return None
    return {"Content-Type": str(content_type), "Content-Disposition": "attachment"}
