"""Many threads sharing one storage, as a busy Django process does."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile

from django_minio_backend import MinioBackend


def _pool_full_warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("pool is full" in r.getMessage() for r in caplog.records)


def _save_from_threads(storage: MinioBackend, threads: int, prefix: str) -> list[str]:
    barrier = threading.Barrier(threads)
    names: list[str] = []
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait()
            for i in range(2):
                names.append(storage.save(f"{prefix}/{t}-{i}.txt", ContentFile(b"x" * 4096)))
                assert storage.exists(f"{prefix}/{t}-{i}.txt")
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors, errors[0]
    return names


def test_64_threads_saving_at_once_keep_their_connections(
    storage: MinioBackend, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        names = _save_from_threads(storage, 64, "many")
    assert sorted(names) == sorted(f"many/{t}-{i}.txt" for t in range(64) for i in range(2))
    assert _pool_full_warnings(caplog) == 0


def test_pool_smaller_than_the_threads_discards_connections(
    bucket: str, make_storage: Callable[..., MinioBackend], caplog: pytest.LogCaptureFixture
) -> None:
    """The setting is what sizes the pool: the same work with 2 pooled connections drops some."""
    small = make_storage(bucket, max_pool_connections=2)
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        _save_from_threads(small, 16, "few")
    assert _pool_full_warnings(caplog) > 0


@pytest.mark.parametrize("value", [0, -1, "64", True, 10**9])
def test_max_pool_connections_must_be_an_int_a_pool_can_hold(
    bucket: str, make_storage: Callable[..., MinioBackend], value: object
) -> None:
    with pytest.raises(ImproperlyConfigured, match="MINIO_MAX_POOL_CONNECTIONS"):
        _ = make_storage(bucket, max_pool_connections=value).config
