"""The README documents every setting the code reads; docs/plugins.md and the tests cover every hook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from django_minio_backend.conf import SETTINGS, settings_table

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
