"""Test setup: Django settings, and ``django_minio_backend.hookimpl`` for the plugin to import.

The plugin imports ``hookimpl`` from the core package. When the core is not
installed, the checkout this folder lives in (``<repo>/plugins/<plugin>/tests``)
is tried; when the core can't be imported there either (e.g. ``minio`` is not
installed), a stand-in module with an identical marker is used: pluggy markers
are identified by the project name alone, so the plugin behaves the same.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from pathlib import Path

import django
import pluggy
from django.conf import settings

PROJECT_NAME = "django_minio_backend"
REPO_ROOT = Path(__file__).resolve().parents[3]

#: How the core was made importable: "installed", "checkout" or "stub".
CORE_SOURCE: str


def _core_source() -> str:
    try:
        importlib.import_module(PROJECT_NAME)
        return "installed"
    except ImportError:
        pass
    if (REPO_ROOT / PROJECT_NAME / "__init__.py").is_file():
        sys.path.insert(0, str(REPO_ROOT))
        try:
            importlib.import_module(PROJECT_NAME)
            return "checkout"
        except ImportError:
            sys.path.remove(str(REPO_ROOT))
            for name in [n for n in sys.modules if n == PROJECT_NAME or n.startswith(PROJECT_NAME + ".")]:
                del sys.modules[name]
    stub = types.ModuleType(PROJECT_NAME)
    stub.hookimpl = pluggy.HookimplMarker(PROJECT_NAME)  # type: ignore[attr-defined]
    sys.modules[PROJECT_NAME] = stub
    return "stub"


if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
    settings.configure(USE_TZ=True)
    django.setup()

CORE_SOURCE = _core_source()


def pytest_report_header() -> str:
    return f"django_minio_backend: {CORE_SOURCE}"
