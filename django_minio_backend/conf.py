"""Settings, read in one place.

A storage's configuration is resolved once, with one precedence:
keyword arguments (which is what ``STORAGES[alias]["OPTIONS"]`` becomes), then the
OPTIONS of the alias named by ``storage_name``, then the top-level ``MINIO_*``
settings, then the defaults below. Option names are the setting names in lower
case without the ``MINIO_`` prefix; the upper-case setting names are accepted as
option keys too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MEDIA_BUCKET_DEFAULT = "auto-generated-bucket-media-files"
STATIC_BUCKET_DEFAULT = "auto-generated-bucket-static-files"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_URL_EXPIRY = timedelta(days=7)


@dataclasses.dataclass(frozen=True)
class Setting:
    """One ``MINIO_*`` setting: its name, option key, default and meaning (for the docs)."""

    name: str
    default: Any
    help: str
    per_storage: bool = True

    @property
    def option(self) -> str:
        return self.name.removeprefix("MINIO_").lower()


SETTINGS: tuple[Setting, ...] = (
    Setting("MINIO_ENDPOINT", "", "Host[:port] of the S3 server the backend talks to."),
    Setting(
        "MINIO_EXTERNAL_ENDPOINT",
        None,
        "Host[:port] used in the URLs given to browsers, when it differs from MINIO_ENDPOINT.",
    ),
    Setting(
        "MINIO_EXTERNAL_ENDPOINT_USE_HTTPS",
        None,
        "HTTPS for MINIO_EXTERNAL_ENDPOINT URLs; defaults to MINIO_USE_HTTPS.",
    ),
    Setting("MINIO_REGION", None, "Region used for signing; None signs for us-east-1 (no lookup)."),
    Setting("MINIO_ACCESS_KEY", "", "Access key."),
    Setting("MINIO_SECRET_KEY", "", "Secret key."),
    Setting("MINIO_USE_HTTPS", False, "Talk to MINIO_ENDPOINT over HTTPS."),
    Setting(
        "MINIO_URL_EXPIRY_HOURS",
        timedelta(days=7),
        "Lifetime of presigned URLs of private buckets (a timedelta, at most 7 days).",
    ),
    Setting(
        "MINIO_CONSISTENCY_CHECK_ON_START",
        False,
        "Run initialize_buckets from AppConfig.ready() (the only network I/O at start-up).",
    ),
    Setting("MINIO_PRIVATE_BUCKETS", [], "Buckets that carry no public policy."),
    Setting("MINIO_PUBLIC_BUCKETS", [], "Buckets readable by anyone; their URLs are not signed."),
    Setting(
        "MINIO_POLICY_HOOKS",
        [],
        "List of (bucket_name, policy_dict) pairs that override the policy of those buckets.",
    ),
    Setting(
        "MINIO_MEDIA_FILES_BUCKET",
        MEDIA_BUCKET_DEFAULT,
        "Bucket of MinioBackend when no bucket_name is given.",
    ),
    Setting(
        "MINIO_STATIC_FILES_BUCKET",
        STATIC_BUCKET_DEFAULT,
        "Bucket of MinioBackendStatic (collectstatic).",
    ),
    Setting(
        "MINIO_BUCKET_CHECK_ON_SAVE",
        True,
        "Create the bucket on the first save if it is missing (checked once per process and bucket).",
    ),
    Setting(
        "MINIO_HTTP_CLIENT",
        None,
        "A urllib3.PoolManager used for every request; None builds one with short timeouts.",
    ),
    Setting(
        "MINIO_MAX_POOL_CONNECTIONS",
        64,
        "Connections kept open per server by the pool built when MINIO_HTTP_CLIENT is None; "
        "at least the threads that save or read at once (urllib3 drops the connections beyond it).",
    ),
    Setting(
        "MINIO_CONDITIONAL_WRITES",
        "auto",
        'Create-only saves: "auto" asks the server once per process whether it honours If-None-Match '
        "(then uses it, or else locks names); True or False force the answer.",
    ),
    Setting(
        "MINIO_ABORT_INCOMPLETE_UPLOADS_DAYS",
        7,
        "initialize_buckets adds a lifecycle rule aborting multipart uploads left incomplete this many "
        "days; None removes the rule (other lifecycle rules are never touched).",
    ),
    Setting(
        "MINIO_MULTIPART_THRESHOLD",
        16 * 1024 * 1024,
        "Content longer than this is uploaded in parts (read in bounded chunks; no size needed).",
    ),
    Setting(
        "MINIO_MULTIPART_PART_SIZE",
        16 * 1024 * 1024,
        "Part size of multipart uploads; bounds the memory a save uses (minimum 5 MiB).",
    ),
    Setting(
        "MINIO_UPLOAD_PREFIX",
        False,
        "Prefix every saved name with the upload_to_prefix hook's answer (name strategy).",
    ),
    Setting(
        "MINIO_MULTIPART_UPLOAD",
        True,
        "Accepted for upstream 4.x; False is ignored (parts keep memory bounded), see check W003.",
    ),
    Setting(
        "MINIO_URL_CACHING_ENABLED",
        False,
        "Cache presigned URLs in Django's default cache (no request per url(), ever).",
    ),
    Setting(
        "MINIO_URL_CACHE_TIMEOUT",
        None,
        "Seconds a cached URL is kept; None is 80% of MINIO_URL_EXPIRY_HOURS, never past expiry.",
    ),
    Setting("MINIO_URL_CACHE_PREFIX", "minio_url_", "Prefix of the URL cache keys."),
    Setting(
        "MINIO_URL_SIGNING_WINDOW",
        None,
        "A timedelta: sign with the time rounded down to it, so an object keeps one URL per window "
        "(browser caching); URLs stay valid at least MINIO_URL_EXPIRY_HOURS minus the window.",
    ),
    Setting(
        "MINIO_PLUGINS",
        [],
        "Dotted paths of extra plugin modules or objects to register.",
        per_storage=False,
    ),
    Setting(
        "MINIO_DISABLED_PLUGINS",
        [],
        "Names of plugins (built-in or from entry points) that must not run.",
        per_storage=False,
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
# Option keys that are not settings of their own, with their defaults.
OBJECT_OPTIONS: dict[str, Any] = {
    "location": "",
    "metadata": None,
    "sse": None,
    "progress": None,
    "tags": None,
    "cache_control": None,
    "content_disposition": None,
    "content_encoding": None,
    # Upstream 4.x passed these to minio's put_object; see django_minio_backend.headers.
    "headers": None,
    "user_metadata": None,
    "extra_headers": None,
    "retention": None,
    "legal_hold": False,
    # Accepted so that 4.x settings load; the system checks say what to use instead.
    "num_parallel_uploads": None,
    "checksum": None,
    "extra_query_params": None,
}
EXTRA_OPTIONS = {"bucket_name", "replace_existing", "storage_name", *OBJECT_OPTIONS}
# Upper-case option keys of upstream 4.x that map to another option.
OPTION_ALIASES = {"MINIO_DEFAULT_BUCKET": "bucket_name"}
# django-storages S3 OPTIONS keys that are not ours, and what to write instead.
DJANGO_STORAGES_OPTIONS = {
    "endpoint_url": "'endpoint' (host[:port], no scheme) and 'use_https'",
    "region_name": "'region'",
    "querystring_expire": "'url_expiry_hours' (a timedelta)",
    "querystring_auth": "'public_buckets' for unsigned URLs",
    "file_overwrite": "'replace_existing' (default False: create-only saves)",
    "custom_domain": "'external_endpoint'",
    "default_acl": "'public_buckets' / 'private_buckets'",
    "object_parameters": "'headers' (boto3 names are accepted)",
    "use_ssl": "'use_https'",
}
# Never recorded in migrations: secrets, and objects that cannot be serialised anyway.
SECRET_OPTIONS = frozenset({"access_key", "secret_key", "http_client", "sse", "progress"})


def option_key(key: str) -> str:
    """Return the canonical (lower-case) option key for ``key``, or raise naming it."""
    if key in OPTION_ALIASES:
        return OPTION_ALIASES[key]
    if key.isupper() and key in SETTINGS_BY_NAME:
        key = SETTINGS_BY_NAME[key].option
    if key in EXTRA_OPTIONS or any(s.option == key and s.per_storage for s in SETTINGS):
        return key
    if key in DJANGO_STORAGES_OPTIONS:
        raise ImproperlyConfigured(
            f"django_minio_backend: {key!r} is a django-storages option; use {DJANGO_STORAGES_OPTIONS[key]} "
            "(see docs/migrating.md)."
        )
    known = sorted(EXTRA_OPTIONS | {s.option for s in SETTINGS if s.per_storage})
    raise ImproperlyConfigured(
        f"django_minio_backend: unknown storage option {key!r}. Known options: {', '.join(known)}."
    )


def normalize_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Canonicalise option keys (raising on unknown ones)."""
    return {option_key(key): value for key, value in options.items()}


