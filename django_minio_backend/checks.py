"""Django system checks for configuration mistakes (``manage.py check``)."""

from __future__ import annotations

import copy
import re
import ssl
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from minio.sse import SseCustomerKey

from .buckets import cors_origin_problems, quarantine_folder, quarantine_prefix
from .capabilities import conditional_put
from .client import same_server
from .conf import MAX_URL_EXPIRY, SETTINGS, NotAFlagError, StorageConfig, normalize_options, resolve
from .discovery import backend_class, declared_buckets, minio_aliases, model_file_fields
from .storage import MinioBackend
from .upload import cache_locks_across_processes

BUCKET_NAME = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
ID = "django_minio_backend."


def _sources() -> Iterator[tuple[str, dict[str, Any], bool]]:
    """(label, options, static) for the top-level settings and each MinioBackend alias."""
    aliases = minio_aliases()
    # The top level is a storage of its own only when it names a server (initialize_buckets
    # then uses it) or nothing else does; otherwise each alias is checked with the top-level
    # values it inherits, and a top-level MINIO_PLUGINS alone is no configuration to check.
    top_level = any(hasattr(settings, s.name) for s in SETTINGS if s.per_storage)
    if getattr(settings, "MINIO_ENDPOINT", None) or (top_level and not aliases):
        yield "settings", {}, False
    for alias in aliases:
        yield alias.label, alias.options, alias.backend.is_static


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
    elif (
        window is not None
        and isinstance(expiry, timedelta)
        and expiry <= MAX_URL_EXPIRY
        and expiry + window > MAX_URL_EXPIRY
    ):
        yield Error(
            f"{label}: MINIO_URL_SIGNING_WINDOW ({window}) plus MINIO_URL_EXPIRY_HOURS ({expiry}) is over "
            "the 7 days S3 accepts: URLs signed at a window's start could not last MINIO_URL_EXPIRY_HOURS.",
            hint="Keep MINIO_URL_EXPIRY_HOURS + MINIO_URL_SIGNING_WINDOW within timedelta(days=7); URLs "
            "live between the expiry and the expiry plus one window.",
            obj=obj,
            id=ID + "E031",
        )
    yield from _upstream_options(label, config, obj)
    yield from _ca_bundle(label, config, obj)
    if config.external_endpoint is None and _explicit(label, "external_endpoint_use_https"):
        yield Warning(
            f"{label}: MINIO_EXTERNAL_ENDPOINT_USE_HTTPS is set but MINIO_EXTERNAL_ENDPOINT is not.",
            hint="Set MINIO_EXTERNAL_ENDPOINT or remove MINIO_EXTERNAL_ENDPOINT_USE_HTTPS.",
            obj=obj,
            id=ID + "W001",
        )


# Upstream 4.x put_object arguments that have no equivalent here, and what to do instead.
UNSUPPORTED_OPTIONS = {
    "checksum": "remove it: uploads are signed with their SHA-256 and the server checks it",
    "extra_query_params": "remove it; pass headers with the 'headers' option instead",
}


def _upstream_options(label: str, config: StorageConfig, obj: Any) -> Iterator[CheckMessage]:
    for option, instead in UNSUPPORTED_OPTIONS.items():
        if getattr(config, option) is not None:
            yield Error(
                f"{label}: the upstream 4.x option {option!r} is not supported.",
                hint=instead[0].upper() + instead[1:] + ".",
                obj=obj,
                id=ID + "E011",
            )
    if config.num_parallel_uploads is not None:
        yield Warning(
            f"{label}: num_parallel_uploads is ignored.",
            hint="Parts are uploaded two at a time, which bounds the memory a save uses; remove the option.",
            obj=obj,
            id=ID + "W005",
        )


