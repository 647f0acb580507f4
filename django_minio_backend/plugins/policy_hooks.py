"""``MINIO_POLICY_HOOKS``: explicit policies for named buckets, asked first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..hookspecs import hookimpl

if TYPE_CHECKING:
    from ..storage import MinioBackend


@hookimpl(tryfirst=True)
def bucket_policy(bucket_name: str, storage: MinioBackend) -> dict[str, Any] | None:
    for name, policy in storage.config.policy_hooks:
        if name == bucket_name:
            return policy
    return None
