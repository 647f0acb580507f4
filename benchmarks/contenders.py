"""One adapter per contender, all with the same small interface.

Each adapter is built in the contender's own process (see ``worker.py``) for
one S3 endpoint (SeaweedFS itself, or the counting proxy in front of it):

- ``save(name, content)``: a Django ``File`` (or ``ContentFile``); returns the name used
- ``url_private(name)`` / ``url_public(name)``: object URL in the private / public bucket
- ``exists(name)``, ``size(name)``, ``read(name) -> bytes read``, ``delete(name)``
- ``static_storage(bucket)``: the (BACKEND, OPTIONS) a ``STORAGES["staticfiles"]`` entry
  needs for ``collectstatic``; None when the contender has no static storage.

Configuration choices, the same for everyone where the libraries allow it:
region us-east-1 (so nothing asks the server for it), path-style addressing,
SigV4, plain HTTP on loopback, each library's default HTTP pool; a save never
replaces an existing object (Django's contract), so django-storages runs with
``file_overwrite=False``.
"""

from __future__ import annotations

import io
import os
import random
import urllib.parse
from typing import Any

REGION = "us-east-1"
READ_CHUNK = 1024 * 1024


class Contender:
    name = "?"
    label = "?"

    def __init__(self, s3: dict, endpoint: str) -> None:
        self.s3 = s3
        self.endpoint = endpoint
        self.private_bucket = s3["private_bucket"]
        self.public_bucket = s3["public_bucket"]

    def connect(self) -> None:
        """Build the storages / client (after Django is configured)."""

    def _use_storages(self) -> None:
        """Measure a Django storage pair: ``self.private`` (signed URLs) and ``self.public``."""
        self.save = self.private.save
        self.url_private = self.private.url
        self.url_public = self.public.url
        self.exists = self.private.exists
        self.size = self.private.size
        self.delete = self.private.delete
        self.open = self.private.open

    def static_storage(self, bucket: str) -> tuple[str, dict] | None:
        return None

    def save_taken(self, name: str, content: Any) -> str:
        """Save under a name that is taken: a Django storage picks a new name itself."""
        return self.save(name, content)

    def read(self, name: str) -> int:
        total = 0
        with self.open(name) as f:
            while chunk := f.read(READ_CHUNK):
                total += len(chunk)
        return total


class Ours(Contender):
    name = "ours"
    label = "django-minio-backend (ours)"

    def _options(self, bucket: str) -> dict:
        return {
            "bucket_name": bucket,
            "endpoint": self.endpoint,
            "access_key": self.s3["access_key"],
            "secret_key": self.s3["secret_key"],
            "region": REGION,
            "use_https": False,
            "private_buckets": [self.private_bucket],
            "public_buckets": [self.public_bucket],
        }

    def connect(self) -> None:
        from django_minio_backend import MinioBackend

        self.private = MinioBackend(**self._options(self.private_bucket))
        self.public = MinioBackend(**self._options(self.public_bucket))
        self._use_storages()

    def static_storage(self, bucket: str) -> tuple[str, dict]:
        return "django_minio_backend.models.MinioBackendStatic", self._options(bucket)


