from django.db import models

from django_minio_backend import iso_date_prefix

from .storages import get_private_storage, get_public_storage


class PrivateAttachment(models.Model):
    file = models.FileField(
        verbose_name="Object Upload", storage=get_private_storage, upload_to=iso_date_prefix
    )


class PublicAttachment(models.Model):
    file = models.FileField(
        verbose_name="Object Upload", storage=get_public_storage, upload_to=iso_date_prefix
    )


class DefaultAttachment(models.Model):
    file = models.FileField(upload_to="defaults/")
