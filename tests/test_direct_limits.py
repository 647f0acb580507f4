"""Direct uploads at their limits: part sizes, long uploads, shared buckets, bad settings and types.

Against the real server of the suite, as in test_direct.py, whose helpers these tests share.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django import forms
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, override_settings
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from django_minio_backend import MinioBackend, direct, hookimpl, manager, sdk
from django_minio_backend.buckets import QUARANTINE_RULE_ID, initialize_buckets
from django_minio_backend.direct import UploadRefused, UploadRules
from django_minio_backend.storage import MinioBackendStatic

from .test_direct import (
    BUCKET,
    FIELD,
    PART,
    fake_request,
    http,
    post_file,
    put_parts,
    settings_5mib,
    stored,
    ticket_data,
    unique,
    uploader,
)
from .testapp.models import DirectAttachment

__all__ = ["settings_5mib"]  # a fixture shared with test_direct.py

# -- G: each part URL takes exactly its part's size -----------------------------------


@pytest.mark.parametrize("delta", [1, -1, 3 * PART])
def test_part_url_refuses_a_body_of_another_size(settings_5mib: None, raw_client: Minio, delta: int) -> None:
    data = os.urandom(PART + 10)
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), len(data), "application/octet-stream")
    urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
    response = http.request("PUT", urls["1"], body=os.urandom(PART + delta))
    assert response.status == 403, response.data
    ticket = ticket_data(answer["ticket"])
    assert sdk.list_parts(raw_client, BUCKET, ticket["key"], ticket["upload_id"]) == []


def test_last_part_url_takes_only_the_remainder(settings_5mib: None) -> None:
    data = os.urandom(PART + 10)
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), len(data), "application/octet-stream")
    urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
    assert http.request("PUT", urls["2"], body=os.urandom(PART)).status == 403
    assert http.request("PUT", urls["2"], body=data[PART:]).status == 200


def test_finalize_refuses_parts_of_other_sizes_and_aborts_the_upload(
    settings_5mib: None, raw_client: Minio
) -> None:
    # A server that does not check signed Content-Length: the parts come in another way.
    data = os.urandom(PART + 10)
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), len(data), "application/octet-stream")
    ticket = ticket_data(answer["ticket"])
    key, upload_id = ticket["key"], ticket["upload_id"]
    sdk.upload_part(raw_client, BUCKET, key, upload_id, 1, os.urandom(2 * PART), {})
    sdk.upload_part(raw_client, BUCKET, key, upload_id, 2, data[PART:], {})
    with pytest.raises(UploadRefused, match=r"part 1 .* size") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 422
    with pytest.raises(S3Error) as gone:
        sdk.list_parts(raw_client, BUCKET, key, upload_id)
    assert gone.value.code in direct.GONE_CODES  # SeaweedFS: NoSuchUpload, Ceph RGW: NoSuchKey


# -- H: an upload may outlast its ticket --------------------------------------------


def test_upload_outlasting_its_ticket_renews_it_and_finalizes(settings_5mib: None, raw_client: Minio) -> None:
    data = os.urandom(PART + 10)
    request = fake_request()
    with override_settings(MINIO_DIRECT_UPLOAD_TICKET_AGE=timedelta(seconds=1)):
        answer = direct.issue_ticket(request, FIELD, unique(), len(data), "application/octet-stream")
        first = direct.part_urls(request, answer["ticket"], FIELD)
        put_parts(first["urls"], data, [1])
        time.sleep(2.1)  # the ticket is older than its age, part 2 still to come
        with pytest.raises(UploadRefused, match="expired"):
            direct.load_ticket(request, answer["ticket"], FIELD)
        later = direct.part_urls(request, answer["ticket"], FIELD)
        assert later["uploaded"] == [1] and list(later["urls"]) == ["2"]
        renewed = later["ticket"]
        direct.load_ticket(request, renewed, FIELD)  # young again
        assert ticket_data(renewed) == ticket_data(answer["ticket"])
        put_parts(later["urls"], data, [2])
        time.sleep(2.1)
        done = direct.finalize(request, renewed, FIELD)
    assert stored(raw_client, done["name"]) == data


def test_expired_ticket_is_not_renewed_once_its_upload_is_gone(
    settings_5mib: None, raw_client: Minio
) -> None:
    request = fake_request()
    with override_settings(MINIO_DIRECT_UPLOAD_TICKET_AGE=timedelta(seconds=1)):
        answer = direct.issue_ticket(request, FIELD, unique(), PART + 10, "application/octet-stream")
        ticket = ticket_data(answer["ticket"])
        sdk.abort_multipart_upload(raw_client, BUCKET, ticket["key"], ticket["upload_id"])
        time.sleep(2.1)
        with pytest.raises(UploadRefused) as refused:
            direct.part_urls(request, answer["ticket"], FIELD)
    assert refused.value.status == 410


def test_ticket_older_than_the_finalize_age_is_refused_everywhere(settings_5mib: None) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), PART + 10, "application/octet-stream")
    with override_settings(
        MINIO_DIRECT_UPLOAD_TICKET_AGE=timedelta(seconds=1),
        MINIO_DIRECT_UPLOAD_FINALIZE_AGE=timedelta(seconds=1),
    ):
        time.sleep(2.1)
        for call in (direct.part_urls, direct.finalize):
            with pytest.raises(UploadRefused, match="expired") as refused:
                call(request, answer["ticket"], FIELD)
            assert refused.value.status == 403


# -- I: storages sharing a bucket each keep their quarantine rule ---------------------


def quarantine_rules(raw_client: Minio, bucket: str) -> dict[str, str]:
    """Prefix -> rule ID of the bucket's quarantine expiry rules."""
    config = raw_client.get_bucket_lifecycle(bucket)
    return {
        str(rule.rule_filter.prefix): str(rule.rule_id)
        for rule in (config.rules if config else [])
        if str(rule.rule_id).startswith(QUARANTINE_RULE_ID)
    }


