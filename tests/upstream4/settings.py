"""A project configured the upstream django-minio-backend 4.x way: everything in STORAGES OPTIONS.

Copied in shape from upstream's README (upper-case keys, MINIO_DEFAULT_BUCKET,
storage_name, URL caching, multipart keys, on-start check); only the endpoint
and keys come from the environment so the tests can point it at SeaweedFS.
"""

from __future__ import annotations

import os
from datetime import timedelta

import urllib3

SECRET_KEY = "upstream4-tests"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "django_minio_backend",
    "tests.upstream4",
]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ["UPSTREAM4_DB"]}}
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

ENDPOINT = os.environ["UPSTREAM4_ENDPOINT"]
ACCESS_KEY = os.environ["UPSTREAM4_ACCESS_KEY"]
SECRET = os.environ["UPSTREAM4_SECRET_KEY"]

STORAGES = {
    "staticfiles": {
        "BACKEND": "django_minio_backend.models.MinioBackendStatic",
        "OPTIONS": {
            "MINIO_ENDPOINT": ENDPOINT,
            "MINIO_ACCESS_KEY": ACCESS_KEY,
            "MINIO_SECRET_KEY": SECRET,
            "MINIO_USE_HTTPS": False,
            "MINIO_REGION": "us-east-1",
            "MINIO_URL_EXPIRY_HOURS": timedelta(days=1),
            "MINIO_CONSISTENCY_CHECK_ON_START": True,
            "MINIO_STATIC_FILES_BUCKET": "up4-static",
            "MINIO_PUBLIC_BUCKETS": ["up4-static"],
        },
    },
    "default": {
        "BACKEND": "django_minio_backend.models.MinioBackend",
        "OPTIONS": {
            "MINIO_ENDPOINT": ENDPOINT,
            "MINIO_EXTERNAL_ENDPOINT": os.environ.get("UPSTREAM4_EXTERNAL_ENDPOINT", ENDPOINT),
            "MINIO_EXTERNAL_ENDPOINT_USE_HTTPS": False,
            "MINIO_ACCESS_KEY": ACCESS_KEY,
            "MINIO_SECRET_KEY": SECRET,
            "MINIO_USE_HTTPS": False,
            "MINIO_REGION": "us-east-1",
            "MINIO_PRIVATE_BUCKETS": ["up4-private", "up4-media"],
            "MINIO_PUBLIC_BUCKETS": ["up4-public"],
            "MINIO_URL_EXPIRY_HOURS": timedelta(days=1),
            "MINIO_CONSISTENCY_CHECK_ON_START": False,
            "MINIO_POLICY_HOOKS": [],
            "MINIO_DEFAULT_BUCKET": "up4-media",
            "MINIO_STATIC_FILES_BUCKET": "up4-static",
            "MINIO_BUCKET_CHECK_ON_SAVE": False,
            "MINIO_MULTIPART_UPLOAD": True,
            "MINIO_MULTIPART_THRESHOLD": 10 * 1024 * 1024,
            "MINIO_MULTIPART_PART_SIZE": 10 * 1024 * 1024,
            "MINIO_URL_CACHING_ENABLED": True,
            "MINIO_URL_CACHE_TIMEOUT": 60 * 60 * 8,
            "MINIO_URL_CACHE_PREFIX": "minio_url_",
        },
    },
}
STORAGES["default"]["OPTIONS"]["MINIO_HTTP_CLIENT"] = urllib3.PoolManager(
    timeout=urllib3.util.Timeout(connect=10, read=10),
    maxsize=10,
    retries=urllib3.Retry(total=5, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
)
