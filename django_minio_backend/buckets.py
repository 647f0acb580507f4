"""Bucket creation and policy reconciliation (``initialize_buckets`` and friends)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, SubElement, fromstring, tostring

from django.core.exceptions import ImproperlyConfigured
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, Expiration, LifecycleConfig, Rule

from . import manager, sdk
from .conf import global_setting
from .exceptions import s3_errors
from .forking import renew_after_fork
from .policies import (
    describe_statement,
    opens_bucket,
    policies_equal,
    private_remainder,
    without_not_resource,
)
from .upload import CLAIM_HEADER

if TYPE_CHECKING:
    from .storage import MinioBackend

logger = logging.getLogger("django_minio_backend")

NO_POLICY_CODES = frozenset({"NoSuchBucketPolicy", "NoSuchPolicy"})
UNSUPPORTED_CODES = frozenset({"NotImplemented", "MethodNotAllowed", "XNotImplemented"})
LIFECYCLE_RULE_ID = "dmb-abort-incomplete-uploads"
QUARANTINE_RULE_ID = "dmb-expire-quarantine"
CORS_RULE_ID = "dmb-direct-uploads"


@dataclass(frozen=True)
class BucketReport:
    """What was (or, in a dry run, would be) done to one bucket."""

    endpoint: str
    bucket: str
    public: bool
    created: bool
    policy: str  # "set", "deleted", "trimmed", "unchanged" or "none"
    dry_run: bool = False
    lifecycle: str = "off"  # the abort-incomplete-uploads rule: "set", "unchanged", "off" or "unsupported"
    removed: tuple[str, ...] = ()  # statements taken out of a private bucket's policy
    quarantine: str = "off"  # the direct-upload quarantine expiry rule, like ``lifecycle``
    cors: str = "off"  # the direct-upload CORS rule, like ``lifecycle``

    def line(self) -> str:
        kind = "public" if self.public else "private"
        verb = ("would create" if self.dry_run else "created") if self.created else "exists"
        policy = {
            "set": "policy would be set" if self.dry_run else "policy set",
            "deleted": "policy would be removed" if self.dry_run else "policy removed",
            "trimmed": "statements would be removed" if self.dry_run else "statements removed",
            "unchanged": "policy unchanged",
            "none": "no policy",
        }[self.policy]
        if self.removed:
            policy += f" ({'; '.join(self.removed)})"
        if self.policy == "trimmed":
            policy += ", other statements kept"
        return f"{self.endpoint}/{self.bucket} ({kind}): {verb}, {policy}"

    def lines(self) -> list[str]:
        """:meth:`line`, then what happened to the incomplete-upload clean-up rule, if anything."""
        lifecycle = {
            "set": "rule aborting incomplete uploads would be set"
            if self.dry_run
            else "rule aborting incomplete uploads set",
            "unsupported": "the server takes no lifecycle rules: run clean_incomplete_uploads now and then",
        }.get(self.lifecycle)
        extra = [lifecycle] if lifecycle else []
        extra += _direct_upload_lines(self.quarantine, self.cors, self.dry_run)
        return [self.line()] + [f"{self.endpoint}/{self.bucket}: {text}" for text in extra]


def _current_policy(storage: MinioBackend) -> str | None:
    try:
        return storage.client.get_bucket_policy(storage.bucket)
    except S3Error as exc:
        if exc.code in NO_POLICY_CODES:
            return None
        raise


def sync_bucket(storage: MinioBackend, *, dry_run: bool = False) -> BucketReport:
    """Create ``storage.bucket`` if missing, then make its policy what the hooks say.

    If a plugin fails right after the bucket was created, the (empty) bucket is
    removed again so that the next run starts from the same state. Server errors
    are raised as OSError subclasses naming the endpoint and bucket.
    """
    with s3_errors(storage.config.endpoint, storage.bucket, "initialize bucket"):
        return _sync_bucket(storage, dry_run)


def _make_bucket(storage: MinioBackend) -> bool:
    """Create the bucket; False when another process (workers, pods starting together) was first.

    ``BucketAlreadyExists`` counts as ours only when our credentials can see the bucket.
    """
    client, bucket = storage.client, storage.bucket
    try:
        client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code == "BucketAlreadyOwnedByYou":
            return False
        if exc.code != "BucketAlreadyExists":
            raise
        try:
            ours = client.bucket_exists(bucket)
        except S3Error:
            ours = False
        if not ours:
            raise
        return False
    return True


POLICY_REFUSED_CODES = frozenset({"MalformedPolicy", "InvalidPolicyDocument", "NotImplemented"})


def _set_policy(storage: MinioBackend, desired: dict[str, Any]) -> dict[str, Any]:
    """Set ``desired``; where the server refuses ``NotResource``, the grant without it (logged)."""
    client, bucket = storage.client, storage.bucket
    try:
        client.set_bucket_policy(bucket, json.dumps(desired))
    except S3Error as exc:
        widened = without_not_resource(desired, bucket)
        if exc.code not in POLICY_REFUSED_CODES or widened is None:
            raise
        logger.warning(
            "%s/%s: the server refused a policy with NotResource (%s); the bucket is public without "
            "it, so direct-upload quarantine objects there are readable by anyone who knows their key",
            storage.config.endpoint,
            bucket,
            exc.code,
        )
        client.set_bucket_policy(bucket, json.dumps(widened))
        return widened
    return desired


def _sync_bucket(storage: MinioBackend, dry_run: bool) -> BucketReport:
    client, bucket, public = storage.client, storage.bucket, storage.is_public
    created = not client.bucket_exists(bucket)
    if created and not dry_run:
        created = _make_bucket(storage)
    try:
        if created and not dry_run:
            manager.on_bucket_created(bucket_name=bucket, public=public, storage=storage)
        desired = manager.bucket_policy(bucket_name=bucket, public=public, storage=storage)
        current = None if created else _current_policy(storage)
        removed: list[dict[str, Any]] = []
        if desired is None:
            # Private: take out anonymous grants and our own statements, keep operators' grants.
            desired, removed = private_remainder(current)
            if not removed:
                action = "unchanged" if current else "none"
            else:
                action = "trimmed" if desired else "deleted"
        else:
            # Public (or a hook's policy): keep grants operators made outside Django
            # (named principals, denies); replace only anonymous grants and our own.
            kept, _ = private_remainder(current)
            if kept:
                desired = {**desired, "Statement": [*_statements(desired), *kept["Statement"]]}
            action = "unchanged" if policies_equal(desired, current) else "set"
        if not dry_run and action == "deleted":
            _delete_policy(storage)
        elif not dry_run and action in ("set", "trimmed") and desired is not None:
            desired = _set_policy(storage, desired)
    except BaseException:
        if created and not dry_run:
            client.remove_bucket(bucket)
        raise
    described = tuple(describe_statement(statement) for statement in removed)
    lifecycle = "off" if created and dry_run else sync_lifecycle(storage, dry_run=dry_run)
    # What the bucket is, not what it was declared: a policy hook may open a private bucket.
    public = public or opens_bucket(desired, bucket)
    quarantine = "off" if created and dry_run else sync_quarantine_rule(storage, dry_run=dry_run)
    cors = "off" if created and dry_run else sync_cors(storage, dry_run=dry_run)
    return BucketReport(
        storage.config.endpoint,
        bucket,
        public,
        created,
        action,
        dry_run,
        lifecycle=lifecycle,
        removed=described,
        quarantine=quarantine,
        cors=cors,
    )


def sync_lifecycle(storage: MinioBackend, *, dry_run: bool = False) -> str:
    """Make the bucket's rule that aborts incomplete multipart uploads what the settings say.

    Only the rule this package writes (ID ``dmb-abort-incomplete-uploads``) is
    added, changed or removed; every other rule of the bucket is kept as it is.
    Returns "set", "unchanged", "off" or "unsupported".
    """
    days = storage.config.abort_incomplete_uploads_days
    rule = (
        Rule(
            ENABLED,
            rule_filter=Filter(prefix=""),
            rule_id=LIFECYCLE_RULE_ID,
            abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(days),
        )
        if days
        else None
    )

    return _sync_rule(storage, LIFECYCLE_RULE_ID, rule, dry_run)


def _sync_rule(storage: MinioBackend, rule_id: str, wanted: Rule | None, dry_run: bool) -> str:
    """Put ``wanted`` (None: no rule) under ``rule_id`` among the bucket's lifecycle rules.

    Every other rule is written back as the server gave it (its XML, not the SDK's
    model of it, which drops what it does not know: a rule-level ``Prefix``, size
    filters). Returns "set", "unchanged", "off" or "unsupported".
    """
    rules = _lifecycle_rules(storage)
    if rules is None:
        return "unsupported"
    others = [rule for rule in rules if (rule.findtext("ID") or "") != rule_id]
    ours = [rule for rule in rules if (rule.findtext("ID") or "") == rule_id]
    if wanted is None:
        if ours and not dry_run:
            _write_rules(storage, others)
        return "off"
    element = _elements(tostring(LifecycleConfig([wanted]).toxml(None)), "Rule")[0]
    if len(ours) == 1 and _canonical(ours[0]) == _canonical(element):
        return "unchanged"
    if not dry_run:
        try:
            _write_rules(storage, [*others, element])
        except S3Error as exc:
            if exc.code in UNSUPPORTED_CODES:
                return "unsupported"
            raise
    return "set"


def _elements(xml: bytes | None, tag: str) -> list[Element]:
    """The ``tag`` children of an S3 configuration document, namespaces dropped (written back plainly)."""
    if not xml:
        return []
    root = fromstring(xml)
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]
    return [child for child in root if child.tag == tag]


def _canonical(element: Element) -> tuple[object, ...]:
    """An element's content for comparison: empty leaves left out, children in any order."""
    children = sorted((c for c in (_canonical(child) for child in element) if c), key=repr)
    text = (element.text or "").strip()
    if not children and not text:
        return ()
    return (element.tag, text, tuple(children))


