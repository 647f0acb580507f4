"""Test fixtures: one real S3 server per session, a fresh bucket per test that asks."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pluggy
import pytest
from django.test import override_settings
from minio import Minio

from django_minio_backend import MinioBackend, manager
from django_minio_backend.testing.cephrgw import CephRGW
from django_minio_backend.testing.seaweedfs import S3Server, SeaweedFS, server_from_env

from .hook_contract import hook_specs

ROOT = Path(__file__).resolve().parent.parent
SHARED_BUCKETS = ("dmb-test-private", "dmb-test-public", "dmb-test-static")
ON_CEPH = os.environ.get("DMB_TEST_SERVER") == "ceph"


def not_on_ceph(reason: str) -> pytest.MarkDecorator:
    """Skip a test in the Ceph RGW run, for a difference of that server (docs/servers.md lists them)."""
    return pytest.mark.skipif(ON_CEPH, reason=f"Ceph RGW: {reason}")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS on loopback; Ceph RGW with DMB_TEST_SERVER=ceph; or the server of DMB_TEST_S3_*."""
    external = server_from_env()
    if external is not None:
        yield external
        return
    if os.environ.get("DMB_TEST_SERVER") == "ceph":
        with CephRGW(tmp_path_factory.mktemp("ceph"), memstore_bytes=1536 * 1024 * 1024) as server:
            yield server
        return
    with SeaweedFS(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


def settings_for(server: S3Server) -> dict[str, Any]:
    return {
        "MINIO_ENDPOINT": server.endpoint,
        "MINIO_ACCESS_KEY": server.access_key,
        "MINIO_SECRET_KEY": server.secret_key,
        "MINIO_REGION": server.region,
        "MINIO_USE_HTTPS": server.use_https,
    }


def subprocess_env(server: S3Server) -> dict[str, str]:
    """Environment for a `manage.py` subprocess using tests.settings against ``server``."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DMB_SETTINGS_ENDPOINT": server.endpoint,
        "DMB_SETTINGS_ACCESS_KEY": server.access_key,
        "DMB_SETTINGS_SECRET_KEY": server.secret_key,
        "DMB_SETTINGS_REGION": server.region,
    }


def run_python(args: list[str], env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with ``args`` from the repository root, capturing text output."""
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="session")
def raw_client(s3_server: S3Server) -> Minio:
    return Minio(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        secure=s3_server.use_https,
        region=s3_server.region,
    )


@pytest.fixture(scope="session")
def s3_settings(s3_server: S3Server, raw_client: Minio, django_db_setup: Any) -> Iterator[dict[str, Any]]:
    """Point the MINIO_* settings at the test server for the whole session."""
    values = settings_for(s3_server)
    override = override_settings(**values)
    override.enable()
    for bucket in SHARED_BUCKETS:
        if not raw_client.bucket_exists(bucket):
            raw_client.make_bucket(bucket)
    try:
        yield values
    finally:
        override.disable()


def remove_bucket(client: Minio, bucket: str) -> None:
    if not client.bucket_exists(bucket):
        return
    for obj in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, obj.object_name)
    for upload in client._list_multipart_uploads(bucket).uploads:
        client._abort_multipart_upload(bucket, upload.object_name, upload.upload_id)
    client.remove_bucket(bucket)


@pytest.fixture
def bucket_name(s3_settings: dict[str, Any], raw_client: Minio) -> Iterator[str]:
    """A fresh bucket name for one test (created by the test or its storage); removed after."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    yield name
    remove_bucket(raw_client, name)


@pytest.fixture
def bucket(bucket_name: str, raw_client: Minio) -> str:
    """A fresh, existing, private bucket."""
    raw_client.make_bucket(bucket_name)
    return bucket_name


@pytest.fixture
def make_storage(s3_settings: dict[str, Any]) -> Callable[..., MinioBackend]:
    def factory(bucket_name: str, **options: Any) -> MinioBackend:
        options.setdefault("private_buckets", [bucket_name])
        return MinioBackend(bucket_name=bucket_name, **options)

    return factory


@pytest.fixture
def storage(bucket: str, make_storage: Callable[..., MinioBackend]) -> MinioBackend:
    return make_storage(bucket)


@pytest.fixture
def public_storage(bucket: str, make_storage: Callable[..., MinioBackend]) -> MinioBackend:
    """A storage on a fresh bucket with the public-read policy applied."""
    from django_minio_backend.buckets import sync_bucket

    storage = make_storage(bucket, private_buckets=[], public_buckets=[bucket])
    sync_bucket(storage)
    return storage


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "hook(name, ...): the test proves these hooks; fails unless it calls each through the plugin manager",
    )


@pytest.fixture(autouse=True)
def hook_calls_are_checked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a ``@pytest.mark.hook(name)`` test that never called hook ``name`` with an implementation.

    Every plugin manager built during the test is monitored, so the marker can't
    claim a hook the test doesn't exercise.
    """
    names = {name for mark in request.node.iter_markers("hook") for name in mark.args}
    if not names:
        yield
        return
    unknown = names - set(hook_specs())
    assert not unknown, f"@pytest.mark.hook names no hook spec: {sorted(unknown)}"
    called: set[str] = set()
    build = manager._build

    def monitored_build() -> pluggy.PluginManager:
        pm = build()
        pm.add_hookcall_monitoring(
            lambda hook_name, impls, kwargs: called.add(hook_name) if impls else None,
            lambda outcome, hook_name, impls, kwargs: None,
        )
        return pm

    monkeypatch.setattr(manager, "_build", monitored_build)
    manager.reset()
    yield
    manager.reset()
    uncalled = sorted(names - called)
    assert not uncalled, f"marked @pytest.mark.hook but never called through the plugin manager: {uncalled}"
