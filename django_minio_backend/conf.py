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
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MEDIA_BUCKET_DEFAULT = "auto-generated-bucket-media-files"
STATIC_BUCKET_DEFAULT = "auto-generated-bucket-static-files"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_URL_EXPIRY = timedelta(days=7)


class Secret(str):
    """A string whose repr hides it: debug pages and error trackers show locals by repr."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'********'"


def _as_is(value: Any) -> Any:
    return value


def _text(value: Any) -> str:
    return str(value or "")


def _secret(value: Any) -> Secret:
    return Secret(value or "")


def _secret_or_none(value: Any) -> Secret | None:
    return Secret(value) if value else None


def _text_or_none(value: Any) -> str | None:
    return str(value) if value else None


class BadValueError(ImproperlyConfigured):
    """A setting holds a value of the wrong shape; the message is completed with its name."""


class NotAFlagError(BadValueError):
    """A True/False setting holds something else (check django_minio_backend.E020)."""


def _flag(value: Any) -> bool:
    """True or False (0 and 1 too); a string such as "False" from the environment is refused."""
    if isinstance(value, bool) or (type(value) is int and value in (0, 1)):
        return bool(value)
    raise NotAFlagError(
        f"must be True or False, not {value!r}: bool({value!r}) is {bool(value)}. Convert values "
        "read from the environment, e.g. os.environ.get('MINIO_USE_HTTPS', '').lower() == 'true'."
    )


def _flag_or_none(value: Any) -> bool | None:
    return None if value is None else _flag(value)


def _or_none(value: Any) -> Any:
    return value or None


def _tuple(value: Any) -> tuple[Any, ...]:
    """A list or tuple; a lone string would be taken letter by letter, so it is refused."""
    if isinstance(value, (str, bytes)):
        raise BadValueError(f"must be a list, not the string {value!r}: write [{value!r}].")
    return tuple(value or ())


def _part_size(value: Any) -> int:
    size = int(value)
    if size < MIN_PART_SIZE:
        raise ImproperlyConfigured(
            f"django_minio_backend: MINIO_MULTIPART_PART_SIZE must be at least {MIN_PART_SIZE} bytes."
        )
    return size


MAX_POOL_CONNECTIONS = 4096  # urllib3 fills a pool's queue with this many slots up front


def _pool_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_POOL_CONNECTIONS:
        return value
    raise ImproperlyConfigured(
        f"django_minio_backend: MINIO_MAX_POOL_CONNECTIONS must be an int from 1 to {MAX_POOL_CONNECTIONS} "
        f"(the most threads that talk to one server at once), not {value!r}."
    )


def _conditional_writes(value: Any) -> bool | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    raise ImproperlyConfigured(
        f'django_minio_backend: MINIO_CONDITIONAL_WRITES must be True, False or "auto", not {value!r}.'
    )


@dataclasses.dataclass(frozen=True)
class Setting:
    """One ``MINIO_*`` setting: name, default, meaning (Markdown, the README row) and parser.

    ``parse`` turns the configured value into the :class:`StorageConfig` field of
    the same name as :attr:`option`; it raises ImproperlyConfigured for values that
    cannot work. Settings that are not per storage are read with :func:`global_setting`.
    """

    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = _as_is
    per_storage: bool = True

    @property
    def option(self) -> str:
        return self.name.removeprefix("MINIO_").lower()

    def parse_value(self, value: Any) -> Any:
        """``parse(value)``, with errors naming this setting."""
        try:
            return self.parse(value)
        except BadValueError as exc:
            raise type(exc)(f"django_minio_backend: {self.name} {exc}") from None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "MINIO_ENDPOINT",
        "",
        "Host[:port] of the S3 server the backend talks to; "
        "an http:// or https:// prefix wins over MINIO_USE_HTTPS.",
        parse=_text,
    ),
    Setting(
        "MINIO_EXTERNAL_ENDPOINT",
        None,
        "Host[:port] used in the URLs given to browsers, when it differs from MINIO_ENDPOINT; "
        "an http:// or https:// prefix sets the URLs' scheme.",
        parse=_text_or_none,
    ),
    Setting(
        "MINIO_EXTERNAL_ENDPOINT_USE_HTTPS",
        None,
        "HTTPS for `MINIO_EXTERNAL_ENDPOINT` URLs; `None` follows `MINIO_USE_HTTPS`.",
        parse=_flag_or_none,
    ),
    Setting(
        "MINIO_REGION",
        None,
        "Region used for signing; `None` signs for `us-east-1` (never looked up over the network).",
        parse=_text_or_none,
    ),
    Setting(
        "MINIO_ACCESS_KEY",
        "",
        "Access key.",
        parse=_text,
    ),
    Setting(
        "MINIO_SECRET_KEY",
        "",
        "Secret key.",
        parse=_secret,
    ),
    Setting(
        "MINIO_SESSION_TOKEN",
        None,
        "Session token of temporary keys (STS); sent with every request and in presigned URLs.",
        parse=_secret_or_none,
    ),
    Setting(
        "MINIO_CREDENTIALS_PROVIDER",
        None,
        (
            "A minio credentials provider, or the dotted path of one, of its class or of a function "
            "returning one (e.g. `'minio.credentials.IamAwsProvider'`); replaces the three settings above."
        ),
    ),
    Setting(
        "MINIO_USE_HTTPS",
        False,
        "Talk to `MINIO_ENDPOINT` over HTTPS.",
        parse=_flag,
    ),
    Setting(
        "MINIO_URL_EXPIRY_HOURS",
        timedelta(days=7),
        "Lifetime of presigned URLs of private buckets (a `timedelta`, at most 7 days).",
    ),
    Setting(
        "MINIO_CONSISTENCY_CHECK_ON_START",
        False,
        "Run `initialize_buckets` from `AppConfig.ready()`: the only network I/O at start-up.",
        parse=_flag,
    ),
    Setting(
        "MINIO_PRIVATE_BUCKETS",
        [],
        (
            "Buckets that no anonymous user may read or write; URLs are presigned. `initialize_buckets` "
            "removes anonymous grants and this package's own statements from their policies and keeps other "
            "grants."
        ),
        parse=_tuple,
    ),
    Setting(
        "MINIO_PUBLIC_BUCKETS",
        [],
        "Buckets anyone may read objects of; URLs are not signed.",
        parse=_tuple,
    ),
    Setting(
        "MINIO_POLICY_HOOKS",
        [],
        (
            "`(bucket_name, policy_dict)` pairs overriding those buckets' policies; `initialize_buckets` "
            "creates a named bucket that is in neither list (private)."
        ),
        parse=_tuple,
    ),
    Setting(
        "MINIO_MEDIA_FILES_BUCKET",
        MEDIA_BUCKET_DEFAULT,
        "Bucket of `MinioBackend` when no `bucket_name` is given.",
    ),
    Setting(
        "MINIO_STATIC_FILES_BUCKET",
        STATIC_BUCKET_DEFAULT,
        "Bucket of `MinioBackendStatic` (`collectstatic`); public unless listed in `MINIO_PRIVATE_BUCKETS`.",
    ),
    Setting(
        "MINIO_BUCKET_CHECK_ON_SAVE",
        True,
        "Create the bucket on the first save if missing (checked once per process and bucket).",
        parse=_flag,
    ),
    Setting(
        "MINIO_HTTP_CLIENT",
        None,
        (
            "A `urllib3.PoolManager` used for every request; `None` builds one with 5 s connect / 30 s read "
            "timeouts and 3 retries that answers redirects instead of following them (yours keeps its own "
            "`Retry`; urllib3's default follows them, body and session token included). "
            "Saves sign and send their PUT themselves through a plain `PoolManager`; "
            "through a subclass or a `ProxyManager` every request goes through the minio SDK's `urlopen`."
        ),
    ),
    Setting(
        "MINIO_CA_BUNDLE",
        None,
        "Path of a PEM file of the CAs to trust for HTTPS (private CA, self-signed server) "
        "instead of certifi's; ignored when MINIO_HTTP_CLIENT is set.",
        parse=_text_or_none,
    ),
    Setting(
        "MINIO_MAX_POOL_CONNECTIONS",
        64,
        "Connections kept open per server by the pool built when MINIO_HTTP_CLIENT is None; "
        "at least the threads that save or read at once (urllib3 drops the connections beyond it); "
        "at most 4096.",
        parse=_pool_size,
    ),
    Setting(
        "MINIO_CONDITIONAL_WRITES",
        "auto",
        (
            'Create-only saves. `"auto"` asks the server once per process and bucket whether it refuses '
            "`If-None-Match: *` over an existing object, then uses it, or else locks names (across "
            "processes through a shared default cache; `check --deploy` warns otherwise). `True` or "
            "`False` force the answer."
        ),
        parse=_conditional_writes,
    ),
    Setting(
        "MINIO_ABORT_INCOMPLETE_UPLOADS_DAYS",
        7,
        (
            "`initialize_buckets` adds a lifecycle rule aborting multipart uploads left incomplete this "
            "many days; `None` removes it. Other lifecycle rules of the bucket are never touched."
        ),
        parse=_or_none,
    ),
    Setting(
        "MINIO_MULTIPART_THRESHOLD",
        16 * 1024 * 1024,
        "Content longer than this is uploaded in parts (read in bounded chunks; no size needed).",
        parse=int,
    ),
    Setting(
        "MINIO_MULTIPART_PART_SIZE",
        16 * 1024 * 1024,
        "Part size of multipart uploads; bounds the memory a save uses (at least 5 MiB).",
        parse=_part_size,
    ),
    Setting(
        "MINIO_UPLOAD_PREFIX",
        False,
        (
            "Prefix every saved name with the `upload_to_prefix` hook's answer (a name strategy for the "
            "default storage)."
        ),
        parse=_flag,
    ),
    Setting(
        "MINIO_MULTIPART_UPLOAD",
        True,
        (
            "Accepted for upstream 4.x configurations; `False` is ignored because parts keep memory bounded "
            "(check `W003`)."
        ),
        parse=_flag,
    ),
    Setting(
        "MINIO_URL_CACHING_ENABLED",
        False,
        "Cache presigned URLs in Django's default cache.",
        parse=_flag,
    ),
    Setting(
        "MINIO_URL_CACHE_TIMEOUT",
        None,
        (
            "Seconds a cached URL is kept; `None` is 80% of the URL lifetime. Cached URLs are signed for "
            "that much longer, so one served from the cache still lives the requested expiry (near the "
            "7-day cap, what is left of 7 days). URLs signed with `MINIO_CREDENTIALS_PROVIDER` keys are "
            "never cached."
        ),
    ),
    Setting(
        "MINIO_URL_CACHE_PREFIX",
        "minio_url_",
        "Prefix of the URL cache keys.",
        parse=str,
    ),
    Setting(
        "MINIO_URL_SIGNING_WINDOW",
        None,
        "A timedelta: sign at the window's start for expiry + window, so an object keeps one URL per "
        "window (browser caching); a URL lives between the expiry and the expiry plus one window.",
        parse=_or_none,
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
    Setting(
        "MINIO_DIRECT_UPLOAD_MAX_SIZE",
        5 * 1024**3,
        "Direct browser uploads: the size limit of the built-in rules (bytes; 5 GiB, one server-side copy).",
        per_storage=False,
    ),
    Setting(
        "MINIO_DIRECT_UPLOAD_PART_SIZE",
        8 * 1024 * 1024,
        "Direct uploads up to this size are one presigned POST; larger ones go in parts of this size.",
        per_storage=False,
    ),
    Setting(
        "MINIO_DIRECT_UPLOAD_TICKET_AGE",
        timedelta(hours=2),
        "How long an upload ticket (and its presigned POST) stays valid (a timedelta); resuming and "
        "finalizing take MINIO_DIRECT_UPLOAD_FINALIZE_AGE.",
        per_storage=False,
    ),
    Setting(
        "MINIO_DIRECT_UPLOAD_FINALIZE_AGE",
        timedelta(days=1),
        "How long after a ticket was issued (or renewed by asking for part URLs) its upload may still "
        "be resumed and finalized (a timedelta; never less than the ticket age).",
        per_storage=False,
    ),
    Setting(
        "MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX",
        "dmb-quarantine/",
        "Key prefix where direct uploads land until they are finalized.",
        per_storage=False,
    ),
    Setting(
        "MINIO_DIRECT_UPLOAD_QUARANTINE_DAYS",
        1,
        "initialize_buckets adds a lifecycle rule expiring quarantine objects after this many days; "
        "None removes it.",
        per_storage=False,
    ),
    Setting(
        "MINIO_CORS_ORIGINS",
        [],
        "Browser origins (https://www.example.com) initialize_buckets allows to upload directly "
        "(a CORS rule of ours; other rules are kept).",
        per_storage=False,
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
# An option without a setting of its own, parsed like one.
REPLACE_EXISTING = Setting(
    "replace_existing", False, "Overwrite instead of choosing a new name.", parse=_flag
)
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
EXTRA_OPTIONS = {"bucket_name", "default_bucket", "replace_existing", "storage_name", *OBJECT_OPTIONS}
# Upper-case option keys of upstream 4.x that map to another option. Upstream's MinioBackendStatic
# always used MINIO_STATIC_FILES_BUCKET: MINIO_DEFAULT_BUCKET names the media storages' bucket only.
OPTION_ALIASES = {"MINIO_DEFAULT_BUCKET": "default_bucket"}
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
SECRET_OPTIONS = frozenset(
    {"access_key", "secret_key", "session_token", "credentials_provider", "http_client", "sse", "progress"}
)


# Options that are True or False; a string ("False" from the environment) is refused, not truthy.
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
    """The resolved configuration of one storage.

    One field per per-storage row of :data:`SETTINGS` (same name as its option,
    typed as its ``parse`` returns), then ``bucket_name``, ``replace_existing`` and
    the :data:`OBJECT_OPTIONS`. ``tests/test_conf.py`` fails on a row without a field.
    """

    endpoint: str
    external_endpoint: str | None
    external_endpoint_use_https: bool
    region: str | None
    access_key: str = dataclasses.field(repr=False)
    secret_key: str = dataclasses.field(repr=False)
    use_https: bool
    url_expiry_hours: timedelta
    consistency_check_on_start: bool
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
    multipart_upload: bool
    url_caching_enabled: bool
    url_cache_timeout: int | None
    url_cache_prefix: str
    url_signing_window: timedelta | None
    bucket_name: str
    replace_existing: bool
    static: bool  # the storage of collectstatic (MinioBackendStatic or a subclass)
    max_pool_connections: int
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
    session_token: str | None = dataclasses.field(default=None, repr=False)
    credentials_provider: Any = dataclasses.field(default=None, repr=False, compare=False)
    ca_bundle: str | None = None

    @property
    def is_public(self) -> bool:
        """Declared public; or, for a static storage, its bucket when not declared private.

        3.x and 4.x forced the static bucket public. Only static storages inherit that:
        a media storage on the same bucket (one bucket for everything, as django-storages
        users have it) stays private, and check E030 reports the disagreement.
        """
        if self.bucket_name in self.public_buckets:
            return True
        return (
            self.static
            and self.bucket_name == self.static_files_bucket
            and self.bucket_name not in self.private_buckets
        )

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
    default_bucket = layered.pop("default_bucket", None)

    def value(s: Setting) -> Any:
        if s.option in layered:
            return layered[s.option]
        return global_setting(s.name)

    values = {s.option: s.parse_value(value(s)) for s in SETTINGS if s.per_storage}
    if values["external_endpoint_use_https"] is None:
        values["external_endpoint_use_https"] = values["use_https"]
    if static:
        bucket_default = values["static_files_bucket"]
    else:
        bucket_default = default_bucket or values["media_files_bucket"]
    return StorageConfig(
        **values,
        static=static,
        bucket_name=layered.get("bucket_name") or bucket_default,
        replace_existing=REPLACE_EXISTING.parse_value(layered.get("replace_existing", False)),
        **{key: layered.get(key, default) for key, default in OBJECT_OPTIONS.items()},
    )


def _shown(value: Any) -> str:
    if isinstance(value, timedelta):
        return f"timedelta(days={value.days})" if not value.seconds else f"timedelta(seconds={value.seconds})"
    return repr(value)


def settings_table() -> str:
    """The README's settings table, in Markdown, generated from :data:`SETTINGS`."""
    lines = ["| Setting | Option | Default | Meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        option = f"`{s.option}`" if s.per_storage else "—"
        lines.append(f"| `{s.name}` | {option} | `{_shown(s.default)}` | {s.help} |")
    return "\n".join(lines) + "\n"


def is_setting_of_ours(name: str) -> bool:
    """True for settings whose change must drop cached configuration."""
    return name.startswith("MINIO_") or name == "STORAGES"


def write_readme_table(path: str) -> None:
    """Replace the settings table of the README at ``path`` with :func:`settings_table`."""
    from pathlib import Path

    readme = Path(path)
    text = readme.read_text()
    start = text.index("| Setting | Option | Default | Meaning |")
    end = text.index("<!-- end of settings table -->")
    readme.write_text(text[:start] + settings_table() + text[end:])
