"""initialize_buckets, is_minio_available and policies, checked by anonymous requests."""

from __future__ import annotations

import json
import runpy
from io import StringIO
from pathlib import Path

import pytest
import urllib3
from django.core.management import CommandError, call_command
from django.test import override_settings
from minio import Minio

from django_minio_backend.policies import public_read_policy

from .sample_plugins import shared_prefix_policy

anonymous = urllib3.PoolManager(retries=False, timeout=10)
ROOT = Path(__file__).resolve().parent.parent


def anon_get(server, bucket: str, key: str = "") -> int:
    return anonymous.request("GET", f"http://{server.endpoint}/{bucket}/{key}").status


def run(*args: str) -> str:
    out = StringIO()
    call_command("initialize_buckets", *args, stdout=out)
    return out.getvalue()


def line_for(output: str, bucket: str) -> str:
    return next(line for line in output.splitlines() if f"/{bucket} " in line)


def put(client: Minio, bucket: str, key: str) -> None:
    client._put_object(bucket, key, b"data", {})


def test_initialize_creates_buckets_with_policies_anonymous_can_feel(
    s3_settings, s3_server, raw_client: Minio, bucket_name: str
) -> None:
    private = bucket_name + "-p"
    try:
        with override_settings(MINIO_PUBLIC_BUCKETS=[bucket_name], MINIO_PRIVATE_BUCKETS=[private]):
            output = run()
        assert line_for(output, bucket_name).endswith("(public): created, policy set")
        assert line_for(output, private).endswith("(private): created, no policy")
        put(raw_client, bucket_name, "a.txt")
        put(raw_client, private, "a.txt")
        assert anon_get(s3_server, bucket_name, "a.txt") == 200
        assert anon_get(s3_server, bucket_name) == 403  # no anonymous listing
        assert (
            anonymous.request("PUT", f"http://{s3_server.endpoint}/{bucket_name}/x", body=b"x").status == 403
        )
        assert anon_get(s3_server, private, "a.txt") == 403
    finally:
        from .conftest import remove_bucket

        remove_bucket(raw_client, private)


