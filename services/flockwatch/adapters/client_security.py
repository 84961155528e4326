"""Client security arguments built from Settings, in one place so every client gets the same ones.

Kafka producers, consumers, admin clients, the health checks and scratch namespaces all call
:func:`kafka_client_args`; the store clients call :func:`opensearch_client_args` or
:func:`elasticsearch_client_args`, and the store health check :func:`http_auth_header`/:func:`ssl_context`.
Secrets stay in ``SecretStr`` until handed to the client.
"""

from __future__ import annotations

import base64
import ssl
from typing import Any

from flockwatch.config import Settings


class SecuritySettingsError(ValueError):
    """Settings that cannot make a secure client (missing credentials, two kinds of credentials)."""


def kafka_client_args(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for any kafka-python client (KafkaProducer, KafkaConsumer, KafkaAdminClient)."""
    protocol = settings.kafka_security_protocol
    args: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap, "security_protocol": protocol}
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password.get_secret_value()
        if not settings.kafka_sasl_username or not password:
            raise SecuritySettingsError(
                f"{protocol} needs FLOCKWATCH_KAFKA_SASL_USERNAME and FLOCKWATCH_KAFKA_SASL_PASSWORD"
            )
        args |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism,
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": password,
        }
    if protocol.endswith("SSL"):
        # Hostname checked against the certificate; the CA is the configured one, else the system store.
        args["ssl_check_hostname"] = True
        if settings.kafka_ssl_cafile is not None:
            args["ssl_cafile"] = str(settings.kafka_ssl_cafile)
    return args


def _basic_auth(settings: Settings) -> tuple[str, str] | None:
    password = settings.store_password.get_secret_value()
    if not settings.store_username:
        return None
    return settings.store_username, password


def http_auth_header(settings: Settings) -> dict[str, str]:
    """The store's Authorization header (API key or Basic), or nothing when none is configured."""
    api_key = settings.store_api_key.get_secret_value()
    basic = _basic_auth(settings)
    if api_key and basic:
        raise SecuritySettingsError("set either FLOCKWATCH_STORE_API_KEY or a user/password, not both")
    if api_key:
        return {"Authorization": f"ApiKey {api_key}"}
    if basic:
        token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}
    return {}


def _https(settings: Settings) -> bool:
    return settings.store_url.startswith("https://") or bool(settings.store_cloud_id)


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """A verifying TLS context for the store (its CA file, else the system store); None for plain http."""
    if not _https(settings):
        return None
    cafile = str(settings.store_ca_file) if settings.store_ca_file is not None else None
    return ssl.create_default_context(cafile=cafile)


def opensearch_client_args(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``opensearchpy.OpenSearch``: hosts, TLS verification with the CA, credentials."""
    if settings.store_cloud_id:
        raise SecuritySettingsError(
            "FLOCKWATCH_STORE_CLOUD_ID names an Elastic Cloud deployment: set FLOCKWATCH_STORE_ENGINE=elasticsearch "
            "(or FLOCKWATCH_STORE_ADDRESS for an OpenSearch cluster)"
        )
    args: dict[str, Any] = {"hosts": [settings.store_url]}
    headers = http_auth_header(settings)  # validates the credential choice
    if headers:
        args["headers"] = headers
    if _https(settings):
        args |= {"use_ssl": True, "verify_certs": True, "ssl_show_warn": True}
        if settings.store_ca_file is not None:
            args["ca_certs"] = str(settings.store_ca_file)
    return args


def elasticsearch_client_args(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``elasticsearch.Elasticsearch``: the URL or Elastic Cloud id, TLS verification with
    the CA, credentials (the same settings as OpenSearch's)."""
    args: dict[str, Any] = (
        {"cloud_id": settings.store_cloud_id} if settings.store_cloud_id else {"hosts": [settings.store_url]}
    )
    headers = http_auth_header(settings)  # validates the credential choice
    if headers:
        args["headers"] = headers
    if _https(settings):
        args["verify_certs"] = True
        if settings.store_ca_file is not None:
            args["ca_certs"] = str(settings.store_ca_file)
    return args


def stage_acls(principal: str, *, reads: list[str], writes: list[str], group: str | None) -> list[Any]:
    """ACLs for one stage principal: read its input topics (with its group), write only its output topics.

    Applied by the super user with ``KafkaAdminClient.create_acls``; anything else the principal tries is refused
    by the broker's StandardAuthorizer (``allow.everyone.if.no.acl.found=false``).
    """
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ResourcePattern, ResourceType

    def allow(op: Any, kind: Any, name: str) -> Any:
        return ACL(f"User:{principal}", "*", op, ACLPermissionType.ALLOW, ResourcePattern(kind, name))

    acls = [allow(op, ResourceType.TOPIC, t) for t in reads for op in (ACLOperation.READ, ACLOperation.DESCRIBE)]
    acls += [allow(op, ResourceType.TOPIC, t) for t in writes for op in (ACLOperation.WRITE, ACLOperation.DESCRIBE)]
    if group is not None:
        acls.append(allow(ACLOperation.READ, ResourceType.GROUP, group))
    return acls
