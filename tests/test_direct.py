"""Direct browser uploads against the real server: tickets, presigned POST and parts, finalize, refusals.

The browser's side is played with urllib3 straight to the S3 server, using only
what the ticket and part answers hand out; Django's side through its views (the
test client) or, where threads race, through :mod:`django_minio_backend.direct`
with requests that carry a user and a session but need no database.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
import urllib3
from django.core import signing
from django.core.management import call_command
from django.test import Client, RequestFactory, override_settings
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.error import S3Error
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from django_minio_backend import MinioBackend, direct, hookimpl, manager, sdk
from django_minio_backend.buckets import CORS_RULE_ID, QUARANTINE_RULE_ID
from django_minio_backend.direct import UploadRefused, UploadRejected, UploadRules

from .conftest import not_on_ceph

BUCKET = "dmb-test-private"
FIELD = "testapp.DirectAttachment.file"
PART = 5 * 1024 * 1024  # S3's smallest part
ALL_PERMS = ("testapp.add_directattachment", "testapp.change_directattachment")
http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=60))


@pytest.fixture
def settings_5mib(s3_settings: dict[str, Any]) -> Iterator[None]:
    with override_settings(MINIO_DIRECT_UPLOAD_PART_SIZE=PART):
        yield


def fake_request(user: str = "7", session: str = "session-a", perms: tuple[str, ...] = ALL_PERMS) -> Any:
    """A request of an authenticated user (with ``perms``) with a session, no database needed."""
    request = RequestFactory().post("/")
    request.user = SimpleNamespace(pk=user, is_authenticated=True, has_perm=lambda perm: perm in perms)
    request.session = SimpleNamespace(session_key=session)
    return request


def uploader(django_user_model: Any, username: str) -> Any:
    """A user who may add DirectAttachments (what the built-in rules ask for)."""
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user(username, password="x")
    user.user_permissions.add(Permission.objects.get(codename="add_directattachment"))
    return user


def unique(suffix: str = ".bin") -> str:
    return f"{uuid.uuid4().hex[:10]}{suffix}"


def post_file(
    answer: dict[str, Any], data: bytes, content_type: str | None = None
) -> urllib3.BaseHTTPResponse:
    """What the browser does with a POST ticket (optionally lying about the content type)."""
    fields = dict(answer["post"]["fields"])
    if content_type is not None:
        fields["Content-Type"] = content_type
    return http.request(
        "POST", answer["post"]["url"], fields={**fields, "file": ("f", data, fields["Content-Type"])}
    )


def put_parts(urls: dict[str, str], data: bytes, numbers: list[int]) -> list[int]:
    sent = []
    for number in numbers:
        chunk = data[(number - 1) * PART : number * PART]
        response = http.request("PUT", urls[str(number)], body=chunk)
        assert response.status == 200, response.data
        sent.append(number)
    return sent


def stored(raw_client: Minio, name: str) -> bytes:
    response = raw_client.get_object(BUCKET, name)
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def ticket_data(ticket: str) -> dict[str, Any]:
    return dict(signing.loads(ticket, salt=direct.TICKET_SALT))


def quarantine_exists(raw_client: Minio, ticket: str) -> bool:
    try:
        raw_client.stat_object(BUCKET, ticket_data(ticket)["key"])
    except S3Error:
        return False
    return True


# -- the happy paths -----------------------------------------------------------------


@pytest.mark.django_db
def test_small_file_goes_by_presigned_post_and_lands_byte_exact_under_its_final_name(
    s3_settings: dict[str, Any], raw_client: Minio, django_user_model: Any
) -> None:
    client = Client()
    client.force_login(uploader(django_user_model, "poster"))
    data = os.urandom(300_000)
    filename = unique(".txt")
    response = client.post(
        "/minio/upload/ticket/",
        {"field": FIELD, "name": filename, "size": len(data), "content_type": "text/plain"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert set(answer) == {"ticket", "name", "post"}
    assert answer["name"] == f"direct/{filename}"
    assert post_file(answer, data).status == 204
    done = client.post(
        "/minio/upload/finalize/",
        {"ticket": answer["ticket"], "field": FIELD, "sha256": hashlib.sha256(data).hexdigest()},
        content_type="application/json",
    )
    assert done.status_code == 200, done.content
    name = done.json()["name"]
    assert name == f"direct/{filename}"
    assert stored(raw_client, name) == data
    assert raw_client.stat_object(BUCKET, name).content_type == "text/plain"
    assert not quarantine_exists(raw_client, answer["ticket"])


def test_resumed_upload_is_handed_only_the_missing_parts(settings_5mib: None, raw_client: Minio) -> None:
    data = os.urandom(3 * PART + 12345)  # four parts
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), len(data), "application/octet-stream")
    assert answer["parts"] == 4 and answer["part_size"] == PART
    first = direct.part_urls(request, answer["ticket"], FIELD)
    assert sorted(first["urls"], key=int) == ["1", "2", "3", "4"] and first["uploaded"] == []
    sent = put_parts(first["urls"], data, [1, 3])  # then the connection drops

    # A reload: the same user and session ask again with the ticket kept in localStorage.
    resumed = direct.part_urls(fake_request(), answer["ticket"], FIELD)
    assert resumed["uploaded"] == [1, 3]
    assert sorted(resumed["urls"], key=int) == ["2", "4"]
    assert resumed["remaining"] == 2
    sent += put_parts(resumed["urls"], data, [2, 4])
    last = direct.part_urls(fake_request(), answer["ticket"], FIELD)
    assert ticket_data(last.pop("ticket")) == ticket_data(answer["ticket"])  # renewed, the same ticket
    assert last == {
        "uploaded": [1, 2, 3, 4],
        "urls": {},
        "remaining": 0,
    }

    done = direct.finalize(fake_request(), answer["ticket"], FIELD)
    assert sorted(sent) == [1, 2, 3, 4]  # each part went over the wire once
    assert stored(raw_client, done["name"]) == data


def test_a_part_of_the_wrong_size_is_handed_out_again(settings_5mib: None, raw_client: Minio) -> None:
    data = os.urandom(PART + 10)
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), len(data), "application/octet-stream")
    # Not through a part URL (it takes only the exact size): as on a server that ignores it.
    ticket = ticket_data(answer["ticket"])
    sdk.upload_part(raw_client, BUCKET, ticket["key"], ticket["upload_id"], 1, data[: PART - 1], {})
    assert sorted(direct.part_urls(request, answer["ticket"], FIELD)["urls"], key=int) == ["1", "2"]


# -- refusals ------------------------------------------------------------------------


def test_expired_ticket_is_refused(s3_settings: dict[str, Any]) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), 10, "text/plain")
    with override_settings(
        MINIO_DIRECT_UPLOAD_TICKET_AGE=timedelta(seconds=1), MINIO_DIRECT_UPLOAD_FINALIZE_AGE=timedelta(0)
    ):
        time.sleep(2.1)
        with pytest.raises(UploadRefused, match="expired") as refused:
            direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 403


def test_forged_tickets_are_refused(s3_settings: dict[str, Any]) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), 10, "text/plain")
    ticket = answer["ticket"]
    tampered = ticket[:5] + ("A" if ticket[5] != "A" else "B") + ticket[6:]
    data = ticket_data(ticket)
    with override_settings(SECRET_KEY="someone-elses-key"):
        foreign = direct.Ticket(**{**data, "size": 10**9}).sign()
    for forged in (tampered, foreign, "not-a-ticket"):
        with pytest.raises(UploadRefused, match="not valid") as refused:
            direct.finalize(request, forged, FIELD)
        assert refused.value.status == 403


def test_ticket_for_another_field_is_refused(s3_settings: dict[str, Any]) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), 10, "text/plain")
    with pytest.raises(UploadRefused, match="another field") as refused:
        direct.finalize(request, answer["ticket"], "testapp.PrivateAttachment.file")
    assert refused.value.status == 403


@pytest.mark.parametrize("other", [fake_request(user="8"), fake_request(session="session-b")])
def test_ticket_of_another_user_or_session_is_refused(s3_settings: dict[str, Any], other: Any) -> None:
    answer = direct.issue_ticket(fake_request(), FIELD, unique(), 10, "text/plain")
    for call in (direct.finalize, direct.part_urls, direct.abort):
        with pytest.raises(UploadRefused, match="another user or session"):
            call(other, answer["ticket"], FIELD)


@pytest.mark.hook("direct_upload_rules")
@pytest.mark.django_db
def test_anonymous_users_get_no_ticket(s3_settings: dict[str, Any]) -> None:
    response = Client().post(
        "/minio/upload/ticket/",
        {"field": FIELD, "name": "a.txt", "size": 1, "content_type": "text/plain"},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json() == {"error": "log in to upload files"}


@pytest.mark.hook("direct_upload_rules")
def test_users_without_add_or_change_permission_get_no_ticket(s3_settings: dict[str, Any]) -> None:
    with pytest.raises(UploadRefused, match="may not add or change") as refused:
        direct.issue_ticket(
            fake_request(perms=("testapp.view_directattachment",)), FIELD, unique(), 1, "text/plain"
        )
    assert refused.value.status == 403
    for perm in ALL_PERMS:
        assert direct.issue_ticket(fake_request(perms=(perm,)), FIELD, unique(), 1, "text/plain")["ticket"]


@pytest.mark.parametrize("label", ["testapp.PublicAttachment.file", "testapp.PrivateAttachment.file"])
def test_plain_file_fields_get_no_ticket(s3_settings: dict[str, Any], label: str) -> None:
    with pytest.raises(UploadRefused, match="not a DirectFileField") as refused:
        direct.issue_ticket(
            fake_request(perms=("testapp.add_publicattachment",)), label, unique(), 1, "text/plain"
        )
    assert refused.value.status == 404


def test_larger_file_than_announced_is_refused_by_the_server(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), 1000, "text/plain")
    response = post_file(answer, os.urandom(1001))
    assert response.status == 400 and b"EntityTooLarge" in response.data
    assert not quarantine_exists(raw_client, answer["ticket"])
    with pytest.raises(UploadRefused, match="no uploaded file") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 404


def test_file_over_the_size_limit_gets_no_ticket(s3_settings: dict[str, Any]) -> None:
    with override_settings(MINIO_DIRECT_UPLOAD_MAX_SIZE=1000):
        with pytest.raises(UploadRefused, match="larger than the 1000 bytes") as refused:
            direct.issue_ticket(fake_request(), FIELD, unique(), 1001, "text/plain")
    assert refused.value.status == 413


def test_wrong_content_type_is_refused_by_the_rules_and_by_the_server(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    class ImagesOnly:
        @hookimpl(tryfirst=True)
        def direct_upload_rules(self) -> UploadRules:
            return UploadRules(max_size=10**6, content_types=("image/*",))

    pm = manager.get_plugin_manager()
    pm.register(ImagesOnly(), name="images-only")
    try:
        with pytest.raises(UploadRefused, match="text/plain are not allowed") as refused:
            direct.issue_ticket(fake_request(), FIELD, unique(".txt"), 10, "text/plain")
        assert refused.value.status == 415
        answer = direct.issue_ticket(fake_request(), FIELD, unique(".png"), 10, "image/png")
    finally:
        pm.unregister(name="images-only")
    response = post_file(answer, b"0123456789", content_type="text/html")
    assert response.status == 403 and b"Policy" in response.data
    assert not quarantine_exists(raw_client, answer["ticket"])


@pytest.mark.parametrize(
    "declared",
    [
        "text/plain, text/xml",
        "image/png;,text/html",
        "*/*",
        "image/*",
        "text/html\r\nX: y",
        "text/html\x00",
        "téxt/plain",
    ],
)
def test_ticket_refuses_a_declared_type_that_is_not_one_plain_type(
    s3_settings: dict[str, Any], declared: str
) -> None:
    with pytest.raises(UploadRefused, match="not one plain type/subtype") as refused:
        direct.issue_ticket(fake_request(), FIELD, unique(".png"), 10, declared)
    assert refused.value.status == 400


def test_ticket_keeps_only_the_type_and_its_charset(s3_settings: dict[str, Any]) -> None:
    answer = direct.issue_ticket(fake_request(), FIELD, unique(), 10, " Text/Plain ; q=1; Charset=UTF-8")
    assert ticket_data(answer["ticket"])["content_type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("declared", ["unknown/unknown", "application/unknown", "text/html"])
def test_finalized_upload_of_a_type_browsers_sniff_or_run_is_a_download(
    s3_settings: dict[str, Any], raw_client: Minio, declared: str
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".png"), 10, declared)
    assert post_file(answer, b"<script>1;").status == 204
    name = direct.finalize(request, answer["ticket"], FIELD)["name"]
    stat = raw_client.stat_object(BUCKET, name)
    assert stat.metadata["Content-Disposition"] == "attachment"
    assert stat.content_type == declared


@not_on_ceph("a presigned POST stores no Content-Disposition form field (the NotResource still holds)")
def test_quarantine_object_is_pinned_as_a_download_by_the_post_policy(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    answer = direct.issue_ticket(fake_request(), FIELD, unique(".html"), 10, "text/html")
    fields = {**answer["post"]["fields"], "Content-Disposition": "inline"}
    inline = http.request(
        "POST", answer["post"]["url"], fields={**fields, "file": ("f", b"<script>1;", "text/html")}
    )
    assert inline.status == 403 and b"Policy" in inline.data
    without = {k: v for k, v in answer["post"]["fields"].items() if k != "Content-Disposition"}
    bare = http.request(
        "POST", answer["post"]["url"], fields={**without, "file": ("f", b"<script>1;", "text/html")}
    )
    assert bare.status == 403
    assert post_file(answer, b"<script>1;").status == 204
    key = ticket_data(answer["ticket"])["key"]
    assert raw_client.stat_object(BUCKET, key).metadata["Content-Disposition"] == "attachment"


def test_multipart_quarantine_object_is_created_as_a_download(settings_5mib: None, raw_client: Minio) -> None:
    request = fake_request()
    data = os.urandom(PART + 10)
    answer = direct.issue_ticket(request, FIELD, unique(".html"), len(data), "text/html")
    put_parts(direct.part_urls(request, answer["ticket"], FIELD)["urls"], data, [1, 2])
    ticket = direct.Ticket(**ticket_data(answer["ticket"]))
    storage = direct.resolve_field(FIELD)[2]
    direct._complete(storage, ticket)
    assert raw_client.stat_object(BUCKET, ticket.key).metadata["Content-Disposition"] == "attachment"


def test_finalized_passive_file_loses_the_quarantine_disposition(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 10, "text/plain")
    assert post_file(answer, b"0123456789").status == 204
    name = direct.finalize(request, answer["ticket"], FIELD)["name"]
    assert "Content-Disposition" not in raw_client.stat_object(BUCKET, name).metadata


@pytest.mark.parametrize("location", ["", "media/"])
def test_quarantine_of_a_public_bucket_is_not_readable_anonymously(
    public_storage: MinioBackend, raw_client: Minio, location: str
) -> None:
    bucket = public_storage.bucket
    quarantined = f"{location}dmb-quarantine/{uuid.uuid4().hex}"
    for key in (quarantined, f"{location}shared.html"):
        raw_client.put_object(bucket, key, io.BytesIO(b"<script>1;"), 10, content_type="text/html")
    base = public_storage.url("x").rsplit("/x", 1)[0]
    assert http.request("GET", f"{base}/{location}shared.html").status == 200
    assert http.request("GET", f"{base}/{quarantined}").status == 403


def test_direct_upload_to_a_public_bucket_finalizes_and_its_quarantine_stays_closed(
    s3_settings: dict[str, Any],
    public_storage: MinioBackend,
    raw_client: Minio,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Red-team finding: a Deny for everyone on the quarantine refused the backend's own finalize."""
    from tests.testapp.models import DirectAttachment

    monkeypatch.setattr(DirectAttachment._meta.get_field("file"), "storage", public_storage)
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 10, "text/plain")
    assert post_file(answer, b"0123456789").status == 204
    quarantined = public_storage.url("x").rsplit("/x", 1)[0] + "/" + ticket_data(answer["ticket"])["key"]
    assert http.request("GET", quarantined).status == 403
    done = direct.finalize(request, answer["ticket"], FIELD)
    final = http.request("GET", public_storage.url(done["name"]))
    assert final.status == 200 and final.data == b"0123456789"


