"""A local broker under SASL/SCRAM over TLS with ACLs, on its own ports and state dir.

Unauthenticated produce is refused; a stage principal produces and consumes its own topic; the same principal
cannot write a topic its ACLs do not allow.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAuthorizationFailedError
from pydantic import SecretStr

from flockwatch.adapters import local_services
from flockwatch.adapters.client_security import kafka_client_args, stage_acls
from flockwatch.config import Settings

BASE_PORT = 19560


def _certs(tmp: Path) -> tuple[Path, Path]:
    """A CA and a broker certificate for 127.0.0.1: (CA PEM, broker key + chain PEM)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "flockwatch-test-ca")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, keystore = tmp / "ca.pem", tmp / "broker.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    keystore.write_bytes(
        pkcs8 + cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    )
    return ca_path, keystore


def _send_once(producer: KafkaProducer) -> None:
    try:
        producer.send("sec.normalized", b"refused").get(timeout=10)
    finally:
        producer.close(timeout=2)


def test_sasl_ssl_broker_with_acls(tmp_path: Path) -> None:
    ca, keystore = _certs(tmp_path)
    admin_settings = Settings(
        state_dir=tmp_path / "state",
        kafka_port=BASE_PORT,
        kafka_controller_port=BASE_PORT + 1,
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="admin",
        kafka_sasl_password=SecretStr("admin-secret"),
        kafka_ssl_cafile=ca,
        kafka_ssl_keystore=keystore,
        kafka_scram_users=SecretStr("stage-normalize=normalize-secret"),
    )
    stage = admin_settings.model_copy(
        update={"kafka_sasl_username": "stage-normalize", "kafka_sasl_password": SecretStr("normalize-secret")}
    )
    try:
        local_services.up(admin_settings, ["kafka"])
        admin = KafkaAdminClient(**kafka_client_args(admin_settings), request_timeout_ms=30_000)
        try:
            admin.create_topics([NewTopic("sec.normalized", 1, 1), NewTopic("sec.alerts", 1, 1)])
            admin.create_acls(
                stage_acls("stage-normalize", reads=["sec.normalized"], writes=["sec.normalized"], group="g-norm")
            )
        finally:
            admin.close()

        # No credentials (plaintext to the TLS listener): never gets a broker, so nothing is produced.
        with pytest.raises(KafkaError):
            _send_once(
                KafkaProducer(
                    bootstrap_servers=admin_settings.kafka_bootstrap, max_block_ms=5_000, bootstrap_timeout_ms=3_000
                )
            )
        # TLS but a wrong password: the SASL handshake fails.
        wrong = stage.model_copy(update={"kafka_sasl_password": SecretStr("nope")})
        with pytest.raises(KafkaError):
            _send_once(KafkaProducer(**kafka_client_args(wrong), max_block_ms=5_000, bootstrap_timeout_ms=3_000))

        producer = KafkaProducer(**kafka_client_args(stage), acks="all", max_block_ms=15_000)
        try:
            producer.send("sec.normalized", b"hello").get(timeout=30)
            with pytest.raises(TopicAuthorizationFailedError):
                producer.send("sec.alerts", b"not allowed").get(timeout=30)
        finally:
            producer.close()
        consumer = KafkaConsumer(
            "sec.normalized",
            **kafka_client_args(stage),
            group_id="g-norm",
            auto_offset_reset="earliest",
            consumer_timeout_ms=20_000,
        )
        try:
            first = next(iter(consumer))  # the only record: the refused produces left nothing before it
            assert first.value == b"hello" and first.offset == 0
        finally:
            consumer.close()
    finally:
        local_services.down(admin_settings, ["kafka"], purge=True)