def test_storages_sharing_a_bucket_each_keep_their_quarantine_rule(
    bucket: str, raw_client: Minio, make_storage: Callable[..., MinioBackend]
) -> None:
    theirs = Rule(
        ENABLED, rule_filter=Filter(prefix="logs/"), rule_id="theirs", expiration=Expiration(days=30)
    )
    raw_client.set_bucket_lifecycle(bucket, LifecycleConfig([theirs]))
    root, media, uploads = (make_storage(bucket, location=loc) for loc in ("", "media", "uploads"))
    static = MinioBackendStatic(bucket_name=bucket, location="static", private_buckets=[bucket])
    initialize_buckets([root, media, uploads, static])
    initialize_buckets([uploads, static, media])  # any order, again: nothing removed
    rules = quarantine_rules(raw_client, bucket)
    assert set(rules) == {"dmb-quarantine/", "media/dmb-quarantine/", "uploads/dmb-quarantine/"}
    assert len(set(rules.values())) == 3 and rules["dmb-quarantine/"] == QUARANTINE_RULE_ID
    assert {rule.rule_id for rule in raw_client.get_bucket_lifecycle(bucket).rules} >= {"theirs"}
    assert initialize_buckets([media])[0].quarantine == "unchanged"

    with override_settings(MINIO_DIRECT_UPLOAD_QUARANTINE_DAYS=None):
        initialize_buckets([media])
    assert quarantine_rules(raw_client, bucket) == {}
    assert "theirs" in {rule.rule_id for rule in raw_client.get_bucket_lifecycle(bucket).rules}


# -- M: CORS origins that are not origins ------------------------------------------------


