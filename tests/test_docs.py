"""The README documents every setting the code reads."""

from __future__ import annotations

from pathlib import Path

from django_minio_backend.conf import SETTINGS

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [s.name for s in SETTINGS if f"| `{s.name}` |" not in README]
    assert not missing, f"add these settings to the README table: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    head = README[: README.index("## Installation")]
    assert "make demo" in head and "make test" in head
