"""Django 4.2's legacy storage settings (removed in Django 5.1) instead of STORAGES."""

from tests.settings import *  # noqa: F403

del STORAGES  # noqa: F821
DEFAULT_FILE_STORAGE = "django_minio_backend.models.MinioBackend"
STATICFILES_STORAGE = "django_minio_backend.models.MinioBackendStatic"
