"""Direct-upload finalizes that lose their claim, and values and parts that arrive twice.

A finalize claim left stale is taken over; the worker that held it may be slow rather than dead, or
killed after its copy. One ticket must still make one file. Against the suite's SeaweedFS.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.forms import modelformset_factory
from django.test import override_settings
from minio import Minio
from minio.error import S3Error

from django_minio_backend import capabilities, direct, hookimpl, manager, sdk
from django_minio_backend.direct import UploadRefused
from django_minio_backend.exceptions import PluginError

from .conftest import not_on_ceph
from .test_direct import (
    BUCKET,
    FIELD,
    PART,
    fake_request,
    post_file,
    settings_5mib,
    stored,
    ticket_data,
    unique,
)
from .test_direct_retries import multipart_ticket, put
from .testapp.models import DirectAttachment

__all__ = ["settings_5mib"]  # a fixture shared with test_direct.py


def files_named_like(raw_client: Minio, name: str) -> list[str]:
    """The final files of one ticket: its name and the alternatives the storage made of it."""
    stem = name.rsplit(".", 1)[0]
    return [str(o.object_name) for o in raw_client.list_objects(BUCKET, prefix=stem)]


class Worker(threading.Thread):
    """One finalize in a thread of its own; ``outcome`` is the final name, or the refusal's status."""

    def __init__(self, name: str, request: Any, ticket: str) -> None:
        super().__init__(name=name)
        self.request, self.ticket = request, ticket
        self.outcome: Any = None

    def run(self) -> None:
        try:
            self.outcome = direct.finalize(self.request, self.ticket, FIELD)["name"]
        except UploadRefused as exc:
            self.outcome = exc.status
        except PluginError as exc:
            self.outcome = exc


class HeldHooks:
    """A ``direct_upload_finalized`` hook that, in the threads named in ``held``, waits until released
    (and then fails, for those named in ``failing``): a scanner slower than CLAIM_STALE."""

    def __init__(self, held: tuple[str, ...], failing: tuple[str, ...] = ()) -> None:
        self.entered = {name: threading.Event() for name in held}
        self.release = {name: threading.Event() for name in held}
        self.failing = failing

    @hookimpl
    def direct_upload_finalized(self, name: str) -> None:
        thread = threading.current_thread().name
        if thread in self.entered:
            self.entered[thread].set()
            assert self.release[thread].wait(30)
            if thread in self.failing:
                raise ConnectionRefusedError("the virus scanner went away")


@pytest.fixture
def held_hooks() -> Iterator[list[HeldHooks]]:
    registered: list[HeldHooks] = []
    yield registered
    for index in range(len(registered)):
        manager.get_plugin_manager().unregister(name=f"held-{index}")


def hold(registered: list[HeldHooks], held: tuple[str, ...], failing: tuple[str, ...] = ()) -> HeldHooks:
    hooks = HeldHooks(held, failing)
    manager.get_plugin_manager().register(hooks, name=f"held-{len(registered)}")
    registered.append(hooks)
    return hooks


@pytest.fixture
def stale_after_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct, "CLAIM_STALE", timedelta(seconds=1), raising=False)


