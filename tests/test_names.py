"""Name validation: clear errors for every input type, bounded memory whatever names requests bring."""

from __future__ import annotations

import pytest

from django_minio_backend import MinioBackend
from django_minio_backend.names import _cached_clean_name, clean_name


@pytest.mark.parametrize("name", [["a.txt"], {"a": 1}, bytearray(b"a.txt"), b"a.txt", None, 3])
def test_name_that_is_not_a_string_is_refused_naming_its_type(name: object) -> None:
    with pytest.raises(ValueError, match=f"must be a string, not {type(name).__name__}"):
        clean_name(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [["a.txt"], bytearray(b"a.txt")])
def test_storage_refuses_an_unhashable_name_with_the_same_clear_error(name: object) -> None:
    storage = MinioBackend(bucket_name="names", endpoint="127.0.0.1:9", access_key="a", secret_key="b")
    for call in (storage.url, storage.exists):
        with pytest.raises(ValueError, match="must be a string"):
            call(name)  # type: ignore[arg-type]


def test_long_padded_names_are_valid_but_never_kept_in_the_cache() -> None:
    before = _cached_clean_name.cache_info().currsize
    for i in range(50):
        assert clean_name("./" * 50_000 + f"doc-{i}.txt") == f"doc-{i}.txt"
    assert _cached_clean_name.cache_info().currsize == before
    assert clean_name("./short.txt") == "short.txt"
    assert _cached_clean_name.cache_info().currsize <= before + 1
    assert _cached_clean_name.cache_info().maxsize * 1024 * 4 <= 16 * 1024 * 1024  # at most 16 MiB held
