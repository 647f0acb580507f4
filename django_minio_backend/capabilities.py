"""What a server honours, learned from the server itself.

``MINIO_CONDITIONAL_WRITES = "auto"`` (the default) asks :func:`conditional_put`
before the first create-only save to a bucket in a process: two conditional PUTs
of a scratch key (the second must be refused) and a DELETE, once, cached. Servers
that ignore ``If-None-Match`` (MinIO before conditional writes, versitygw, some
gateways) then get the locked strategy of :mod:`django_minio_backend.upload`
instead of silent overwrites.

:func:`survey` probes everything the backend can use, for the
``minio_capabilities`` command and the deploy check.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error, ServerError
from minio.lifecycleconfig import AbortIncompleteMultipartUpload, LifecycleConfig, Rule

from . import sdk
from .forking import renew_after_fork
from .upload import Destination, is_conflict

logger = logging.getLogger("django_minio_backend")

PROBE_PREFIX = ".dmb-probe-"

_lock = threading.Lock()
renew_after_fork(globals(), "_lock")
_known: dict[tuple[str, str, str], bool] = {}


def conditional_put(dest: Destination) -> bool:
    """Whether ``dest``'s server refuses a PUT with ``If-None-Match: *`` over an existing key.

    Probed once per process and (endpoint, bucket); transport errors propagate
    (and nothing is cached), so a save that cannot reach the server fails as usual.
    """
    key = (dest.endpoint, dest.bucket, dest.prefix)
    if key in _known:
        return _known[key]
    with _lock:
        if key not in _known:
            honoured = _probe_conditional_put(dest)
            _known[key] = honoured
            if honoured:
                logger.info("%s/%s honours conditional writes", dest.endpoint, dest.bucket)
            else:
                logger.warning(
                    "%s/%s ignores If-None-Match: create-only saves lock names instead "
                    "(atomic across processes only with a shared Django cache); "
                    "set MINIO_CONDITIONAL_WRITES = False to skip this probe",
                    dest.endpoint,
                    dest.bucket,
                )
    return _known[key]


def forget() -> None:
    """Drop what was learned (settings changed, tests)."""
    with _lock:
        _known.clear()


def _probe_conditional_put(dest: Destination) -> bool:
    probe = f"{dest.prefix}{PROBE_PREFIX}{uuid.uuid4().hex}"
    # Refused at once: a PUT retried after a lost answer found its own first attempt.
    created = _put_if_absent(dest, probe)
    try:
        return not created or not _put_if_absent(dest, probe)
    finally:
        with contextlib.suppress(Exception):
            dest.client.remove_object(dest.bucket, probe)


def _put_if_absent(dest: Destination, key: str) -> bool:
    """An empty PUT with ``If-None-Match: *``: True if stored, False if refused as a conflict."""
    try:
        sdk.put_object(dest.client, dest.bucket, key, b"", {"If-None-Match": "*"})
    except (S3Error, ServerError) as exc:
        if is_conflict(exc):
            return False
        raise
    return True


@dataclass(frozen=True)
class Finding:
    """One capability: ``supported`` is True, False or None (could not tell); ``detail`` says more."""

    name: str
    supported: bool | None
    detail: str = ""

    def line(self) -> str:
        mark = {True: "yes", False: "NO", None: "?"}[self.supported]
        return f"{self.name:<36} {mark:<4} {self.detail}".rstrip()


def survey(dest: Destination, *, use_https: bool) -> list[Finding]:
    """Probe what ``dest``'s server supports, on scratch keys named ``.dmb-probe-*`` (removed after)."""
    checks: list[tuple[str, Callable[[Destination], Finding]]] = [
        ("conditional PUT (If-None-Match)", _finding_conditional_put),
        ("conditional complete (If-None-Match)", _finding_conditional_complete),
        ("complete only over a claim (If-Match)", _finding_if_match_complete),
        ("bucket policies", _finding_policies),
        ("lifecycle rules", _finding_lifecycle),
        ("copy only over a claim (If-Match)", _finding_if_match_copy),
        ("bucket CORS (direct uploads)", _finding_cors),
    ]
    findings = []
    for name, probe in checks:
        try:
            finding = probe(dest)
        except (S3Error, ServerError) as exc:
            finding = Finding(name, False, _describe(exc))
        findings.append(Finding(name, finding.supported, finding.detail))
    findings.append(
        Finding("SSE-C", None, "not probed: needs HTTPS")
        if not use_https
        else Finding("SSE-C", None, "not probed (the SDK sends SSE-C over HTTPS only)")
    )
    return findings