def global_setting(name: str) -> Any:
    """Return a top-level ``MINIO_*`` setting or its default."""
    return getattr(settings, name, SETTINGS_BY_NAME[name].default)


def alias_options(alias: str) -> dict[str, Any]:
    """The OPTIONS of ``STORAGES[alias]`` (normalised)."""
    storages = getattr(settings, "STORAGES", None) or {}
    if alias not in storages:
        raise ImproperlyConfigured(
            f"django_minio_backend: storage_name={alias!r} is not a key of settings.STORAGES."
        )
    return normalize_options(storages[alias].get("OPTIONS") or {})


def default_storage_name(*, static: bool) -> str | None:
    """``"staticfiles"`` (static) or ``"default"`` when that alias is a storage of ours, else None.

    Upstream 4.x defaulted ``storage_name`` so, and its users keep every setting in
    that alias's OPTIONS: ``MinioBackend(bucket_name=...)`` in a model reads them.
    """
    from django.utils.module_loading import import_string

    from .storage import MinioBackend, MinioBackendStatic

    alias = "staticfiles" if static else "default"
    entry = (getattr(settings, "STORAGES", None) or {}).get(alias) or {}
    try:
        backend = import_string(entry.get("BACKEND", ""))
    except ImportError:
        return None
    wanted = MinioBackendStatic if static else MinioBackend
    return alias if isinstance(backend, type) and issubclass(backend, wanted) else None


