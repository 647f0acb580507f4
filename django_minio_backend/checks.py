"""Django system checks for configuration mistakes (``manage.py check``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from minio.sse import SseCustomerKey

from .conf import MAX_URL_EXPIRY, SETTINGS, StorageConfig, resolve

BUCKET_NAME = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ID = "django_minio_backend."


def _sources() -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(label, options, static) for the top-level settings and each MinioBackend alias."""
    from .buckets import _is_minio_backend
    from .storage import MinioBackendStatic

    if any(hasattr(settings, s.name) for s in SETTINGS):
        yield "settings", {}, False
    for alias, entry in (getattr(settings, "STORAGES", None) or {}).items():
        backend = entry.get("BACKEND", "")
        if _is_minio_backend(backend):
            static = backend.endswith(MinioBackendStatic.__name__)
            yield f"STORAGES[{alias!r}]", dict(entry.get("OPTIONS") or {}), static


def _check_config(label: str, config: StorageConfig, obj: Any) -> Iterator[CheckMessage]:
    if not config.endpoint:
        yield Error(
            f"{label}: MINIO_ENDPOINT is not set.",
            hint="Set MINIO_ENDPOINT to host[:port].",
            obj=obj,
            id=ID + "E002",
        )
    if config.credentials_provider is None and not (config.access_key and config.secret_key):
        yield Error(
            f"{label}: MINIO_ACCESS_KEY or MINIO_SECRET_KEY is not set.",
            hint="Set both keys (read them from the environment, not from code).",
            obj=obj,
            id=ID + "E003",
        )
    expiry = config.url_expiry_hours
    if not isinstance(expiry, timedelta):
        yield Error(
            f"{label}: MINIO_URL_EXPIRY_HOURS must be a datetime.timedelta, not {type(expiry).__name__}.",
            hint="For example MINIO_URL_EXPIRY_HOURS = timedelta(hours=12).",
            obj=obj,
            id=ID + "E004",
        )
    elif not timedelta(seconds=1) <= expiry <= MAX_URL_EXPIRY:
        yield Error(
            f"{label}: MINIO_URL_EXPIRY_HOURS is {expiry}; S3 accepts 1 second to 7 days.",
            hint="Use at most timedelta(days=7).",
            obj=obj,
            id=ID + "E005",
        )
    both = sorted(set(config.private_buckets) & set(config.public_buckets))
    if both:
        yield Error(
            f"{label}: bucket(s) {', '.join(both)} are in both MINIO_PRIVATE_BUCKETS and "
            "MINIO_PUBLIC_BUCKETS.",
            hint="Keep each bucket in one list.",
            obj=obj,
            id=ID + "E001",
        )
    for name in {config.bucket_name, *config.private_buckets, *config.public_buckets}:
        if not isinstance(name, str) or not BUCKET_NAME.match(name):
            yield Error(
                f"{label}: {name!r} is not a valid S3 bucket name.",
                hint="3-63 characters: lower-case letters, digits, '.' and '-', starting and ending "
                "with a letter or digit.",
                obj=obj,
                id=ID + "E007",
            )
    for entry in config.policy_hooks:
        if not (
            isinstance(entry, (tuple, list))
            and len(entry) == 2
            and isinstance(entry[0], str)
            and isinstance(entry[1], dict)
        ):
            yield Error(
                f"{label}: MINIO_POLICY_HOOKS entry {entry!r} is not a (bucket_name, policy_dict) pair.",
                hint="MINIO_POLICY_HOOKS = [('bucket', {'Version': '2012-10-17', 'Statement': [...]})]",
                obj=obj,
                id=ID + "E006",
            )
    if not config.multipart_upload:
        yield Warning(
            f"{label}: MINIO_MULTIPART_UPLOAD=False is ignored.",
            hint="Content over MINIO_MULTIPART_THRESHOLD is always sent in parts so that memory stays "
            "bounded; raise MINIO_MULTIPART_THRESHOLD instead, or remove the setting.",
            obj=obj,
            id=ID + "W003",
        )
    if isinstance(config.sse, SseCustomerKey) and not config.use_https:
        yield Warning(
            f"{label}: an SSE-C key (sse=SseCustomerKey) is sent with every request over plain HTTP.",
            hint="Set MINIO_USE_HTTPS = True; S3 itself refuses SSE-C without TLS.",
            obj=obj,
            id=ID + "W004",
        )
    window = config.url_signing_window
    if window is not None and (
        not isinstance(window, timedelta) or not timedelta(0) < window <= MAX_URL_EXPIRY
    ):
        yield Error(
            f"{label}: MINIO_URL_SIGNING_WINDOW must be a timedelta between 0 and 7 days, not {window!r}.",
            hint="For example MINIO_URL_SIGNING_WINDOW = timedelta(hours=1).",
            obj=obj,
            id=ID + "E010",
        )
    if config.external_endpoint is None and _explicit(label, "external_endpoint_use_https"):
        yield Warning(
            f"{label}: MINIO_EXTERNAL_ENDPOINT_USE_HTTPS is set but MINIO_EXTERNAL_ENDPOINT is not.",
            hint="Set MINIO_EXTERNAL_ENDPOINT or remove MINIO_EXTERNAL_ENDPOINT_USE_HTTPS.",
            obj=obj,
            id=ID + "W001",
        )


def _explicit(label: str, option: str) -> bool:
    if label == "settings":
        return hasattr(settings, "MINIO_" + option.upper())
    return False


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate the MINIO_* settings and every MinioBackend storage."""
    from .buckets import model_file_fields

    messages: list[CheckMessage] = []
    for label, options, static in _sources():
        try:
            config = resolve(options, static=static)
        except (ImproperlyConfigured, TypeError, ValueError) as exc:
            messages.append(Error(f"{label}: {exc}", id=ID + "E008"))
            continue
        messages.extend(_check_config(label, config, None))
        if label != "settings":
            messages.extend(_undeclared(label, config))
    for model, field, storage in model_file_fields():
        label = f"{model._meta.label}.{field.name}"
        try:
            config = storage.config
        except (ImproperlyConfigured, TypeError, ValueError) as exc:
            messages.append(Error(f"{label}: {exc}", id=ID + "E008"))
            continue
        messages.extend(_undeclared(label, config))
    return messages


def _undeclared(label: str, config: StorageConfig) -> list[CheckMessage]:
    if config.bucket_name in config.private_buckets + config.public_buckets:
        return []
    return [
        Warning(
            f"{label}: bucket {config.bucket_name!r} is in neither MINIO_PRIVATE_BUCKETS "
            "nor MINIO_PUBLIC_BUCKETS.",
            hint="Declare it so initialize_buckets creates it with the right policy.",
            id=ID + "W002",
        )
    ]


@register(Tags.compatibility)
def check_plugins(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The plugins load and implement only known hooks."""
    from .manager import get_plugin_manager

    try:
        get_plugin_manager()
    except Exception as exc:
        return [
            Error(
                f"django_minio_backend plugins: {exc}",
                hint="Fix or remove the plugin, or list it in MINIO_DISABLED_PLUGINS.",
                id=ID + "E009",
            )
        ]
    return []
