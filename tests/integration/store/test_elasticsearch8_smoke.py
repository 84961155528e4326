"""The store layer against a real Elasticsearch 8.x node, through the official ``elasticsearch`` 8.19 client.

`flockwatch up` runs Elasticsearch 7.17 (the last line whose module jars are on Maven Central); this smoke test
covers what only an 8.x server shows: the 8.19 client's compatible-with=8 requests answered natively, 8.x
responses, index templates, bulk, search and aggregations as 8.x does them.

The node is Elasticsearch 8.19 from Maven Central jars (``infra/elasticsearch8/``: only the Maven profile
``elasticsearch8`` fetches them, never `flockwatch up` or `make setup`), started here on 25400/25500 with its data
in a tmp dir and stopped at the end (its whole process group). It has the server and transport-netty4 only (the
other modules are not published for 8.x): no percolator, so the watchlists index cannot exist there (asserted
below, and left out of the schema the other tests apply); no painless, no update/delete_by_query (reindex
module), no ``GET /`` (rest-root module), no language analyzers; no x-pack, so no security.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from pydantic import SecretStr

from flockwatch.adapters.local_services import LOG4J2_CONSOLE
from flockwatch.config import Settings
from flockwatch.store import Store, open_store
from flockwatch.store.documents import IndexKind, Search, StoreRequestError, Upsert, VersionConflict, VersionedPut
from flockwatch.store.engines import rest
from flockwatch.store.mappings import MAPPINGS

pytestmark = pytest.mark.integration

# Below Linux's ephemeral range (32768-60999): a client socket holding the port made the bind fail in CI.
ES8_HTTP_PORT, ES8_TRANSPORT_PORT = 25400, 25500
ES8_HEAP = "512m"
ES8_MAIN = "org.elasticsearch.node.FlockwatchElasticsearch8"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


# ----------------------------------------------------------------------------------------- the node


@dataclass(frozen=True)
class Es8Paths:
    infra: Path

    @property
    def version(self) -> str:
        """``elasticsearch8.version`` of infra/pom.xml."""
        found = re.search(r"<elasticsearch8\.version>([^<]+)<", (self.infra / "pom.xml").read_text(encoding="utf-8"))
        assert found, "infra/pom.xml has no <elasticsearch8.version>"
        return found.group(1).strip()

    @property
    def libs(self) -> Path:
        return self.infra / "target" / "elasticsearch8-libs"

    @property
    def classes(self) -> Path:
        return self.infra / "target" / "elasticsearch8-launcher"

    @property
    def sources(self) -> list[Path]:
        return sorted((self.infra / "elasticsearch8").glob("*.java"))

    @property
    def classpath(self) -> str:
        return f"{self.classes}{os.pathsep}{self.libs / '*'}"


def _jdk_tool(settings: Settings, tool: str) -> str:
    if settings.java_home:
        path = Path(settings.java_home) / "bin" / tool
        if not path.exists():
            pytest.fail(f"FLOCKWATCH_JAVA_HOME={settings.java_home} has no bin/{tool}")
        return str(path)
    found = shutil.which(tool)
    if found is None:
        pytest.fail(f"no `{tool}` on PATH: the Elasticsearch 8 node needs a JDK 17+ (or set FLOCKWATCH_JAVA_HOME)")
    return found


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.fail(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}")


def elasticsearch8_fetch(settings: Settings) -> Es8Paths:
    """The 8.x jars in ``infra/target/elasticsearch8-libs`` (Maven profile ``elasticsearch8``, only when the pom's
    version is missing there) and the launcher compiled into ``infra/target/elasticsearch8-launcher`` (when older
    than its sources)."""
    paths = Es8Paths(Path(settings.infra_dir))
    version = paths.version
    wanted = (f"elasticsearch-{version}.jar", f"transport-netty4-{version}.jar")
    if not all((paths.libs / name).exists() for name in wanted):
        mvn = shutil.which("mvn")
        if mvn is None:
            pytest.fail("Maven (`mvn`) is not on PATH; it fetches the Elasticsearch 8 jars")
        shutil.rmtree(paths.libs, ignore_errors=True)  # never two server versions on one classpath
        pom = str(paths.infra / "pom.xml")
        _run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                pom,
                "-P",
                "elasticsearch8",
                "-pl",
                "elasticsearch8",
                "dependency:copy-dependencies",
            ]
        )
    main_class = paths.classes / (ES8_MAIN.replace(".", "/") + ".class")
    newest_source = max(p.stat().st_mtime for p in paths.sources)
    if not main_class.exists() or main_class.stat().st_mtime < newest_source:
        shutil.rmtree(paths.classes, ignore_errors=True)
        javac = _jdk_tool(settings, "javac")
        _run([javac, "-nowarn", "-d", str(paths.classes), "-cp", str(paths.libs / "*"), *map(str, paths.sources)])
    return paths


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_cluster/health", timeout=2) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]) if log.exists() else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the node's process group (its shutdown hook closes the node), SIGKILL it if it lingers."""
    for sig, wait_s in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait_s)
            return


