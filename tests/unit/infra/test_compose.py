"""infra/compose.yaml (the clustered stack) and infra/compose.single.yaml agree with Settings, the stages and the
DAGs. No Docker here: the files are parsed, and the pipeline image's install line is read from its Dockerfile."""

from __future__ import annotations

import ast
import base64
import json
import sys
import tomllib
from functools import cache
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from flockwatch import workers
from flockwatch.config import REPO_ROOT, Settings
from tests.dependency_closure import closure

INFRA = REPO_ROOT / "infra"
CLUSTER = INFRA / "compose.yaml"
SINGLE = INFRA / "compose.single.yaml"
DOCKERFILE = INFRA / "pipeline.Dockerfile"
SERVICES_SRC = REPO_ROOT / "services"


def load(path: Path) -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return compose


@pytest.fixture(scope="module")
def cluster() -> dict[str, Any]:
    return dict(load(CLUSTER)["services"])


def env_of(spec: dict[str, Any]) -> dict[str, Any]:
    env = spec.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping (the tests read it by key)"
    return env


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` as {NAME: (host, port)}."""
    out = {}
    for item in value.split(","):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def kafka_brokers(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services.items() if str(spec.get("image", "")).startswith("apache/kafka:")}


def store_nodes(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: spec
        for name, spec in services.items()
        if str(spec.get("image", "")).startswith("opensearchproject/opensearch:")
    }


def flockwatch_services(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in services.items() if any(k.startswith("FLOCKWATCH_") for k in env_of(spec))}


def settings_of(spec: dict[str, Any]) -> Settings:
    """The Settings a service's process builds from its FLOCKWATCH_* environment (``${VAR:-}`` left out)."""
    fields = {
        key.removeprefix("FLOCKWATCH_").lower(): value
        for key, value in env_of(spec).items()
        if key.startswith("FLOCKWATCH_") and not str(value).startswith("${")
    }
    return Settings(**fields)


def worker_stage(spec: dict[str, Any]) -> str | None:
    command = spec.get("command")
    if isinstance(command, list) and command[:4] == ["python", "-m", "flockwatch.cli.app", "worker"]:
        return str(command[4])
    return None


# ------------------------------------------------------------------ both files


@pytest.mark.parametrize("path", [CLUSTER, SINGLE], ids=lambda p: p.name)
def test_compose_parses_and_env_keys_are_settings(path: Path) -> None:
    services = load(path)["services"]
    assert {"airflow", "api"} <= set(services)
    for name, spec in services.items():
        for key in env_of(spec):
            if key.startswith("FLOCKWATCH_"):
                assert key.removeprefix("FLOCKWATCH_").lower() in Settings.model_fields, (path.name, name, key)
        settings_of(spec)  # the values validate too (say min.insync above the copies)
        for port in spec.get("ports", []):
            assert str(port).startswith(f"{Settings.model_construct().host}:"), (name, port)  # loopback only


# ------------------------------------------------------------------ Kafka cluster


def test_kafka_brokers_form_one_static_quorum(cluster: dict[str, Any]) -> None:
    brokers = kafka_brokers(cluster)
    assert len(brokers) == 3
    envs = {name: env_of(spec) for name, spec in brokers.items()}
    ids = {name: int(env["KAFKA_NODE_ID"]) for name, env in envs.items()}
    assert sorted(ids.values()) == [1, 2, 3]
    cluster_ids = {env["CLUSTER_ID"] for env in envs.values()}
    assert len(cluster_ids) == 1  # one cluster, formatted with one id
    (cluster_id,) = cluster_ids
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16  # what `kafka-storage random-uuid` makes
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in envs.values()}
    assert len(voters) == 1
    (quorum,) = voters
    expected = set()
    for name, env in envs.items():
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        own = listeners(env["KAFKA_LISTENERS"])
        expected.add(f"{ids[name]}@{name}:{own['CONTROLLER'][1]}")
    assert set(quorum.split(",")) == expected


def test_kafka_ports_are_what_settings_say(cluster: dict[str, Any]) -> None:
    """Node n listens where Settings(kafka_brokers=3) puts node n, and advertises what the clients bootstrap from."""
    brokers = kafka_brokers(cluster)
    clients = flockwatch_services(cluster)
    kafka_clients = {n: s for n, s in clients.items() if "FLOCKWATCH_KAFKA_PORT" in env_of(s)}
    assert {"airflow", "collect-bluesky"} <= set(kafka_clients)
    for name, spec in kafka_clients.items():
        settings = settings_of(spec)
        assert settings.kafka_brokers == len(brokers), name
        assert spec.get("network_mode") == "host", name  # 127.0.0.1:<port> is the published broker port
        advertised = set()
        for broker in brokers.values():
            env = env_of(broker)
            n = int(env["KAFKA_NODE_ID"])
            port, controller = settings.kafka_node_ports[n - 1]
            own = listeners(env["KAFKA_LISTENERS"])
            assert own["PLAINTEXT"][1] == port and own["CONTROLLER"][1] == controller
            assert broker["ports"] == [f"{settings.host}:{port}:{port}"]
            public = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
            assert public["PLAINTEXT"] == (settings.host, port)
            advertised.add(f"{settings.host}:{port}")
        assert set(settings.kafka_bootstrap.split(",")) == advertised, name


def test_kafka_brokers_replicate_among_themselves(cluster: dict[str, Any]) -> None:
    for name, spec in kafka_brokers(cluster).items():
        env = env_of(spec)
        assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
        assert listeners(env["KAFKA_ADVERTISED_LISTENERS"])["INTERNAL"][0] == name  # reachable on the compose network
        assert f"--bootstrap-server {name}:" in spec["healthcheck"]["test"][-1]


def test_replication_agrees_with_broker_count(cluster: dict[str, Any]) -> None:
    brokers = kafka_brokers(cluster)
    for name, spec in flockwatch_services(cluster).items():
        env = env_of(spec)
        if "FLOCKWATCH_KAFKA_PORT" not in env:
            continue
        settings = settings_of(spec)
        assert env["FLOCKWATCH_TOPIC_REPLICATION_FACTOR"] == settings.topic_replication_factor == len(brokers) == 3
        assert settings.topic_insync_replicas == 2, name
        for broker in brokers.values():
            benv = env_of(broker)
            copies = [k for k in benv if k.endswith("_REPLICATION_FACTOR")]
            assert len(copies) == 4  # default, offsets, transactions, share coordinator
            assert all(benv[k] == settings.topic_replication_factor for k in copies)
            insync = [k for k in benv if k.endswith("_MIN_ISR") or k == "KAFKA_MIN_INSYNC_REPLICAS"]
            assert len(insync) == 3
            assert all(benv[k] == settings.topic_insync_replicas for k in insync)
            assert benv["KAFKA_NUM_PARTITIONS"] == settings.topic_partitions


# ------------------------------------------------------------------ store cluster


def test_store_nodes_list_every_node(cluster: dict[str, Any]) -> None:
    nodes = store_nodes(cluster)
    assert len(nodes) == 3
    names = {env_of(spec)["node.name"] for spec in nodes.values()}
    assert names == set(nodes)  # node name = service (host) name
    for spec in nodes.values():
        env = env_of(spec)
        assert spec["image"].startswith("opensearchproject/opensearch:2.19.")
        assert "discovery.type" not in env
        assert set(env["discovery.seed_hosts"].split(",")) == set(nodes)
        assert set(env["cluster.initial_cluster_manager_nodes"].split(",")) == names
        assert env["cluster.name"] == "flockwatch"
        assert env["DISABLE_SECURITY_PLUGIN"] == "true"
    hosts = json.loads(env_of(cluster["opensearch-dashboards"])["OPENSEARCH_HOSTS"])
    assert hosts == [f"http://{name}:9200" for name in sorted(nodes)]


def test_store_clients_reach_a_node_and_replicas_fit(cluster: dict[str, Any]) -> None:
    nodes = store_nodes(cluster)
    published = {str(port) for spec in nodes.values() for port in spec["ports"]}
    for name, spec in flockwatch_services(cluster).items():
        env = env_of(spec)
        if "FLOCKWATCH_STORE_PORT" not in env:
            continue
        settings = settings_of(spec)
        assert f"{settings.host}:{settings.store_port}:9200" in published, name
        # Every node's URL, so the client moves past a dead one.
        assert {u.rsplit(":", 1)[1] for u in settings.store_urls} == {p.split(":")[1] for p in published}, name
        assert settings.store_replicas < len(nodes), name  # every replica on another node


# ------------------------------------------------------------------ workers


def test_every_stage_has_a_worker_and_single_writers_run_once(cluster: dict[str, Any]) -> None:
    by_stage = {}
    for spec in cluster.values():
        stage = worker_stage(spec)
        if stage is not None:
            assert stage not in by_stage, f"two services run the {stage} worker"
            by_stage[stage] = spec
    assert set(by_stage) == set(workers.STAGES)
    assert set(workers.SINGLE_WRITER_STAGES) == {"text", "graph", "alerts"}
    for stage, spec in by_stage.items():
        replicas = spec["deploy"]["replicas"]
        partitions = settings_of(spec).topic_partitions
        if stage in workers.SINGLE_WRITER_STAGES:
            assert replicas == 1, stage
        else:
            assert 2 <= replicas <= partitions, stage  # more workers than partitions would sit idle
        assert "container_name" not in spec, stage  # replicas need generated names


# ------------------------------------------------------------------ DAGs and the pipeline image


def dag_ids(path: Path) -> list[str]:
    """The ``dag_id=`` of every DAG the file defines (an f-string as its constant prefix plus ``*``)."""
    ids = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.keyword) and node.arg == "dag_id":
            if isinstance(node.value, ast.Constant):
                ids.append(str(node.value.value))
            elif isinstance(node.value, ast.JoinedStr):
                head = node.value.values[0]
                ids.append(f"{str(head.value) if isinstance(head, ast.Constant) else ''}*")
    return ids


def container_path(spec: dict[str, Any], host_path: Path, compose_file: Path) -> PurePosixPath | None:
    """Where ``host_path`` appears inside the service's container, through its bind mounts."""
    for volume in spec.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if not source.startswith("."):
            continue  # a named volume
        root = (compose_file.parent / source).resolve()
        if host_path.resolve().is_relative_to(root):
            return PurePosixPath(target) / host_path.resolve().relative_to(root).as_posix()
    return None


@pytest.mark.parametrize("path", [CLUSTER, SINGLE], ids=lambda p: p.name)
def test_airflow_serves_every_dag(path: Path) -> None:
    airflow = load(path)["services"]["airflow"]
    folder = container_path(airflow, REPO_ROOT / "dags", path)
    assert folder is not None and str(folder) == env_of(airflow)["AIRFLOW__CORE__DAGS_FOLDER"]
    ids = {p.stem: dag_ids(p) for p in (REPO_ROOT / "dags").glob("*.py")}
    assert all(ids.values()), f"DAG files without a dag_id: {[k for k, v in ids.items() if not v]}"
    flat = [i for found in ids.values() for i in found]
    assert len(flat) == len(set(flat))
    assert {"index_stream", "ingest_replay", "alerts", "graph_windows", "collect_*"} <= set(flat)
    sources = container_path(airflow, SERVICES_SRC, path)
    assert sources is not None and str(sources) in env_of(airflow)["PYTHONPATH"].split(":")


def _module_file(name: str) -> Path | None:
    base = SERVICES_SRC.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, package: str) -> set[str]:
    """Every module ``path`` imports, at the top or inside functions (``from a import b``: a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


@cache
def third_party_reached(entry_files: tuple[Path, ...], entry_modules: tuple[str, ...]) -> frozenset[str]:
    """Top-level third-party modules reachable from the entries through Flockwatch's own modules (statically, lazy
    imports included: what a task or worker may import while it runs)."""
    todo = list(entry_modules)
    for file in entry_files:
        todo += _imports(file, "")
    seen: set[str] = set()
    tops: set[str] = set()
    while todo:
        module = todo.pop()
        top = module.split(".")[0]
        if top != "flockwatch":
            tops.add(top)
            continue
        parts = module.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b too
            name = ".".join(parts[:i])
            source = _module_file(name)
            if source is not None and name not in seen:
                seen.add(name)
                todo += _imports(source, name if source.name == "__init__.py" else ".".join(parts[: i - 1]))
    return frozenset(tops - set(sys.stdlib_module_names) - {"__future__", ""})


def distributions(tops: frozenset[str]) -> set[str]:
    owners = metadata.packages_distributions()
    return {canonicalize_name(d) for top in tops for d in owners.get(top, [top])}


def image_installs() -> set[str]:
    """What infra/pipeline.Dockerfile installs: the Airflow base image, pyproject's dependencies with what they
    require (at the constraints.txt versions), and facenet-pytorch alone (--no-deps)."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    pins: dict[str, str] = {
        canonicalize_name(line.split("==")[0]): line.split("==")[1].strip()
        for line in (REPO_ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    assert f"FROM apache/airflow:{pins['apache-airflow']}-python3.11" in text
    assert "COPY pyproject.toml constraints.txt /opt/flockwatch-build/" in text
    assert "['project']['dependencies']" in text
    build = "/opt/flockwatch-build"
    assert f"pip install --no-cache-dir -c {build}/constraints.txt -r {build}/requirements.txt" in text
    assert f"pip install --no-cache-dir --no-deps -c {build}/constraints.txt facenet-pytorch" in text
    ignore = (INFRA / "pipeline.Dockerfile.dockerignore").read_text().split()
    assert {"!pyproject.toml", "!constraints.txt"} <= set(ignore)

    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    todo = [canonicalize_name(Requirement(dep).name) for dep in project]
    assert all(name in pins for name in todo), "every dependency has a constraints.txt pin"
    return closure(todo) | {"facenet-pytorch"}


def test_pipeline_image_installs_what_the_dags_import() -> None:
    """Every third-party distribution a DAG task can import (the DAG files and the Flockwatch modules they reach)
    is installed in the image the compose Airflow runs: the text and media tasks need torch, OpenCV, ..."""
    dags = tuple(sorted((REPO_ROOT / "dags").glob("*.py")))
    imported = distributions(third_party_reached(dags, ()))
    assert {"torch", "sentence-transformers", "opencv-python-headless", "av", "kafka-python"} <= imported
    assert imported - image_installs() == set()


def test_pipeline_image_installs_what_the_workers_import() -> None:
    imported = distributions(third_party_reached((), ("flockwatch.cli.app", "flockwatch.workers")))
    assert {"typer", "torch", "opensearch-py"} <= imported
    assert imported - image_installs() == set()


@pytest.mark.parametrize("path", [CLUSTER, SINGLE], ids=lambda p: p.name)
def test_flockwatch_processes_run_the_pipeline_image(path: Path) -> None:
    services = load(path)["services"]
    for name, spec in services.items():
        if name == "airflow" or name.startswith("collect-") or worker_stage(spec) is not None:
            assert spec["image"] == "flockwatch-pipeline:3.3.2", name
            assert spec["build"] == {"context": "..", "dockerfile": "infra/pipeline.Dockerfile"}, name
            assert (path.parent / spec["build"]["context"]).resolve() == REPO_ROOT
            assert "_PIP_ADDITIONAL_REQUIREMENTS" not in env_of(spec), name  # installed in the image instead
