"""A plugin module in the form the plugin docs show: module-level ``@hookimpl`` functions.

tests/test_migration.py names it in MINIO_PLUGINS by module path, before anything imports it.
"""

from __future__ import annotations

from django_minio_backend import hookimpl


@hookimpl
def upload_to_prefix(filename: str) -> str:
    return "from-module"