def test_finalize_of_an_object_that_is_not_there_is_refused(settings_5mib: None) -> None:
    request = fake_request()
    small = direct.issue_ticket(request, FIELD, unique(), 10, "text/plain")
    with pytest.raises(UploadRefused, match="no uploaded file") as refused:
        direct.finalize(request, small["ticket"], FIELD)
    assert refused.value.status == 404
    large = direct.issue_ticket(request, FIELD, unique(), PART + 1, "text/plain")
    with pytest.raises(UploadRefused, match="0 of its 2 parts") as refused:
        direct.finalize(request, large["ticket"], FIELD)
    assert refused.value.status == 409


def test_finalize_of_an_object_with_the_wrong_size_is_refused_and_deletes_it(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), 10, "text/plain")
    # Not through the POST (its policy pins the size): as on a server that ignores the policy.
    raw_client.put_object(
        BUCKET, ticket_data(answer["ticket"])["key"], io.BytesIO(b"x" * 15), 15, "text/plain"
    )
    with pytest.raises(UploadRefused, match="15 bytes, not the 10") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 422
    assert not quarantine_exists(raw_client, answer["ticket"])


def test_checksum_mismatch_is_refused(s3_settings: dict[str, Any]) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), 10, "text/plain")
    assert post_file(answer, b"0123456789").status == 204
    with pytest.raises(UploadRefused, match="SHA-256"):
        direct.finalize(request, answer["ticket"], FIELD, sha256=hashlib.sha256(b"other").hexdigest())