def _write_rules(storage: MinioBackend, rules: list[Element]) -> None:
    if rules:
        config = Element("LifecycleConfiguration")
        config.extend(rules)
        sdk.put_bucket_lifecycle(storage.client, storage.bucket, tostring(config))
    else:
        storage.client.delete_bucket_lifecycle(storage.bucket)


def _statements(policy: dict[str, Any]) -> list[Any]:
    statements = policy.get("Statement") or []
    return [statements] if isinstance(statements, dict) else list(statements)


def _delete_policy(storage: MinioBackend) -> None:
    try:
        storage.client.delete_bucket_policy(storage.bucket)
    except S3Error as exc:
        if exc.code not in NO_POLICY_CODES:  # another process removed it first
            raise


def _direct_upload_lines(quarantine: str, cors: str, dry_run: bool) -> list[str]:
    would = "would be " if dry_run else ""
    lines = {
        "set": [f"rule expiring direct-upload quarantine objects {would}set"],
        "unsupported": ["the server takes no lifecycle rules: unfinished direct uploads stay in quarantine"],
    }.get(quarantine, [])
    lines += {
        "set": [f"CORS rule for MINIO_CORS_ORIGINS {would}set"],
        "removed": [f"CORS rule of this package {would}removed"],
        "unsupported": [
            "the server takes no bucket CORS configuration (MinIO: set MINIO_API_CORS_ALLOW_ORIGIN "
            "in the server's environment instead)"
        ],
    }.get(cors, [])
    return lines


