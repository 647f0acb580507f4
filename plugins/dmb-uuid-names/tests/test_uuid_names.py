"""Unit tests of the uuid_names plugin: the hook function is called directly, no server."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from importlib import metadata
from types import ModuleType

import pytest
from django.test import override_settings

import dmb_uuid_names
from dmb_uuid_names import upload_to_prefix

HEX32 = re.compile(r"[0-9a-f]{32}")
DATED = re.compile(r"(\d{4}-\d{2}-\d{2})/([0-9a-f]{32})")


def _utc_dates_around_call() -> tuple[set[str], str]:
    """Call the hook; return the UTC dates valid for it (a call may straddle midnight) and its answer."""
    before = datetime.now(timezone.utc).date()
    prefix = upload_to_prefix()
    after = datetime.now(timezone.utc).date()
    return {before.isoformat(), after.isoformat()}, prefix


def test_prefix_is_32_hex_digits() -> None:
    prefix = upload_to_prefix()
    assert HEX32.fullmatch(prefix), prefix


def test_prefix_has_no_slashes_at_either_end() -> None:
    for setting in (False, True):
        with override_settings(DMB_UUID_NAMES_WITH_DATE=setting):
            prefix = upload_to_prefix()
        assert prefix == prefix.strip("/")


def test_prefix_differs_between_calls() -> None:
    prefixes = {upload_to_prefix() for _ in range(1000)}
    assert len(prefixes) == 1000


def test_setting_defaults_to_off() -> None:
    from django.conf import settings

    if hasattr(settings, "DMB_UUID_NAMES_WITH_DATE"):
        pytest.skip("the settings in use define DMB_UUID_NAMES_WITH_DATE")
    assert HEX32.fullmatch(upload_to_prefix())


@override_settings(DMB_UUID_NAMES_WITH_DATE=False)
def test_setting_off_gives_bare_uuid() -> None:
    assert HEX32.fullmatch(upload_to_prefix())


@override_settings(DMB_UUID_NAMES_WITH_DATE=True)
def test_setting_on_puts_utc_date_first() -> None:
    dates, prefix = _utc_dates_around_call()
    match = DATED.fullmatch(prefix)
    assert match, prefix
    assert match.group(1) in dates
    assert prefix != upload_to_prefix()


def test_setting_is_read_at_call_time() -> None:
    assert "/" not in upload_to_prefix()
    with override_settings(DMB_UUID_NAMES_WITH_DATE=True):
        assert "/" in upload_to_prefix()
    assert "/" not in upload_to_prefix()


@override_settings(DMB_UUID_NAMES_WITH_DATE=True)
def test_date_is_utc_not_local(monkeypatch: pytest.MonkeyPatch) -> None:
    """Near midnight local time and UTC disagree; the prefix follows UTC."""
    fixed = datetime(2024, 2, 29, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 2024-03-01 04:30 UTC

    class FixedDateTime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return fixed.astimezone(tz) if tz else fixed.replace(tzinfo=None)

    monkeypatch.setattr(dmb_uuid_names, "datetime", FixedDateTime)
    assert upload_to_prefix().startswith("2024-03-01/")


def test_called_through_the_core_manager_with_keyword_arguments(core_manager: ModuleType) -> None:
    """The core calls hooks with keyword arguments; the plugin takes none of them and beats the ISO date."""
    prefix = core_manager.upload_to_prefix(instance=object(), filename="report.pdf", storage=None)
    assert HEX32.fullmatch(prefix), prefix


def test_implements_only_hooks_of_the_core_specs(core_manager: ModuleType) -> None:
    """Registered by the core's manager, which refuses an unknown hook or an argument no spec has."""
    assert dict(core_manager.active_plugins())["dmb_uuid_names"] == ["upload_to_prefix"]


def test_entry_point_is_registered() -> None:
    try:
        dist = metadata.distribution("django-minio-backend-uuid-names")
    except metadata.PackageNotFoundError:
        pytest.skip("distribution not installed (pip install ./plugins/dmb-uuid-names)")
    eps = [ep for ep in dist.entry_points if ep.group == "django_minio_backend"]
    assert [(ep.name, ep.value) for ep in eps] == [("uuid_names", "dmb_uuid_names")]
    assert eps[0].load() is dmb_uuid_names