class Sdk(Contender):
    """The floor: ``minio.Minio`` called directly, no Django in the way.

    - save: ``put_object`` (one PUT, no check: the caller is trusted to pass a
      fresh name); with a taken name: ``stat_object`` finds it, then
      ``put_object`` under Django's random alternative name, unchecked.
    - public URL: the SDK has no call for it; its own URL builder
      (``_base_url.build``, what ``presigned_get_object`` starts from) unsigned.
    """

    name = "sdk"
    label = "minio SDK (raw)"

    def connect(self) -> None:
        from django.core.files.storage import Storage
        from minio import Minio

        s3 = self.s3
        self.client = Minio(
            self.endpoint,
            access_key=s3["access_key"],
            secret_key=s3["secret_key"],
            secure=False,
            region=REGION,
        )
        self._alternative = Storage().get_alternative_name

    def _put(self, name: str, content: Any) -> None:
        size = content.size
        content.seek(0)
        self.client.put_object(self.private_bucket, name, content, size)

    def save(self, name: str, content: Any) -> str:
        self._put(name, content)
        return name

    def save_taken(self, name: str, content: Any) -> str:
        """A taken name: one HEAD finds it, the content goes to an alternative name."""
        try:
            self.client.stat_object(self.private_bucket, name)
        except Exception:
            pass
        else:
            root, ext = os.path.splitext(name)
            name = self._alternative(root, ext)
        self._put(name, content)
        return name

    def url_private(self, name: str) -> str:
        return self.client.presigned_get_object(self.private_bucket, name)

    def url_public(self, name: str) -> str:
        url = self.client._base_url.build(
            method="GET", region=REGION, bucket_name=self.public_bucket, object_name=name
        )
        return urllib.parse.urlunsplit(url)

    def exists(self, name: str) -> bool:
        from minio.error import S3Error

        try:
            self.client.stat_object(self.private_bucket, name)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def size(self, name: str) -> int:
        return self.client.stat_object(self.private_bucket, name).size

    def delete(self, name: str) -> None:
        self.client.remove_object(self.private_bucket, name)

    def read(self, name: str) -> int:
        response = self.client.get_object(self.private_bucket, name)
        total = 0
        try:
            for chunk in response.stream(READ_CHUNK):
                total += len(chunk)
        finally:
            response.close()
            response.release_conn()
        return total


class DjangoStorages(Contender):
    name = "django-storages"
    label = "django-storages S3Storage (boto3)"

    def _options(self, bucket: str, *, signed: bool, static: bool = False) -> dict:
        options = {
            "bucket_name": bucket,
            "endpoint_url": f"http://{self.endpoint}",
            "access_key": self.s3["access_key"],
            "secret_key": self.s3["secret_key"],
            "region_name": REGION,
            "signature_version": "s3v4",
            "addressing_style": "path",
            "use_ssl": False,
            "querystring_auth": signed,
        }
        if not static:
            options["file_overwrite"] = False  # Django's contract: keep both files
        return options

    def connect(self) -> None:
        from storages.backends.s3 import S3Storage

        self.private = S3Storage(**self._options(self.private_bucket, signed=True))
        self.public = S3Storage(**self._options(self.public_bucket, signed=False))
        self._use_storages()

    def static_storage(self, bucket: str) -> tuple[str, dict]:
        return "storages.backends.s3.S3StaticStorage", self._options(bucket, signed=False, static=True)


class DjangoMinioStorage(Contender):
    name = "django-minio-storage"
    label = "django-minio-storage"

    def _client(self):
        from minio import Minio

        return Minio(
            self.endpoint,
            access_key=self.s3["access_key"],
            secret_key=self.s3["secret_key"],
            secure=False,
            region=REGION,
        )

    def connect(self) -> None:
        from minio_storage.storage import MinioMediaStorage

        client = self._client()
        common = {"minio_client": client, "assume_bucket_exists": True, "auto_create_bucket": False}
        self.private = MinioMediaStorage(bucket_name=self.private_bucket, presign_urls=True, **common)
        self.public = MinioMediaStorage(bucket_name=self.public_bucket, presign_urls=False, **common)
        self._use_storages()

    def static_storage(self, bucket: str) -> tuple[str, dict]:
        options = {
            "minio_client": self._client(),
            "bucket_name": bucket,
            "assume_bucket_exists": True,
            "auto_create_bucket": False,
        }
        return "minio_storage.storage.MinioStaticStorage", options


CONTENDERS: dict[str, type[Contender]] = {c.name: c for c in (Ours, Sdk, DjangoStorages, DjangoMinioStorage)}
ORDER = list(CONTENDERS)
BASELINE = "sdk"


class Pattern(io.RawIOBase):
    """``size`` bytes of a repeating random 1 MiB block, made as they are read.

    Seekable and cheap, so a 1 GiB upload never holds 1 GiB in memory and every
    contender reads exactly the same bytes.
    """

    BLOCK = random.Random(20240601).randbytes(1024 * 1024)
    _DOUBLE = BLOCK + BLOCK

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def read(self, n: int = -1) -> bytes:
        remaining = self.size - self._pos
        if n is None or n < 0 or n > remaining:
            n = max(0, remaining)
        block = len(self.BLOCK)
        pieces = []
        want = n
        while want:
            offset = self._pos % block
            take = min(want, block)
            pieces.append(self._DOUBLE[offset : offset + take])
            self._pos += take
            want -= take
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)