def quarantine_prefix(storage: MinioBackend) -> str:
    """The key prefix where direct uploads of ``storage`` wait to be finalized."""
    return f"{storage.location_prefix}{quarantine_folder()}/"


def quarantine_rule_id(storage: MinioBackend) -> str:
    """The ID of the rule expiring ``storage``'s quarantine: one per location, so storages share a bucket.

    The bucket root keeps the plain ``dmb-expire-quarantine`` (the ID of earlier
    versions); a location adds a hash of itself (IDs are short, locations need not be).
    """
    location = storage.location_prefix
    if not location:
        return QUARANTINE_RULE_ID
    return f"{QUARANTINE_RULE_ID}-{hashlib.sha256(location.encode()).hexdigest()[:16]}"


def _is_quarantine_rule(rule_id: str) -> bool:
    return rule_id == QUARANTINE_RULE_ID or rule_id.startswith(f"{QUARANTINE_RULE_ID}-")


def sync_quarantine_rule(storage: MinioBackend, *, dry_run: bool = False) -> str:
    """Make the rule expiring ``storage``'s direct-upload quarantine objects what the settings say.

    Objects (and incomplete uploads) under the quarantine prefix go after
    ``MINIO_DIRECT_UPLOAD_QUARANTINE_DAYS``, under a rule of the storage's own
    (:func:`quarantine_rule_id`): storages with other locations on the bucket keep
    theirs. A static storage takes no direct uploads and leaves the rules alone.
    With the setting None every quarantine rule of this package goes. Other rules
    are kept. Returns "set", "unchanged", "off" or "unsupported".
    """
    if storage.is_static:
        return "off"
    days = global_setting("MINIO_DIRECT_UPLOAD_QUARANTINE_DAYS")
    if not days:
        return _remove_quarantine_rules(storage, dry_run)
    rule_id = quarantine_rule_id(storage)
    rule = Rule(
        ENABLED,
        rule_filter=Filter(prefix=quarantine_prefix(storage)),
        rule_id=rule_id,
        expiration=Expiration(days=int(days)),
        abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(int(days)),
    )
    return _sync_rule(storage, rule_id, rule, dry_run)


