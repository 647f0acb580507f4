"""``MINIO_POLICY_HOOKS``: explicit policies for named buckets, asked first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..storage import MinioBackend


@hookimpl(tryfirst=True)
def bucket_policy(bucket_name: str, storage: MinioBackend) -> dict[str, Any] | None:
    for entry in storage.config.policy_hooks:
        # Malformed entries are reported by the system check django_minio_backend.E006.
        if isinstance(entry, (tuple, list)) and len(entry) == 2 and entry[0] == bucket_name:
            policy: dict[str, Any] | None = entry[1]  # the manager checks the answer's shape
            return policy
    return None
