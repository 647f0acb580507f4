"""The pluggy hook system: built-ins, MINIO_PLUGINS, entry points, blocking, failures."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import StringIO

import pytest
import urllib3
from django.core.exceptions import PermissionDenied, SuspiciousFileOperation, ValidationError
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.test import override_settings
from minio import Minio

from django_minio_backend import MinioBackend, hookimpl, hookspecs, manager, plugin_prefix
from django_minio_backend.exceptions import ConfigurationError, PluginError
from django_minio_backend.names import get_iso_date
from django_minio_backend.policies import policies_equal

from . import sample_plugins

http = urllib3.PoolManager(retries=False, timeout=10)
THIRD_PARTY = ["uuid_names", "sniff_content_type"]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_hookimpl_is_the_projects_marker() -> None:
    assert hookimpl.project_name == hookspecs.PROJECT_NAME == "django_minio_backend"


def test_manager_is_not_built_at_import() -> None:
    manager.reset()
    assert manager._manager is None


def test_builtins_are_registered_and_listed(s3_settings) -> None:
    names = dict(manager.active_plugins())
    assert names["django_minio_backend.plugins.public_read"] == ["bucket_policy"]
    assert names["django_minio_backend.plugins.iso_date"] == ["upload_to_prefix"]
    out = StringIO()
    call_command("minio_plugins", stdout=out)
    assert "django_minio_backend.plugins.mimetypes_guess: content_type_guess" in out.getvalue()


def test_iso_date_prefix_hook_is_the_default_name_strategy(s3_settings) -> None:
    with override_settings(MINIO_DISABLED_PLUGINS=THIRD_PARTY):
        assert plugin_prefix(None, "a.txt") == f"{get_iso_date()}/a.txt"


def test_module_path_in_minio_plugins_registers_the_module(s3_settings, monkeypatch) -> None:
    import tests

    # As in a fresh process: the module not imported yet, so not an attribute of its package.
    monkeypatch.delitem(sys.modules, "tests.module_plugin", raising=False)
    monkeypatch.delattr(tests, "module_plugin", raising=False)
    with override_settings(MINIO_PLUGINS=["tests.module_plugin"], MINIO_DISABLED_PLUGINS=THIRD_PARTY):
        assert plugin_prefix(None, "a.txt") == "from-a-module/a.txt"


@pytest.mark.hook("upload_to_prefix")
def test_plugin_from_setting_changes_prefix_and_blocking_it_restores_default(s3_settings) -> None:
    with override_settings(
        MINIO_PLUGINS=["tests.sample_plugins.fixed_prefix"], MINIO_DISABLED_PLUGINS=THIRD_PARTY
    ):
        assert plugin_prefix(None, "a.txt") == "fixed/a.txt"
        with override_settings(MINIO_DISABLED_PLUGINS=[*THIRD_PARTY, "tests.sample_plugins.fixed_prefix"]):
            assert plugin_prefix(None, "a.txt") == f"{get_iso_date()}/a.txt"


def test_builtins_can_be_disabled_by_name(s3_settings) -> None:
    with override_settings(
        MINIO_DISABLED_PLUGINS=[*THIRD_PARTY, "django_minio_backend.plugins.iso_date"],
    ):
        assert plugin_prefix(None, "a.txt") == "a.txt"


def test_upload_prefix_option_applies_hook_to_every_save(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    with override_settings(
        MINIO_PLUGINS=["tests.sample_plugins.fixed_prefix"], MINIO_DISABLED_PLUGINS=THIRD_PARTY
    ):
        storage = make_storage(bucket, upload_prefix=True)
        assert storage.save("doc.txt", ContentFile(b"x")) == "fixed/doc.txt"


@pytest.mark.hook("content_type_guess")
def test_content_type_plugin_wins_over_builtins(storage: MinioBackend, raw_client: Minio) -> None:
    with override_settings(
        MINIO_PLUGINS=["tests.sample_plugins.markdown"], MINIO_DISABLED_PLUGINS=THIRD_PARTY
    ):
        storage.save("notes.txt", ContentFile(b"# hi"))
    assert raw_client.stat_object(storage.bucket, "notes.txt").content_type == "text/markdown"


def test_misspelt_hook_is_an_error_naming_the_plugin(s3_settings) -> None:
    with override_settings(MINIO_PLUGINS=["tests.sample_plugins.misspelt"]):
        with pytest.raises(ConfigurationError, match=r"tests\.sample_plugins\.misspelt.*bucket_polcy"):
            manager.get_plugin_manager()
        out = call_check()
        assert "django_minio_backend.E009" in out and "bucket_polcy" in out


def call_check() -> str:
    from django.core.management import CommandError

    err = StringIO()
    try:
        call_command("check", stdout=StringIO(), stderr=err)
    except CommandError as exc:
        return str(exc) + err.getvalue()
    return err.getvalue()


def test_unimportable_plugin_setting_names_the_path(s3_settings) -> None:
    with override_settings(MINIO_PLUGINS=["tests.nope.plugin"]):
        with pytest.raises(ConfigurationError, match=r"MINIO_PLUGINS.*tests\.nope\.plugin"):
            manager.get_plugin_manager()


def test_raising_plugin_fails_save_naming_plugin_and_writes_nothing(storage: MinioBackend) -> None:
    with override_settings(MINIO_PLUGINS=["tests.sample_plugins.broken_guess"]):
        with pytest.raises(PluginError, match=r"tests\.sample_plugins\.broken_guess.*guessing broke"):
            storage.save("a.txt", ContentFile(b"x"))
    assert not storage.exists("a.txt")


@pytest.mark.hook("on_bucket_created")
def test_on_bucket_created_runs_for_created_buckets_only(s3_settings, bucket_name: str) -> None:
    sample_plugins.recorder.created.clear()
    with override_settings(
        MINIO_PLUGINS=["tests.sample_plugins.recorder"],
        MINIO_PUBLIC_BUCKETS=[bucket_name],
    ):
        call_command("initialize_buckets", stdout=StringIO())
        call_command("initialize_buckets", stdout=StringIO())
    assert (bucket_name, True) in sample_plugins.recorder.created
    assert [b for b, _ in sample_plugins.recorder.created].count(bucket_name) == 1


def test_on_bucket_created_on_save_check(bucket_name: str, make_storage: Callable[..., MinioBackend]) -> None:
    sample_plugins.recorder.created.clear()
    with override_settings(MINIO_PLUGINS=["tests.sample_plugins.recorder"]):
        storage = make_storage(bucket_name, bucket_check_on_save=True)
        storage.save("a.txt", ContentFile(b"x"))
        storage.save("b.txt", ContentFile(b"x"))
    assert sample_plugins.recorder.created == [(bucket_name, False)]


def test_exploding_plugin_fails_initialize_and_leaves_no_bucket(
    s3_settings, bucket_name: str, raw_client: Minio
) -> None:
    from django.core.management import CommandError

    with override_settings(
        MINIO_PLUGINS=["tests.sample_plugins.exploding"], MINIO_PRIVATE_BUCKETS=[bucket_name]
    ):
        with pytest.raises(CommandError, match=r"tests\.sample_plugins\.exploding.*cannot set up"):
            call_command("initialize_buckets", stdout=StringIO())
    assert not raw_client.bucket_exists(bucket_name)


def test_temporary_plugin_registered_by_name_is_called(s3_settings) -> None:
    class Temp:
        @hookimpl(tryfirst=True)
        def upload_to_prefix(self, instance: object, filename: str, storage: object) -> str:
            return f"temp-{filename.split('.')[0]}"

    pm = manager.get_plugin_manager()
    pm.register(Temp(), name="temp")
    try:
        assert plugin_prefix(None, "x.txt") == "temp-x/x.txt"
    finally:
        pm.unregister(name="temp")


def test_hook_nobody_implements_is_not_called_until_a_plugin_registers(
    s3_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pluggy

    class Headers:
        @hookimpl
        def object_parameters(self, name: str) -> dict[str, str]:
            return {"Cache-Control": "no-store"}

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pluggy was asked to call a hook nobody implements")

    # active_content is the one built-in that implements object_parameters.
    nobody = [*THIRD_PARTY, "django_minio_backend.plugins.active_content"]
    with override_settings(MINIO_DISABLED_PLUGINS=nobody):
        pm = manager.get_plugin_manager()
        with monkeypatch.context() as patch:
            patch.setattr(pluggy.HookCaller, "__call__", refuse)
            assert manager.object_parameters(name="a.txt", content=ContentFile(b""), storage=None) == {}
        pm.register(Headers(), name="headers")
        try:
            assert manager.object_parameters(name="a.txt", content=ContentFile(b""), storage=None) == {
                "Cache-Control": "no-store"
            }
        finally:
            pm.unregister(name="headers")
        assert manager.object_parameters(name="a.txt", content=ContentFile(b""), storage=None) == {}


# -- installed third-party plugins (pip-installed from plugins/ into the test venv) ---------------


def test_installed_plugins_are_found_through_entry_points(s3_settings) -> None:
    with override_settings(MINIO_DISABLED_PLUGINS=[]):
        names = dict(manager.active_plugins())
    assert names.get("uuid_names") == ["upload_to_prefix"], "pip install ./plugins/dmb-uuid-names"
    assert names.get("sniff_content_type") == ["content_type_guess"]


def test_installing_uuid_plugin_is_all_it_takes_and_disabling_turns_it_off(s3_settings) -> None:
    with override_settings(MINIO_DISABLED_PLUGINS=[]):
        assert re.fullmatch(r"[0-9a-f]{32}/a\.txt", plugin_prefix(None, "a.txt"))
    with override_settings(MINIO_DISABLED_PLUGINS=["uuid_names"]):
        assert plugin_prefix(None, "a.txt") == f"{get_iso_date()}/a.txt"


@pytest.mark.django_db
def test_installed_plugins_work_end_to_end_through_a_model(s3_settings, raw_client: Minio) -> None:
    from tests.testapp.models import DefaultStorageAttachment

    with override_settings(MINIO_DISABLED_PLUGINS=[]):
        obj = DefaultStorageAttachment.objects.create(file=ContentFile(PNG, name="photo.txt"))
        stat = raw_client.stat_object("dmb-test-private", obj.file.name)
    assert re.fullmatch(r"[0-9a-f]{32}/photo\.txt", obj.file.name)
    assert stat.content_type == "image/png"
    with override_settings(MINIO_DISABLED_PLUGINS=THIRD_PARTY):
        obj = DefaultStorageAttachment.objects.create(file=ContentFile(PNG, name="photo.txt"))
        stat = raw_client.stat_object("dmb-test-private", obj.file.name)
    assert obj.file.name.startswith(get_iso_date() + "/")
    assert stat.content_type == "text/plain"


@contextmanager
def registered(plugin: object, name: str) -> Iterator[None]:
    """``plugin`` registered under ``name`` on the real plugin manager for the block."""
    pm = manager.get_plugin_manager()
    pm.register(plugin, name=name)
    try:
        yield
    finally:
        pm.unregister(name=name)


@pytest.mark.hook("content_type_guess")
def test_content_type_guess_receives_the_storage_doing_the_upload(
    storage: MinioBackend, raw_client: Minio
) -> None:
    seen: list[object] = []

    class PerBucket:
        @hookimpl
        def content_type_guess(self, name: str, content: object, storage: MinioBackend) -> str:
            seen.append(storage)
            return f"text/x-{storage.bucket}"

    with override_settings(MINIO_DISABLED_PLUGINS=THIRD_PARTY), registered(PerBucket(), "per-bucket"):
        storage.save("notes.txt", ContentFile(b"# hi"))
    assert seen and all(asked is storage for asked in seen)  # active_content asks too
    assert raw_client.stat_object(storage.bucket, "notes.txt").content_type == f"text/x-{storage.bucket}"


@pytest.mark.hook("content_type_guess")
def test_content_type_plugin_taking_only_name_and_content_keeps_working(
    storage: MinioBackend, raw_client: Minio
) -> None:
    class BeforeStorageWasPassed:
        @hookimpl
        def content_type_guess(self, name: str, content: ContentFile) -> str | None:
            return "text/csv" if content.read(2) == b"a," else None

    with override_settings(MINIO_DISABLED_PLUGINS=THIRD_PARTY), registered(BeforeStorageWasPassed(), "old"):
        storage.save("table.txt", ContentFile(b"a,b\n1,2\n"))
    assert raw_client.stat_object(storage.bucket, "table.txt").content_type == "text/csv"


@pytest.mark.hook("upload_to_prefix")
@pytest.mark.parametrize(
    "refusal",
    [
        SuspiciousFileOperation("hidden names are not accepted"),
        ValidationError("not on this bucket"),
        PermissionDenied("uploads are closed"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_django_refusal_raised_by_a_plugin_reaches_the_caller_unwrapped(
    refusal: Exception, bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    class Refusing:
        @hookimpl
        def upload_to_prefix(self, filename: str) -> str:
            raise refusal

    storage = make_storage(bucket, upload_prefix=True)
    with override_settings(MINIO_DISABLED_PLUGINS=THIRD_PARTY), registered(Refusing(), "refusing"):
        with pytest.raises(type(refusal)) as raised:
            storage.save(".env", ContentFile(b"x"))
    assert raised.value is refusal
    assert not storage.listdir("")[1]


@pytest.mark.hook("bucket_policy")
def test_bucket_policy_plugin_gives_a_new_bucket_its_policy(
    s3_settings, bucket_name: str, raw_client: Minio
) -> None:
    class SharedPrefix:
        @hookimpl
        def bucket_policy(self, bucket_name: str) -> dict[str, object]:
            return sample_plugins.shared_prefix_policy(bucket_name)

    with override_settings(MINIO_PRIVATE_BUCKETS=[bucket_name]), registered(SharedPrefix(), "shared-prefix"):
        call_command("initialize_buckets", stdout=StringIO())
    expected = sample_plugins.shared_prefix_policy(bucket_name)
    assert policies_equal(expected, raw_client.get_bucket_policy(bucket_name))
