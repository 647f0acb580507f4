"""Packaging facts: one written version, and the lowest versions CI tests."""

from __future__ import annotations

import importlib.util
import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

import django_minio_backend

ROOT = Path(__file__).resolve().parent.parent

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest depends on tomli before Python 3.11
    import tomli as tomllib

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_is_written_only_in_the_package() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    dynamic = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "django_minio_backend.__version__"}


def test_installed_metadata_carries_the_package_version() -> None:
    # An editable install reads the version when installed: a mismatch means "reinstall".
    assert metadata.version("django-minio-backend") == django_minio_backend.__version__


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    spec = importlib.util.spec_from_file_location("noxfile_under_test", ROOT / "noxfile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lowest_session_pins_the_floor_of_every_runtime_dependency(noxfile: ModuleType) -> None:
    assert noxfile.lowest_constraints() == ["django==4.2", "minio==7.2", "pluggy==1.3", "urllib3==1.26"]


def test_lowest_and_newest_sessions_exist(noxfile: ModuleType) -> None:
    import nox.registry

    sessions = nox.registry.get()
    assert {"lowest", "newest"} <= set(sessions)