def _ca_bundle(label: str, config: StorageConfig, obj: Any) -> Iterator[CheckMessage]:
    """MINIO_CA_BUNDLE names a readable PEM file with a certificate: otherwise every HTTPS request fails."""
    path = config.ca_bundle
    if path is None or config.http_client is not None:
        return
    try:
        with open(path, "rb") as pem:
            text = pem.read(1 << 20)
        problem = "" if b"-----BEGIN CERTIFICATE-----" in text else "holds no PEM certificate"
        if not problem:
            ssl.create_default_context(cafile=path)  # parses every certificate in it
    except ssl.SSLError as exc:
        problem = f"holds a certificate that cannot be parsed ({exc.reason or exc})"
    except OSError as exc:
        problem = f"cannot be read ({exc.strerror or exc})"
    if problem:
        yield Error(
            f"{label}: MINIO_CA_BUNDLE = {path!r} {problem}.",
            hint="Give the path of a PEM file holding the CA certificate(s) that signed the server's.",
            obj=obj,
            id=ID + "E021",
        )


def config_messages(label: str, config: StorageConfig) -> list[CheckMessage]:
    """What ``manage.py check`` says about one resolved configuration."""
    return list(_check_config(label, config, None))


def _opened_private_buckets(
    sources: list[tuple[StorageConfig, dict[str, Any], bool]],
) -> Iterator[CheckMessage]:
    """E022: a policy hook grants anonymous access to a bucket declared private."""
    from . import manager
    from .exceptions import PluginError
    from .policies import opens_bucket
    from .storage import MinioBackend, MinioBackendStatic

    seen: set[tuple[str, str]] = set()
    for config, options, static in sources:
        # Plain backends: a user's subclass may read files in __init__ (ManifestFilesMixin).
        base = (MinioBackendStatic if static else MinioBackend)(**options)
        for bucket in config.private_buckets:
            if (config.endpoint, bucket) in seen or bucket in config.public_buckets:
                continue
            seen.add((config.endpoint, bucket))
            try:
                policy = manager.bucket_policy(
                    bucket_name=bucket, public=False, storage=base.with_bucket(bucket)
                )
            except (PluginError, ImproperlyConfigured):
                continue  # reported by E009, or by initialize_buckets itself
            if opens_bucket(policy, bucket):
                yield Error(
                    f"{config.endpoint}/{bucket}: the bucket is in MINIO_PRIVATE_BUCKETS but its policy "
                    "(MINIO_POLICY_HOOKS or a bucket_policy plugin) gives anonymous users all its objects.",
                    hint="Move the bucket to MINIO_PUBLIC_BUCKETS if it is meant to be public, or drop the "
                    "anonymous (Principal '*') statement from its policy.",
                    id=ID + "E022",
                )


def _explicit(label: str, option: str) -> bool:
    if label == "settings":
        return hasattr(settings, "MINIO_" + option.upper())
    return False


