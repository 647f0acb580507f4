"""The README documents every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from django_minio_backend.conf import SETTINGS, settings_table

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


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