@dataclass(frozen=True)
class Es8Node:
    url: str
    pid: int
    log: Path
    started_in_s: float


@pytest.fixture(scope="module")
def services_up() -> None:
    """Overrides tests/integration/conftest.py: no default Kafka/OpenSearch for this module."""


@pytest.fixture(scope="module")
def es8_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Es8Node]:
    """A single Elasticsearch 8 node on 127.0.0.1:25400 (transport 25500), data in a tmp dir, for this module."""
    settings = Settings()
    paths = elasticsearch8_fetch(settings)
    busy = [p for p in (ES8_HTTP_PORT, ES8_TRANSPORT_PORT) if _port_open(p)]
    if busy:
        pytest.fail(f"127.0.0.1 port(s) {busy} already taken: stop whatever listens there (a leftover test node?)")
    root = tmp_path_factory.mktemp("es8")
    for sub in ("home", "data", "logs", "tmp"):
        (root / sub).mkdir()
    (root / "log4j2.properties").write_text(LOG4J2_CONSOLE, encoding="utf-8")
    node_settings = {
        "cluster.name": "flockwatch-es8-smoke",
        "node.name": "flockwatch-es8-1",
        "path.home": root / "home",
        "path.data": root / "data",
        "path.logs": root / "logs",
        "network.host": "127.0.0.1",
        "http.port": ES8_HTTP_PORT,
        "transport.port": ES8_TRANSPORT_PORT,
        "http.type": "netty4",
        "transport.type": "netty4",
        "discovery.type": "single-node",
        "cluster.routing.allocation.disk.threshold_enabled": "false",
        # As on the stores `flockwatch up` runs: drop_all deletes by explicit names.
        "action.destructive_requires_name": "true",
    }
    cmd = [
        _jdk_tool(settings, "java"),
        f"-Xms{ES8_HEAP}",
        f"-Xmx{ES8_HEAP}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        "-Dfile.encoding=UTF-8",
        f"-Djava.io.tmpdir={root / 'tmp'}",
        f"-Dlog4j2.configurationFile={root / 'log4j2.properties'}",
        "-Dlog4j.shutdownHookEnabled=false",
        "-Dlog4j2.disable.jmx=true",
        "-cp",
        paths.classpath,
        ES8_MAIN,
        *(f"{key}={value}" for key, value in node_settings.items()),
    ]
    log = root / "elasticsearch8.log"
    url = f"http://127.0.0.1:{ES8_HTTP_PORT}"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True
        )
    try:
        while not _health_ok(url):
            if proc.poll() is not None:
                pytest.fail(f"Elasticsearch 8 exited ({proc.returncode}) while starting; log tail:\n{_tail(log)}")
            if time.monotonic() - started > START_TIMEOUT_S:
                pytest.fail(f"Elasticsearch 8 not answering after {START_TIMEOUT_S:.0f} s; log tail:\n{_tail(log)}")
            time.sleep(0.25)
        yield Es8Node(url=url, pid=proc.pid, log=log, started_in_s=time.monotonic() - started)
    finally:
        _stop(proc)


def _store(prefix: str) -> Store:
    # Every store setting explicit: a FLOCKWATCH_* environment (CI) must not point this store elsewhere.
    settings = Settings(
        store_engine="elasticsearch",
        host="127.0.0.1",
        store_scheme="http",
        store_port=ES8_HTTP_PORT,
        store_address="",
        store_cloud_id="",
        store_username="",
        store_password=SecretStr(""),
        store_api_key=SecretStr(""),
        store_shards=1,
        store_replicas=0,
        index_prefix=prefix,
    )
    return open_store(settings, timeout_s=30.0)


