"""One notion of "the same server" for name locks, orphan clean-up and collectstatic."""

from __future__ import annotations

from dataclasses import replace

from django_minio_backend.client import endpoint_addresses, same_server
from django_minio_backend.conf import StorageConfig, resolve
from django_minio_backend.upload import server_identity


def _config(endpoint: str, use_https: bool = False) -> StorageConfig:
    return replace(resolve({}), endpoint=endpoint, use_https=use_https)


def test_scheme_host_case_and_trailing_slash_reach_one_address_and_port() -> None:
    addresses, port = endpoint_addresses("http://LOCALHOST:9000/", use_https=True)
    assert "127.0.0.1" in addresses and port == 9000
    assert endpoint_addresses("127.0.0.1", use_https=True) == (frozenset({"127.0.0.1"}), 443)
    assert endpoint_addresses("127.0.0.1", use_https=False) == (frozenset({"127.0.0.1"}), 80)


def test_endpoint_that_does_not_resolve_or_parse_has_no_address() -> None:
    assert endpoint_addresses("no-such-host.invalid:9000", False) == (frozenset(), 9000)
    assert endpoint_addresses("ftp://127.0.0.1:9000", False) == (frozenset(), None)
    assert endpoint_addresses("127.0.0.1:99999", False) == (frozenset(), None)


def test_localhost_and_loopback_spellings_are_one_server_and_other_ports_are_not() -> None:
    assert same_server(_config("localhost:9000"), _config("127.0.0.1:9000")) is True
    assert same_server(_config("localhost:9000"), _config("127.0.0.1:9001")) is False
    assert same_server(_config("https://127.0.0.1"), _config("127.0.0.1:443")) is True


def test_unresolvable_endpoint_is_neither_the_same_server_nor_another() -> None:
    assert same_server(_config("no-such-host.invalid:9000"), _config("127.0.0.1:9000")) is None
    assert same_server(_config("no-such-host.invalid:9000"), _config("no-such-host.invalid:9000")) is True


def test_name_lock_identity_is_shared_by_spellings_of_one_server() -> None:
    assert server_identity("localhost:9000") == server_identity("http://127.0.0.1:9000/") == "127.0.0.1:9000"
    assert server_identity("127.0.0.1:9000") != server_identity("127.0.0.1:9001")
    assert server_identity("No-Such-Host.invalid:9000") == "no-such-host.invalid:9000"


def test_mapped_ipv6_and_any_address_spellings_reach_loopback() -> None:
    assert same_server(_config("[::ffff:127.0.0.1]:9000"), _config("127.0.0.1:9000")) is True
    assert same_server(_config("0.0.0.0:9000"), _config("localhost:9000")) is True


def test_name_lock_identity_over_https_gives_a_bare_host_the_https_port() -> None:
    assert server_identity("localhost", use_https=True) == server_identity("https://localhost")
    assert server_identity("localhost", use_https=True) == server_identity("localhost:443", use_https=True)
    assert server_identity("localhost", use_https=False) != server_identity("localhost", use_https=True)
