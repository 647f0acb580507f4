"""Direct uploads that are retried: parts sent twice, finalizes interrupted, a widget's Retry.

Against the real server of the suite, as in test_direct.py, whose helpers these tests share.
SeaweedFS keeps every upload of one part number and lists them all; Ceph RGW keeps the last.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.core.cache import cache
from django.test import override_settings
from minio import Minio
from minio.error import S3Error

from django_minio_backend import direct, hookimpl, manager, sdk, upload
from django_minio_backend.direct import UploadRefused
from django_minio_backend.exceptions import PluginError

from .conftest import ON_CEPH
from .test_direct import (
    BUCKET,
    FIELD,
    PART,
    fake_request,
    http,
    one_of_racing_finalizes,
    post_file,
    quarantine_exists,
    settings_5mib,
    stored,
    ticket_data,
    unique,
)
from .testapp.models import DirectAttachment

__all__ = ["settings_5mib"]  # a fixture shared with test_direct.py


def multipart_ticket(size: int) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), size, "application/octet-stream")
    assert "parts" in answer
    return request, answer, ticket_data(answer["ticket"])


def put(url: str, body: bytes) -> None:
    response = http.request("PUT", url, body=body)
    assert response.status == 200, response.data


def listed(raw_client: Minio, ticket: dict[str, Any]) -> list[tuple[int, int]]:
    parts = sdk.list_parts(raw_client, BUCKET, ticket["key"], ticket["upload_id"])
    return [(p.number, p.size) for p in parts]


# -- a part number sent more than once ------------------------------------------------


def test_part_sent_twice_finalizes_with_its_newest_copy(settings_5mib: None, raw_client: Minio) -> None:
    # The widget's Retry while an older run still sends: part 1 arrives twice, with other bytes here
    # so the test sees which copy was assembled.
    request, answer, ticket = multipart_ticket(PART + 4)
    urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
    older, newer, tail = os.urandom(PART), os.urandom(PART), b"tail"
    put(urls["1"], older)
    time.sleep(1.1)  # servers list a part's date in whole seconds
    put(urls["1"], newer)
    put(urls["2"], tail)
    parts = listed(raw_client, ticket)
    assert parts.count((1, PART)) in (1, 2)  # SeaweedFS: both copies; Ceph RGW: the last

    done = direct.finalize(request, answer["ticket"], FIELD)
    assert stored(raw_client, done["name"]) == newer + tail


def test_part_of_the_wrong_size_with_a_right_size_copy_finalizes(
    settings_5mib: None, raw_client: Minio
) -> None:
    # The documented path: a part of the wrong size is handed out again, and the browser re-sends it.
    data = os.urandom(PART + 5)
    request, answer, ticket = multipart_ticket(len(data))
    urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
    put(urls["1"], data[:PART])
    # Not through a part URL (it takes only the exact size): as on a server that does not check it.
    sdk.upload_part(raw_client, BUCKET, ticket["key"], ticket["upload_id"], 2, b"x" * 9, {})
    again = direct.part_urls(request, answer["ticket"], FIELD)
    assert list(again["urls"]) == ["2"] and again["uploaded"] == [1]
    put(again["urls"]["2"], data[PART:])

    done = direct.finalize(request, answer["ticket"], FIELD)
    assert stored(raw_client, done["name"]) == data


def test_part_with_only_wrong_size_copies_refuses_finalize_and_aborts_the_upload(
    settings_5mib: None, raw_client: Minio
) -> None:
    data = os.urandom(PART + 5)
    request, answer, ticket = multipart_ticket(len(data))
    put(direct.part_urls(request, answer["ticket"], FIELD)["urls"]["1"], data[:PART])
    for body in (b"x" * 9, b"y" * 7):
        sdk.upload_part(raw_client, BUCKET, ticket["key"], ticket["upload_id"], 2, body, {})

    with pytest.raises(UploadRefused, match=r"part 2 .* size") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 422
    with pytest.raises(S3Error) as gone:
        sdk.list_parts(raw_client, BUCKET, ticket["key"], ticket["upload_id"])
    assert gone.value.code in direct.GONE_CODES


def test_parts_beyond_the_tickets_count_are_left_out_of_the_file(
    settings_5mib: None, raw_client: Minio
) -> None:
    data = os.urandom(PART + 5)
    request, answer, ticket = multipart_ticket(len(data))
    urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
    put(urls["1"], data[:PART])
    put(urls["2"], data[PART:])
    sdk.upload_part(raw_client, BUCKET, ticket["key"], ticket["upload_id"], 3, b"extra", {})

    if ON_CEPH:  # Ceph refuses to complete without a part it holds: a clear refusal, nothing kept
        with pytest.raises(UploadRefused, match="refused the upload's parts") as refused:
            direct.finalize(request, answer["ticket"], FIELD)
        assert refused.value.status == 422
        return
    done = direct.finalize(request, answer["ticket"], FIELD)
    assert stored(raw_client, done["name"]) == data


def test_finalize_names_the_missing_parts(settings_5mib: None) -> None:
    data = os.urandom(2 * PART + 5)
    request, answer, _ = multipart_ticket(len(data))
    put(direct.part_urls(request, answer["ticket"], FIELD)["urls"]["1"], data[:PART])
    with pytest.raises(UploadRefused, match=r"has 1 of its 3 parts \(part 2 is missing\)") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 409


# -- a finalize interrupted after its claim -------------------------------------------


@pytest.mark.hook("direct_upload_finalized")
def test_finalize_hook_failing_releases_the_ticket_and_a_retry_finalizes(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    calls: list[str] = []

    class ScannerDown:
        @hookimpl
        def direct_upload_finalized(self, name: str) -> None:
            calls.append(name)
            if len(calls) == 1:
                raise ConnectionRefusedError("the virus scanner is down")

    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    pm = manager.get_plugin_manager()
    pm.register(ScannerDown(), name="scanner-down")
    try:
        with pytest.raises(PluginError, match="the virus scanner is down"):
            direct.finalize(request, answer["ticket"], FIELD)
        with pytest.raises(S3Error):
            raw_client.stat_object(BUCKET, calls[0])  # the unchecked file is not left in place
        assert quarantine_exists(raw_client, answer["ticket"])
        done = direct.finalize(request, answer["ticket"], FIELD)
    finally:
        pm.unregister(name="scanner-down")
    assert stored(raw_client, done["name"]) == b"abc"
    assert not quarantine_exists(raw_client, answer["ticket"])
    with pytest.raises(UploadRefused, match="finalized already"):
        direct.finalize(request, answer["ticket"], FIELD)


@pytest.fixture(params=["shared cache", "cache per process"])
def cache_kind(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A cache the processes share (a file-based one), or each its own (local memory)."""
    if request.param == "cache per process":
        yield request.param
        return
    shared = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    with override_settings(CACHES={"default": shared}):
        yield request.param


