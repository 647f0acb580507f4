"""CORS rules for direct uploads match the Origin header browsers really send."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
import urllib3
from django.core.management import call_command
from django.test import override_settings

from django_minio_backend.buckets import browser_origin

http = urllib3.PoolManager(retries=False, timeout=10)


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("HTTP://LocalHost:8000/", "http://localhost:8000"),
        ("https://example.com:443", "https://example.com"),
        ("http://example.com:80", "http://example.com"),
        ("http://127.0.0.1:08000", "http://127.0.0.1:8000"),
        ("http://[0:0:0:0:0:0:0:1]:8000", "http://[::1]:8000"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_origin_is_written_as_browsers_send_it(written: str, sent: str) -> None:
    assert browser_origin(written) == sent


def test_preflight_from_the_browser_origin_is_allowed_however_the_setting_spells_it(
    s3_settings: dict[str, Any], bucket: str
) -> None:
    with override_settings(MINIO_PRIVATE_BUCKETS=[bucket], MINIO_CORS_ORIGINS=["HTTP://LocalHost:08000/"]):
        call_command("initialize_buckets", stdout=StringIO())
    preflight = http.request(
        "OPTIONS",
        f"http://{s3_settings['MINIO_ENDPOINT']}/{bucket}/x",
        headers={"Origin": "http://localhost:8000", "Access-Control-Request-Method": "PUT"},
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") == "http://localhost:8000"