def test_quarantine_under_a_deep_location_of_a_public_bucket_is_not_readable_anonymously(
    s3_settings, s3_server, raw_client: Minio, bucket_name: str
) -> None:
    """Ceph RGW's ``*`` in a policy spans one folder: locations are named in the policy too."""
    storages = {
        "default": {"BACKEND": "django_minio_backend.MinioBackend", "OPTIONS": {"bucket_name": bucket_name}},
        "deep": {
            "BACKEND": "django_minio_backend.MinioBackend",
            "OPTIONS": {"bucket_name": bucket_name, "location": "site/media"},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(MINIO_PUBLIC_BUCKETS=[bucket_name], MINIO_PRIVATE_BUCKETS=[], STORAGES=storages):
        run()
    for key in ("site/media/dmb-quarantine/upload.html", "site/media/page.html", "dmb-quarantine/x"):
        put(raw_client, bucket_name, key)
    assert anon_get(s3_server, bucket_name, "site/media/page.html") == 200
    assert anon_get(s3_server, bucket_name, "site/media/dmb-quarantine/upload.html") == 403
    assert anon_get(s3_server, bucket_name, "dmb-quarantine/x") == 403


def test_server_refusing_not_resource_still_gets_a_public_bucket_and_a_warning(
    s3_settings, s3_server, raw_client: Minio, bucket_name: str, monkeypatch, caplog
) -> None:
    """Like an S3 server whose policy language has no NotResource (older MinIO releases may not)."""
    from minio.error import S3Error

    from django_minio_backend import MinioBackend

    storage = MinioBackend(bucket_name=bucket_name, public_buckets=[bucket_name])
    real = storage.client.set_bucket_policy

    def without_not_resource_support(bucket: str, policy: str) -> None:
        if "NotResource" in policy:
            raise S3Error(
                code="MalformedPolicy",
                message="NotResource is not supported",
                resource=bucket,
                request_id="",
                host_id="",
                response=None,  # type: ignore[arg-type]
            )
        real(bucket, policy)

    monkeypatch.setattr(storage.client, "set_bucket_policy", without_not_resource_support)
    from django_minio_backend.buckets import sync_bucket

    with caplog.at_level("WARNING", logger="django_minio_backend"):
        report = sync_bucket(storage)
    assert report.public
    assert "quarantine objects there are readable" in caplog.text
    put(raw_client, bucket_name, "a.txt")
    assert anon_get(s3_server, bucket_name, "a.txt") == 200


def test_initialize_is_idempotent(s3_settings, bucket_name: str) -> None:
    with override_settings(MINIO_PUBLIC_BUCKETS=[bucket_name]):
        run()
        second = run()
    assert line_for(second, bucket_name).endswith("(public): exists, policy unchanged")


def test_private_bucket_made_public_becomes_private_again(
    s3_settings, s3_server, raw_client: Minio, bucket: str
) -> None:
    raw_client.set_bucket_policy(bucket, json.dumps(public_read_policy(bucket)))
    put(raw_client, bucket, "leak.txt")
    assert anon_get(s3_server, bucket, "leak.txt") == 200
    with override_settings(MINIO_PRIVATE_BUCKETS=[bucket]):
        output = run()
    assert "(private): exists, policy removed (" in line_for(output, bucket)  # names what it removed
    assert anon_get(s3_server, bucket, "leak.txt") == 403


def test_dry_run_changes_nothing(s3_settings, raw_client: Minio, bucket_name: str) -> None:
    with override_settings(MINIO_PUBLIC_BUCKETS=[bucket_name]):
        output = run("--dry-run")
    assert line_for(output, bucket_name).endswith("(public): would create, policy would be set")
    assert not raw_client.bucket_exists(bucket_name)


def test_silenced_prints_nothing(s3_settings, bucket_name: str) -> None:
    with override_settings(MINIO_PRIVATE_BUCKETS=[bucket_name]):
        assert run("--silenced") == ""


def test_policy_hooks_setting_overrides_policy(
    s3_settings, s3_server, raw_client: Minio, bucket: str
) -> None:
    with override_settings(
        MINIO_PRIVATE_BUCKETS=[bucket], MINIO_POLICY_HOOKS=[(bucket, shared_prefix_policy(bucket))]
    ):
        assert line_for(run(), bucket).endswith("(private): exists, policy set")
        assert line_for(run(), bucket).endswith("policy unchanged")
    put(raw_client, bucket, "shared/ok.txt")
    put(raw_client, bucket, "other/no.txt")
    assert anon_get(s3_server, bucket, "shared/ok.txt") == 200
    assert anon_get(s3_server, bucket, "other/no.txt") == 403


def test_policy_hook_example_file_is_valid_settings() -> None:
    values = runpy.run_path(str(ROOT / "examples" / "policy_hook.example.py"))
    hooks = values["MINIO_POLICY_HOOKS"]
    assert {name for name, _ in hooks} == {"django-backend-dev-private", "django-backend-dev-public"}
    from django_minio_backend.checks import _check_config
    from django_minio_backend.conf import resolve

    with override_settings(
        MINIO_POLICY_HOOKS=hooks,
        MINIO_PRIVATE_BUCKETS=values["MINIO_PRIVATE_BUCKETS"],
        MINIO_PUBLIC_BUCKETS=values["MINIO_PUBLIC_BUCKETS"],
    ):
        config = resolve({"bucket_name": "django-backend-dev-private"})
        assert list(_check_config("settings", config, None)) == []


def test_rejected_policy_fails_with_clear_message(s3_settings, bucket: str) -> None:
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:Nope"}]}
    with override_settings(MINIO_PRIVATE_BUCKETS=[bucket], MINIO_POLICY_HOOKS=[(bucket, bad)]):
        with pytest.raises(CommandError, match=f"initialize_buckets failed: .*{bucket}"):
            run()


def test_unreachable_server_fails_initialize_with_endpoint(s3_settings) -> None:
    with override_settings(MINIO_ENDPOINT="127.0.0.1:9"):
        with pytest.raises(CommandError, match=r"cannot reach S3 at 127\.0\.0\.1:9"):
            run()


def test_is_minio_available_command(s3_settings) -> None:
    out = StringIO()
    call_command("is_minio_available", stdout=out)
    assert out.getvalue().startswith("OK: ")
    with (
        override_settings(MINIO_ENDPOINT="127.0.0.1:9"),
        pytest.raises(CommandError, match=r"127\.0\.0\.1:9"),
    ):
        call_command("is_minio_available", stdout=StringIO())