@register(Tags.compatibility)
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate the MINIO_* settings and every MinioBackend storage."""
    messages: list[CheckMessage] = []
    configs: list[tuple[str, StorageConfig]] = []
    resolved: list[tuple[StorageConfig, dict[str, Any], bool]] = []
    for label, options, static in _sources():
        try:
            config = resolve(options, static=static)
        except (ImproperlyConfigured, TypeError, ValueError) as exc:
            messages.append(_unresolved(label, exc))
            continue
        resolved.append((config, options, static))
        messages.extend(_check_config(label, config, None))
        messages.extend(_check_endpoints(label, options, config))
        configs.append((label, config))
        if label != "settings":
            messages.extend(_undeclared(label, config))
    for model, field, storage in model_file_fields():
        label = f"{model._meta.label}.{field.name}"
        try:
            config = storage.config
        except (ImproperlyConfigured, TypeError, ValueError) as exc:
            messages.append(_unresolved(label, exc))
            continue
        messages.extend(_undeclared(label, config))
        configs.append((label, config))
    messages.extend(_visibility_conflicts(configs))
    messages.extend(_opened_private_buckets(resolved))
    messages.extend(_legacy_storage_settings())
    messages.extend(_app_order())
    messages.extend(_aws_settings())
    return _one_per_mistake(messages)


def _unresolved(label: str, exc: Exception) -> CheckMessage:
    return Error(f"{label}: {exc}", id=ID + ("E020" if isinstance(exc, NotAFlagError) else "E008"))


def _one_per_mistake(messages: list[CheckMessage]) -> list[CheckMessage]:
    """Merge messages that say the same thing about several places into one.

    Aliases and model fields inherit the top-level settings: one wrong setting
    would otherwise be reported once per storage that reads it.
    """
    merged: dict[tuple[Any, ...], tuple[CheckMessage, list[str]]] = {}
    for message in messages:
        label, sep, text = message.msg.partition(": ")
        if not sep:
            label, text = "", message.msg
        key = (message.level, message.id, text, message.hint)
        if key in merged:
            merged[key][1].append(label)
        else:
            merged[key] = (message, [])
    result = []
    for message, others in merged.values():
        if others:
            message = copy.copy(message)  # same class (Error, Warning...), level, hint, obj and id
            message.msg = f"{message.msg} (The same for {', '.join(others)}.)"
        result.append(message)
    return result


def _legacy_storage_settings() -> list[CheckMessage]:
    """DEFAULT_FILE_STORAGE / STATICFILES_STORAGE naming our backend where Django ignores them."""
    import django

    if django.VERSION < (5, 1):
        return []
    storages = getattr(settings, "STORAGES", None) or {}
    messages: list[CheckMessage] = []
    for name, alias in (("DEFAULT_FILE_STORAGE", "default"), ("STATICFILES_STORAGE", "staticfiles")):
        backend = getattr(settings, name, None)
        if not isinstance(backend, str) or backend_class(backend) is None:
            continue
        if (storages.get(alias) or {}).get("BACKEND") == backend:
            continue
        messages.append(
            Error(
                f"settings: {name} = {backend!r} is ignored by Django {django.get_version()} "
                f"(removed in Django 5.1): STORAGES[{alias!r}] is used instead.",
                hint=f'Use STORAGES = {{..., "{alias}": {{"BACKEND": "{backend}"}}}} and remove {name}.',
                id=ID + "E012",
            )
        )
    return messages


def _aws_settings() -> list[CheckMessage]:
    """django-storages' AWS_* settings left behind: this backend never reads them."""
    aliases = (getattr(settings, "STORAGES", None) or {}).values()
    if any(str(entry.get("BACKEND", "")).startswith("storages.") for entry in aliases):
        return []  # django-storages is still in use next to this backend: they are its settings
    names = sorted(name for name in dir(settings) if name.startswith("AWS_"))
    if not names:
        return []
    return [
        Warning(
            f"settings: {', '.join(names)} are django-storages settings; django_minio_backend ignores them.",
            hint="Move each to its MINIO_* setting or storage option (table in docs/migrating.md), "
            "then remove it.",
            id=ID + "W007",
        )
    ]


def _app_order() -> list[CheckMessage]:
    """The fast collectstatic is ours only when our app comes before django.contrib.staticfiles."""
    from django.apps import apps

    static = ((getattr(settings, "STORAGES", None) or {}).get("staticfiles") or {}).get("BACKEND", "")
    if backend_class(static) is None or not apps.is_installed("django.contrib.staticfiles"):
        return []
    names = [config.name for config in apps.get_app_configs()]
    if names.index("django_minio_backend") < names.index("django.contrib.staticfiles"):
        return []
    return [
        Warning(
            "INSTALLED_APPS: django_minio_backend comes after django.contrib.staticfiles, so "
            "collectstatic is Django's own: it uploads every file, one at a time.",
            hint='List "django_minio_backend" before "django.contrib.staticfiles" in INSTALLED_APPS.',
            id=ID + "W006",
        )
    ]


def _https_given(options: dict[str, Any], option: str) -> bool:
    """Whether ``option`` was set on purpose (storage OPTIONS or the top-level setting)."""
    return option in normalize_options(options) or hasattr(settings, "MINIO_" + option.upper())


