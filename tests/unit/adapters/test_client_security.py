"""Security settings reach every client: Kafka arguments, and both store clients (OpenSearch and Elasticsearch)
against a local HTTPS endpoint.

The local store nodes have no security plugin, so authentication is tested here against a tiny HTTPS server with
its own CA that answers only requests carrying the expected Authorization header (and says it is Elasticsearch, as
the Elasticsearch client checks; the OpenSearch client ignores it).
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from flockwatch.adapters import local_services
from flockwatch.adapters.client_security import (
    SecuritySettingsError,
    elasticsearch_client_args,
    http_auth_header,
    kafka_client_args,
    opensearch_client_args,
)
from flockwatch.config import Settings
from flockwatch.store import open_engine
from flockwatch.store.documents import IndexKind, StoreAccessDenied, StoreUnavailable

ENGINES = ["opensearch", "elasticsearch"]

USER, PASSWORD = "indexer", "s3cret-pass"


def _ca(tmp: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _server_cert(tmp: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "server.pem", tmp / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        auth = self.headers.get("Authorization")
        self.seen.append(auth)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        ok = auth == expected
        body = json.dumps(
            {"status": "green", "cluster_name": "tls-test", "version": {"distribution": "opensearch"}}
            if ok
            else {"error": "unauthorized", "status": 401}
        ).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def tls_store(tmp_path: Path) -> Iterator[tuple[int, Path, Path]]:
    """A local HTTPS endpoint: (port, the CA that signed it, another CA)."""
    ca_key, ca, ca_path = _ca(tmp_path, "store-ca")
    _, _, other_ca = _ca(tmp_path, "other-ca")
    cert, key = _server_cert(tmp_path, ca_key, ca)
    _Handler.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], ca_path, other_ca
    finally:
        server.shutdown()
        server.server_close()


def _store_settings(port: int, ca: Path, password: str = PASSWORD, engine: str = "opensearch") -> Settings:
    return Settings(
        store_engine=engine,
        store_port=port,
        store_scheme="https",
        store_ca_file=ca,
        store_username=USER,
        store_password=SecretStr(password),
    )


@pytest.mark.parametrize("engine", ENGINES)
def test_store_client_verifies_the_ca_and_sends_credentials(tls_store: tuple[int, Path, Path], engine: str) -> None:
    port, ca, _ = tls_store
    assert open_engine(_store_settings(port, ca, engine=engine), timeout_s=5).healthy()
    assert _Handler.seen[-1] is not None and _Handler.seen[-1].startswith("Basic ")
    # The health check goes through the same settings.
    health = local_services.opensearch_health(_store_settings(port, ca))
    assert health is not None and health["status"] == "green"


@pytest.mark.parametrize("engine", ENGINES)
def test_store_client_refuses_a_server_signed_by_another_ca(tls_store: tuple[int, Path, Path], engine: str) -> None:
    port, _, other_ca = tls_store
    store = open_engine(_store_settings(port, other_ca, engine=engine), timeout_s=5)
    with pytest.raises(StoreUnavailable, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        store.count(IndexKind.posts)
    assert local_services.opensearch_health(_store_settings(port, other_ca)) is None
    assert _Handler.seen == []  # no request (and so no credential) went to the unverified server


@pytest.mark.parametrize("engine", ENGINES)
def test_store_client_with_a_wrong_password_is_refused(tls_store: tuple[int, Path, Path], engine: str) -> None:
    port, ca, _ = tls_store
    store = open_engine(_store_settings(port, ca, password="wrong", engine=engine), timeout_s=5)
    with pytest.raises(StoreAccessDenied, match="FLOCKWATCH_STORE_USERNAME"):
        store.count(IndexKind.posts)


def test_api_key_header_and_no_mixing() -> None:
    settings = Settings(store_api_key=SecretStr("a2V5OnNlY3JldA=="))
    assert http_auth_header(settings) == {"Authorization": "ApiKey a2V5OnNlY3JldA=="}
    for client_args in (opensearch_client_args, elasticsearch_client_args):
        assert client_args(settings)["headers"] == {"Authorization": "ApiKey a2V5OnNlY3JldA=="}
        both = Settings(store_api_key=SecretStr("k"), store_username="u", store_password=SecretStr("p"))
        with pytest.raises(SecuritySettingsError):
            client_args(both)
        assert "headers" not in client_args(Settings())


def test_an_existing_cluster_by_address_or_elastic_cloud_id(tmp_path: Path) -> None:
    remote = Settings(store_address="https://search.example.org:9243/", store_ca_file=tmp_path / "ca.pem")
    assert remote.store_url == "https://search.example.org:9243"
    assert opensearch_client_args(remote) | {"ca_certs": "-"} == {
        "hosts": ["https://search.example.org:9243"],
        "use_ssl": True,
        "verify_certs": True,
        "ssl_show_warn": True,
        "ca_certs": "-",
    }
    assert elasticsearch_client_args(remote)["hosts"] == ["https://search.example.org:9243"]
    cloud = Settings(store_engine="elasticsearch", store_cloud_id="prod:ZXhhbXBsZS5vcmckYWJjJGRlZg==")
    assert elasticsearch_client_args(cloud) == {"cloud_id": cloud.store_cloud_id, "verify_certs": True}
    assert cloud.store_name == "Elasticsearch at Elastic Cloud deployment prod"
    with pytest.raises(SecuritySettingsError, match="FLOCKWATCH_STORE_ENGINE=elasticsearch"):
        opensearch_client_args(cloud)
    assert local_services.hint(cloud, "elasticsearch").startswith("It is not a local service")


def test_kafka_sasl_ssl_arguments(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="stage-normalize",
        kafka_sasl_password=SecretStr("pw"),
        kafka_ssl_cafile=ca,
        kafka_port=19094,
    )
    args = kafka_client_args(settings)
    assert args == {
        "bootstrap_servers": "127.0.0.1:19094",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "stage-normalize",
        "sasl_plain_password": "pw",
        "ssl_check_hostname": True,
        "ssl_cafile": str(ca),
    }
    assert "pw" not in repr(settings)  # the secret stays out of reprs and logs
    with pytest.raises(SecuritySettingsError, match="USERNAME"):
        kafka_client_args(Settings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="x"))
    assert kafka_client_args(Settings()) == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