def _lifecycle_rules(storage: MinioBackend) -> list[Element] | None:
    """The bucket's lifecycle rules as the server wrote them; None where lifecycle is not supported."""
    try:
        return _elements(sdk.get_bucket_lifecycle(storage.client, storage.bucket), "Rule")
    except S3Error as exc:
        if exc.code in UNSUPPORTED_CODES:
            return None
        raise


def _remove_quarantine_rules(storage: MinioBackend, dry_run: bool) -> str:
    rules = _lifecycle_rules(storage)
    if rules is None:
        return "off"
    others = [rule for rule in rules if not _is_quarantine_rule(rule.findtext("ID") or "")]
    if len(others) != len(rules) and not dry_run:
        _write_rules(storage, others)
    return "off"


def _our_cors_rule(origins: list[str]) -> Element:
    rule = Element("CORSRule")
    SubElement(rule, "ID").text = CORS_RULE_ID
    for origin in origins:
        SubElement(rule, "AllowedOrigin").text = origin
    for method in ("GET", "HEAD", "PUT", "POST"):
        SubElement(rule, "AllowedMethod").text = method
    SubElement(rule, "AllowedHeader").text = "*"
    SubElement(rule, "ExposeHeader").text = "ETag"
    SubElement(rule, "MaxAgeSeconds").text = "3600"
    return rule


def _rule_text(rule: Element) -> list[tuple[str, str]]:
    return sorted((child.tag, (child.text or "").strip()) for child in rule)


def origin_problem(origin: object) -> str:
    """Why ``origin`` is no browser origin (``scheme://host[:port]``); "" if it is one."""
    if not isinstance(origin, str):
        return "is not a string"
    if "*" in origin:
        # The rule covers the whole bucket: every website's scripts could then send and read
        # with any presigned URL they get hold of. The page that uploads has a known origin.
        return "is a wildcard; name the origins of the pages that upload"
    parts = urlsplit(origin.removesuffix("/"))
    if parts.scheme not in ("http", "https") or "://" not in origin:
        return "has no http:// or https:// scheme"
    if not parts.hostname or parts.username is not None or parts.password is not None:
        return "names no host (or has a user name)"
    if parts.path or parts.query or parts.fragment or origin.endswith("?") or origin.endswith("#"):
        return "has a path, query or fragment; an origin is only scheme://host[:port]"
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        return "has a port that is not a number"
    if parts.netloc.endswith(":"):
        return "has an empty port"
    if origin != origin.strip() or any(c.isspace() for c in origin):
        return "contains white space"
    try:
        browser_origin(origin)
    except UnicodeError:
        return "has a host name that cannot be written in IDNA (punycode)"
    return ""


