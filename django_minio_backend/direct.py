"""Direct browser uploads: the browser sends the bytes to the bucket, Django decides and verifies.

1. **Ticket** (:func:`issue_ticket`): the ``direct_upload_rules`` hook decides
   whether the user may upload to a model's file field and with what limits; the
   final name comes from the field's ``upload_to`` and the storage; the object
   first lands under a quarantine key. Files up to ``MINIO_DIRECT_UPLOAD_PART_SIZE``
   get a presigned POST whose policy pins the key, the exact size and the content
   type; larger files get a multipart upload whose part URLs are handed out in
   batches (:func:`part_urls`), skipping the parts the server already holds, so an
   upload resumes after a reload or a lost connection; each part URL takes only
   its part's exact size. The ticket is signed (``django.core.signing``), expires
   after ``MINIO_DIRECT_UPLOAD_TICKET_AGE`` (a multipart upload still on the
   server renews it through :func:`part_urls`, and finalizes within
   ``MINIO_DIRECT_UPLOAD_FINALIZE_AGE``) and names the field, the user and (a
   hash of) the session.
2. **Finalize** (:func:`finalize`): the multipart upload is completed from the
   parts the server lists, each of the size the ticket announced (the browser's
   word is not taken), the quarantine
   object is checked against the ticket (exists, exact size, content type,
   SHA-256 if the browser sent one), copied create-only to its final name (an
   existing file is never replaced: a taken name gets an alternative) and
   removed; then ``direct_upload_finalized`` may post-process or reject it. The
   answer carries a signed value that :class:`~django_minio_backend.forms.DirectUploadField`
   accepts instead of a file.

Quarantine objects never finalized expire through a lifecycle rule that
``initialize_buckets`` writes (``MINIO_DIRECT_UPLOAD_QUARANTINE_DAYS``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import functools
import hashlib
import hmac
import math
import os
import posixpath
import time
import urllib.parse
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import urllib3
from django.apps import apps
from django.core import signing
from django.core.exceptions import FieldDoesNotExist, SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.db import models
from django.http import HttpRequest
from django.utils.crypto import salted_hmac
from minio import Minio
from minio.datatypes import PostPolicy
from minio.error import S3Error
from minio.sse import SseCustomerKey

from . import capabilities, manager, sdk, upload
from .buckets import quarantine_prefix
from .client import UrlSigner, client_for, default_http_client
from .conf import MIN_PART_SIZE, global_setting
from .content_types import ContentTypeError, parse_content_type
from .exceptions import s3_errors
from .header_encoding import encode_headers
from .names import clean_name
from .storage import MinioBackend

TICKET_SALT = "django_minio_backend.direct.ticket"
VALUE_SALT = "django_minio_backend.direct.value"
PART_BATCH = 16  # part URLs per answer: enough to keep a browser busy, few enough to expire unused
MAX_PARTS = 10_000  # S3's limit per multipart upload
MAX_NAME_ATTEMPTS = 20
MAX_CONTENT_TYPE = 255  # RFC 6838: 127 characters for the type and for the subtype, and a charset
MAX_COPY_SIZE = 5 * 1024**3  # S3's limit of one CopyObject request
COPY_TIMEOUT = 3600.0  # seconds a server may take to copy one object (5 GiB at most)
GONE_CODES = frozenset({"NoSuchKey", "NotFound", "NoSuchUpload"})
# Quarantine objects are unchecked: should anyone read one (a public bucket), it is a download.
QUARANTINE_DISPOSITION = "attachment"
ALREADY_FINALIZED = "this upload was finalized already (or is being finalized)"
# A finalize claim older than this, not marked done, was left by a killed worker: the copy alone may take
# up to COPY_TIMEOUT, the hook and the checksum some more.
CLAIM_STALE = timedelta(seconds=COPY_TIMEOUT + 600)
DONE_HEADER = "x-amz-meta-dmb-finalized"
# On the marker: the final name its finalize copied to, so a takeover can remove that unchecked copy.
FINAL_NAME_HEADER = "x-amz-meta-dmb-final-name"
# On a final file: the finalize claim that copied it, so a finalize that lost its claim removes only its own.
CLAIM_TOKEN_HEADER = "x-amz-meta-dmb-finalize-claim"
FINALIZED = "finalized"  # the cache entry of a used-up ticket


class UploadRefused(Exception):
    """A ticket, part or finalize request is refused; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, *, busy: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        # The ticket is held by another finalize (or was finalized): asking again later may succeed,
        # uploading again would make a second file.
        self.busy = busy


class UploadRejected(Exception):
    """Raised by a ``direct_upload_finalized`` plugin to reject a file (it is then deleted)."""


@dataclass(frozen=True)
class UploadRules:
    """What the ``direct_upload_rules`` hook allows for one upload.

    ``max_size`` in bytes (None: only the server's limits), ``content_types``
    as shell patterns (``"image/*"``; empty allows any), ``key_prefix`` a folder
    put before the field's own name.
    """

    allowed: bool = True
    max_size: int | None = None
    content_types: tuple[str, ...] = ()
    key_prefix: str = ""
    reason: str = ""

    @classmethod
    def refuse(cls, reason: str) -> UploadRules:
        return cls(allowed=False, reason=reason)