def finalize_killed_during_the_copy(request: Any, answer: dict[str, Any]) -> None:
    """A worker process that finalizes ``answer``'s ticket and is killed while the server copies."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns
        try:
            upload.copy = lambda *args, **kwargs: os._exit(9)  # type: ignore[assignment]
            direct.finalize(request, answer["ticket"], FIELD)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 9, "the worker did not reach the copy"


def test_claim_left_by_a_killed_worker_is_taken_over_once_stale(
    s3_settings: dict[str, Any], raw_client: Minio, monkeypatch: pytest.MonkeyPatch, cache_kind: str
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    finalize_killed_during_the_copy(request, answer)
    with pytest.raises(UploadRefused, match="finalized already"):
        direct.finalize(request, answer["ticket"], FIELD)  # it may still be copying

    monkeypatch.setattr(direct, "CLAIM_STALE", timedelta(seconds=1), raising=False)
    time.sleep(2.1)  # the marker's date is in whole seconds
    done = direct.finalize(request, answer["ticket"], FIELD)
    assert stored(raw_client, done["name"]) == b"abc"
    # Once done, the claim is never stale: a replay is refused however late, in any process.
    time.sleep(2.1)
    with pytest.raises(UploadRefused, match="finalized already"):
        direct.finalize(request, answer["ticket"], FIELD)
    cache.clear()
    with pytest.raises(UploadRefused, match="finalized already"):
        direct.finalize(request, answer["ticket"], FIELD)


def test_racing_takeovers_of_a_stale_claim_make_one_file(
    s3_settings: dict[str, Any], raw_client: Minio, monkeypatch: pytest.MonkeyPatch, cache_kind: str
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    finalize_killed_during_the_copy(request, answer)
    monkeypatch.setattr(direct, "CLAIM_STALE", timedelta(seconds=1), raising=False)
    time.sleep(2.1)
    if cache_kind == "cache per process":  # threads share one local-memory cache: as in test_direct.py
        monkeypatch.setattr(type(cache._connections[cache._alias]), "add", lambda *args, **kwargs: True)
    name = one_of_racing_finalizes(raw_client, request, answer["ticket"])
    assert stored(raw_client, name) == b"abc"


# -- the widget's Retry after a failed finalize ---------------------------------------


def test_parts_after_a_failed_finalize_copy_say_completed_and_finalize_again_works(
    settings_5mib: None, raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(PART + 5)
    request, answer, _ = multipart_ticket(len(data))
    urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
    put(urls["1"], data[:PART])
    put(urls["2"], data[PART:])
    copy = upload.copy

    def copy_fails_once(*args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(upload, "copy", copy)
        raise ConnectionResetError("the server went away during the copy")

    monkeypatch.setattr(upload, "copy", copy_fails_once)
    with pytest.raises(OSError):
        direct.finalize(request, answer["ticket"], FIELD)

    # The widget's Retry asks for parts first: the upload is complete, so only finalize is left.
    again = direct.part_urls(request, answer["ticket"], FIELD)
    assert again["completed"] is True and again["remaining"] == 0 and again["urls"] == {}
    done = direct.finalize(request, answer["ticket"], FIELD)
    assert stored(raw_client, done["name"]) == data
    with pytest.raises(UploadRefused) as gone:
        direct.part_urls(request, answer["ticket"], FIELD)
    assert gone.value.status == 410


def test_cancel_while_finalize_copies_says_cancelled(
    s3_settings: dict[str, Any], raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    copy = upload.copy

    def cancelled_meanwhile(*args: Any, **kwargs: Any) -> None:
        direct.abort(request, answer["ticket"], FIELD)  # the user's Cancel lands during the copy
        copy(*args, **kwargs)

    monkeypatch.setattr(upload, "copy", cancelled_meanwhile)
    with pytest.raises(UploadRefused, match="cancelled") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 410
    assert not list(raw_client.list_objects(BUCKET, prefix=ticket_data(answer["ticket"])["name"]))


# -- rows that share a stored file ----------------------------------------------------


class AttachmentForm(forms.ModelForm):
    class Meta:
        model = DirectAttachment
        fields = ["file"]


@pytest.mark.django_db
def test_rows_sharing_a_file_can_be_edited_and_created_with_it(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    shared = f"defaults/{unique('.png')}"
    raw_client.put_object(BUCKET, shared, __import__("io").BytesIO(b"png"), 3)
    first = DirectAttachment.objects.create(file=shared)
    DirectAttachment.objects.create(file=shared)  # a copied row, or the field's default

    edit = AttachmentForm(data={}, files={}, instance=first)  # the file is left as it is
    assert edit.is_valid(), edit.errors
    first.full_clean()
    new = AttachmentForm(data={}, files={}, instance=DirectAttachment(file=shared))
    assert new.is_valid(), new.errors


@pytest.mark.django_db
def test_direct_value_is_compared_to_other_rows_case_sensitively(
    s3_settings: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db.models import QuerySet

    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    value = direct.finalize(request, answer["ticket"], FIELD)["value"]
    name = direct.load_value(value, FIELD)
    DirectAttachment.objects.create(file=name.upper())
    # As a case-insensitive column (SQLite NOCASE, MySQL's default collations) would answer.
    filter_ = QuerySet.filter

    def nocase(self: QuerySet[Any], *args: Any, **kwargs: Any) -> QuerySet[Any]:
        if kwargs.keys() == {"file"}:
            kwargs = {"file__iexact": kwargs["file"]}
        return filter_(self, *args, **kwargs)

    monkeypatch.setattr(QuerySet, "filter", nocase)
    form = AttachmentForm(data={"file__direct": value}, files={})
    assert form.is_valid(), form.errors