@dataclasses.dataclass(frozen=True)
class StorageConfig:
    """The resolved configuration of one storage."""

    bucket_name: str
    endpoint: str
    external_endpoint: str | None
    external_endpoint_use_https: bool
    region: str | None
    access_key: str = dataclasses.field(repr=False)
    secret_key: str = dataclasses.field(repr=False)
    use_https: bool
    url_expiry_hours: timedelta
    private_buckets: tuple[str, ...]
    public_buckets: tuple[str, ...]
    policy_hooks: tuple[Any, ...]  # (bucket_name, policy) pairs; checks report malformed ones
    media_files_bucket: str
    static_files_bucket: str
    bucket_check_on_save: bool
    http_client: Any = dataclasses.field(repr=False, compare=False)
    conditional_writes: bool | str  # True, False or "auto"
    abort_incomplete_uploads_days: int | None
    multipart_threshold: int
    multipart_part_size: int
    upload_prefix: bool
    replace_existing: bool
    consistency_check_on_start: bool = False
    multipart_upload: bool = True
    url_caching_enabled: bool = False
    url_cache_timeout: int | None = None
    url_cache_prefix: str = "minio_url_"
    url_signing_window: timedelta | None = None
    max_pool_connections: int = 64
    location: str = ""
    metadata: dict[str, str] | None = None
    sse: Any = dataclasses.field(default=None, repr=False, compare=False)
    progress: Any = dataclasses.field(default=None, repr=False, compare=False)
    tags: dict[str, str] | None = None
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    headers: dict[str, str] | None = None
    user_metadata: dict[str, str] | None = None
    extra_headers: dict[str, str] | None = None
    retention: Any = dataclasses.field(default=None, compare=False)
    legal_hold: bool = False
    num_parallel_uploads: int | None = None
    checksum: Any = dataclasses.field(default=None, repr=False, compare=False)
    extra_query_params: dict[str, str] | None = None

    @property
    def is_public(self) -> bool:
        """Declared public, or the static files bucket not declared private (as 3.x and 4.x forced it)."""
        if self.bucket_name in self.public_buckets:
            return True
        return self.bucket_name == self.static_files_bucket and self.bucket_name not in self.private_buckets

    @property
    def signing_region(self) -> str:
        """The region used to sign; never looked up over the network."""
        return self.region or "us-east-1"


