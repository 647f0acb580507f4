"""Run an upstream-4.x-configured project end to end; print what happened as JSON."""

from __future__ import annotations

import json

import django

django.setup()

from django.core.files.base import ContentFile  # noqa: E402
from django.core.management import call_command  # noqa: E402

from tests.upstream4.models import DefaultAttachment, PrivateAttachment, PublicAttachment  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)
call_command("initialize_buckets")
private = PrivateAttachment.objects.create(file=ContentFile(b"private", name="p.txt"))
public = PublicAttachment.objects.create(file=ContentFile(b"public", name="q.txt"))
default = DefaultAttachment.objects.create(file=ContentFile(b"default", name="d.txt"))
print(
    json.dumps(
        {
            "private": [private.file.name, private.file.url, private.file.url],
            "public": [public.file.name, public.file.url],
            "default": [default.file.name, default.file.url, default.file.storage.bucket],
        }
    )
)