def _check_endpoints(label: str, options: dict[str, Any], config: StorageConfig) -> Iterator[CheckMessage]:
    """Endpoints are host[:port], optionally with a scheme, which must agree with a *_USE_HTTPS set."""
    from .client import split_endpoint

    for setting, endpoint, option, https in (
        ("MINIO_ENDPOINT", config.endpoint, "use_https", config.use_https),
        (
            "MINIO_EXTERNAL_ENDPOINT",
            config.external_endpoint,
            "external_endpoint_use_https",
            config.external_endpoint_use_https,
        ),
    ):
        if not endpoint:
            continue
        try:
            _, secure = split_endpoint(endpoint, https)
        except ImproperlyConfigured as exc:
            yield Error(
                f"{label}: {setting} = {endpoint!r} cannot be used: {exc}.",
                hint="Write host[:port], e.g. 'files.example.com' or 'https://files.example.com:9000'.",
                id=ID + "E033",
            )
            continue
        if secure != bool(https) and _https_given(options, option):
            flag, scheme = "MINIO_" + option.upper(), "https" if secure else "http"
            yield Error(
                f"{label}: {setting} = {endpoint!r} says {scheme} but {flag} is {https!r}.",
                hint=f"Remove the scheme from {setting} or set {flag} to match it (the scheme wins).",
                id=ID + "E032",
            )


def _visibility_conflicts(configs: list[tuple[str, StorageConfig]]) -> Iterator[CheckMessage]:
    """A bucket declared public by one storage and private by another gets one policy, silently."""
    views: dict[str, dict[bool, list[str]]] = {}
    for label, config in configs:
        # The storage's own bucket as it treats it (a static storage's bucket is public by default).
        views.setdefault(config.bucket_name, {}).setdefault(config.is_public, []).append(label)
        for is_public, buckets in ((True, config.public_buckets), (False, config.private_buckets)):
            for bucket in dict.fromkeys(buckets):
                if bucket != config.bucket_name:
                    views.setdefault(bucket, {}).setdefault(is_public, []).append(label)
    for bucket, view in sorted(views.items()):
        public, private = list(dict.fromkeys(view.get(True, []))), list(dict.fromkeys(view.get(False, [])))
        if any(a != b for a in public for b in private):  # one label in both lists is E001
            yield Error(
                f"bucket {bucket!r} is public for {', '.join(public)} but private for "
                f"{', '.join(private)}: it can carry one policy, and private files would be readable.",
                hint="Declare the bucket in the same list everywhere, or use a separate bucket.",
                id=ID + "E030",
            )


def _undeclared(label: str, config: StorageConfig) -> list[CheckMessage]:
    if config.bucket_name in config.private_buckets + config.public_buckets or config.is_public:
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
    return list(_unknown_disabled_plugins())


def _unknown_disabled_plugins() -> Iterator[CheckMessage]:
    from .conf import global_setting
    from .manager import known_plugin_names

    known = known_plugin_names()
    for name in global_setting("MINIO_DISABLED_PLUGINS"):
        if name not in known:
            yield Warning(
                f"MINIO_DISABLED_PLUGINS names {name!r}, which is no plugin: nothing is disabled by it.",
                hint=f"Known plugins: {', '.join(sorted(known))}.",
                id=ID + "W020",
            )