@dataclass(frozen=True)
class Ticket:
    """What a signed ticket says; see the module docstring."""

    field: str  # "app_label.ModelName.field_name"
    user: str
    session: str
    name: str  # the final name proposed (taken names get an alternative at finalize)
    key: str  # the quarantine object's key
    size: int
    content_type: str
    upload_id: str = ""  # "" for a presigned POST
    part_size: int = 0

    @property
    def parts(self) -> int:
        return math.ceil(self.size / self.part_size) if self.upload_id else 1

    def part_length(self, number: int) -> int:
        return min(self.part_size, self.size - (number - 1) * self.part_size)

    def sign(self) -> str:
        return signing.dumps(asdict(self), salt=TICKET_SALT, compress=True)


def field_label(model: type[models.Model], field: models.Field[Any, Any]) -> str:
    """``"app_label.ModelName.field"``: how tickets, views and form fields name a model field."""
    return f"{model._meta.app_label}.{model.__name__}.{field.name}"


def resolve_field(label: str) -> tuple[type[models.Model], models.FileField, MinioBackend]:
    """The model, DirectFileField and storage named by ``label``; UploadRefused(404) for anything else."""
    try:
        app_label, model_name, field_name = label.split(".")
        model = apps.get_model(app_label, model_name)
        model_field = model._meta.get_field(field_name)
    except (ValueError, LookupError, FieldDoesNotExist):
        raise UploadRefused(f"no such file field: {label!r}", 404) from None
    from .fields import DirectFileField  # fields imports this module

    # Only fields that ask for direct uploads: any other FileField (a public bucket's
    # included) would otherwise take files its model's forms never offered to take.
    if not isinstance(model_field, DirectFileField) or not isinstance(model_field.storage, MinioBackend):
        raise UploadRefused(f"{label!r} is not a DirectFileField stored in a MinioBackend", 404)
    return model, model_field, model_field.storage


def _errors(storage: MinioBackend, action: str, name: str) -> contextlib.AbstractContextManager[None]:
    return s3_errors(storage.config.endpoint, storage.bucket, action, name)


