"""Helpers for running django-minio-backend tests against a real S3 server."""
