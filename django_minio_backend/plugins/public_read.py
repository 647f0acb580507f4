"""Anonymous read access for the buckets in ``MINIO_PUBLIC_BUCKETS``, asked last."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from ..policies import public_read_policy


@hookimpl(trylast=True)
def bucket_policy(bucket_name: str, public: bool) -> dict[str, Any] | None:
    return public_read_policy(bucket_name) if public else None
