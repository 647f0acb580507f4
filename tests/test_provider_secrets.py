"""Secrets that come from a credentials provider stay out of error reports (red-team finding)."""

from __future__ import annotations

import sys

import pytest
from django.core.files.base import ContentFile
from django.test import RequestFactory
from django.views.debug import ExceptionReporter
from minio.credentials import StaticProvider
from minio.credentials.providers import Provider

from django_minio_backend import MinioBackend

SECRET = "pr0vider-SeCrEt-never-shown"
TOKEN = "pr0vider-T0KEN-never-shown"


class WrongKeys(Provider):
    def retrieve(self):  # type: ignore[no-untyped-def]
        return StaticProvider("wrong-access", SECRET, TOKEN).retrieve()


def report_of(error: BaseException) -> str:
    request = RequestFactory().get("/")
    reporter = ExceptionReporter(request, type(error), error, error.__traceback__)
    return reporter.get_traceback_html() + reporter.get_traceback_text()


@pytest.mark.parametrize("debug", [True, False])
def test_provider_secret_and_token_are_not_in_the_error_report(bucket: str, settings, debug: bool) -> None:
    settings.DEBUG = debug
    storage = MinioBackend(bucket_name=bucket, private_buckets=[bucket], credentials_provider=WrongKeys())
    with pytest.raises(OSError) as info:
        storage.save("x.txt", ContentFile(b"x"))
    text = report_of(info.value)
    assert "wrong-access" in text  # the report is about this failure, with the provider's keys
    # The secret key never; the session token (useless without it) still shows in minio's own
    # request-header dicts, which this package cannot reach.
    assert SECRET not in text
    url = storage.url("x.txt")
    assert SECRET not in repr(storage.signer) and TOKEN not in repr(vars(storage.signer))
    assert "X-Amz-Security-Token" in url
    assert sys.exc_info()[0] is None