def _user(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    return str(user.pk) if user is not None and user.is_authenticated else ""


def _session(request: HttpRequest) -> str:
    """A keyed hash of the session key: tickets are readable, session keys must not be."""
    session = getattr(request, "session", None)
    if session is None:
        return ""
    if not session.session_key:
        session.save()
    return salted_hmac(TICKET_SALT, session.session_key).hexdigest()[:32]


def _ticket_age() -> timedelta:
    age = global_setting("MINIO_DIRECT_UPLOAD_TICKET_AGE")
    return age if isinstance(age, timedelta) else timedelta(seconds=int(age))


def _finalize_age() -> timedelta:
    """How long a ticket's upload may be resumed and finalized: ``MINIO_DIRECT_UPLOAD_FINALIZE_AGE``."""
    age = global_setting("MINIO_DIRECT_UPLOAD_FINALIZE_AGE")
    age = age if isinstance(age, timedelta) else timedelta(seconds=int(age))
    return max(age, _ticket_age())


def load_ticket(
    request: HttpRequest, signed: str, label: str | None = None, *, max_age: timedelta | None = None
) -> Ticket:
    """The ticket ``signed`` if it is genuine, unexpired and this user's and session's (else 403).

    Unexpired: younger than ``max_age`` (default ``MINIO_DIRECT_UPLOAD_TICKET_AGE``).
    """
    try:
        data = signing.loads(signed, salt=TICKET_SALT, max_age=_ticket_age() if max_age is None else max_age)
        ticket = Ticket(**data)
    except signing.SignatureExpired:
        raise UploadRefused("the upload ticket has expired; start the upload again", 403) from None
    except (signing.BadSignature, TypeError, ValueError):
        raise UploadRefused("the upload ticket is not valid", 403) from None
    if label is not None and ticket.field != label:
        raise UploadRefused("the upload ticket is for another field", 403)
    if not hmac.compare_digest(ticket.user, _user(request)) or not hmac.compare_digest(
        ticket.session, _session(request)
    ):
        raise UploadRefused("the upload ticket belongs to another user or session", 403)
    return ticket


def sign_value(label: str, name: str, *, user: str = "", session: str = "", etag: str = "") -> str:
    """The value a form field accepts for a finalized upload of ``name`` to the field ``label``.

    It names the uploader (``user``, ``session`` as in tickets) and the stored
    object's ``etag``: once the name holds another object, the value is void.
    """
    data = {"field": label, "name": name, "user": user, "session": session, "etag": etag}
    return signing.dumps(data, salt=VALUE_SALT)


def load_value(signed: str, label: str, request: HttpRequest | None = None) -> str:
    """The file name in a value from :func:`sign_value` for ``label``; ValueError if not genuine.

    Not genuine: forged, expired, for another field, for another user or session
    (checked when ``request`` is given), or the object under the name is no longer
    the one uploaded (its ETag differs: deleted and the name taken again).
    """
    try:
        data = signing.loads(signed, salt=VALUE_SALT, max_age=_ticket_age() * 2)
    except signing.BadSignature as exc:
        raise ValueError("the uploaded file's value is not valid or has expired") from exc
    if not isinstance(data, dict) or data.get("field") != label or not isinstance(data.get("name"), str):
        raise ValueError("the uploaded file's value is for another field")
    if not all(isinstance(data.get(k), str) for k in ("user", "session", "etag")):
        raise ValueError("the uploaded file's value is not valid or has expired")
    if request is not None and not (
        hmac.compare_digest(data["user"], _user(request))
        and hmac.compare_digest(data["session"], _session(request))
    ):
        raise ValueError("the uploaded file's value belongs to another user or session")
    name = str(data["name"])
    try:
        _, _, storage = resolve_field(label)
        with s3_errors(storage.config.endpoint, storage.bucket, "check an uploaded file", name):
            etag = _etag(storage, name)
    except (UploadRefused, FileNotFoundError):
        raise ValueError("the uploaded file is no longer there") from None
    except OSError as exc:  # the details (endpoint, cause) go to the error report, not to the user
        raise ValueError("the uploaded file cannot be checked now; try again later") from exc
    if not data["etag"] or not hmac.compare_digest(etag, data["etag"]):
        raise ValueError("the uploaded file was replaced since it was uploaded")
    return name


def _etag(storage: MinioBackend, name: str) -> str:
    return str(storage.client.stat_object(storage.bucket, storage.location_prefix + name).etag or "")


def _matches(content_type: str, patterns: tuple[str, ...]) -> bool:
    # On the parsed type without parameters: "image/*" must not match "image/png;,text/html".
    main = content_type.partition(";")[0]
    return not patterns or any(fnmatch.fnmatchcase(main, p.lower()) for p in patterns)


@functools.lru_cache(maxsize=16)
def _browser_client(scheme: str, host: str, region: str, access_key: str, secret_key: str) -> Minio:
    """A client for the endpoint browsers see; it only signs (the region is given: no lookup)."""
    return Minio(host, access_key, secret_key, secure=scheme == "https", region=region)


def browser_client(storage: MinioBackend) -> Minio:
    signer = storage.signer
    return _browser_client(signer.scheme, signer.host, signer.region, signer.access_key, signer.secret_key)


def _quarantine_key(storage: MinioBackend) -> str:
    return f"{quarantine_prefix(storage)}{uuid.uuid4().hex}"


def issue_ticket(
    request: HttpRequest, label: str, filename: str, size: int, content_type: str
) -> dict[str, Any]:
    """Answer a browser that wants to upload ``filename`` (``size`` bytes) to the field ``label``.

    Returns the JSON-able answer: ``ticket`` and either ``post`` (``url`` and
    ``fields`` of a presigned POST) or ``part_size`` and ``parts`` (a multipart
    upload; ask :func:`part_urls` for URLs). UploadRefused says why not.
    """
    model, model_field, storage = resolve_field(label)
    if len(content_type) > MAX_CONTENT_TYPE:
        raise UploadRefused(f"the content type is longer than {MAX_CONTENT_TYPE} characters")
    try:
        content_type = parse_content_type(content_type or "application/octet-stream")
    except ContentTypeError as exc:
        raise UploadRefused(str(exc)) from None
    if size < 0 or not filename:
        raise UploadRefused("a file name and a size are required")
    if isinstance(storage.config.sse, SseCustomerKey):
        raise UploadRefused("direct uploads do not support storages with customer-provided keys (SSE-C)")
    rules = manager.direct_upload_rules(
        request=request,
        model=model,
        field=model_field,
        filename=filename,
        size=size,
        content_type=content_type,
        storage=storage,
    )
    if rules is None or not rules.allowed:
        reason = rules.reason if rules is not None else "direct uploads are not allowed here"
        raise UploadRefused(reason or "direct uploads are not allowed here", 403)
    if rules.max_size is not None and size > rules.max_size:
        raise UploadRefused(f"the file is larger than the {rules.max_size} bytes allowed", 413)
    if size > MAX_COPY_SIZE:
        # Whatever the rules allow: the finalize copy is one CopyObject, which S3 limits to 5 GiB,
        # and the browser should learn that before it sends the bytes, not after.
        raise UploadRefused(
            f"direct uploads take at most {MAX_COPY_SIZE} bytes (5 GiB): the file is moved into place "
            "by one server-side copy",
            413,
        )
    if not _matches(content_type, rules.content_types):
        raise UploadRefused(f"files of type {content_type} are not allowed here", 415)
    part_size = max(int(global_setting("MINIO_DIRECT_UPLOAD_PART_SIZE")), MIN_PART_SIZE)
    if math.ceil(size / part_size) > MAX_PARTS:
        raise UploadRefused(f"the file needs more than {MAX_PARTS} parts of {part_size} bytes", 413)
    base = posixpath.basename(filename.replace("\\", "/"))
    try:
        # No instance exists before the upload; FileField passes it only to a callable upload_to.
        name = model_field.generate_filename(None, base)  # type: ignore[arg-type]
        if rules.key_prefix:
            name = posixpath.join(clean_name(rules.key_prefix.strip("/")), name)
        name = storage.get_available_name(clean_name(name), max_length=model_field.max_length)
    except SuspiciousFileOperation as exc:
        raise UploadRefused(f"the file name {filename!r} cannot be used: {exc}") from None
    if storage._key(name).startswith(quarantine_prefix(storage)):
        # A key_prefix (from the rules) or upload_to naming the quarantine: the lifecycle rule and
        # clean_incomplete_uploads would delete the finished file.
        raise UploadRefused(f"the file's name {name!r} would be in the direct-upload quarantine", 400)
    user, session = _user(request), _session(request)
    if not user and not session:
        # Nothing would bind the ticket and the value to this browser: anyone holding them could use them.
        raise UploadRefused(
            "direct uploads by anonymous users need Django's SessionMiddleware (the ticket is bound to the "
            "session)",
            403,
        )
    key = _quarantine_key(storage)
    ticket = Ticket(
        field=label,
        user=user,
        session=session,
        name=name,
        key=key,
        size=size,
        content_type=content_type,
    )
    if size <= part_size:
        return {"ticket": ticket.sign(), "name": name, "post": _post(storage, ticket)}
    with _errors(storage, "start upload", name):
        upload_id = sdk.create_multipart_upload(
            storage.client,
            storage.bucket,
            key,
            {"Content-Type": content_type, "Content-Disposition": QUARANTINE_DISPOSITION},
        )
    ticket = dataclasses.replace(ticket, upload_id=upload_id, part_size=part_size)
    return {"ticket": ticket.sign(), "name": name, "part_size": part_size, "parts": ticket.parts}


def _post(storage: MinioBackend, ticket: Ticket) -> dict[str, Any]:
    """A presigned POST for exactly ``ticket``'s key, size and content type."""
    policy = PostPolicy(storage.bucket, datetime.now(timezone.utc) + _ticket_age())
    policy.add_equals_condition("key", ticket.key)
    policy.add_equals_condition("Content-Type", ticket.content_type)
    policy.add_equals_condition("Content-Disposition", QUARANTINE_DISPOSITION)
    policy.add_content_length_range_condition(ticket.size, ticket.size)
    fields = browser_client(storage).presigned_post_policy(policy)
    fields.update(
        {
            "key": ticket.key,
            "Content-Type": ticket.content_type,
            "Content-Disposition": QUARANTINE_DISPOSITION,
        }
    )
    return {"url": storage.signer.public_url("").rstrip("/"), "fields": fields}


def part_urls(request: HttpRequest, signed: str, label: str | None = None) -> dict[str, Any]:
    """The parts the server holds for a multipart ticket and presigned URLs for the next missing ones.

    ``{"uploaded": [numbers], "urls": {number: url}, "remaining": count, "ticket": renewed}``:
    a browser uploads what ``urls`` names and asks again until ``remaining`` is 0.
    An upload already completed (a finalize failed after completing it) answers
    ``remaining`` 0 and ``"completed": true``: finalize again. UploadRefused(410)
    when the upload is gone (finalized or cancelled).
    A part of the wrong size is dropped from ``uploaded`` and handed out again.

    An upload may outlast the ticket age: while its multipart upload is still on
    the server, a ticket up to ``MINIO_DIRECT_UPLOAD_FINALIZE_AGE`` old is taken
    and ``ticket`` is the same ticket signed anew, to be used from then on.
    """
    ticket = load_ticket(request, signed, label, max_age=_finalize_age())
    if not ticket.upload_id:
        raise UploadRefused("this upload is a single POST; it has no parts")
    _, _, storage = resolve_field(ticket.field)
    with _errors(storage, "list parts", ticket.name):
        try:
            listed = sdk.list_parts(storage.client, storage.bucket, ticket.key, ticket.upload_id)
        except S3Error as exc:
            if exc.code not in GONE_CODES:
                raise
            if not _completed(storage, ticket):
                raise UploadRefused("this upload was finished or cancelled; start again", 410) from None
            # Completed by a finalize that failed later (a copy error): finalizing again is all it takes.
            done = list(range(1, ticket.parts + 1))
            return {"uploaded": done, "urls": {}, "remaining": 0, "completed": True, "ticket": ticket.sign()}
    good = set(_usable_parts(listed, ticket))
    missing = [n for n in range(1, ticket.parts + 1) if n not in good]
    # As long as a ticket may finalize: a batch of parts may take hours on a slow line, and
    # each URL takes only its part of this upload, whose size it binds.
    expires = min(_finalize_age(), timedelta(days=7))
    urls = {
        str(number): presigned_part_url(
            storage.signer, ticket.key, ticket.upload_id, number, ticket.part_length(number), expires
        )
        for number in missing[:PART_BATCH]
    }
    # Renewed only now: the upload was listed, so it exists and is this ticket's (key and id are signed).
    return {"uploaded": sorted(good), "urls": urls, "remaining": len(missing), "ticket": ticket.sign()}


def _completed(storage: MinioBackend, ticket: Ticket) -> bool:
    """Whether ``ticket``'s multipart upload was completed into a quarantine object that awaits finalize."""
    try:
        stat = storage.client.stat_object(storage.bucket, ticket.key)
    except S3Error as exc:
        if exc.code in GONE_CODES:
            return False
        raise
    return stat.size == ticket.size


def presigned_part_url(
    signer: UrlSigner, key: str, upload_id: str, number: int, length: int, expires: timedelta
) -> str:
    """A presigned PUT URL for part ``number`` of ``upload_id`` that takes exactly ``length`` bytes.

    ``content-length`` is a signed header (AWS Signature V4, query string): a
    body of any other size changes the header the server checks the signature
    against, so the server refuses it (403) instead of storing up to 5 GiB per
    part. Browsers set Content-Length themselves from the Blob they send.
    """
    params = {"partNumber": str(number), "uploadId": upload_id}
    return signer.presigned("PUT", key, expires, params=params, headers={"content-length": str(length)})


def abort(request: HttpRequest, signed: str, label: str | None = None) -> None:
    """Cancel a ticket's upload: abort its multipart upload or remove its quarantine object."""
    ticket = load_ticket(request, signed, label, max_age=_finalize_age())
    _, _, storage = resolve_field(ticket.field)
    with _errors(storage, "cancel upload", ticket.name):
        if ticket.upload_id:
            try:
                sdk.abort_multipart_upload(storage.client, storage.bucket, ticket.key, ticket.upload_id)
            except S3Error as exc:
                if exc.code not in GONE_CODES:
                    raise
        # Also after a NoSuchUpload: the upload may have been completed by a finalize that failed later
        # (Ceph RGW then answers NoSuchUpload), and its object must not be finalized after a Cancel.
        _remove_quietly(storage, ticket.key)


def finalize(
    request: HttpRequest, signed: str, label: str | None = None, sha256: str | None = None
) -> dict[str, Any]:
    """Verify a ticket's uploaded object, move it to its final name create-only, run the hook.

    Returns ``{"name", "size", "value"}`` (``value`` for the form field).
    UploadRefused when the object is missing, has another size or content type
    or checksum (it is then deleted), or a plugin rejects it. The ticket may be
    up to ``MINIO_DIRECT_UPLOAD_FINALIZE_AGE`` old: the upload may have outlasted its ticket.
    """
    ticket = load_ticket(request, signed, label, max_age=_finalize_age())
    model, model_field, storage = resolve_field(ticket.field)
    from django.core.cache import cache

    # One finalize per ticket, ever: a replayed POST must not become a second file.
    # The cache entry stops replays where the cache is shared; the marker object on
    # the server (create-only) stops them, and racing finalizes, across processes.
    # Both are released when this finalize fails, and taken over once stale (its
    # worker was killed), so an interrupted finalize can be retried.
    # A claim taken over (its worker looked dead, but was only slow) fences the old worker: each
    # finalize names its claim with its own token and, before it answers, checks that it still holds it.
    claim = Claim(token=uuid.uuid4().hex, used=_cache_key(ticket))
    _claim_in_cache(storage, cache, claim)
    rejected: UploadRefused | None = None
    placed = ""  # our copy at its final name, while a failure must remove it
    try:
        with _errors(storage, "finalize upload", ticket.name):
            claim.marker = _claim_ticket(storage, ticket, claim.token)
            if ticket.upload_id:
                _complete(storage, ticket)
            name = placed = _verify_and_move(storage, model_field, ticket, sha256, claim.token)
            _record_final_name(storage, ticket, cache, claim, name)
        try:
            manager.direct_upload_finalized(
                request=request,
                model=model,
                field=model_field,
                name=name,
                size=ticket.size,
                content_type=ticket.content_type,
                storage=storage,
            )
        except UploadRejected as exc:
            placed = ""
            _discard(storage, ticket, cache, claim, name)
            rejected = UploadRefused(str(exc) or "the file was rejected", 422)
        except BaseException:
            # A scanner that is down, say: the quarantine object stays, so a retry can finalize.
            placed = ""
            _discard(storage, ticket, cache, claim, name)
            raise
        with _errors(storage, "finalize upload", name):
            _end_finalize(storage, ticket, cache, claim, placed)
    except BaseException as exc:
        if placed and not isinstance(exc, UploadRefused):  # a lost claim removed its copy already
            with contextlib.suppress(Exception):  # the first failure is the one to report
                _discard(storage, ticket, cache, claim, placed)
        _release(storage, ticket, cache, claim)
        raise
    if rejected is not None:
        raise rejected
    with _errors(storage, "finalize upload", name):
        etag = _etag(storage, name)  # after the hook, which may have rewritten the file
    value = sign_value(ticket.field, name, user=ticket.user, session=ticket.session, etag=etag)
    return {"name": name, "size": ticket.size, "value": value}


def _cache_key(ticket: Ticket) -> str:
    return f"dmb-direct-finalize:{hashlib.sha256(ticket.key.encode()).hexdigest()}"


def _marker_key(ticket: Ticket) -> str:
    # Under the quarantine prefix, so the lifecycle rule removes it long after the ticket expired.
    return f"{ticket.key}.finalized"


@dataclass
class Claim:
    """One finalize's claims on its ticket: the cache entry ``used`` and the marker's write token."""

    token: str  # this finalize's own: in the cache entry, the marker and the final file's metadata
    used: str  # the cache key
    marker: str = ""  # the token written in the marker; "" on servers without conditional writes
    claimed_at: float = 0.0


def _cache_timeout() -> int:
    return int((_finalize_age() + _ticket_age()).total_seconds())


def _held(entry: Any) -> tuple[float, str, str] | None:
    """``(claimed_at, token, final name)`` of a cache entry that is a claim; None otherwise."""
    if isinstance(entry, float):  # written by an earlier version: a time only
        return entry, "", ""
    if isinstance(entry, tuple) and len(entry) == 3:
        return float(entry[0]), str(entry[1]), str(entry[2])
    return None


def _claim_in_cache(storage: MinioBackend, cache: Any, claim: Claim) -> None:
    """Take the cache entry ``claim.used`` for this finalize: UploadRefused(409) while another holds it.

    The entry holds ``(time taken, token, final name)``, or ``FINALIZED`` once the
    ticket is done; a taken entry older than ``CLAIM_STALE`` is taken over, by one
    process only (the one that adds the entry naming that claim). A failed write
    (DatabaseCache answers False on a database error) is not someone else's claim:
    UploadRefused(503), to be retried.
    """
    timeout = _cache_timeout()
    claim.claimed_at = now = time.time()
    if cache.add(claim.used, (now, claim.token, ""), timeout=timeout):
        return
    entry = cache.get(claim.used)
    if entry is None:
        raise UploadRefused("the finalize could not be recorded; try again", 503)
    held = _held(entry)
    if (
        held is not None
        and now - held[0] > CLAIM_STALE.total_seconds()
        # Named by the stale claim's token (its time for an entry of an earlier version): no spaces, which
        # memcached refuses in keys.
        and cache.add(f"{claim.used}:{held[1] or repr(held[0])}", 1, timeout=timeout)
    ):
        cache.set(claim.used, (now, claim.token, ""), timeout=timeout)
        if held[2] and held[1]:
            # Its worker was killed (or is too slow) after its copy: that copy is unchecked and no record's.
            _remove_own_file(storage, held[2], held[1])
        return
    raise UploadRefused(ALREADY_FINALIZED, 409, busy=held is not None)  # else FINALIZED: done for good


def _holds(storage: MinioBackend, ticket: Ticket, cache: Any, claim: Claim) -> bool:
    """Whether ``claim`` still holds the ticket (no other finalize took it over)."""
    if claim.marker:
        try:
            stat = storage.client.stat_object(storage.bucket, _marker_key(ticket))
        except S3Error as exc:
            if exc.code in GONE_CODES:
                return False
            raise
        meta = stat.metadata or {}
        return meta.get(upload.WRITE_TOKEN_HEADER) == claim.marker and not meta.get(DONE_HEADER)
    held = _held(cache.get(claim.used))
    return held is not None and held[1] == claim.token


def _lost(storage: MinioBackend, name: str, claim: Claim) -> UploadRefused:
    """The claim was taken over: remove our copy (the taker makes its own) and say 409."""
    if name:
        _remove_own_file(storage, name, claim.token)
    return UploadRefused(ALREADY_FINALIZED, 409, busy=True)


def _discard(storage: MinioBackend, ticket: Ticket, cache: Any, claim: Claim, name: str) -> None:
    """Delete the copy ``name`` after its hook failed; once the claim was taken over, only if it is still
    ours: the taker may have removed it and copied its own under the same name."""
    if _holds(storage, ticket, cache, claim):
        storage.delete(name)
    else:
        _remove_own_file(storage, name, claim.token)


def _remove_own_file(storage: MinioBackend, name: str, token: str) -> None:
    """Remove the final file ``name`` if the finalize claim ``token`` copied it (a hook may have rewritten
    it since: it is then left alone, as it may be another finalize's by now)."""
    key = storage.location_prefix + name
    try:
        stat = storage.client.stat_object(storage.bucket, key)
    except S3Error as exc:
        if exc.code in GONE_CODES:
            return
        raise
    if (stat.metadata or {}).get(CLAIM_TOKEN_HEADER) == token:
        _remove_quietly(storage, key)


def _record_final_name(storage: MinioBackend, ticket: Ticket, cache: Any, claim: Claim, name: str) -> None:
    """Name the copy in the claims, so that a takeover removes it should this worker die in the hook.

    Also refreshes the marker's date: a long copy does not make a live claim look stale.
    """
    if not _holds(storage, ticket, cache, claim):
        raise _lost(storage, name, claim)
    if claim.marker:
        headers = {upload.WRITE_TOKEN_HEADER: claim.marker, FINAL_NAME_HEADER: urllib.parse.quote(name)}
        sdk.put_object(storage.client, storage.bucket, _marker_key(ticket), b"", headers)
    else:
        cache.set(claim.used, (claim.claimed_at, claim.token, name), timeout=_cache_timeout())


def _release(storage: MinioBackend, ticket: Ticket, cache: Any, claim: Claim) -> None:
    """Not finalized: free the ticket's claims, those still ours only, so the browser may try again."""
    if claim.marker:
        upload._release_claim(storage.destination, _marker_key(ticket), claim.marker)
    held = _held(cache.get(claim.used))
    if held is not None and held[1] == claim.token:
        cache.delete(claim.used)


def _end_finalize(storage: MinioBackend, ticket: Ticket, cache: Any, claim: Claim, name: str) -> None:
    """The ticket is used up (finalized, or its file rejected): its claims say so for good.

    Only while this finalize still holds them; else its file ``name`` is removed
    and UploadRefused(409) raised: the finalize that took the claim over answers.
    The marker is read back after it is marked done, which narrows (to two
    finalizes marking done within one round trip) the window in which both a
    worker and its taker would answer.
    """
    if not _holds(storage, ticket, cache, claim):
        raise _lost(storage, name, claim)
    if claim.marker:
        headers = {upload.WRITE_TOKEN_HEADER: claim.marker, DONE_HEADER: "1"}
        sdk.put_object(storage.client, storage.bucket, _marker_key(ticket), b"", headers)
        stat = storage.client.stat_object(storage.bucket, _marker_key(ticket))
        if (stat.metadata or {}).get(upload.WRITE_TOKEN_HEADER) != claim.marker:
            raise _lost(storage, name, claim)
    cache.set(claim.used, FINALIZED, timeout=_cache_timeout())
    # Best effort from here: the file is in place; the lifecycle rule removes what is left behind.
    with contextlib.suppress(S3Error, OSError):
        _remove_quietly(storage, ticket.key)


def _claim_ticket(storage: MinioBackend, ticket: Ticket, token: str) -> str:
    """Mark ``ticket`` being finalized on the server, create-only; returns the marker's write token.

    UploadRefused(409) when a marker is there already (an earlier or a concurrent
    finalize), unless that marker is stale: not done and older than ``CLAIM_STALE``
    (its worker was killed). It is then taken over by whoever creates, create-only,
    the key naming the stale marker's token: one process only, which removes the
    final file the stale marker names, if that claim copied it. Returns "" on
    servers without conditional writes, where only the cache guards the ticket.
    """
    dest = storage.destination
    if not capabilities.create_only_is_conditional(storage.config.conditional_writes, dest):
        return ""
    key = _marker_key(ticket)
    headers = {upload.WRITE_TOKEN_HEADER: token}
    try:
        upload._conditional_put(dest, key, b"", headers, token)
        return token
    except upload.NameTaken:
        pass
    try:
        stat = storage.client.stat_object(storage.bucket, key)
    except S3Error:  # released meanwhile: the browser tries again
        raise UploadRefused(ALREADY_FINALIZED, 409, busy=True) from None
    meta = stat.metadata or {}
    held = meta.get(upload.WRITE_TOKEN_HEADER, "")
    age = datetime.now(timezone.utc) - (stat.last_modified or datetime.now(timezone.utc))
    if meta.get(DONE_HEADER) or not held or age <= CLAIM_STALE:
        raise UploadRefused(ALREADY_FINALIZED, 409, busy=not meta.get(DONE_HEADER))
    try:
        upload._conditional_put(dest, f"{key}.{held}", b"", headers, token)
    except upload.NameTaken:
        raise UploadRefused(ALREADY_FINALIZED, 409, busy=True) from None
    sdk.put_object(storage.client, storage.bucket, key, b"", headers)
    final = meta.get(FINAL_NAME_HEADER, "")
    if final:
        _remove_own_file(storage, urllib.parse.unquote(final), held)
    return token


def _complete(storage: MinioBackend, ticket: Ticket) -> None:
    """Complete the multipart upload from the parts the server lists; a second finalize finds it done."""
    try:
        listed = sdk.list_parts(storage.client, storage.bucket, ticket.key, ticket.upload_id)
    except S3Error as exc:
        if exc.code in GONE_CODES:
            return  # completed by an earlier finalize, or aborted: the stat below tells
        raise
    chosen = _usable_parts(listed, ticket)
    missing = [n for n in range(1, ticket.parts + 1) if n not in chosen]
    # The part URLs bind each part's size, but a server may not check a signed
    # Content-Length: whatever it holds is measured against the ticket before completing.
    sized = {p.number for p in listed if p.size == ticket.part_length(p.number)}
    wrong = [n for n in missing if n not in sized and any(p.number == n for p in listed)]
    if wrong:
        with contextlib.suppress(S3Error):
            sdk.abort_multipart_upload(storage.client, storage.bucket, ticket.key, ticket.upload_id)
        raise UploadRefused(
            f"part {wrong[0]} of the upload does not have the size the ticket announced; start again", 422
        )
    if missing:
        raise UploadRefused(
            f"the upload has {len(chosen)} of its {ticket.parts} parts (part {missing[0]} is missing); "
            "upload the rest",
            409,
        )
    etags = [chosen[n].etag for n in range(1, ticket.parts + 1)]
    try:
        sdk.complete_multipart_upload(storage.client, storage.bucket, ticket.key, ticket.upload_id, etags, {})
    except S3Error as exc:
        if exc.code not in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall"):
            raise
        # Ceph RGW refuses to complete past parts the ticket did not announce (only credentials
        # of the server can add them: part URLs bind their numbers).
        with contextlib.suppress(S3Error):
            sdk.abort_multipart_upload(storage.client, storage.bucket, ticket.key, ticket.upload_id)
        raise UploadRefused(f"the server refused the upload's parts ({exc.code}); start again", 422) from None


def _usable_parts(listed: list[sdk.UploadedPart], ticket: Ticket) -> dict[int, sdk.UploadedPart]:
    """Per part number of ``ticket``, the newest listed part of the size the ticket announced.

    SeaweedFS keeps every upload of a part number (a retried part, a second run of
    the widget) and lists them all; it assembles whichever ETag the completion
    names. Other servers keep only the last upload. Parts of the wrong size and
    numbers past the ticket's count are never chosen, so never completed. Copies
    with other bytes stored within one second cannot be told apart (listed dates
    are in seconds, and SeaweedFS lists them in no fixed order): such a part number
    counts as missing, so it is handed out again and its newer copy decides.
    """
    chosen: dict[int, sdk.UploadedPart] = {}
    tied: set[int] = set()
    for part in listed:
        if not 1 <= part.number <= ticket.parts or part.size != ticket.part_length(part.number):
            continue
        held = chosen.get(part.number)
        if held is None or _stored_at(part) > _stored_at(held):
            chosen[part.number] = part
            tied.discard(part.number)
        elif _stored_at(part) == _stored_at(held) and part.etag != held.etag:
            tied.add(part.number)
    return {n: part for n, part in chosen.items() if n not in tied}


def _stored_at(part: sdk.UploadedPart) -> datetime:
    return part.last_modified or datetime.min.replace(tzinfo=timezone.utc)


def _remove_quietly(storage: MinioBackend, key: str) -> None:
    try:
        storage.client.remove_object(storage.bucket, key)
    except S3Error as exc:
        if exc.code not in GONE_CODES:
            raise


def _verify_and_move(
    storage: MinioBackend, model_field: models.FileField, ticket: Ticket, sha256: str | None, token: str
) -> str:
    try:
        stat = storage.client.stat_object(storage.bucket, ticket.key)
    except S3Error as exc:
        if exc.code in GONE_CODES:
            raise UploadRefused(
                "no uploaded file for this ticket (not uploaded, expired or finalized)", 404
            ) from None
        raise
    problem = ""
    if stat.size != ticket.size:
        problem = f"the uploaded file has {stat.size} bytes, not the {ticket.size} announced"
    elif (stat.content_type or "").lower() != ticket.content_type:
        problem = f"the uploaded file has the type {stat.content_type}, not {ticket.content_type}"
    elif sha256 and _sha256(storage, ticket.key) != sha256.lower():
        problem = "the uploaded file's SHA-256 differs from the browser's"
    if problem:
        _remove_quietly(storage, ticket.key)
        raise UploadRefused(problem, 422)
    # The quarantine object stays until the hook has passed the file: a failed hook can then be retried.
    return _move(storage, model_field, ticket, token)


def _sha256(storage: MinioBackend, key: str) -> str:
    digest = hashlib.sha256()
    response = storage.client.get_object(storage.bucket, key)
    try:
        for chunk in response.stream(1024 * 1024):
            digest.update(chunk)
    finally:
        response.close()
        response.release_conn()
    return digest.hexdigest()


def _move(storage: MinioBackend, model_field: models.FileField, ticket: Ticket, token: str) -> str:
    """Copy the quarantine object to ``ticket.name`` or, if taken, an alternative; return the name.

    The copy carries the finalize claim's ``token``, which tells whose copy it is.
    """
    config = storage.config
    # Hooks that read the content (sniffers) get an empty file: the bytes are on the server, and
    # the type was pinned by the POST policy or the multipart upload and checked above.
    declared = ContentFile(b"", name=posixpath.basename(ticket.name))
    # As on Django's UploadedFile, which the built-in content_type_guess reads; ContentFile has no such field.
    declared.content_type = ticket.content_type  # type: ignore[attr-defined]
    headers = encode_headers(storage.get_object_parameters(ticket.name, declared))
    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    headers["Content-Type"] = ticket.content_type
    headers[CLAIM_TOKEN_HEADER] = token
    # A server-side copy of gigabytes outlasts the usual read timeout; its retries are ours (upload.copy).
    dest = dataclasses.replace(storage.destination, client=client_for(config, _copy_http_client()))
    # Create-only even where the storage's own saves replace (replace_existing): the name was
    # chosen for a browser, which must never overwrite a file it may not even know of.
    conditional = capabilities.create_only_is_conditional(config.conditional_writes, dest)
    name = ticket.name
    for _ in range(MAX_NAME_ATTEMPTS):
        try:
            upload.copy(
                dest,
                ticket.key,
                storage.location_prefix + name,
                headers,
                create_only=True,
                conditional=conditional,
            )
            return name
        except upload.NameTaken:
            name = _alternative(storage, ticket.name, model_field.max_length)
        except S3Error as exc:
            if exc.code not in GONE_CODES:
                raise
            # The copy's source, not the final name: the upload was cancelled meanwhile.
            raise UploadRefused("the upload was cancelled while it was being finalized", 410) from None
    raise UploadRefused(f"no free name found for {ticket.name!r}", 409)


@functools.cache
def _copy_http_client() -> urllib3.PoolManager:
    return default_http_client(read=COPY_TIMEOUT, retries=0)


def _alternative(storage: MinioBackend, name: str, max_length: int | None) -> str:
    """Django's ``get_alternative_name`` for ``name``, shortened to fit ``max_length``."""
    dir_name, file_name = posixpath.split(name)
    root, ext = os.path.splitext(file_name)
    candidate = posixpath.join(dir_name, storage.get_alternative_name(root, ext))
    if max_length and len(candidate) > max_length:
        excess = len(candidate) - max_length
        if excess >= len(root):
            raise UploadRefused(f"no name within max_length={max_length} is free for {name!r}", 409)
        candidate = posixpath.join(dir_name, storage.get_alternative_name(root[:-excess], ext))
    return candidate
