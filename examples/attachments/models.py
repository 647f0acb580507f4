"""Four ways to store a file: a private bucket, a public bucket, the default storage, direct uploads."""

from __future__ import annotations

from django.db import models

from django_minio_backend import MinioBackend, iso_date_prefix
from django_minio_backend.fields import DirectFileField


class Attachment(models.Model):
    title = models.CharField(max_length=100, blank=True)
    file = models.FileField()  # each model below says where its files go
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["-uploaded_at"]

    def __str__(self) -> str:
        return self.title or self.file.name


class PrivateAttachment(Attachment):
    """In a private bucket: ``file.url`` is a presigned URL that expires (MINIO_URL_EXPIRY_HOURS)."""

    file = models.FileField(
        upload_to=iso_date_prefix, storage=MinioBackend(bucket_name="django-backend-dev-private")
    )


class PublicAttachment(Attachment):
    """In a public bucket (MINIO_PUBLIC_BUCKETS): ``file.url`` is a plain, permanent URL."""

    file = models.FileField(
        upload_to="public/", storage=MinioBackend(bucket_name="django-backend-dev-public")
    )


class GenericAttachment(Attachment):
    """In STORAGES["default"] (the media bucket, private), under "shared/".

    ``file.url`` is presigned like any private object, but the policy hook in
    settings.py lets anyone read "shared/" without a signature as well.
    """

    file = models.FileField(upload_to="shared/")


class LargeAttachment(Attachment):
    """Large files (videos, archives): the browser uploads straight to the private bucket.

    The admin's file input becomes a direct upload with progress, cancel, retry
    and resume (``DirectFileField``); Django only signs and verifies. Without
    JavaScript the same input uploads through Django as usual.
    """

    file = DirectFileField(upload_to="large/", storage=MinioBackend(bucket_name="django-backend-dev-private"))
