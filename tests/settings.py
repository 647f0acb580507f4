"""Django settings of the test suite. The S3 endpoint is filled in by conftest.py."""

from __future__ import annotations

import os
from datetime import timedelta

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_minio_backend",  # before staticfiles: its collectstatic is the fast one
    "django.contrib.staticfiles",
    "tests.testapp",
    "tests.orphanapp",
]
DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DMB_SETTINGS_DB", ":memory:")}
}
if os.environ.get("DMB_SETTINGS_CACHE") == "db":  # a cache shared by processes (name locks)
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "dmb_cache"}}
STATIC_URL = "/static/"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.request",
            ]
        },
    }
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

# Overridden at session start with the real server (tests/conftest.py); subprocesses
# get them through the environment.
MINIO_ENDPOINT = os.environ.get("DMB_SETTINGS_ENDPOINT", "127.0.0.1:9")
MINIO_ACCESS_KEY = os.environ.get("DMB_SETTINGS_ACCESS_KEY", "unset")
MINIO_SECRET_KEY = os.environ.get("DMB_SETTINGS_SECRET_KEY", "unset")
MINIO_REGION = os.environ.get("DMB_SETTINGS_REGION", "us-east-1")
MINIO_USE_HTTPS = False
MINIO_URL_EXPIRY_HOURS = timedelta(hours=1)
MINIO_PRIVATE_BUCKETS = ["dmb-test-private", "dmb-test-static"]
MINIO_PUBLIC_BUCKETS = ["dmb-test-public"]
MINIO_MEDIA_FILES_BUCKET = "dmb-test-private"
MINIO_STATIC_FILES_BUCKET = "dmb-test-static"
MINIO_BUCKET_CHECK_ON_SAVE = False
MINIO_CONSISTENCY_CHECK_ON_START = os.environ.get("DMB_SETTINGS_CHECK_ON_START") == "1"
STORAGES = {
    "default": {"BACKEND": "django_minio_backend.models.MinioBackend"},
    "staticfiles": {"BACKEND": "django_minio_backend.models.MinioBackendStatic"},
}
if os.environ.get("DMB_SETTINGS_EXTRA_BUCKET"):
    MINIO_PRIVATE_BUCKETS.append(os.environ["DMB_SETTINGS_EXTRA_BUCKET"])
# The third-party plugins of plugins/ are installed in the test venv; tests that
# want them say so (MINIO_DISABLED_PLUGINS=[]), the rest see the built-ins only.
MINIO_DISABLED_PLUGINS = ["uuid_names", "sniff_content_type"]