def test_finalizes_racing_onto_one_name_keep_both_files(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    filename = unique(".txt")
    contents = [os.urandom(1000) for _ in range(4)]
    tickets = []
    for index, data in enumerate(contents):
        request = fake_request(user=str(index))
        answer = direct.issue_ticket(request, FIELD, filename, len(data), "text/plain")
        assert answer["name"] == f"direct/{filename}"  # the same name proposed to everyone
        assert post_file(answer, data).status == 204
        tickets.append((request, answer["ticket"]))
    results: list[Any] = [None] * len(tickets)
    barrier = threading.Barrier(len(tickets))

    def run(index: int) -> None:
        barrier.wait()
        request, ticket = tickets[index]
        results[index] = direct.finalize(request, ticket, FIELD)["name"]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(tickets))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == len(contents), results
    assert f"direct/{filename}" in results
    for name, data in zip(results, contents, strict=True):
        assert stored(raw_client, name) == data


def test_finalize_never_replaces_an_existing_file(s3_settings: dict[str, Any], raw_client: Minio) -> None:
    filename = unique(".txt")
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, filename, 3, "text/plain")
    raw_client.put_object(BUCKET, f"direct/{filename}", io.BytesIO(b"old"), 3)
    assert post_file(answer, b"new").status == 204
    name = direct.finalize(request, answer["ticket"], FIELD)["name"]
    assert name != f"direct/{filename}" and name.startswith("direct/")
    assert stored(raw_client, f"direct/{filename}") == b"old"
    assert stored(raw_client, name) == b"new"