def test_initialize_buckets_names_the_setting_when_cors_origins_are_a_string(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    with override_settings(MINIO_CORS_ORIGINS="https://www.example.com"):
        with pytest.raises(
            ImproperlyConfigured, match="MINIO_CORS_ORIGINS must be a list of origins, not str"
        ):
            initialize_buckets([make_storage(bucket)])


# -- K: a storage that replaces on save still never replaces on finalize ----------------


def test_finalize_on_a_replacing_storage_never_replaces_an_existing_file(
    s3_settings: dict[str, Any], raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    field = DirectAttachment._meta.get_field("file")
    monkeypatch.setattr(field, "storage", MinioBackend(bucket_name=BUCKET, replace_existing=True))
    filename = unique(".txt")
    existing = f"direct/{filename}"
    raw_client.put_object(BUCKET, existing, io.BytesIO(b"theirs"), 6)
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, filename, 4, "text/plain")
    assert answer["name"] == existing  # a replacing storage offers the taken name
    assert post_file(answer, b"mine").status == 204
    name = direct.finalize(request, answer["ticket"], FIELD)["name"]
    assert name != existing and name.startswith("direct/")
    assert stored(raw_client, existing) == b"theirs"
    assert stored(raw_client, name) == b"mine"


# -- L: malformed declared types are a 400 at ticket time -------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "declared",
    [
        "text/plain\r\nX-Evil: 1",
        "tëxt/plain",
        "text/plain\x00",
        "text/plain; a=b,c",
        "a" * 20000,
        "text/" + "a" * 300,
    ],
)
@pytest.mark.parametrize("size", [5, PART + 1])
def test_malformed_content_type_gets_a_400_at_ticket_time(
    settings_5mib: None, django_user_model: Any, declared: str, size: int
) -> None:
    client = Client()
    client.force_login(uploader(django_user_model, "typist"))
    response = client.post(
        "/minio/upload/ticket/",
        {"field": FIELD, "name": unique(".txt"), "size": size, "content_type": declared},
        content_type="application/json",
    )
    assert response.status_code == 400, response.content
    assert "content type" in response.json()["error"]


@pytest.mark.django_db
def test_content_type_with_a_leading_space_is_taken_and_finalizes(
    s3_settings: dict[str, Any], raw_client: Minio, django_user_model: Any
) -> None:
    client = Client()
    client.force_login(uploader(django_user_model, "spacer"))
    answer = client.post(
        "/minio/upload/ticket/",
        {"field": FIELD, "name": unique(".txt"), "size": 5, "content_type": " text/plain"},
        content_type="application/json",
    ).json()
    assert post_file(answer, b"hello").status == 204
    done = client.post(
        "/minio/upload/finalize/",
        {"ticket": answer["ticket"], "field": FIELD},
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    assert raw_client.stat_object(BUCKET, done.json()["name"]).content_type == "text/plain"


# -- over 5 GiB: refused before the upload, not at the copy after it ----------------------


def test_file_over_5_gib_gets_no_ticket_even_when_the_rules_set_no_limit(s3_settings: dict[str, Any]) -> None:
    class NoLimit:
        @hookimpl(tryfirst=True)
        def direct_upload_rules(self) -> UploadRules:
            return UploadRules(max_size=None)

    pm = manager.get_plugin_manager()
    pm.register(NoLimit(), name="no-limit")
    try:
        largest = direct.issue_ticket(fake_request(), FIELD, unique(), 5 * 1024**3, "text/plain")
        direct.abort(fake_request(), largest["ticket"], FIELD)
        with pytest.raises(UploadRefused, match="at most 5368709120 bytes") as refused:
            direct.issue_ticket(fake_request(), FIELD, unique(), 5 * 1024**3 + 1, "text/plain")
    finally:
        pm.unregister(name="no-limit")
    assert refused.value.status == 413


# -- one upload, one record ----------------------------------------------------------------


@pytest.mark.django_db
def test_one_direct_value_attaches_its_file_to_one_record_only(s3_settings: dict[str, Any]) -> None:
    class AttachmentForm(forms.ModelForm):
        class Meta:
            model = DirectAttachment
            fields = ["file"]

    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 5, "text/plain")
    assert post_file(answer, b"hello").status == 204
    value = direct.finalize(request, answer["ticket"], FIELD)["value"]
    first = AttachmentForm(data={"file__direct": value}, files={})
    assert first.is_valid(), first.errors
    saved = first.save()

    again = AttachmentForm(data={"file__direct": value}, files={})  # a double submit
    assert not again.is_valid()
    assert "already attached to another record" in str(again.errors["file"])
    # The record that holds it may be saved with it again (an edit that keeps the file).
    edit = AttachmentForm(data={"file__direct": value}, files={}, instance=saved)
    assert edit.is_valid(), edit.errors
    assert DirectAttachment.objects.filter(file=saved.file.name).count() == 1
