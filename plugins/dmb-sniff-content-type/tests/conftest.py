"""Test setup: Django settings, and the core whose real hook specs the plugin is tested against.

The core (django_minio_backend) is the installed one or, when it is not installed,
the checkout this folder lives in (``<repo>/plugins/<plugin>/tests``). There is no
stand-in: a plugin tested against copied hook signatures could drift from the specs.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import django
import pytest
from django.conf import settings
from django.test import override_settings

PROJECT_NAME = "django_minio_backend"
REPO_ROOT = Path(__file__).resolve().parents[3]
#: The plugin as MINIO_PLUGINS names it; the entry points of both plugins are blocked, so it is
#: registered once (installed or not) and alone.
PLUGIN_PATH = "dmb_sniff_content_type"
ENTRY_POINTS = ["uuid_names", "sniff_content_type"]

#: How the core was made importable: "installed" or "checkout".
CORE_SOURCE: str


def _core_source() -> str:
    try:
        importlib.import_module(PROJECT_NAME)
        return "installed"
    except ImportError:
        if not (REPO_ROOT / PROJECT_NAME / "__init__.py").is_file():
            raise
    sys.path.insert(0, str(REPO_ROOT))
    importlib.import_module(PROJECT_NAME)
    return "checkout"


if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
    settings.configure(USE_TZ=True)
    django.setup()

CORE_SOURCE = _core_source()


def pytest_report_header() -> str:
    return f"django_minio_backend: {CORE_SOURCE}"


@pytest.fixture
def core_manager() -> Iterator[ModuleType]:
    """The core's ``manager`` module, its plugin manager built with this plugin and the built-ins.

    The core's app is not installed here, so nothing resets the manager when the
    plugin settings change: the fixture does.
    """
    from django_minio_backend import manager

    with override_settings(MINIO_PLUGINS=[PLUGIN_PATH], MINIO_DISABLED_PLUGINS=ENTRY_POINTS):
        manager.reset()
        try:
            yield manager
        finally:
            manager.reset()