def test_second_finalize_of_one_ticket_is_refused(s3_settings: dict[str, Any]) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    direct.finalize(request, answer["ticket"], FIELD)
    with pytest.raises(UploadRefused, match="finalized already") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 409


@pytest.mark.parametrize("shared_cache", [True, False])
def test_replayed_post_after_finalize_makes_no_second_file(
    s3_settings: dict[str, Any], raw_client: Minio, shared_cache: bool
) -> None:
    from django.core.cache import cache

    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    name = direct.finalize(request, answer["ticket"], FIELD)["name"]
    if not shared_cache:
        cache.clear()  # another process, with its own cache
    assert post_file(answer, b"abc").status == 204  # the presigned POST is still valid
    with pytest.raises(UploadRefused, match="finalized already") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 409
    stem = name.rsplit(".", 1)[0]
    assert [o.object_name for o in raw_client.list_objects(BUCKET, prefix=stem)] == [name]


@pytest.mark.parametrize("size", [3, PART + 1])
def test_racing_finalizes_of_one_ticket_without_a_shared_cache_make_one_file(
    settings_5mib: None, raw_client: Minio, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    from django.core.cache import cache

    # Every finalize as if in its own process (threads each get their own cache object: patch the class).
    monkeypatch.setattr(type(cache._connections[cache._alias]), "add", lambda *args, **kwargs: True)
    request = fake_request()
    data = os.urandom(size)
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), size, "text/plain")
    if "post" in answer:
        assert post_file(answer, data).status == 204
    else:
        put_parts(direct.part_urls(request, answer["ticket"], FIELD)["urls"], data, [1, 2])
    name = one_of_racing_finalizes(raw_client, request, answer["ticket"])
    assert stored(raw_client, name) == data


