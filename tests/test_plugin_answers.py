"""Plugin failures name the plugin: a broken entry point, and hook answers of the wrong shape."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_minio_backend import MinioBackend, hookimpl, manager
from django_minio_backend.exceptions import ConfigurationError, PluginError


@pytest.fixture
def broken_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An installed distribution whose django_minio_backend entry point raises at import."""
    info = tmp_path / "dmb_broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: dmb-broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[django_minio_backend]\nbroken_at_import = dmb_broken_mod\n")
    (tmp_path / "dmb_broken_mod.py").write_text("raise RuntimeError('no licence key configured')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    manager.reset()
    yield "broken_at_import"
    manager.reset()


def test_entry_point_failing_at_import_is_named(broken_entry_point: str, s3_settings: Any) -> None:
    with override_settings(MINIO_DISABLED_PLUGINS=[]):
        with pytest.raises(ConfigurationError, match=f"{broken_entry_point}.*no licence key"):
            manager.get_plugin_manager()
        with pytest.raises(ConfigurationError, match=broken_entry_point):
            MinioBackend(bucket_name="dmb-test-private").save("a.txt", ContentFile(b"x"))
        messages = [m.msg for m in run_checks() if m.id == "django_minio_backend.E009"]
        assert len(messages) == 1 and broken_entry_point in messages[0]
    with override_settings(MINIO_DISABLED_PLUGINS=[broken_entry_point]):
        assert broken_entry_point not in dict(manager.active_plugins())


class Answers:
    """Answers every hook with what the test puts in ``answers``."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers

    @hookimpl(tryfirst=True)
    def upload_to_prefix(self) -> Any:
        return self.answers.get("upload_to_prefix")

    @hookimpl(tryfirst=True)
    def object_parameters(self) -> Any:
        return self.answers.get("object_parameters")

    @hookimpl(tryfirst=True)
    def content_type_guess(self) -> Any:
        return self.answers.get("content_type_guess")

    @hookimpl(tryfirst=True)
    def bucket_policy(self) -> Any:
        return self.answers.get("bucket_policy")


@pytest.fixture
def answering(s3_settings: Any) -> Iterator[Any]:
    registered: list[str] = []

    def register(name: str, **answers: Any) -> None:
        manager.get_plugin_manager().register(Answers(**answers), name=name)
        registered.append(name)

    yield register
    for name in registered:
        manager.get_plugin_manager().unregister(name=name)


@pytest.mark.parametrize(
    ("hook", "answer", "words"),
    [
        ("upload_to_prefix", 2024, "expected str"),
        ("object_parameters", "attachment", "expected a dict"),
        ("object_parameters", {"X-Owner": 7}, "must be str"),
        ("object_parameters", {"X-Owner": "a\r\nX-Evil: 1"}, "line break"),
        ("content_type_guess", "text/plain\r\nX-Evil: 1", "line break"),
        ("content_type_guess", ["text/plain"], "expected str"),
    ],
)
def test_wrong_hook_answer_fails_the_save_naming_plugin_and_hook(
    answering: Any, bucket: str, hook: str, answer: Any, words: str
) -> None:
    answering("wrong-answers", **{hook: answer})
    storage = MinioBackend(bucket_name=bucket, upload_prefix=True, private_buckets=[bucket])
    with pytest.raises(PluginError, match=f"'wrong-answers'.*'{hook}'.*{words}") as caught:
        storage.save("a.txt", ContentFile(b"x"))
    assert caught.value.plugin_name == "wrong-answers" and caught.value.hook == hook


def test_plugin_answering_well_is_not_blamed_for_another(answering: Any, bucket: str) -> None:
    answering("bad-headers", object_parameters={"X-Owner": 7})
    answering("good-headers", object_parameters={"Cache-Control": "no-cache"})
    storage = MinioBackend(bucket_name=bucket, private_buckets=[bucket])
    with pytest.raises(PluginError, match="'bad-headers'"):
        storage.save("a.txt", ContentFile(b"x"))


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "real"])
def test_unserialisable_policy_fails_initialize_buckets_dry_run_like_the_real_run(
    answering: Any, dry_run: bool
) -> None:
    answering("set-policy", bucket_policy={"Version": "2012-10-17", "Statement": {"not", "a list"}})
    args = ["--dry-run"] if dry_run else []
    with pytest.raises(CommandError, match=r"'set-policy'.*'bucket_policy'.*JSON"):
        call_command("initialize_buckets", *args, stdout=StringIO())


def test_policy_that_is_not_a_dict_is_refused(answering: Any) -> None:
    answering("text-policy", bucket_policy='{"Version": "2012-10-17"}')
    with pytest.raises(PluginError, match=r"'text-policy'.*expected a policy dict"):
        manager.bucket_policy(bucket_name="b", public=False, storage=MinioBackend(bucket_name="b"))
