"""The secret key never shows in reprs or in Django's error reports (issue 13 item 4)."""

from __future__ import annotations

import hmac
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from django.views.debug import ExceptionReporter

from django_minio_backend import MinioBackend
from django_minio_backend.client import UrlSigner

SECRET = "SeCrEt-" + uuid.uuid4().hex


def reports(exc: BaseException) -> str:
    """The technical 500 page and the e-mail text Django makes of ``exc``, with DEBUG on and off."""
    texts = []
    for debug in (True, False):
        with override_settings(DEBUG=debug):
            reporter = ExceptionReporter(None, type(exc), exc, exc.__traceback__)
            texts += [reporter.get_traceback_html(), reporter.get_traceback_text()]
    return "\n".join(texts)


def raised(action: Callable[[], Any]) -> BaseException:
    try:
        action()
    except Exception:
        return sys.exc_info()[1]  # type: ignore[return-value]
    raise AssertionError("the action was expected to fail")


@pytest.mark.parametrize(
    ("label", "options"),
    [
        ("wrong secret", {}),
        ("unreachable server", {"endpoint": "127.0.0.1:9"}),
        ("endpoint with a path", {"endpoint": "http://127.0.0.1:9/some/path"}),
        ("empty access key", {"access_key": ""}),
    ],
)
def test_secret_key_is_absent_from_error_reports_of_failed_saves(
    bucket: str, make_storage: Callable[..., MinioBackend], label: str, options: dict[str, Any]
) -> None:
    storage = make_storage(bucket, secret_key=SECRET, **options)
    for action in (
        lambda: storage.save("a.txt", ContentFile(b"a")),
        lambda: storage.open("a.txt"),
        lambda: storage.exists("a.txt"),
    ):
        text = reports(raised(action))
        assert "Traceback" in text or "traceback" in text
        assert SECRET not in text, label


@pytest.mark.parametrize(
    ("label", "options"),
    [("token the server does not know", {}), ("unreachable server", {"endpoint": "127.0.0.1:9"})],
)
def test_session_token_is_absent_from_error_reports_of_failed_requests(
    bucket: str, make_storage: Callable[..., MinioBackend], label: str, options: dict[str, Any]
) -> None:
    token = "ToKeN-" + uuid.uuid4().hex  # the SDK copies it into every request's header dict
    storage = make_storage(bucket, session_token=token, **options)
    for action in (
        lambda: storage.save("a.txt", ContentFile(b"a")),
        lambda: storage.open("a.txt"),
        lambda: storage.exists("a.txt"),
    ):
        exc = raised(action)
        text = reports(exc)
        assert isinstance(exc, OSError) and str(exc) in text.replace("&#x27;", "'")
        assert token not in text, label


@pytest.mark.parametrize("size", [3, 6 * 1024 * 1024])
def test_sse_c_key_is_absent_from_error_reports_of_failed_saves(
    make_storage: Callable[..., MinioBackend], size: int
) -> None:
    import base64

    from minio.sse import SseCustomerKey

    key = uuid.uuid4().hex.encode()  # 32 bytes
    storage = make_storage(
        "dmb-no-such-bucket-" + uuid.uuid4().hex[:8],
        sse=SseCustomerKey(key),
        bucket_check_on_save=False,  # the upload itself fails, with the key in its headers
        conditional_writes=True,  # no probe first
        multipart_threshold=5 * 1024 * 1024,
        multipart_part_size=5 * 1024 * 1024,
    )
    exc = raised(lambda: storage.save("a.bin", ContentFile(b"x" * size)))
    text = reports(exc)
    assert "NoSuchBucket" in text
    assert base64.b64encode(key).decode() not in text


def test_secret_from_settings_is_absent_from_the_report_of_a_configuration_error(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    with override_settings(MINIO_SECRET_KEY=SECRET):
        storage = make_storage(bucket, multipart_part_size=1024)  # refused when the config is resolved
        text = reports(raised(lambda: storage.exists("a.txt")))
    assert "MINIO_MULTIPART_PART_SIZE" in text
    assert SECRET not in text


def test_signing_key_is_absent_from_error_reports_of_url_signing(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, secret_key=SECRET)
    signer = storage.signer
    exc = raised(lambda: signer.presigned_url("\ud800", timedelta(hours=1)))  # not encodable
    text = reports(exc)
    assert SECRET not in text
    # The day's derived key signs anything for a day: it is a secret too.
    key = ("AWS4" + SECRET).encode()
    for part in (time.strftime("%Y%m%d", time.gmtime()), signer.region, "s3", "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    assert repr(key) not in text and key.hex() not in text


def test_no_object_of_the_package_shows_the_secret_in_its_repr(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, secret_key=SECRET)
    storage.url("x.txt")  # fills the signer's day cache
    objects = [
        storage,
        storage.config,
        storage.signer,
        UrlSigner.for_config(storage.config),
        storage.client,
        storage.is_minio_available(),
    ]
    for obj in objects:
        assert SECRET not in repr(obj), type(obj).__name__
        assert SECRET not in str(obj), type(obj).__name__


@pytest.mark.parametrize(("label", "endpoint"), [("token refused", None), ("dead server", "127.0.0.1:9")])
def test_direct_value_checked_against_a_failing_server_is_a_form_error_without_the_token(
    bucket: str, make_storage: Callable[..., MinioBackend], label: str, endpoint: str | None
) -> None:
    from django_minio_backend import direct
    from tests.testapp.models import DirectAttachment

    token = "ToKeN-" + uuid.uuid4().hex
    field = DirectAttachment._meta.get_field("file")
    options = {"endpoint": endpoint} if endpoint else {}
    saved = field.storage
    field.storage = make_storage(bucket, session_token=token, **options)
    try:
        value = direct.sign_value("testapp.DirectAttachment.file", "direct/a.txt", etag="abc")
        exc = raised(lambda: direct.load_value(value, "testapp.DirectAttachment.file"))
    finally:
        field.storage = saved
    assert isinstance(exc, ValueError) and "cannot be checked now" in str(exc), label
    assert token not in reports(exc)