def one_of_racing_finalizes(raw_client: Minio, request: Any, ticket: str, count: int = 4) -> str:
    """Run ``count`` finalizes of ``ticket`` at once; assert one made the only file, the others got 409."""
    outcomes: list[Any] = [None] * count
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        try:
            outcomes[index] = direct.finalize(request, ticket, FIELD)["name"]
        except UploadRefused as exc:
            outcomes[index] = exc.status

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = [o for o in outcomes if isinstance(o, str)]
    refused = sorted(o for o in outcomes if not isinstance(o, str))
    assert len(names) == 1 and refused == [409] * (count - 1), outcomes
    stem = names[0].rsplit(".", 1)[0]
    assert [o.object_name for o in raw_client.list_objects(BUCKET, prefix=stem)] == names
    return str(names[0])


@pytest.mark.hook("direct_upload_finalized")
def test_plugin_rejecting_the_file_deletes_it(s3_settings: dict[str, Any], raw_client: Minio) -> None:
    seen: list[str] = []

    class Scanner:
        @hookimpl
        def direct_upload_finalized(self, name: str, size: int) -> None:
            seen.append(name)
            raise UploadRejected("infected")

    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    pm = manager.get_plugin_manager()
    pm.register(Scanner(), name="scanner")
    try:
        with pytest.raises(UploadRefused, match="infected") as refused:
            direct.finalize(request, answer["ticket"], FIELD)
    finally:
        pm.unregister(name="scanner")
    assert refused.value.status == 422
    with pytest.raises(S3Error):
        raw_client.stat_object(BUCKET, seen[0])


