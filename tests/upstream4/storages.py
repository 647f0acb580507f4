"""Upstream 4.x recommends storages built in callables, with storage_name."""

from django_minio_backend.models import MinioBackend


def get_public_storage() -> MinioBackend:
    return MinioBackend(bucket_name="up4-public", storage_name="default")


def get_private_storage() -> MinioBackend:
    return MinioBackend(bucket_name="up4-private", storage_name="default")
