from django.db import models

from django_minio_backend import MinioBackend, iso_date_prefix, plugin_prefix
from django_minio_backend.fields import DirectFileField


class PrivateAttachment(models.Model):
    file = models.FileField(upload_to=iso_date_prefix, storage=MinioBackend(bucket_name="dmb-test-private"))


class PublicAttachment(models.Model):
    file = models.FileField(upload_to="public/", storage=MinioBackend(bucket_name="dmb-test-public"))


class DefaultStorageAttachment(models.Model):
    file = models.FileField(upload_to=plugin_prefix, max_length=60)


class DirectAttachment(models.Model):
    file = DirectFileField(upload_to="direct/", storage=MinioBackend(bucket_name="dmb-test-private"))