@register(Tags.compatibility, deploy=True)
def check_create_only_saves(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy``: ask each configured server whether create-only saves are guaranteed.

    The only check that makes requests, and only when deploy checks are asked for.
    """
    messages: list[CheckMessage] = []
    seen: set[tuple[str, str]] = set()
    for alias in minio_aliases():
        storage = alias.storage
        config = storage.config
        if config.replace_existing or (config.endpoint, config.bucket_name) in seen:
            continue
        seen.add((config.endpoint, config.bucket_name))
        if config.conditional_writes == "auto":
            try:
                honoured = conditional_put(storage.destination)
            except Exception as exc:
                messages.append(
                    Warning(
                        f"{alias.label}: could not ask {config.endpoint} about conditional writes: {exc}",
                        id=ID + "W040",
                    )
                )
                continue
        else:
            honoured = bool(config.conditional_writes)
        if honoured:
            continue
        if cache_locks_across_processes():
            continue
        messages.append(
            Warning(
                f"{alias.label}: {config.endpoint}/{config.bucket_name} does not refuse writes over "
                "existing objects (If-None-Match), and the default cache is local to each process: "
                "two processes saving one name at the same moment can overwrite each other.",
                hint="Use a server with conditional writes, or a shared default cache (Redis, Memcached, "
                "the database cache), which the backend then uses to lock names.",
                id=ID + "W041",
            )
        )
    return messages


# -- direct uploads ------------------------------------------------------------------


@register(Tags.compatibility)
def check_direct_uploads(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Where direct uploads wait (the quarantine) must hold no real files; CORS origins must be origins."""
    return [*_quarantine_overlaps(), *_cors_origins()]


def _file_places() -> Iterator[tuple[str, MinioBackend, str]]:
    """(label, storage, key prefix) of every place real files are written: storages and upload_to folders."""
    for alias in minio_aliases():
        try:
            storage = alias.storage
            yield alias.label, storage, storage.location_prefix
        except (ImproperlyConfigured, TypeError, ValueError):
            continue  # check_settings reports it
    for model, field, storage in model_file_fields():
        label = f"{model._meta.label}.{field.name}"
        try:
            location = storage.location_prefix
        except (ImproperlyConfigured, TypeError, ValueError):
            continue
        yield label, storage, location
        if callable(field.upload_to) or not field.upload_to:
            continue
        # A strftime pattern names folders only from its first "%" on: the whole folders before it
        # are fixed. Names are stored cleaned ("./a//b" is "a/b"): so is the folder.
        upload_to = str(field.upload_to)
        fixed = upload_to.partition("%")[0].rpartition("/")[0] if "%" in upload_to else upload_to
        folder = "/".join(part for part in fixed.split("/") if part not in ("", "."))
        if folder:
            yield label, storage, f"{location}{folder}/"


def _quarantine_overlaps() -> Iterator[CheckMessage]:
    if not quarantine_folder():
        yield Error(
            "MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX is empty: direct uploads would wait among real files, "
            "which its lifecycle rule and clean_incomplete_uploads delete.",
            hint="Name a folder of its own, such as the default 'dmb-quarantine/'.",
            id=ID + "E050",
        )
        return
    if any(part in ("", ".", "..") for part in quarantine_folder().split("/")):
        yield Error(
            f"MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX = {quarantine_folder() + '/'!r} has an empty, '.' or "
            "'..' folder: keys under it are stored elsewhere than its lifecycle rule and "
            "clean_incomplete_uploads look.",
            hint="Name a plain folder, such as the default 'dmb-quarantine/'.",
            id=ID + "E050",
        )
        return
    places = list(_file_places())
    quarantines: dict[tuple[str, str, str], MinioBackend] = {}
    # Declared buckets too: initialize_buckets and clean_incomplete_uploads sweep their root quarantine.
    try:
        declared = declared_buckets()
    except (ImproperlyConfigured, TypeError, ValueError, LookupError):
        declared = []  # check_settings reports it
    for storage in [*(s for _, s, _ in places), *declared]:
        try:
            if not storage.is_static:
                quarantines.setdefault(
                    (storage.config.endpoint, storage.bucket, quarantine_prefix(storage)), storage
                )
        except (ImproperlyConfigured, TypeError, ValueError):
            continue
    for label, storage, prefix in places:
        for (_, bucket, quarantine), owner in quarantines.items():
            # One bucket however the endpoints are spelled (what cannot be told apart counts as one).
            if bucket != storage.bucket or same_server(owner.config, storage.config) is False:
                continue
            inside = prefix.startswith(quarantine)
            # A quarantine inside an upload_to folder (not a location: the quarantine is meant
            # to be a folder of its storage's location) shares it with dated or plugin-named files.
            around = quarantine.startswith(prefix) and prefix != storage.location_prefix
            if inside or around:
                yield Error(
                    f"{label}: its files go under {bucket}/{prefix}, which overlaps the direct-upload "
                    f"quarantine {bucket}/{quarantine}: the quarantine's lifecycle rule and "
                    "clean_incomplete_uploads would delete finished files.",
                    hint="Give MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX a folder no location or upload_to uses.",
                    id=ID + "E050",
                )


def _cors_origins() -> Iterator[CheckMessage]:
    hint = "A list of origins such as ['https://www.example.com', 'http://localhost:8000']."
    for problem in cors_origin_problems():
        yield Error(f"{problem}.", hint=hint, id=ID + "E051")
