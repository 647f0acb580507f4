"""Plugins used by the tests through MINIO_PLUGINS (dotted paths)."""

from __future__ import annotations

from typing import Any

from django_minio_backend import hookimpl


class Recorder:
    """Records bucket-created events."""

    def __init__(self) -> None:
        self.created: list[tuple[str, bool]] = []

    @hookimpl
    def on_bucket_created(self, bucket_name: str, public: bool) -> None:
        self.created.append((bucket_name, public))


recorder = Recorder()


class FixedPrefix:
    @hookimpl
    def upload_to_prefix(self, filename: str) -> str:
        return "fixed/"


fixed_prefix = FixedPrefix()


class Markdown:
    @hookimpl(tryfirst=True)
    def content_type_guess(self, name: str) -> str | None:
        return "text/markdown" if name.endswith(".txt") else None


markdown = Markdown()


class Misspelt:
    @hookimpl
    def bucket_polcy(self, bucket_name: str) -> None:
        return None


misspelt = Misspelt()


class Exploding:
    @hookimpl
    def on_bucket_created(self, bucket_name: str) -> None:
        raise RuntimeError(f"cannot set up {bucket_name}")


exploding = Exploding()


class BrokenGuess:
    @hookimpl(tryfirst=True)
    def content_type_guess(self) -> str:
        raise ValueError("guessing broke")


broken_guess = BrokenGuess()


def shared_prefix_policy(bucket_name: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ["*"]},
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket_name}/shared/*"],
            }
        ],
    }
