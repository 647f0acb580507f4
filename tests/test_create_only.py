"""Create-only saves on every server: the probe, claims, races across processes, clean-ups (issue 12)."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.management import call_command
from minio import Minio
from minio.commonconfig import ENABLED, Filter
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from django_minio_backend import MinioBackend, buckets, capabilities, sdk
from django_minio_backend.buckets import LIFECYCLE_RULE_ID, QUARANTINE_RULE_ID, sync_bucket
from django_minio_backend.conf import resolve

from .conftest import ROOT, run_python, subprocess_env
from .noconditional_proxy import NoConditionalProxy
from .test_no_data_loss import PART, CountingPool


def test_auto_asks_the_server_once_per_process_and_bucket(bucket: str, make_storage) -> None:
    capabilities.forget()
    pool = CountingPool()
    storage = make_storage(bucket, http_client=pool, bucket_check_on_save=False)
    assert storage.config.conditional_writes == "auto"
    storage.save("first.txt", ContentFile(b"1"))
    # Probe: a conditional PUT of a scratch key, the same again (refused), its DELETE; then the save.
    assert pool.methods() == ["PUT", "PUT", "DELETE", "PUT"]
    pool.requests.clear()
    other = make_storage(bucket, http_client=pool, bucket_check_on_save=False)
    other.save("second.txt", ContentFile(b"2"))
    assert pool.methods() == ["PUT"]
    assert [o.object_name for o in other.client.list_objects(bucket, recursive=True)] == [
        "first.txt",
        "second.txt",
    ]


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_conditional_writes_setting_takes_only_true_false_or_auto(value: object) -> None:
    with pytest.raises(ImproperlyConfigured, match="MINIO_CONDITIONAL_WRITES"):
        resolve({"endpoint": "x:1", "conditional_writes": value})


def test_large_save_claims_the_name_before_sending_any_part(
    bucket: str, make_storage, raw_client: Minio
) -> None:
    storage = make_storage(bucket, multipart_threshold=PART, multipart_part_size=PART)
    raw_client.put_object(bucket, "taken.bin", ContentFile(b"old"), 3)
    pool = CountingPool()
    storage = make_storage(
        bucket, http_client=pool, multipart_threshold=PART, multipart_part_size=PART, conditional_writes=True
    )
    data = b"N" * (PART + 11)
    name = storage.save("taken.bin", ContentFile(data))
    assert name != "taken.bin"
    first_upload = next(i for i, (m, q, _) in enumerate(pool.requests) if m == "POST")
    # Before the upload starts: the refused claim on the taken name and the claim of the new one.
    assert [(m, size) for m, _, size in pool.requests[:first_upload]] == [("PUT", 0), ("PUT", 0)]
    assert raw_client.get_object(bucket, "taken.bin").read() == b"old"
    assert raw_client.get_object(bucket, name).read() == data
    assert "x-amz-meta-dmb-claim" not in raw_client.stat_object(bucket, name).metadata


RACE = """
import sys, threading, time, django
django.setup()
from django.core.files.base import ContentFile
from django_minio_backend import MinioBackend
bucket, proc, rounds, names, threads, size = sys.argv[1], int(sys.argv[2]), *map(int, sys.argv[3:7])
start, slot = float(sys.argv[7]), float(sys.argv[8])  # every process starts round r at start + r * slot
storage = MinioBackend(bucket_name=bucket, private_buckets=[bucket],
                       multipart_threshold=5 * 1024 * 1024, multipart_part_size=5 * 1024 * 1024)
lock = threading.Lock()