def resolve(options: Mapping[str, Any], *, static: bool = False) -> StorageConfig:
    """Resolve a storage's configuration from its options and the settings.

    Raises ImproperlyConfigured for values that cannot work at all; softer
    mistakes are reported by the system checks instead.
    """
    given = normalize_options(options)
    alias = given.pop("storage_name", None) or default_storage_name(static=static)
    layered = {**(alias_options(alias) if alias else {}), **given}

    def value(s: Setting) -> Any:
        if s.option in layered:
            return layered[s.option]
        return global_setting(s.name)

    values = {s.option: value(s) for s in SETTINGS if s.per_storage}
    if values["external_endpoint_use_https"] is None:
        values["external_endpoint_use_https"] = bool(values["use_https"])
    bucket_default = values["static_files_bucket" if static else "media_files_bucket"]
    bucket = layered.get("bucket_name") or bucket_default
    part_size = int(values["multipart_part_size"])
    if part_size < MIN_PART_SIZE:
        raise ImproperlyConfigured(
            f"django_minio_backend: MINIO_MULTIPART_PART_SIZE must be at least {MIN_PART_SIZE} bytes."
        )
    return StorageConfig(
        bucket_name=bucket,
        endpoint=str(values["endpoint"] or ""),
        external_endpoint=values["external_endpoint"] or None,
        external_endpoint_use_https=bool(values["external_endpoint_use_https"]),
        region=values["region"] or None,
        access_key=str(values["access_key"] or ""),
        secret_key=str(values["secret_key"] or ""),
        use_https=bool(values["use_https"]),
        url_expiry_hours=values["url_expiry_hours"],
        private_buckets=tuple(values["private_buckets"] or ()),
        public_buckets=tuple(values["public_buckets"] or ()),
        policy_hooks=tuple(values["policy_hooks"] or ()),
        media_files_bucket=values["media_files_bucket"],
        static_files_bucket=values["static_files_bucket"],
        bucket_check_on_save=bool(values["bucket_check_on_save"]),
        http_client=values["http_client"],
        conditional_writes=_conditional_writes(values["conditional_writes"]),
        abort_incomplete_uploads_days=values["abort_incomplete_uploads_days"] or None,
        multipart_threshold=int(values["multipart_threshold"]),
        multipart_part_size=part_size,
        upload_prefix=bool(values["upload_prefix"]),
        replace_existing=bool(layered.get("replace_existing", False)),
        consistency_check_on_start=bool(values["consistency_check_on_start"]),
        multipart_upload=bool(values["multipart_upload"]),
        url_caching_enabled=bool(values["url_caching_enabled"]),
        url_cache_timeout=values["url_cache_timeout"],
        url_cache_prefix=str(values["url_cache_prefix"]),
        url_signing_window=values["url_signing_window"] or None,
        max_pool_connections=_pool_size(values["max_pool_connections"]),
        **{key: layered.get(key, default) for key, default in OBJECT_OPTIONS.items()},
    )


def _pool_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    raise ImproperlyConfigured(
        f"django_minio_backend: MINIO_MAX_POOL_CONNECTIONS must be a positive int, not {value!r}."
    )


def _conditional_writes(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    raise ImproperlyConfigured(
        f'django_minio_backend: MINIO_CONDITIONAL_WRITES must be True, False or "auto", not {value!r}.'
    )


def is_setting_of_ours(name: str) -> bool:
    """True for settings whose change must drop cached configuration."""
    return name.startswith("MINIO_") or name == "STORAGES"
