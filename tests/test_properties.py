"""Property-based tests against the real server: names and reads (issue 13, "Also").

Hypothesis draws names (any Unicode, NFC and NFD spellings, separators, lengths)
and read patterns (seeks and read sizes); each example talks to SeaweedFS, so the
example counts are small and there is no deadline.
"""

from __future__ import annotations

import gzip
import io
import random
import unicodedata
from collections.abc import Callable

import pytest
import urllib3
from django.core.files.base import ContentFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from django_minio_backend import MinioBackend

http = urllib3.PoolManager(retries=False, timeout=10)
SERVER_EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Any character an S3 key may hold but the separators and control characters.
SEGMENT_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs"),
    blacklist_characters="/\\",
)
SEGMENT = (
    st.tuples(st.text(SEGMENT_CHARS, min_size=1, max_size=60), st.sampled_from(["NFC", "NFD"]))
    .map(lambda drawn: unicodedata.normalize(drawn[1], drawn[0]))
    .filter(lambda segment: segment not in (".", "..") and len(segment.encode()) <= 240)
)
# SeaweedFS refuses a path component over 255 bytes; S3 keys end at 1024 (with room for "_abcdefg").
NAME = st.lists(SEGMENT, min_size=1, max_size=6).map("/".join).filter(lambda name: len(name.encode()) <= 1000)


def respellings(name: str) -> list[str]:
    """Other spellings of ``name`` that every method must read as the same key."""
    parts = name.split("/")
    return ["./" + name, "//".join(parts), name.replace("/", "\\"), "/./".join(parts)]


@SERVER_EXAMPLES
@given(name=NAME, data=st.binary(max_size=64))
def test_any_name_round_trips_through_save_exists_open_url_and_delete(
    storage: MinioBackend, name: str, data: bytes
) -> None:
    saved = storage.save(name, ContentFile(data))
    assert storage.exists(saved)
    with storage.open(saved) as f:
        assert f.read() == data
    response = http.request("GET", storage.url(saved))
    assert response.status == 200, (saved, storage.url(saved))
    assert response.data == data
    for spelling in respellings(saved):
        assert storage.exists(spelling), spelling
        assert http.request("GET", storage.url(spelling)).data == data, spelling
    storage.delete(saved)
    assert not storage.exists(saved)


@SERVER_EXAMPLES
@given(text=st.text(SEGMENT_CHARS, min_size=1, max_size=20))
def test_nfc_and_nfd_spellings_are_distinct_objects(storage: MinioBackend, text: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    if nfc in (".", "..") or nfd in (".", ".."):
        return
    first = storage.save(f"norm/{nfc}.txt", ContentFile(b"nfc"))
    second = storage.save(f"norm/{nfd}.txt", ContentFile(b"nfd"))
    if nfc == nfd:
        assert second != first  # the same name again gets an alternative
    for name, expected in ((first, b"nfc"), (second, b"nfd")):
        assert storage.open(name).read() == expected
        assert http.request("GET", storage.url(name)).data == expected
    storage.delete(first)
    storage.delete(second)


MIB = 1024 * 1024
SIZE = st.one_of(st.integers(0, 5000), st.integers(MIB - 16, 2 * MIB + 16))


@st.composite
def read_plans(draw: st.DrawFn) -> tuple[int, int, list[tuple[int, int, int]]]:
    """(size, seed, [(target position, whence, read size)]); read size -1 reads to the end."""
    size = draw(SIZE)
    seed = draw(st.integers(0, 2**32))
    steps = draw(
        st.lists(
            st.tuples(
                st.integers(0, size + 10),
                st.sampled_from([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END]),
                st.one_of(st.just(-1), st.integers(0, 2 * MIB)),
            ),
            max_size=6,
        )
    )
    return size, seed, steps


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_random_seeks_and_reads_return_the_stored_bytes(
    bucket: str, make_storage: Callable[..., MinioBackend], encoding: str | None
) -> None:
    storage = make_storage(bucket, content_encoding=encoding, replace_existing=True)

    @SERVER_EXAMPLES
    @given(plan=read_plans())
    def check(plan: tuple[int, int, list[tuple[int, int, int]]]) -> None:
        size, seed, steps = plan
        data = random.Random(seed).randbytes(size)
        if encoding:
            data = gzip.compress(data)  # stored compressed, read back compressed
        name = storage.save("reads/blob.bin", ContentFile(data))
        model = io.BytesIO(data)
        with storage.open(name) as f:
            assert f.size == len(data) == storage.size(name)
            for target, whence, amount in steps:
                base = {io.SEEK_SET: 0, io.SEEK_CUR: model.tell(), io.SEEK_END: len(data)}[whence]
                assert f.seek(target - base, whence) == model.seek(target - base, whence)
                assert f.read(amount) == model.read(amount)
                assert f.tell() == model.tell()

    check()