@pytest.fixture
def store(es8_node: Es8Node, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A store of prefix ``smoke8`` whose schema leaves out watchlists (percolator: no such module on this node)."""
    monkeypatch.setattr(rest, "MAPPINGS", {k: v for k, v in MAPPINGS.items() if k is not IndexKind.watchlists})
    store = _store("smoke8")
    store.engine.ensure_schema()
    yield store
    store.engine.drop_all()


# ----------------------------------------------------------------------------------------- tests


def test_node_is_elasticsearch_8(es8_node: Es8Node) -> None:
    client = Elasticsearch(es8_node.url)  # checks X-Elastic-Product on its first answer
    nodes = client.nodes.info(node_id="_local")["nodes"]
    (node,) = nodes.values()
    assert node["version"].startswith("8."), node["version"]
    assert client.cluster.health()["status"] == "green"


def test_watchlists_need_the_percolator_module(es8_node: Es8Node) -> None:
    """The one kind this node cannot hold: ensure_schema stops at it with a plain, non-retryable error."""
    store = _store("smoke8pc")
    try:
        # The reason's root cause (no handler for type [percolator]) is nested; the message names the template.
        with pytest.raises(StoreRequestError, match=r"template \[smoke8pc-watchlists\]") as refused:
            store.engine.ensure_schema()
        assert refused.value.status == 400
    finally:
        store.engine.drop_all()


DEC = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
NOV = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


def _post(i: int) -> Upsert:
    when = DEC if i % 2 else NOV
    doc = {
        "key": f"x:{i}",
        "platform": "x",
        "author": {"id": f"u{i % 3}", "handle": ["Alpha", "BETA", "gamma"][i % 3]},
        "text": f"coordinated flock number {i}" if i < 6 else f"unrelated post {i}",
        "created_at": when.isoformat(),
        "hashtags": ["Flock"] if i % 2 else [],
    }
    return Upsert(IndexKind.posts, f"x:{i}", doc, time=when)


def _score(i: int) -> Upsert:
    when = DEC if i % 2 else NOV
    doc = {"key": f"x:{i}", "text_score": {"machine_score": i / 10, "label": "machine" if i >= 5 else "human"}}
    return Upsert(IndexKind.posts, f"x:{i}", doc, time=when)


def test_engine_core_operations(store: Store) -> None:
    engine = store.engine
    assert engine.healthy()
    engine.ensure_schema()  # safe to repeat

    # Two overlapping batches: posts 0..5, then scores for 3..7 (3..5 merge into posts, 6..7 are new), twice.
    first = engine.bulk_upsert([_post(i) for i in range(6)])
    assert (first.written, first.rejected, first.conflicts) == (6, [], [])
    for _ in range(2):  # idempotent: replaying a batch changes nothing
        second = engine.bulk_upsert([_score(i) for i in range(3, 8)] + [_post(i) for i in (6, 7)])
        assert (second.written, second.rejected) == (7, [])
    engine.refresh()

    assert engine.count(IndexKind.posts) == 8
    assert engine.count(IndexKind.posts, {"term": {"author.handle": "beta"}}) == 3  # lowercase normalizer
    merged = engine.get(IndexKind.posts, "x:3", DEC)
    assert merged is not None
    assert merged["text"] == "coordinated flock number 3" and merged["text_score"]["machine_score"] == 0.3
    assert engine.get(IndexKind.posts, "x:3", NOV) is None  # another month, another index

    found = engine.search(
        IndexKind.posts, {"match": {"text": "flock"}}, size=10, sort=[{"key": "asc"}], fields=["key", "text_score"]
    )
    assert [d["_id"] for d in found] == [f"x:{i}" for i in range(6)]
    assert set(found[4]) == {"_id", "key", "text_score"}
    named = engine.hits(
        IndexKind.posts, {"bool": {"should": [{"term": {"hashtags": {"value": "flock", "_name": "tag"}}}]}}
    )
    assert sorted(h.id for h in named) == ["x:1", "x:3", "x:5", "x:7"] and all(h.matched == ("tag",) for h in named)
    many = engine.search_many(
        IndexKind.posts, [Search({"term": {"text_score.label": "machine"}}), Search({"ids": {"values": ["x:0"]}})]
    )
    assert [sorted(h.id for h in hits) for hits in many] == [["x:5", "x:6", "x:7"], ["x:0"]]
    scanned = list(engine.scan(IndexKind.posts, {"match_all": {}}, sort=[{"key": "asc"}], page=3))
    assert [d["_id"] for d in scanned] == sorted(f"x:{i}" for i in range(8))

    aggs = engine.aggregate(
        IndexKind.posts,
        {
            "handles": {
                "terms": {"field": "author.handle"},
                "aggs": {"score": {"avg": {"field": "text_score.machine_score"}}},
            },
            "months": {"date_histogram": {"field": "created_at", "calendar_interval": "month"}},
            "scored": {"filter": {"exists": {"field": "text_score.machine_score"}}},
        },
        query={"range": {"created_at": {"gte": "2026-11-01"}}},
    )
    handles = {b["key"]: b["doc_count"] for b in aggs["handles"]["buckets"]}
    assert handles == {"alpha": 3, "beta": 3, "gamma": 2}
    beta = next(b for b in aggs["handles"]["buckets"] if b["key"] == "beta")
    assert beta["score"]["value"] == pytest.approx((0.4 + 0.7) / 2)  # x:4, x:7 scored; x:1 not
    assert [(b["key_as_string"][:7], b["doc_count"]) for b in aggs["months"]["buckets"]] == [
        ("2026-11", 4),
        ("2026-12", 4),
    ]
    assert aggs["scored"]["doc_count"] == 5
    assert engine.aggregate(IndexKind.accounts, {"n": {"value_count": {"field": "key"}}})["n"]["value"] == 0


def test_engine_fixed_kinds_and_conditional_writes(store: Store) -> None:
    engine = store.engine
    alerts = [(f"a{i}", {"alert_id": f"a{i}", "rule": "burst", "status": "open", "severity": "high"}) for i in range(3)]
    assert engine.bulk_put(IndexKind.alerts, alerts).written == 3  # visible on return
    assert engine.count(IndexKind.alerts, {"term": {"status": "open"}}) == 3

    read = engine.get_versioned(IndexKind.alerts, "a0")
    assert read is not None
    doc, version = read
    engine.put(IndexKind.alerts, "a0", doc | {"status": "closed"}, if_version=version)
    with pytest.raises(VersionConflict):
        engine.put(IndexKind.alerts, "a0", doc | {"status": "reopened"}, if_version=version)  # stale version

    current = engine.get_many_versioned(IndexKind.alerts, ["a0", "a1", "missing"])
    assert set(current) == {"a0", "a1"} and current["a0"][0]["status"] == "closed"
    puts = [
        VersionedPut("a1", current["a1"][0] | {"status": "acked"}, current["a1"][1]),  # as read: written
        VersionedPut("a0", doc | {"status": "lost"}, version),  # changed since: a conflict
        VersionedPut("a2", {"alert_id": "a2"}, None),  # exists already: a conflict
        VersionedPut("a9", {"alert_id": "a9", "status": "open"}, None),  # new: created
    ]
    result = engine.bulk_put_if(IndexKind.alerts, puts)
    assert result.written == 2 and sorted(result.conflicts) == ["a0", "a2"] and result.rejected == []
    engine.refresh(IndexKind.alerts)
    assert {k: d["status"] for k, d in engine.get_many(IndexKind.alerts, ["a0", "a1", "a9"]).items()} == {
        "a0": "closed",
        "a1": "acked",
        "a9": "open",
    }

    assert engine.delete(IndexKind.alerts, "a9") is True
    assert engine.delete(IndexKind.alerts, "a9") is False
    assert engine.count(IndexKind.alerts) == 3

    engine.ensure_fields({IndexKind.alerts: {"assignee": {"type": "keyword"}}})
    engine.put(IndexKind.alerts, "a1", {"alert_id": "a1", "status": "acked", "assignee": "Ana"})
    assert engine.count(IndexKind.alerts, {"term": {"assignee": "Ana"}}) == 1
