"""A plugin that is a whole module, named in MINIO_PLUGINS by its module path."""

from __future__ import annotations

from django_minio_backend import hookimpl


@hookimpl
def upload_to_prefix() -> str:
    return "from-a-module"
