"""Settings of the example project, configured the way the README tells users to.

Connection details come from the environment so that one file serves the
embedded demo server (``run_demo.py``), a local MinIO and docker compose:

    MINIO_ENDPOINT             host:port the backend talks to   (127.0.0.1:9000)
    MINIO_EXTERNAL_ENDPOINT    host:port put into browser URLs  (same as MINIO_ENDPOINT)
    MINIO_ACCESS_KEY / MINIO_SECRET_KEY                         (minioadmin / minioadmin)
    MINIO_USE_HTTPS, MINIO_REGION                               (0 / us-east-1)
    DJANGO_SQLITE_PATH         the database file               (examples/.data/db.sqlite3)
    DJANGO_DEBUG, DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS

The defaults match a ``minio server`` started locally with its default account.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-insecure-key-do-not-use-in-production")
DEBUG = env_flag("DJANGO_DEBUG", True)
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_minio_backend",  # before staticfiles: its collectstatic is the fast one
    "django.contrib.staticfiles",
    "attachments",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "exampleproject.urls"
WSGI_APPLICATION = "exampleproject.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

_sqlite_path = Path(os.environ.get("DJANGO_SQLITE_PATH", BASE_DIR / ".data" / "db.sqlite3"))
_sqlite_path.parent.mkdir(parents=True, exist_ok=True)
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": _sqlite_path}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"

# -- django-minio-backend ------------------------------------------------------------

PRIVATE_BUCKET = "django-backend-dev-private"  # media; URLs are presigned
PUBLIC_BUCKET = "django-backend-dev-public"  # anyone may read; plain URLs
STATIC_BUCKET = "django-backend-dev-static"  # collectstatic; must be public for browsers

MINIO_ENDPOINT = os.environ.get("MINIO_ENDPOINT", "127.0.0.1:9000")
MINIO_EXTERNAL_ENDPOINT = os.environ.get("MINIO_EXTERNAL_ENDPOINT") or None
MINIO_ACCESS_KEY = os.environ.get("MINIO_ACCESS_KEY", "minioadmin")
MINIO_SECRET_KEY = os.environ.get("MINIO_SECRET_KEY", "minioadmin")
MINIO_USE_HTTPS = env_flag("MINIO_USE_HTTPS", False)
MINIO_REGION = os.environ.get("MINIO_REGION") or None
MINIO_URL_EXPIRY_HOURS = timedelta(hours=1)
MINIO_PRIVATE_BUCKETS = [PRIVATE_BUCKET]
MINIO_PUBLIC_BUCKETS = [PUBLIC_BUCKET, STATIC_BUCKET]
MINIO_MEDIA_FILES_BUCKET = PRIVATE_BUCKET  # replaces MEDIA_ROOT
MINIO_STATIC_FILES_BUCKET = STATIC_BUCKET  # replaces STATIC_ROOT
STATIC_URL = "/static/"  # unused for links: {% static %} asks the storage for bucket URLs

STORAGES = {
    "default": {"BACKEND": "django_minio_backend.models.MinioBackend"},
    "staticfiles": {"BACKEND": "django_minio_backend.models.MinioBackendStatic"},
}

# Create missing buckets and reconcile their policies whenever Django starts
# (migrate, runserver, ...): the same as `python manage.py initialize_buckets`.
MINIO_CONSISTENCY_CHECK_ON_START = True

# A policy hook: the private media bucket stays private except for "shared/",
# where GenericAttachment puts its files, which anyone may read without a signature.
SHARED_PREFIX_READ: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": ["*"]},
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{PRIVATE_BUCKET}/shared/*"],
        }
    ],
}
MINIO_POLICY_HOOKS = [(PRIVATE_BUCKET, SHARED_PREFIX_READ)]

# Direct browser uploads (LargeAttachment): the origins whose pages upload straight to
# the bucket get a CORS rule from initialize_buckets (MinIO itself: MINIO_API_CORS_ALLOW_ORIGIN).
MINIO_CORS_ORIGINS = os.environ.get(
    "MINIO_CORS_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000"
).split(",")
MINIO_DIRECT_UPLOAD_MAX_SIZE = 5 * 1024**3

# Show what the on-start consistency check did ("<endpoint>/<bucket> (private): exists, ...").
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # "bucket ..." says what the on-start check's lines are about.
    "formatters": {"bucket": {"format": "  bucket %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "bucket"}
    },
    "loggers": {"django_minio_backend": {"handlers": ["console"], "level": "INFO"}},
}