@pytest.mark.django_db
def test_views_enforce_csrf(s3_settings: dict[str, Any], django_user_model: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(uploader(django_user_model, "csrf"))
    response = client.post(
        "/minio/upload/ticket/",
        {"field": FIELD, "name": "a.txt", "size": 1, "content_type": "text/plain"},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_cancel_aborts_the_multipart_upload(settings_5mib: None, raw_client: Minio) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(), PART + 1, "text/plain")
    direct.abort(request, answer["ticket"], FIELD)
    with pytest.raises(UploadRefused, match="finished or cancelled") as refused:
        direct.part_urls(request, answer["ticket"], FIELD)
    assert refused.value.status == 410


# -- the form field ------------------------------------------------------------------


@pytest.mark.django_db
def test_model_form_takes_the_signed_value_instead_of_a_file(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    from django import forms

    from django_minio_backend.forms import DirectUploadField
    from tests.testapp.models import DirectAttachment

    class AttachmentForm(forms.ModelForm):
        class Meta:
            model = DirectAttachment
            fields = ["file"]

    assert isinstance(AttachmentForm.base_fields["file"], DirectUploadField)
    rendered = str(AttachmentForm()["file"])
    assert 'data-field="testapp.DirectAttachment.file"' in rendered and 'type="file"' in rendered
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 5, "text/plain")
    assert post_file(answer, b"hello").status == 204
    value = direct.finalize(request, answer["ticket"], FIELD)["value"]

    form = AttachmentForm(data={"file__direct": value}, files={})
    assert form.is_valid(), form.errors
    obj = form.save()
    assert obj.file.name == answer["name"]
    assert obj.file.read() == b"hello"

    for forged in (value[:-2] + "xx", direct.sign_value("testapp.PrivateAttachment.file", answer["name"])):
        assert not AttachmentForm(data={"file__direct": forged}, files={}).is_valid()


def finalized_value(request: Any, filename: str, data: bytes) -> dict[str, Any]:
    answer = direct.issue_ticket(request, FIELD, filename, len(data), "text/plain")
    assert post_file(answer, data).status == 204
    return direct.finalize(request, answer["ticket"], FIELD)


def test_value_is_void_once_its_name_holds_another_users_file(s3_settings: dict[str, Any]) -> None:
    filename = unique(".txt")
    first = finalized_value(fake_request(user="1"), filename, b"alice")
    assert direct.load_value(first["value"], FIELD) == first["name"]
    direct.resolve_field(FIELD)[2].delete(first["name"])
    second = finalized_value(fake_request(user="2"), filename, b"bob")
    assert second["name"] == first["name"]  # the freed name is given again
    with pytest.raises(ValueError, match="replaced"):
        direct.load_value(first["value"], FIELD)
    assert direct.load_value(second["value"], FIELD) == second["name"]


@pytest.mark.parametrize("other", [fake_request(user="8"), fake_request(session="session-b")])
def test_value_of_another_user_or_session_is_refused_when_the_request_is_known(
    s3_settings: dict[str, Any], other: Any
) -> None:
    done = finalized_value(fake_request(), unique(".txt"), b"hello")
    assert direct.load_value(done["value"], FIELD, fake_request()) == done["name"]
    with pytest.raises(ValueError, match="another user or session"):
        direct.load_value(done["value"], FIELD, other)


# -- buckets: quarantine expiry and CORS ----------------------------------------------


def test_initialize_buckets_sets_quarantine_expiry_and_cors_beside_others_rules(
    s3_settings: dict[str, Any], bucket: str, raw_client: Minio
) -> None:
    theirs = Rule(
        ENABLED, rule_filter=Filter(prefix="logs/"), rule_id="theirs", expiration=Expiration(days=30)
    )
    raw_client.set_bucket_lifecycle(bucket, LifecycleConfig([theirs]))
    their_cors = (
        b"<CORSConfiguration><CORSRule><ID>theirs</ID><AllowedOrigin>https://other.example</AllowedOrigin>"
        b"<AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>"
    )
    sdk.put_bucket_cors(raw_client, bucket, their_cors)
    out = StringIO()
    with override_settings(MINIO_PRIVATE_BUCKETS=[bucket], MINIO_CORS_ORIGINS=["http://127.0.0.1:8000"]):
        call_command("initialize_buckets", stdout=out)
        call_command("initialize_buckets", stdout=StringIO())  # idempotent
    assert f"{bucket}: rule expiring direct-upload quarantine objects set" in out.getvalue()
    assert f"{bucket}: CORS rule for MINIO_CORS_ORIGINS set" in out.getvalue()
    rules = {rule.rule_id: rule for rule in raw_client.get_bucket_lifecycle(bucket).rules}
    assert set(rules) >= {"theirs", QUARANTINE_RULE_ID}
    assert rules[QUARANTINE_RULE_ID].rule_filter.prefix == "dmb-quarantine/"
    assert rules[QUARANTINE_RULE_ID].expiration.days == 1
    assert rules["theirs"].expiration.days == 30
    cors = sdk.get_bucket_cors(raw_client, bucket) or b""
    assert (
        cors.count(b"<CORSRule>") == 2 and b"https://other.example" in cors and CORS_RULE_ID.encode() in cors
    )
    preflight = http.request(
        "OPTIONS",
        f"http://{s3_settings['MINIO_ENDPOINT']}/{bucket}/x",
        headers={"Origin": "http://127.0.0.1:8000", "Access-Control-Request-Method": "PUT"},
    )
    assert preflight.headers.get("Access-Control-Allow-Origin") == "http://127.0.0.1:8000"

    with override_settings(MINIO_PRIVATE_BUCKETS=[bucket], MINIO_DIRECT_UPLOAD_QUARANTINE_DAYS=None):
        out = StringIO()
        call_command("initialize_buckets", stdout=out)
    assert "CORS rule of this package removed" in out.getvalue()
    assert {rule.rule_id for rule in raw_client.get_bucket_lifecycle(bucket).rules} >= {"theirs"}
    assert QUARANTINE_RULE_ID not in {rule.rule_id for rule in raw_client.get_bucket_lifecycle(bucket).rules}
    assert (sdk.get_bucket_cors(raw_client, bucket) or b"").count(b"<CORSRule>") == 1


@pytest.mark.django_db
def test_without_javascript_the_form_takes_an_ordinary_upload(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    from django import forms
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.testapp.models import DirectAttachment

    class AttachmentForm(forms.ModelForm):
        class Meta:
            model = DirectAttachment
            fields = ["file"]

    filename = unique(".txt")
    form = AttachmentForm(data={}, files={"file": SimpleUploadedFile(filename, b"through django")})
    assert form.is_valid(), form.errors
    obj = form.save()
    assert obj.file.name == f"direct/{filename}"
    assert stored(raw_client, obj.file.name) == b"through django"


def test_clean_up_command_removes_unfinalized_quarantine_objects(
    s3_settings: dict[str, Any], raw_client: Minio
) -> None:
    answer = direct.issue_ticket(fake_request(), FIELD, unique(), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    key = ticket_data(answer["ticket"])["key"]
    out = StringIO()
    call_command("clean_incomplete_uploads", "--older-than", "1", stdout=out)
    assert quarantine_exists(raw_client, answer["ticket"])  # a recent upload may still be finalized
    call_command("clean_incomplete_uploads", "--older-than", "0", stdout=out)
    assert f"removed: {BUCKET}/{key}" in out.getvalue()
    assert not quarantine_exists(raw_client, answer["ticket"])


def test_ticket_for_an_unusable_file_name_is_refused(s3_settings: dict[str, Any]) -> None:
    with pytest.raises(UploadRefused, match="cannot be used") as refused:
        direct.issue_ticket(fake_request(), FIELD, "..", 1, "text/plain")
    assert refused.value.status == 400


@pytest.mark.django_db
def test_admin_with_the_mixin_refuses_a_value_another_user_finalized(s3_settings: dict[str, Any]) -> None:
    from django.contrib import admin
    from django.core.signals import request_started

    from django_minio_backend.admin import DirectUploadAdminMixin
    from django_minio_backend.forms import DIRECT_SUFFIX
    from tests.testapp.models import DirectAttachment

    class Plain(admin.ModelAdmin):
        fields = ["file"]

    class Bound(DirectUploadAdminMixin, Plain):
        pass

    done = finalized_value(fake_request(user="1"), unique(".txt"), b"alice")
    data = {"file" + DIRECT_SUFFIX: done["value"]}
    site = admin.AdminSite()
    other, owner = fake_request(user="2"), fake_request(user="1")
    assert (
        Plain(DirectAttachment, site).get_form(other)(data=data, files={}).is_valid()
    )  # the ETag binding only
    # Each form in a request of its own: within one request, a value validated for one new record is
    # refused for another (a formset posting it twice).
    request_started.send(sender=None)
    refused = Bound(DirectAttachment, site).get_form(other)(data=data, files={})
    assert not refused.is_valid() and "another user or session" in str(refused.errors["file"])
    request_started.send(sender=None)
    accepted = Bound(DirectAttachment, site).get_form(owner)(data=data, files={})
    assert accepted.is_valid() and accepted.cleaned_data["file"] == done["name"]


def test_anonymous_upload_without_a_session_gets_no_ticket_even_when_rules_allow_it(
    s3_settings: dict[str, Any],
) -> None:
    class Anyone:
        @hookimpl(tryfirst=True)
        def direct_upload_rules(self) -> UploadRules:
            return UploadRules(max_size=None)

    request = RequestFactory().post("/")
    request.user = SimpleNamespace(pk=None, is_authenticated=False, has_perm=lambda perm: False)
    pm = manager.get_plugin_manager()
    pm.register(Anyone(), name="anyone")
    try:
        with pytest.raises(UploadRefused, match="SessionMiddleware") as refused:
            direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
        assert refused.value.status == 403
        request.session = SimpleNamespace(session_key="anon-session")
        assert direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")["ticket"]
    finally:
        pm.unregister(name="anyone")


def test_rules_key_prefix_naming_the_quarantine_gets_no_ticket(s3_settings: dict[str, Any]) -> None:
    class IntoQuarantine:
        @hookimpl(tryfirst=True)
        def direct_upload_rules(self) -> UploadRules:
            return UploadRules(max_size=None, key_prefix="dmb-quarantine")  # e.g. a user's name

    pm = manager.get_plugin_manager()
    pm.register(IntoQuarantine(), name="into-quarantine")
    try:
        with pytest.raises(UploadRefused, match="would be in the direct-upload quarantine") as refused:
            direct.issue_ticket(fake_request(), FIELD, unique(".txt"), 3, "text/plain")
        assert refused.value.status == 400
    finally:
        pm.unregister(name="into-quarantine")
