"""Models whose files live in a bucket of their own, for the orphan clean-up tests."""

from typing import Any

from django.db import models

from django_minio_backend import MinioBackend

ORPHANS_BUCKET = "dmb-test-orphans"
orphans_storage = MinioBackend(bucket_name=ORPHANS_BUCKET, private_buckets=[ORPHANS_BUCKET])


class Document(models.Model):
    file = models.FileField(upload_to="docs/", storage=orphans_storage)
    preview = models.FileField(upload_to="previews/", storage=orphans_storage, blank=True, null=True)


class Photo(models.Model):
    image = models.ImageField(upload_to="photos/", storage=orphans_storage)


LOCATED_BUCKET = "dmb-test-orphans-located"
located_storage = MinioBackend(
    bucket_name=LOCATED_BUCKET, private_buckets=[LOCATED_BUCKET], location="tenant-a"
)


class LocatedNote(models.Model):
    """Files stored under a ``location`` prefix: rows hold names relative to it."""

    file = models.FileField(upload_to="notes/", storage=located_storage)


class CaseInsensitiveFileField(models.FileField):
    """A FileField on a case-insensitive column, as MySQL's ``*_ci`` collations make it.

    SQLite's NOCASE collation reproduces it: ``"a.PDF" = "a.pdf"`` in lookups.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        params = super().db_parameters(connection)
        if connection.vendor == "sqlite":
            params["collation"] = "NOCASE"
        return params


class Attachment(models.Model):
    file = CaseInsensitiveFileField(upload_to="attachments/", storage=orphans_storage)
