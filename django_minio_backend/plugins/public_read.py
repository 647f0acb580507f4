"""Anonymous read access for the buckets in ``MINIO_PUBLIC_BUCKETS``, asked last."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from ..hookspecs import hookimpl
from ..policies import public_read_policy

if TYPE_CHECKING:
    from ..storage import MinioBackend


@hookimpl(trylast=True)
def bucket_policy(
    bucket_name: str, public: bool, storage: MinioBackend | None = None
) -> dict[str, Any] | None:
    if not public:
        return None
    return public_read_policy(bucket_name, locations=bucket_locations(bucket_name, storage))


def bucket_locations(bucket_name: str, storage: MinioBackend | None) -> set[str]:
    """The locations of every storage known to keep files in ``bucket_name`` (their quarantines too)."""
    from ..discovery import labelled_storages

    candidates = [other for _, other in labelled_storages()]
    if storage is not None:
        candidates.append(storage)
    locations = set()
    for candidate in candidates:
        try:
            if candidate.bucket == bucket_name:
                locations.add(candidate.location_prefix)
        except (ImproperlyConfigured, TypeError, ValueError):
            continue  # a storage whose configuration cannot be resolved: the checks report it
    return locations