def _describe(exc: S3Error | ServerError) -> str:
    if isinstance(exc, S3Error):
        return f"{exc.code}: {exc.message}"
    return f"HTTP {exc.status_code}"


def _finding_conditional_put(dest: Destination) -> Finding:
    honoured = _probe_conditional_put(dest)
    detail = "create-only saves use it" if honoured else "create-only saves lock names instead"
    return Finding("", honoured, detail)


def _multipart_onto(dest: Destination, key: str, headers: dict[str, str]) -> bool:
    """Complete a one-part upload onto ``key`` with ``headers``; False when refused as a conflict."""
    client, bucket = dest.client, dest.bucket
    upload_id = sdk.create_multipart_upload(client, bucket, key, {})
    try:
        etag = sdk.upload_part(client, bucket, key, upload_id, 1, b"probe", {})
        sdk.complete_multipart_upload(client, bucket, key, upload_id, [etag], headers)
    except (S3Error, ServerError) as exc:
        with contextlib.suppress(Exception):
            sdk.abort_multipart_upload(client, bucket, key, upload_id)
        if is_conflict(exc):
            return False
        raise
    return True


def _with_scratch_object(dest: Destination, probe: Callable[[str, str], Finding]) -> Finding:
    key = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        etag = sdk.put_object(dest.client, dest.bucket, key, b"", {})
        return probe(key, etag)
    finally:
        with contextlib.suppress(Exception):
            dest.client.remove_object(dest.bucket, key)


def _finding_conditional_complete(dest: Destination) -> Finding:
    def probe(key: str, etag: str) -> Finding:
        refused = not _multipart_onto(dest, key, {"If-None-Match": "*"})
        detail = "atomicity not tested; saves do not rely on it" if refused else "ignored"
        return Finding("", refused, detail)

    return _with_scratch_object(dest, probe)


def _finding_if_match_complete(dest: Destination) -> Finding:
    def probe(key: str, etag: str) -> Finding:
        refused = not _multipart_onto(dest, key, {"If-Match": '"00000000000000000000000000000000"'})
        detail = "a replaced claim is never overwritten" if refused else "ignored; checked after the complete"
        return Finding("", refused, detail)

    return _with_scratch_object(dest, probe)


def _finding_policies(dest: Destination) -> Finding:
    try:
        dest.client.get_bucket_policy(dest.bucket)
    except S3Error as exc:
        if exc.code not in ("NoSuchBucketPolicy", "NoSuchPolicy"):
            raise
    return Finding("", True, "public buckets can be served without signatures")


def _finding_lifecycle(dest: Destination) -> Finding:
    current = dest.client.get_bucket_lifecycle(dest.bucket)
    if current is not None:
        return Finding("", True, f"{len(current.rules)} rule(s) set")
    # Nothing set: a rule set and removed again shows whether the server takes them.
    rule = Rule(
        ENABLED,
        rule_filter=Filter(prefix=PROBE_PREFIX),
        rule_id="dmb-probe",
        abort_incomplete_multipart_upload=AbortIncompleteMultipartUpload(1),
    )
    dest.client.set_bucket_lifecycle(dest.bucket, LifecycleConfig([rule]))
    dest.client.delete_bucket_lifecycle(dest.bucket)
    return Finding("", True, "AbortIncompleteMultipartUpload accepted")


def _finding_if_match_copy(dest: Destination) -> Finding:
    def probe(key: str, etag: str) -> Finding:
        try:
            sdk.copy_object(
                dest.client, dest.bucket, key, key, {"If-Match": '"0"', "x-amz-metadata-directive": "REPLACE"}
            )
        except (S3Error, ServerError) as exc:
            if is_conflict(exc):
                return Finding("", True, "direct uploads move out of quarantine onto their claim only")
            raise
        return Finding("", False, "ignored; checked after the copy")

    return _with_scratch_object(dest, probe)


def _finding_cors(dest: Destination) -> Finding:
    current = sdk.get_bucket_cors(dest.client, dest.bucket)
    detail = "set" if current else "none set"
    return Finding("", True, f"{detail}; initialize_buckets writes MINIO_CORS_ORIGINS")


def create_only_is_conditional(setting: bool | str, dest: Destination) -> bool:
    """Whether create-only writes to ``dest`` use ``If-None-Match`` under ``MINIO_CONDITIONAL_WRITES``."""
    if setting == "auto":
        return conditional_put(dest)
    return bool(setting)