def browser_origin(origin: str) -> str:
    """``origin`` as browsers send it in the Origin header, which CORS rules must match exactly.

    Lower case, IDNA host (``bücher.example`` is ``xn--bcher-kva.example``), IPv6 in
    its short form, no default port (``:443`` for https, ``:80`` for http), no leading
    zeros in the port.
    """
    parts = urlsplit(origin.strip().removesuffix("/"))
    scheme, host, port = parts.scheme.lower(), parts.hostname or "", parts.port
    try:
        host = f"[{ipaddress.IPv6Address(host).compressed}]"
    except ValueError:
        host = host.encode("idna").decode("ascii").lower()
    if port is None or port == {"https": 443, "http": 80}.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def cors_origin_problems() -> list[str]:
    """What is wrong with ``MINIO_CORS_ORIGINS``, one sentence per mistake (the system check's messages)."""
    origins = global_setting("MINIO_CORS_ORIGINS") or ()
    if isinstance(origins, (str, bytes)) or not isinstance(origins, (list, tuple)):
        return [f"MINIO_CORS_ORIGINS must be a list of origins, not {type(origins).__name__} {origins!r}"]
    problems = ((origin, origin_problem(origin)) for origin in origins)
    return [f"MINIO_CORS_ORIGINS: {origin!r} {problem}" for origin, problem in problems if problem]


def cors_origins() -> list[str]:
    """``MINIO_CORS_ORIGINS`` as browsers send them; ImproperlyConfigured if they are not origins."""
    problems = cors_origin_problems()
    if problems:
        raise ImproperlyConfigured(problems[0])
    return list(
        dict.fromkeys(browser_origin(str(origin)) for origin in global_setting("MINIO_CORS_ORIGINS") or ())
    )


def quarantine_folder() -> str:
    """``MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX`` without slashes around it ("" when unset)."""
    return str(global_setting("MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX") or "").strip("/")


def sync_cors(storage: MinioBackend, *, dry_run: bool = False) -> str:
    """Make the bucket's CORS rule of this package (ID ``dmb-direct-uploads``) allow ``MINIO_CORS_ORIGINS``.

    Other CORS rules are kept. Returns "set", "unchanged", "removed", "off" or
    "unsupported" (MinIO community edition takes CORS only from its environment).
    """
    origins = cors_origins()
    client, bucket = storage.client, storage.bucket
    try:
        rules = _elements(sdk.get_bucket_cors(client, bucket), "CORSRule")
    except S3Error as exc:
        if exc.code in UNSUPPORTED_CODES:
            return "unsupported" if origins else "off"
        raise
    others = [rule for rule in rules if (rule.findtext("ID") or "") != CORS_RULE_ID]
    ours = [rule for rule in rules if (rule.findtext("ID") or "") == CORS_RULE_ID]
    if not origins:
        if not ours:
            return "off"
        desired = others
    else:
        wanted = _our_cors_rule(origins)
        if len(ours) == 1 and _rule_text(ours[0]) == _rule_text(wanted):
            return "unchanged"
        desired = [*others, wanted]
    if not dry_run:
        try:
            if desired:
                config = Element("CORSConfiguration")
                config.extend(desired)
                sdk.put_bucket_cors(client, bucket, tostring(config))
            else:
                sdk.delete_bucket_cors(client, bucket)
        except S3Error as exc:
            if exc.code in UNSUPPORTED_CODES:
                return "unsupported"
            raise
    return "set" if origins else "removed"


_known_lock = threading.Lock()
renew_after_fork(globals(), "_known_lock")
_known: set[tuple[str, str]] = set()


