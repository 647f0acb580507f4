"""The README documents every setting the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import urllib3
from django.test import override_settings
from django.test.utils import isolate_apps

from django_minio_backend.conf import SETTINGS
from django_minio_backend.devserver import plan_from_settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [s.name for s in SETTINGS if f"| `{s.name}` |" not in README]
    assert not missing, f"add these settings to the README table: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    head = README[: README.index("## Installation")]
    assert "make demo" in head and "make test" in head


PYTHON_SNIPPETS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


def snippet_id(snippet: str) -> str:
    return next(line for line in snippet.splitlines() if line.strip())[:40]


@pytest.mark.parametrize("snippet", PYTHON_SNIPPETS, ids=[snippet_id(s) for s in PYTHON_SNIPPETS])
def test_every_python_snippet_of_the_readme_runs(
    snippet: str, bucket: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each snippet runs on its own: it imports what it uses; storage calls reach the test server."""
    monkeypatch.setenv("MINIO_ACCESS_KEY", "from-the-environment")
    monkeypatch.setenv("MINIO_SECRET_KEY", "from-the-environment")
    # A model snippet defines its classes in a throwaway registry of the test app.
    with override_settings(MINIO_MEDIA_FILES_BUCKET=bucket, MINIO_PRIVATE_BUCKETS=[bucket]):
        with isolate_apps("tests.testapp"):
            exec(compile(snippet, "README.md", "exec"), {"__name__": "tests.testapp.readme"})
    for url in re.findall(r"https?://\S+", capsys.readouterr().out):
        response = urllib3.PoolManager(retries=False, timeout=10).request("GET", url)
        assert response.status == 200, (url, response.data[:200])


def test_quick_start_settings_are_what_the_devserver_serves() -> None:
    snippet = next(s for s in PYTHON_SNIPPETS if 'MINIO_ENDPOINT = "127.0.0.1:9000"' in s)
    namespace: dict[str, object] = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    settings = {k: v for k, v in namespace.items() if k.isupper()}
    with override_settings(**settings):
        plan = plan_from_settings()
    assert plan.endpoint == "127.0.0.1:9000"
    assert "python manage.py minio_devserver" in README
