"""HTTPS: a private CA through MINIO_CA_BUNDLE, and hints when TLS settings do not match the server."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import urllib3
from django.core.files.base import ContentFile

from django_minio_backend import MinioBackend
from django_minio_backend.exceptions import StorageError
from django_minio_backend.testing.seaweedfs import S3Server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def make_private_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate it signed for 127.0.0.1: (ca.pem, server.pem, server.key)."""

    def openssl(command: str) -> None:  # arguments without spaces: split on blanks
        subprocess.run(["openssl", *command.split()], cwd=folder, check=True, capture_output=True, timeout=60)

    # The extensions Python 3.13's strict verification (VERIFY_X509_STRICT) requires.
    (folder / "ca.cnf").write_text(
        "[req]\ndistinguished_name=dn\nx509_extensions=v3_ca\nprompt=no\n[dn]\nCN=dmb-test-CA\n"
        "[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\n"
    )
    openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -config ca.cnf -keyout ca.key -out ca.pem")
    openssl("req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr")
    (folder / "san.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nauthorityKeyIdentifier=keyid\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.ext -out server.pem"
    )
    return folder / "ca.pem", folder / "server.pem", folder / "server.key"


class TlsProxy:
    """Terminates TLS on a loopback port and forwards the plain bytes to ``upstream``."""

    def __init__(self, upstream: tuple[str, int], cert: Path, key: Path) -> None:
        self.upstream = upstream
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw: socket.socket) -> None:
        try:
            client = self.context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()  # an untrusting client hung up during the handshake
            return
        upstream = socket.create_connection(self.upstream)

        def pipe(source: socket.socket, target: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    target.sendall(data)
            except OSError:
                pass
            finally:
                for sock in (source, target):
                    sock.close()

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        pipe(client, upstream)

    def close(self) -> None:
        self.listener.close()


@pytest.fixture(scope="module")
def tls_endpoint(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(HTTPS endpoint in front of the test server, the CA file that signed its certificate)."""
    ca, cert, key = make_private_ca(tmp_path_factory.mktemp("ca"))
    host, port = s3_server.endpoint.rsplit(":", 1)
    proxy = TlsProxy((host, int(port)), cert, key)
    yield proxy.endpoint, ca
    proxy.close()


def test_ca_bundle_lets_the_backend_talk_to_a_server_signed_by_a_private_ca(
    bucket: str, make_storage: Callable[..., MinioBackend], tls_endpoint: tuple[str, Path]
) -> None:
    endpoint, ca = tls_endpoint
    storage = make_storage(bucket, endpoint=endpoint, use_https=True, ca_bundle=str(ca))
    name = storage.save("tls.txt", ContentFile(b"over https"))
    with storage.open(name) as f:
        assert f.read() == b"over https"
    assert storage.is_minio_available()
    url = storage.url(name)
    assert url.startswith(f"https://{endpoint}/")
    response = urllib3.PoolManager(ca_certs=str(ca), retries=False).request("GET", url)
    assert (response.status, response.data) == (200, b"over https")


def test_an_untrusted_certificate_error_names_the_ca_bundle_setting(
    bucket: str, make_storage: Callable[..., MinioBackend], tls_endpoint: tuple[str, Path]
) -> None:
    endpoint, _ = tls_endpoint
    storage = make_storage(bucket, endpoint=endpoint, use_https=True)
    with pytest.raises(StorageError, match="set MINIO_CA_BUNDLE"):
        storage.exists("tls.txt")
    assert "set MINIO_CA_BUNDLE" in storage.is_minio_available().details


def test_https_against_a_plain_http_server_says_to_turn_https_off(
    bucket: str, make_storage: Callable[..., MinioBackend]
) -> None:
    storage = make_storage(bucket, use_https=True)
    with pytest.raises(StorageError, match="the server speaks plain HTTP: set MINIO_USE_HTTPS = False"):
        storage.exists("a.txt")
    assert "set MINIO_USE_HTTPS = False" in storage.is_minio_available().details
