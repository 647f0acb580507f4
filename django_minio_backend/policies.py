"""Bucket policy documents and their comparison."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .conf import global_setting

# Statements this package writes carry a Sid with this prefix, so that they can be
# told from grants that operators made outside Django (which are kept).
OUR_SID_PREFIX = "DjangoMinioBackend"


def public_read_policy(
    bucket_name: str, quarantine: str | None = None, locations: Iterable[str] = ()
) -> dict[str, Any]:
    """Anyone may read objects, except direct uploads in quarantine; nobody anonymous may list or write.

    Listing is left out on purpose: a public bucket shares its files, not the
    names of all of them. Grant ``s3:ListBucket`` with a policy hook if needed.
    ``quarantine`` (default: ``MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX``) is left out of
    the grant at the bucket's root and under any location: those objects are not
    checked yet. It is a ``NotResource`` of the Allow, not a Deny: a Deny for
    ``Principal *`` would refuse the backend's own reads too. ``locations`` (storage
    locations on this bucket, such as ``"site/media/"``) are excluded by name as well:
    Ceph RGW's ``*`` spans one folder only, so ``bucket/*/q/*`` misses ``site/media/q/``.
    """
    if quarantine is None:
        quarantine = str(global_setting("MINIO_DIRECT_UPLOAD_QUARANTINE_PREFIX"))
    statement: dict[str, Any] = {
        "Sid": OUR_SID_PREFIX + "PublicRead",
        "Effect": "Allow",
        "Principal": {"AWS": ["*"]},
        "Action": ["s3:GetObject"],
    }
    prefix = quarantine.strip("/")
    if prefix:
        named = sorted({location.strip("/") for location in locations} - {""})
        statement["NotResource"] = [
            f"arn:aws:s3:::{bucket_name}/{prefix}/*",
            f"arn:aws:s3:::{bucket_name}/*/{prefix}/*",
            *(f"arn:aws:s3:::{bucket_name}/{location}/{prefix}/*" for location in named),
        ]
    else:
        statement["Resource"] = [f"arn:aws:s3:::{bucket_name}/*"]
    return {"Version": "2012-10-17", "Statement": [statement]}


def without_not_resource(policy: dict[str, Any], bucket_name: str) -> dict[str, Any] | None:
    """``policy`` with our ``NotResource`` grants widened to the whole bucket; None if it has none.

    For servers that refuse ``NotResource``: the public bucket then works, and its
    quarantine is readable by anyone who knows a key.
    """
    statements = policy.get("Statement") or []
    ours = [s for s in statements if str(s.get("Sid", "")).startswith(OUR_SID_PREFIX) and "NotResource" in s]
    if not ours:
        return None
    widened = [
        {**{k: v for k, v in s.items() if k != "NotResource"}, "Resource": [f"arn:aws:s3:::{bucket_name}/*"]}
        if s in ours
        else s
        for s in statements
    ]
    return {**policy, "Statement": widened}


SET_KEYS = frozenset({"Action", "NotAction", "Resource", "NotResource", "AWS"})


def _as_set(value: Any) -> list[str]:
    return sorted({str(v) for v in (value if isinstance(value, list) else [value])})


def _canonical(value: Any, key: str = "") -> Any:
    if key in SET_KEYS:
        return _as_set(value)
    if key == "Principal" and value == "*":
        return {"AWS": ["*"]}
    if key == "Condition" and isinstance(value, dict):
        return {op: {k: _as_set(v) for k, v in sorted(inner.items())} for op, inner in sorted(value.items())}
    if isinstance(value, dict):
        return {k: _canonical(v, k) for k, v in sorted(value.items()) if k not in ("Sid", "Id")}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda s: json.dumps(s, sort_keys=True)) if key == "Statement" else items
    return value


def canonical_policy(policy: dict[str, Any] | str | None) -> object:
    """A form of ``policy`` in which equivalent documents compare equal.

    Servers echo policies back normalised (a single action as a string or a
    list, ``"*"`` or ``{"AWS": ["*"]}``, statement ids dropped); compare this.
    """
    if policy is None or policy == "":
        return None
    if isinstance(policy, (str, bytes)):
        policy = json.loads(policy)
    return _canonical(policy)


def policies_equal(a: dict[str, Any] | str | None, b: dict[str, Any] | str | None) -> bool:
    return canonical_policy(a) == canonical_policy(b)


def _is_anonymous_grant(statement: dict[str, Any]) -> bool:
    """An Allow that anybody, signed in or not, receives (conditions or not)."""
    if statement.get("Effect") != "Allow":
        return False
    if "NotPrincipal" in statement:
        return True  # everybody but the listed principals
    principal = statement.get("Principal")
    if principal == "*":
        return True
    if isinstance(principal, dict):
        aws = principal.get("AWS")
        return "*" in (aws if isinstance(aws, list) else [aws])
    return False


def describe_statement(statement: dict[str, Any]) -> str:
    """A short name for a statement in reports: its Sid, else effect, principal and actions."""
    if statement.get("Sid"):
        return str(statement["Sid"])
    principal = statement.get("Principal", statement.get("NotPrincipal"))
    actions = statement.get("Action", statement.get("NotAction"))
    return f"{statement.get('Effect')} {json.dumps(principal)} {json.dumps(actions)}"


def private_remainder(
    policy: dict[str, Any] | str | None,
) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """Split a private bucket's ``policy`` into what it keeps and what must go.

    What goes: statements that let anonymous users in, and statements this package
    wrote (Sid prefix ``OUR_SID_PREFIX``). Everything else (grants to named
    principals, denies) stays. Returns the kept policy (None when no statement is
    left) and the removed statements.
    """
    if policy is None or policy == "":
        return None, []
    document: dict[str, Any] = json.loads(policy) if isinstance(policy, (str, bytes)) else policy
    statements = document.get("Statement") or []
    if isinstance(statements, dict):
        statements = [statements]
    removed: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    for statement in statements:
        ours = str(statement.get("Sid", "")).startswith(OUR_SID_PREFIX)
        (removed if ours or _is_anonymous_grant(statement) else kept).append(statement)
    return ({**document, "Statement": kept} if kept else None), removed


def opens_bucket(policy: dict[str, Any] | str | None, bucket_name: str) -> bool:
    """Whether ``policy`` gives anonymous users (``Principal: "*"``) every object of the bucket.

    A grant on part of it (``arn:aws:s3:::bucket/shared/*``, as in
    ``examples/policy_hook.example.py``) leaves the bucket private.
    """
    canonical = canonical_policy(policy)
    if not isinstance(canonical, dict):
        return False
    everything = {"*", "arn:aws:s3:::*", f"arn:aws:s3:::{bucket_name}/*"}
    statements = canonical.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")  # canonical: "*" is {"AWS": ["*"]}
        if not (isinstance(principal, dict) and "*" in principal.get("AWS", [])):
            continue
        if "NotResource" in statement or everything & set(statement.get("Resource", [])):
            return True
    return False
