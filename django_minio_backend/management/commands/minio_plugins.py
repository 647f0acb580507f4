"""``manage.py minio_plugins``: list the active plugins and the hooks each implements."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ...manager import active_plugins


class Command(BaseCommand):
    help = "List the active django_minio_backend plugins and their hooks."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, hooks in active_plugins():
            self.stdout.write(f"{name}: {', '.join(hooks) or '(no hooks)'}")
