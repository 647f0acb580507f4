"""The README documents every setting the code reads; docs/plugins.md and the tests cover every hook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import urllib3
from django.test import override_settings
from django.test.utils import isolate_apps

from django_minio_backend.conf import SETTINGS, settings_table
from django_minio_backend.devserver import plan_from_settings

from .hook_contract import hook_specs, marked_hooks

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PLUGINS_DOC = (ROOT / "docs" / "plugins.md").read_text()
# A hook's section in docs/plugins.md: ### `name(arg, arg)`
DOCUMENTED_HOOKS = dict(re.findall(r"^### `(\w+)\(([^)]*)\)`", PLUGINS_DOC, flags=re.MULTILINE))


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [s.name for s in SETTINGS if f"| `{s.name}` |" not in README]
    assert not missing, f"add these settings to the README table: {missing}"


def test_readme_settings_table_is_the_one_generated_from_the_settings_table() -> None:
    start = README.index("| Setting | Option | Default | Meaning |")
    written = README[start : README.index("<!-- end of settings table -->")].splitlines()
    wrong = [row for row in settings_table().splitlines() if row not in written]
    stale = [row for row in written if row not in settings_table().splitlines()]
    assert not wrong and not stale, f"run `make readme`; rows missing: {wrong}; rows out of date: {stale}"


def test_readme_starts_with_the_two_commands() -> None:
    head = README[: README.index("## Installation")]
    assert "make demo" in head and "make test" in head


def test_hook_specs_are_found() -> None:
    # Guards the two tests below against passing on an empty list.
    assert "upload_to_prefix" in hook_specs() and len(hook_specs()) >= 5


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_hook_is_documented_with_its_arguments(hook: str) -> None:
    arguments = ", ".join(hook_specs()[hook])
    assert hook in DOCUMENTED_HOOKS, f"docs/plugins.md has no section ### `{hook}({arguments})`"
    assert DOCUMENTED_HOOKS[hook] == arguments, (
        f"docs/plugins.md documents {hook}({DOCUMENTED_HOOKS[hook]}), the spec is {hook}({arguments})"
    )


def test_docs_document_no_hook_that_does_not_exist() -> None:
    assert not set(DOCUMENTED_HOOKS) - set(hook_specs())


@pytest.mark.parametrize("hook", sorted(hook_specs()))
def test_hook_has_a_test(hook: str) -> None:
    assert marked_hooks().get(hook), (
        f"no test proves hook {hook!r}: add one that calls it through the plugin manager, "
        f"marked @pytest.mark.hook({hook!r})"
    )


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