def work(thread):
    for r in range(rounds):
        time.sleep(max(0.0, start + r * slot - time.time()))
        tag = f"{proc}-{thread}-{r}".encode()
        body = (tag + b":") * (size // (len(tag) + 1) + 1)
        name = storage.save(f"race/shared-{(thread + r) % names}.bin", ContentFile(body[:size]))
        with lock:
            print(tag.decode(), name, flush=True)

ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for t in ts: t.start()
for t in ts: t.join()
"""


def race(
    server,
    bucket: str,
    raw_client: Minio,
    processes: int,
    threads: int,
    rounds: int,
    slot: float = 1.5,
    size: int = 5 * 1024 * 1024 + 4096,  # two parts
    env: dict[str, str] | None = None,
) -> tuple[int, int]:
    """Run the race; return (saves, losses): a loss is a returned name not holding its writer's bytes."""
    env = {**subprocess_env(server), **(env or {})}
    start = time.time() + 3  # after every interpreter has set Django up
    args = [bucket, str(rounds), "3", str(threads), str(size), str(start), str(slot)]
    running = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, bucket, str(p), *args[1:]],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in range(processes)
    ]
    results: list[tuple[str, str]] = []
    for process in running:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results += [tuple(line.split(" ", 1)) for line in out.splitlines()]  # type: ignore[misc]
    losses = 0
    for tag, name in results:
        expected = ((tag.encode() + b":") * (size // (len(tag) + 1) + 1))[:size]
        got = raw_client.get_object(bucket, name).read()
        losses += hashlib.sha256(got).digest() != hashlib.sha256(expected).digest()
    return len(results), losses


def test_processes_and_threads_saving_large_files_onto_shared_names_lose_nothing(
    s3_server, bucket: str, raw_client: Minio
) -> None:
    saves, losses = race(s3_server, bucket, raw_client, processes=3, threads=3, rounds=3)
    assert (saves, losses) == (27, 0)


def test_initialize_buckets_adds_the_upload_rule_and_keeps_other_rules(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    theirs = Rule(
        ENABLED, rule_filter=Filter(prefix="tmp/"), rule_id="operators", expiration=Expiration(days=3)
    )
    raw_client.set_bucket_lifecycle(bucket, LifecycleConfig([theirs]))

    def rules() -> dict[str, Rule]:
        config = raw_client.get_bucket_lifecycle(bucket)
        return {rule.rule_id: rule for rule in (config.rules if config else [])}

    report = sync_bucket(make_storage(bucket))
    assert report.lifecycle == "set" and report.lines()[1].endswith(": rule aborting incomplete uploads set")
    assert set(rules()) == {"operators", LIFECYCLE_RULE_ID, QUARANTINE_RULE_ID}
    assert rules()[LIFECYCLE_RULE_ID].abort_incomplete_multipart_upload.days_after_initiation == 7
    assert sync_bucket(make_storage(bucket)).lifecycle == "unchanged"
    assert sync_bucket(make_storage(bucket, abort_incomplete_uploads_days=2), dry_run=True).lifecycle == "set"
    assert rules()[LIFECYCLE_RULE_ID].abort_incomplete_multipart_upload.days_after_initiation == 7
    sync_bucket(make_storage(bucket, abort_incomplete_uploads_days=2))
    assert rules()[LIFECYCLE_RULE_ID].abort_incomplete_multipart_upload.days_after_initiation == 2
    assert sync_bucket(make_storage(bucket, abort_incomplete_uploads_days=None)).lifecycle == "off"
    assert set(rules()) == {"operators", QUARANTINE_RULE_ID}
    assert rules()["operators"].expiration.days == 3


def test_clean_incomplete_uploads_aborts_only_old_uploads_and_dry_run_changes_nothing(
    bucket: str, raw_client: Minio, settings
) -> None:
    settings.MINIO_PRIVATE_BUCKETS = [bucket]
    settings.MINIO_PUBLIC_BUCKETS = []
    upload_id = sdk.create_multipart_upload(raw_client, bucket, "left/behind.bin", {})

    def run(*args: str) -> str:
        out = StringIO()
        call_command("clean_incomplete_uploads", *args, stdout=out)
        return out.getvalue()

    assert "0 incomplete upload(s) aborted" in run()  # younger than 24 h: a save may still be running
    assert f"would abort: {bucket}/left/behind.bin" in run("--older-than", "0", "--dry-run")
    assert [u.upload_id for u in sdk.list_incomplete_uploads(raw_client, bucket)] == [upload_id]
    assert f"aborted: {bucket}/left/behind.bin" in run("--older-than", "0")
    assert list(sdk.list_incomplete_uploads(raw_client, bucket)) == []


def test_deploy_check_is_silent_on_a_server_with_conditional_writes(bucket: str, settings) -> None:
    from django_minio_backend.checks import check_create_only_saves

    settings.STORAGES = {
        **settings.STORAGES,
        "race": {"BACKEND": "django_minio_backend.storage.MinioBackend", "OPTIONS": {"bucket_name": bucket}},
    }
    assert [m for m in check_create_only_saves() if m.id.endswith("W041")] == []


def test_deploy_check_warns_when_saves_rely_on_a_process_local_lock(bucket: str, settings) -> None:
    from django_minio_backend.checks import check_create_only_saves

    settings.STORAGES = {
        "race": {
            "BACKEND": "django_minio_backend.storage.MinioBackend",
            "OPTIONS": {"bucket_name": bucket, "conditional_writes": False},
        },
    }
    messages = check_create_only_saves()
    assert [m.id for m in messages] == ["django_minio_backend.W041"]
    assert "STORAGES['race']" in messages[0].msg and "shared default cache" in messages[0].hint
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "c"}}
    assert check_create_only_saves() == []


def test_probe_leaves_nothing_in_the_bucket(bucket: str, make_storage, raw_client: Minio) -> None:
    capabilities.forget()
    storage = make_storage(bucket)
    storage.save("a.txt", ContentFile(b"a"))
    assert [o.object_name for o in raw_client.list_objects(bucket, recursive=True)] == ["a.txt"]


@pytest.fixture
def no_conditional(s3_server) -> Iterator[NoConditionalProxy]:
    """SeaweedFS behind a proxy that drops If-None-Match / If-Match: a server without conditional writes."""
    with NoConditionalProxy(s3_server.endpoint, s3_server.secret_key, mode="all") as proxy:
        yield proxy


def test_auto_finds_a_server_that_ignores_if_none_match_and_never_overwrites(
    bucket: str, make_storage, raw_client: Minio, no_conditional: NoConditionalProxy
) -> None:
    capabilities.forget()
    storage = make_storage(bucket, endpoint=no_conditional.endpoint)
    names = [storage.save("report.txt", ContentFile(f"version {i}".encode())) for i in range(3)]
    assert capabilities.conditional_put(storage.destination) is False
    assert len(set(names)) == 3 and names[0] == "report.txt"
    for i, name in enumerate(names):
        assert raw_client.get_object(bucket, name).read() == f"version {i}".encode()
    assert no_conditional.stripped > 0  # the proxy did drop the conditions


def test_threads_on_a_server_without_conditional_writes_lose_nothing(
    bucket: str, make_storage, raw_client: Minio, no_conditional: NoConditionalProxy
) -> None:
    storage = make_storage(bucket, endpoint=no_conditional.endpoint, conditional_writes="auto")
    barrier = threading.Barrier(6)
    results: dict[int, str] = {}

    def work(i: int) -> None:
        barrier.wait()
        results[i] = storage.save("shared.txt", ContentFile(f"writer {i}".encode()))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(set(results.values())) == 6
    for i, name in results.items():
        assert raw_client.get_object(bucket, name).read() == f"writer {i}".encode()


def test_processes_on_a_server_without_conditional_writes_lose_nothing_with_a_shared_cache(
    s3_server, bucket: str, raw_client: Minio, no_conditional: NoConditionalProxy, tmp_path
) -> None:
    through_proxy = dataclasses.replace(s3_server, endpoint=no_conditional.endpoint)
    env = {"DMB_SETTINGS_CACHE": "db", "DMB_SETTINGS_DB": str(tmp_path / "shared.sqlite3")}
    made = run_python(["-m", "django", "createcachetable"], {**subprocess_env(through_proxy), **env})
    assert made.returncode == 0, made.stderr
    saves, losses = race(
        through_proxy, bucket, raw_client, processes=3, threads=2, rounds=2, size=64, env=env
    )
    assert (saves, losses) == (12, 0)
    assert no_conditional.stripped > 0


def test_a_server_whose_completes_ignore_conditions_loses_no_large_file(
    s3_server, bucket: str, raw_client: Minio
) -> None:
    """Ceph RGW's behaviour (conditional PUT honoured, complete and copy not), emulated on SeaweedFS."""
    with NoConditionalProxy(s3_server.endpoint, s3_server.secret_key, mode="ceph") as proxy:
        through_proxy = dataclasses.replace(s3_server, endpoint=proxy.endpoint)
        saves, losses = race(through_proxy, bucket, raw_client, processes=2, threads=2, rounds=2)
    assert (saves, losses) == (8, 0)


def test_initialize_buckets_writes_other_lifecycle_rules_back_exactly_as_the_server_gave_them(
    bucket: str, make_storage: Callable[..., MinioBackend], raw_client: Minio
) -> None:
    """The SDK's rule model drops what it does not know (a size filter): rules go back as XML."""
    theirs = (
        b'<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Rule><ID>big-logs</ID>'
        b"<Filter><And><Prefix>logs/</Prefix><ObjectSizeGreaterThan>1048576</ObjectSizeGreaterThan></And>"
        b"</Filter><Status>Enabled</Status><Expiration><Days>1</Days></Expiration></Rule>"
        b"</LifecycleConfiguration>"
    )
    sdk.put_bucket_lifecycle(raw_client, bucket, theirs)
    before = buckets._elements(sdk.get_bucket_lifecycle(raw_client, bucket), "Rule")
    assert sync_bucket(make_storage(bucket)).lifecycle == "set"
    after = {
        r.findtext("ID"): r for r in buckets._elements(sdk.get_bucket_lifecycle(raw_client, bucket), "Rule")
    }
    assert {"big-logs", LIFECYCLE_RULE_ID} <= set(after)
    assert buckets._canonical(after["big-logs"]) == buckets._canonical(before[0])
    if before[0].find("Filter/And/ObjectSizeGreaterThan") is not None:  # Ceph RGW 16 drops size filters
        assert after["big-logs"].find("Filter/And/ObjectSizeGreaterThan").text == "1048576"


def test_capabilities_command_prints_what_the_server_honours(
    bucket: str, raw_client: Minio, settings, no_conditional: NoConditionalProxy
) -> None:
    settings.MINIO_PRIVATE_BUCKETS = [bucket]
    settings.MINIO_PUBLIC_BUCKETS = []
    out = StringIO()
    call_command("minio_capabilities", "--bucket", bucket, stdout=out)
    lines = out.getvalue().splitlines()
    assert any(line.split()[:4] == ["conditional", "PUT", "(If-None-Match)", "yes"] for line in lines), lines
    assert any("lifecycle rules" in line and " yes " in f"{line} " for line in lines), lines
    assert list(raw_client.list_objects(bucket, recursive=True)) == []  # scratch keys removed
    settings.MINIO_ENDPOINT = no_conditional.endpoint
    out = StringIO()
    call_command("minio_capabilities", "--bucket", bucket, stdout=out)
    assert any(
        line.split()[:4] == ["conditional", "PUT", "(If-None-Match)", "NO"]
        for line in out.getvalue().splitlines()
    )


def test_capabilities_command_against_a_dead_server_fails_naming_it_without_the_token(
    bucket: str, settings
) -> None:
    from django.core.management.base import CommandError

    from tests.test_secrets import raised, reports

    token = "ToKeN-" + uuid.uuid4().hex
    settings.MINIO_PRIVATE_BUCKETS, settings.MINIO_PUBLIC_BUCKETS = [bucket], []
    settings.MINIO_ENDPOINT, settings.MINIO_SESSION_TOKEN = "127.0.0.1:9", token
    failed = raised(lambda: call_command("minio_capabilities", "--bucket", bucket, stdout=StringIO()))
    assert isinstance(failed, CommandError) and "cannot reach S3 at 127.0.0.1:9" in str(failed)
    assert token not in reports(failed)


def test_a_save_that_lost_its_name_lock_does_not_write_under_that_name(
    bucket: str, make_storage, raw_client: Minio, no_conditional: NoConditionalProxy, monkeypatch
) -> None:
    """Red-team finding: an evicted or expired lock entry let two writers share a name."""
    from django.core.cache import cache

    storage = make_storage(bucket, endpoint=no_conditional.endpoint, conditional_writes=False)
    real_get = cache.get
    lost: list[str] = []

    def evicted_once(key: str, *args: object, **kwargs: object) -> object:
        if key.startswith("dmb-lock:") and not lost:
            lost.append(key)
            return "another-writer"  # the entry was evicted and taken by someone else
        return real_get(key, *args, **kwargs)

    monkeypatch.setattr(cache, "get", evicted_once)
    name = storage.save("locked.txt", ContentFile(b"mine"))
    monkeypatch.undo()
    assert lost and name != "locked.txt"
    assert raw_client.get_object(bucket, name).read() == b"mine"
    assert "locked.txt" not in [o.object_name for o in raw_client.list_objects(bucket)]


def test_clean_incomplete_uploads_removes_claims_left_by_a_writer_that_died(
    bucket: str, raw_client: Minio, settings
) -> None:
    settings.MINIO_PRIVATE_BUCKETS = [bucket]
    settings.MINIO_PUBLIC_BUCKETS = []
    sdk.put_object(raw_client, bucket, "half.bin", b"", {"x-amz-meta-dmb-claim": "1"})
    sdk.put_object(raw_client, bucket, "empty-but-real.txt", b"", {})
    out = StringIO()
    call_command("clean_incomplete_uploads", "--older-than", "0", "--dry-run", stdout=out)
    assert f"would remove: {bucket}/half.bin" in out.getvalue()
    assert "empty-but-real" not in out.getvalue()
    call_command("clean_incomplete_uploads", "--older-than", "0", stdout=StringIO())
    assert sorted(o.object_name for o in raw_client.list_objects(bucket)) == ["empty-but-real.txt"]


def test_clean_incomplete_uploads_called_from_code_refuses_a_quarantine_holding_real_files(
    bucket: str, raw_client: Minio, settings
) -> None:
    """call_command runs no system checks: the command asks E050 itself before deleting anything."""
    from django.core.management.base import CommandError

    settings.MINIO_PRIVATE_BUCKETS, settings.MINIO_PUBLIC_BUCKETS = [bucket], []
    settings.STORAGES = {
        **settings.STORAGES,
        "archive": {
            "BACKEND": "django_minio_backend.MinioBackend",
            "OPTIONS": {"bucket_name": bucket, "location": "dmb-quarantine/archive"},
        },
    }
    sdk.put_object(raw_client, bucket, "dmb-quarantine/archive/contract.pdf", b"signed", {})
    with pytest.raises(CommandError, match="refused, nothing deleted"):
        call_command("clean_incomplete_uploads", "--older-than", "0", stdout=StringIO())
    assert [o.object_name for o in raw_client.list_objects(bucket, recursive=True)] == [
        "dmb-quarantine/archive/contract.pdf"
    ]