@pytest.fixture(params=["conditional writes", "cache only"])
def claims(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The server's marker guards the ticket, or (servers without conditional writes) the cache alone."""
    if request.param == "cache only":
        monkeypatch.setattr(capabilities, "create_only_is_conditional", lambda *args, **kwargs: False)
    return str(request.param)


# -- a stale claim taken over ---------------------------------------------------------


@pytest.mark.hook("direct_upload_finalized")
def test_slow_finalize_whose_claim_was_taken_over_answers_409_and_leaves_one_file(
    s3_settings: dict[str, Any],
    raw_client: Minio,
    held_hooks: list[HeldHooks],
    stale_after_a_second: None,
    claims: str,
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    hooks = hold(held_hooks, ("slow",))
    slow = Worker("slow", request, answer["ticket"])
    slow.start()
    assert hooks.entered["slow"].wait(30)
    time.sleep(2.1)  # the claim looks stale now (dates in whole seconds)
    taker = direct.finalize(request, answer["ticket"], FIELD)
    hooks.release["slow"].set()
    slow.join()

    assert slow.outcome == 409
    assert files_named_like(raw_client, taker["name"]) == [taker["name"]]
    assert stored(raw_client, taker["name"]) == b"abc"
    assert direct.load_value(taker["value"], FIELD) == taker["name"]
    with pytest.raises(UploadRefused, match="finalized already"):
        direct.finalize(request, answer["ticket"], FIELD)


@pytest.mark.hook("direct_upload_finalized")
def test_failing_finalize_leaves_the_claim_that_took_it_over_alone(
    s3_settings: dict[str, Any],
    raw_client: Minio,
    held_hooks: list[HeldHooks],
    stale_after_a_second: None,
    claims: str,
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    hooks = hold(held_hooks, ("first", "taker"), failing=("first",))
    first = Worker("first", request, answer["ticket"])
    first.start()
    assert hooks.entered["first"].wait(30)
    time.sleep(2.1)
    taker = Worker("taker", request, answer["ticket"])
    taker.start()
    assert hooks.entered["taker"].wait(30)
    hooks.release["first"].set()  # the first fails while the taker still scans
    first.join()
    assert isinstance(first.outcome, PluginError)

    with pytest.raises(UploadRefused, match="finalized already"):
        direct.finalize(request, answer["ticket"], FIELD)  # the taker still holds the ticket
    hooks.release["taker"].set()
    taker.join()
    assert isinstance(taker.outcome, str)
    assert files_named_like(raw_client, taker.outcome) == [taker.outcome]


@pytest.mark.hook("direct_upload_finalized")
def test_takeover_removes_the_copy_of_a_worker_killed_in_the_hook(
    s3_settings: dict[str, Any], raw_client: Minio, stale_after_a_second: None, claims: str, tmp_path: Any
) -> None:
    # A cache the worker processes share: without conditional writes it is the only claim.
    shared = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(tmp_path)}
    with override_settings(CACHES={"default": shared}):
        killed_in_the_hook_then_taken_over(raw_client)


def killed_in_the_hook_then_taken_over(raw_client: Minio) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    parent = os.getpid()

    class KilledInTheHook:
        @hookimpl
        def direct_upload_finalized(self, name: str) -> None:
            if os.getpid() != parent:
                os._exit(9)

    pm = manager.get_plugin_manager()
    pm.register(KilledInTheHook(), name="killed-in-the-hook")
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child never returns
            try:
                direct.finalize(request, answer["ticket"], FIELD)
            finally:
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 9, "the worker did not reach the hook"
        name = ticket_data(answer["ticket"])["name"]
        assert stored(raw_client, name) == b"abc"  # the killed worker's unchecked copy
        time.sleep(2.1)
        done = direct.finalize(request, answer["ticket"], FIELD)
    finally:
        pm.unregister(name="killed-in-the-hook")
    assert files_named_like(raw_client, name) == [done["name"]]
    assert stored(raw_client, done["name"]) == b"abc"


# -- a cache that fails to write --------------------------------------------------------


def test_finalize_whose_cache_write_failed_is_retryable_not_finalized(
    s3_settings: dict[str, Any], raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    backend = type(cache._connections[cache._alias])
    add = backend.add

    def add_fails_once(self: Any, key: str, *args: Any, **kwargs: Any) -> bool:
        # As Django's DatabaseCache answers a database error ("database is locked").
        monkeypatch.setattr(backend, "add", add)
        return False

    monkeypatch.setattr(backend, "add", add_fails_once)
    with pytest.raises(UploadRefused, match="try again") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 503
    done = direct.finalize(request, answer["ticket"], FIELD)
    assert stored(raw_client, done["name"]) == b"abc"


# -- one value posted twice in one request -------------------------------------------------


@pytest.mark.django_db
def test_one_direct_value_in_two_forms_of_a_formset_is_refused(s3_settings: dict[str, Any]) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    value = direct.finalize(request, answer["ticket"], FIELD)["value"]
    formset_class = modelformset_factory(DirectAttachment, fields=["file"], extra=2)
    data = {
        "form-TOTAL_FORMS": "2",
        "form-INITIAL_FORMS": "0",
        "form-0-file__direct": value,
        "form-1-file__direct": value,
    }
    formset = formset_class(data=data, files={}, queryset=DirectAttachment.objects.none())
    assert not formset.is_valid()
    assert formset.errors[0] == {}
    assert "already attached to another record" in str(formset.errors[1]["file"])
    assert DirectAttachment.objects.count() == 0


@pytest.mark.django_db
def test_one_form_validated_twice_in_a_request_keeps_its_direct_value(s3_settings: dict[str, Any]) -> None:
    """Red-team finding: a wizard validates its last step's form again, with a new instance."""
    from django import forms

    class AttachmentForm(forms.ModelForm):
        class Meta:
            model = DirectAttachment
            fields = ["file"]

    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    done = direct.finalize(request, answer["ticket"], FIELD)
    data = {"step-file__direct": done["value"]}
    assert AttachmentForm(data=data, files={}, prefix="step").is_valid()
    again = AttachmentForm(data=data, files={}, prefix="step")
    assert again.is_valid(), again.errors
    assert again.save().file.name == done["name"]


@pytest.mark.django_db
def test_a_value_refused_in_one_request_is_accepted_alone_in_the_next(s3_settings: dict[str, Any]) -> None:
    from django.core.signals import request_started

    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    value = direct.finalize(request, answer["ticket"], FIELD)["value"]
    formset_class = modelformset_factory(DirectAttachment, fields=["file"], extra=2)
    data = {"form-TOTAL_FORMS": "2", "form-INITIAL_FORMS": "0", "form-0-file__direct": value}
    formset = formset_class(data={**data, "form-1-file__direct": value}, files={})
    assert not formset.is_valid()
    request_started.send(sender=None)  # the user fixes the form: a new request, whose forms are new
    again = formset_class(data={**data, "form-TOTAL_FORMS": "1"}, files={})
    assert again.is_valid(), again.errors
    (row,) = again.save()
    assert row.file.name == direct.load_value(value, FIELD)


# -- cancel and parts ------------------------------------------------------------------------


def test_cancel_after_the_upload_was_completed_removes_its_object(
    settings_5mib: None, raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(PART + 5)
    request, answer, ticket = multipart_ticket(len(data))
    urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
    put(urls["1"], data[:PART])
    put(urls["2"], data[PART:])
    # Completed by a finalize that failed afterwards (a copy error, say): the object awaits a Retry.
    direct._complete(direct.resolve_field(FIELD)[2], direct.Ticket(**ticket))
    abort = sdk.abort_multipart_upload

    def no_such_upload(client: Minio, *args: Any) -> None:
        # Ceph RGW's answer to aborting a completed upload (SeaweedFS forgets the upload silently).
        abort(client, *args)
        # By keyword: minio 7.2.19 moved ``response`` from the sixth argument to the first.
        raise S3Error(
            code="NoSuchUpload",
            message="no such upload",
            resource=ticket["key"],
            request_id="",
            host_id="",
            response=None,  # type: ignore[arg-type]
        )

    monkeypatch.setattr(sdk, "abort_multipart_upload", no_such_upload)
    direct.abort(request, answer["ticket"], FIELD)
    with pytest.raises(S3Error):
        raw_client.stat_object(BUCKET, ticket["key"])
    with pytest.raises(UploadRefused) as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 404


@not_on_ceph("a part sent again replaces the earlier one: no copies to choose from")
def test_part_sent_twice_within_one_second_is_handed_out_again_and_its_newest_copy_used(
    settings_5mib: None, raw_client: Minio
) -> None:
    # SeaweedFS keeps both copies, dated in whole seconds, and lists them in no fixed order.
    for _ in range(5):
        request, answer, ticket = multipart_ticket(PART + 4)
        urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
        put(urls["1"], os.urandom(PART))
        put(urls["1"], os.urandom(PART))
        dates = [
            p.last_modified for p in sdk.list_parts(raw_client, BUCKET, ticket["key"], ticket["upload_id"])
        ]
        if len(set(dates)) == 1:
            break  # both in the same second, as the test needs
        direct.abort(request, answer["ticket"], FIELD)
    else:
        pytest.fail("two 5 MiB PUTs never landed within one second")
    put(urls["2"], b"tail")
    with pytest.raises(UploadRefused, match="part 1 is missing") as refused:
        direct.finalize(request, answer["ticket"], FIELD)
    assert refused.value.status == 409
    again = direct.part_urls(request, answer["ticket"], FIELD)
    assert again["uploaded"] == [2] and list(again["urls"]) == ["1"]
    time.sleep(1.1)
    newest = os.urandom(PART)
    put(again["urls"]["1"], newest)
    done = direct.finalize(request, answer["ticket"], FIELD)
    assert stored(raw_client, done["name"]) == newest + b"tail"


def test_part_sent_twice_with_the_same_bytes_within_one_second_is_used(
    settings_5mib: None, raw_client: Minio
) -> None:
    request, answer, _ = multipart_ticket(PART + 4)
    urls = direct.part_urls(request, answer["ticket"], FIELD)["urls"]
    data = os.urandom(PART)
    put(urls["1"], data)
    put(urls["1"], data)  # a Retry of a part whose answer was lost
    put(urls["2"], b"tail")
    done = direct.finalize(request, answer["ticket"], FIELD)
    assert stored(raw_client, done["name"]) == data + b"tail"


@pytest.mark.hook("direct_upload_finalized")
def test_finalize_while_another_runs_says_busy_and_after_it_says_done(
    s3_settings: dict[str, Any], raw_client: Minio, held_hooks: list[HeldHooks], claims: str
) -> None:
    # The widget waits and asks again on "busy" (a Retry after a lost answer) instead of uploading again.
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    hooks = hold(held_hooks, ("first",))
    first = Worker("first", request, answer["ticket"])
    first.start()
    assert hooks.entered["first"].wait(30)
    with pytest.raises(UploadRefused) as running:
        direct.finalize(request, answer["ticket"], FIELD)
    hooks.release["first"].set()
    first.join()
    assert running.value.status == 409 and running.value.busy
    assert isinstance(first.outcome, str)
    with pytest.raises(UploadRefused) as done:
        direct.finalize(request, answer["ticket"], FIELD)
    assert done.value.status == 409 and not done.value.busy


def test_finalize_failing_to_mark_its_claim_done_removes_its_copy_and_can_be_retried(
    s3_settings: dict[str, Any], raw_client: Minio, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = fake_request()
    answer = direct.issue_ticket(request, FIELD, unique(".txt"), 3, "text/plain")
    assert post_file(answer, b"abc").status == 204
    put_object = sdk.put_object

    def done_mark_fails(client: Minio, bucket: str, key: str, data: Any, headers: dict[str, str]) -> Any:
        if direct.DONE_HEADER in headers:
            monkeypatch.setattr(sdk, "put_object", put_object)
            raise ConnectionResetError("the server went away")
        return put_object(client, bucket, key, data, headers)

    monkeypatch.setattr(sdk, "put_object", done_mark_fails)
    with pytest.raises(OSError):
        direct.finalize(request, answer["ticket"], FIELD)
    name = ticket_data(answer["ticket"])["name"]
    assert files_named_like(raw_client, name) == []  # no copy that no answer named
    done = direct.finalize(request, answer["ticket"], FIELD)
    assert files_named_like(raw_client, name) == [done["name"]]
    assert stored(raw_client, done["name"]) == b"abc"