def ensure_bucket_once(storage: MinioBackend) -> None:
    """``MINIO_BUCKET_CHECK_ON_SAVE``: create the bucket if missing, once per process."""
    key = (storage.config.endpoint, storage.bucket)
    if key in _known:
        return
    with _known_lock:
        if key in _known:
            return
        with s3_errors(storage.config.endpoint, storage.bucket, "bucket check"):
            missing = not storage.client.bucket_exists(storage.bucket)
        if missing:
            sync_bucket(storage)
        _known.add(key)


def forget_known_buckets() -> None:
    with _known_lock:
        _known.clear()


def initialize_buckets(
    storages: Iterable[MinioBackend], *, dry_run: bool = False, on_start: bool = False
) -> list[BucketReport]:
    """Create each storage's bucket if missing and reconcile its policy.

    ``on_start`` limits the work to storages whose configuration turns
    ``MINIO_CONSISTENCY_CHECK_ON_START`` on (globally or in an alias's OPTIONS).
    """
    return [
        sync_bucket(storage, dry_run=dry_run)
        for storage in storages
        if not on_start or storage.config.consistency_check_on_start
    ]


def abort_incomplete_uploads(
    storage: MinioBackend, *, older_than: timedelta, dry_run: bool = False
) -> list[sdk.IncompleteUpload]:
    """Abort the bucket's multipart uploads started more than ``older_than`` ago; return them.

    These are what a save leaves when neither its upload nor its abort could reach
    the server. Uploads under the storage's ``location`` only.
    """
    cutoff = datetime.now(timezone.utc) - older_than
    stale = []
    with s3_errors(storage.config.endpoint, storage.bucket, "abort incomplete uploads"):
        for upload in sdk.list_incomplete_uploads(storage.client, storage.bucket, storage.location_prefix):
            if upload.initiated is None or upload.initiated > cutoff:
                continue
            stale.append(upload)
            if not dry_run:
                try:
                    sdk.abort_multipart_upload(storage.client, storage.bucket, upload.key, upload.upload_id)
                except S3Error as exc:
                    if exc.code != "NoSuchUpload":  # finished or aborted meanwhile
                        raise
    return stale


def remove_stale_claims(storage: MinioBackend, *, older_than: timedelta, dry_run: bool = False) -> list[str]:
    """Remove the empty placeholders (claims) of large saves whose writer died; return their keys.

    A claim is an empty object carrying ``x-amz-meta-dmb-claim``; a finished save
    replaces it. Only empty objects older than ``older_than`` are asked about (one
    HEAD each), under the storage's ``location``.
    """
    cutoff = datetime.now(timezone.utc) - older_than
    stale = []
    client, bucket = storage.client, storage.bucket
    with s3_errors(storage.config.endpoint, bucket, "remove stale claims"):
        for obj in client.list_objects(bucket, prefix=storage.location_prefix or None, recursive=True):
            if obj.size or obj.is_dir or obj.last_modified is None or obj.last_modified > cutoff:
                continue
            key = str(obj.object_name)
            try:
                metadata = client.stat_object(bucket, key).metadata or {}
            except S3Error:
                continue  # gone meanwhile, or not readable without a key: not a claim of ours
            if metadata.get(CLAIM_HEADER) is None:
                continue
            stale.append(key)
            if not dry_run:
                client.remove_object(bucket, key)
    return stale


def remove_stale_quarantine(
    storage: MinioBackend, *, older_than: timedelta, dry_run: bool = False
) -> list[tuple[str, datetime | None]]:
    """Remove direct-upload quarantine objects last modified more than ``older_than`` ago.

    For servers without lifecycle rules: what a browser uploaded and nobody
    finalized. Returns (key, last modified) of each.
    """
    cutoff = datetime.now(timezone.utc) - older_than
    stale = []
    with s3_errors(storage.config.endpoint, storage.bucket, "remove stale quarantine objects"):
        for obj in storage.client.list_objects(
            storage.bucket, prefix=quarantine_prefix(storage), recursive=True
        ):
            if obj.last_modified is None or obj.last_modified > cutoff:
                continue
            stale.append((obj.object_name, obj.last_modified))
            if not dry_run:
                storage.client.remove_object(storage.bucket, obj.object_name)
    return stale
