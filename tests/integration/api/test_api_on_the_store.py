"""The query API on the real store: IRA 2016 posts replayed through normalize, index and graph, then searched,
paged, pseudonymised and spread through the API; and the README's block run as written.

Expected values come from the same posts read in-process (tests/expected.py), not from the API itself."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flockwatch.adapters.replayer import replay
from flockwatch.api.access import Role
from flockwatch.api.app import API, api_paths, create_app
from flockwatch.cli.app import app
from flockwatch.config import REPO_ROOT, Settings
from flockwatch.exports import stix
from flockwatch.schema import Post
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind, Upsert
from flockwatch.workers import run_until_caught_up
from tests.expected import expected_posts
from tests.namespace_env import namespace_env
from tests.unit.plots.helpers import markers

pytestmark = [pytest.mark.integration, pytest.mark.store]

DATASET, N = "ira_2016", 3_000
FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))


@pytest.fixture(scope="module")
def posts() -> dict[str, Post]:
    return expected_posts(DATASET, N)


@pytest.fixture
def loaded(settings: Settings, posts: dict[str, Post], tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings = settings.model_copy(update={"state_dir": tmp_path / "state"})
    assert replay(settings, DATASET, limit=N).produced == N
    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    run_until_caught_up("graph", settings)
    open_store(settings).engine.refresh()
    tokens, _ = api_paths(settings)
    keys = {role.value: tokens.create(role.value, role) for role in Role}
    yield TestClient(create_app(settings)), keys


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_search_pages_and_spread_on_replayed_posts(loaded: Any, posts: dict[str, Post]) -> None:
    """One replay (it is the slow part) for both: search pages through every match, and spread is the cascade."""
    client, keys = loaded
    words = Counter(w for p in posts.values() for w in set(re.findall(r"[a-z0-9]+", p.text.lower())))
    word = min(
        (w for w, n in words.items() if 8 <= n <= 40 and w.isalpha() and len(w) >= 5), key=lambda w: (-words[w], w)
    )
    expected = sorted(
        (p for p in posts.values() if word in re.findall(r"[a-z0-9]+", p.text.lower())),
        key=lambda p: (p.created_at, p.key),
        reverse=True,
    )
    got: list[str] = []
    url = f"{API}/posts?q={word}&limit=4"
    while url:
        page = client.get(url, headers=auth(keys["analyst"])).json()
        got += [p["key"] for p in page["items"]]
        url = f"{API}/posts?q={word}&limit=4&next={page['next']}" if page["next"] else ""
    assert got == [p.key for p in expected]
    odd = client.get(f"{API}/posts", params={"q": 'text:* OR ) ( "unclosed'}, headers=auth(keys["analyst"]))
    assert odd.status_code == 200  # words, never query syntax: no store error reaches the user

    reshares = [p for p in posts.values() if p.reshare_of]
    root = max({p.parent_key() for p in reshares}, key=lambda k: sum(1 for p in reshares if p.parent_key() == k))
    member = next(p.key for p in reshares if p.parent_key() == root)
    spread = client.get(f"{API}/posts/{member}/spread", headers=auth(keys["analyst"])).json()
    keys_in_tree = {n["post_key"] for n in spread["tree"]["nodes"]}
    assert spread["root_key"] == root and member in keys_in_tree  # IRA's retweeted sources are not in the data
    placeholder = bool(spread["metrics"].get("placeholder_root"))  # the size counts the missing source too
    assert spread["metrics"]["size"] == len(keys_in_tree) + placeholder
    assert spread["timeline"][-1]["posts"] == len(keys_in_tree)
    researcher = client.get(f"{API}/posts/{member}/spread", headers=auth(keys["researcher"])).json()
    authors = {p.author.id for p in posts.values()}
    assert all(n["account"] is None or n["account"].startswith("anon:") for n in researcher["tree"]["nodes"])
    assert not authors & set(json.dumps(researcher).replace('"', " ").split())
    svg = client.get(f"{API}/posts/{member}/spread/plot?format=svg", headers=auth(keys["analyst"]))
    assert svg.status_code == 200 and markers(svg.content, "cascade-nodes") >= len(keys_in_tree) - 1  # root apart


def test_narratives_clusters_and_plot_commands_on_the_store(
    settings: Settings, posts: dict[str, Post], tmp_path: Path
) -> None:
    """The narrative and cluster views on the real engines (date histogram, term lookups), and `flockwatch plot`.
    The narrative and the cluster are written here (the text and graph-window stages have their own tests)."""
    settings = settings.model_copy(update={"state_dir": tmp_path / "state"})
    assert replay(settings, "twitter15", limit=400).produced == 400
    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    run_until_caught_up("graph", settings)
    store = open_store(settings)
    first = sorted(expected_posts("twitter15", 400).values(), key=lambda p: p.created_at)
    members, accounts = first[:5], sorted({f"twitter:{p.author.id}" for p in first[:5]})
    store.engine.bulk_upsert(
        [Upsert(IndexKind.posts, p.key, {"narrative_id": "n-test"}, p.created_at) for p in members]
        + [
            Upsert(IndexKind.narratives, "n-test", {"narrative_id": "n-test", "representative_text": members[0].text}),
            Upsert(IndexKind.clusters, "c-test@w1", {"cluster_id": "c-test", "accounts": accounts,
                                                      "window_end": "2030-01-01T00:00:00+00:00", "kinds": ["url"]}),
            Upsert(IndexKind.coordination_edges, "e-test", {"edge_id": "e-test", "kind": "url", "source": accounts[0],
                                                             "target": accounts[1], "weight": 3,
                                                             "first_seen": "2030-01-01T00:00:00+00:00",
                                                             "last_seen": "2030-01-01T00:00:00+00:00"}),
        ]
    )  # fmt: skip
    store.engine.refresh()
    tokens, _ = api_paths(settings)
    token = tokens.create("ana", Role.analyst)
    client = TestClient(create_app(settings))
    narrative = client.get(f"{API}/narratives/n-test?interval=day", headers=auth(token)).json()
    assert sum(b["posts"] for b in narrative["timeline"]) == 5
    assert [p["key"] for p in narrative["earliest_posts"]] == [p.key for p in members]
    cluster = client.get(f"{API}/clusters/c-test", headers=auth(token)).json()
    assert cluster["accounts"] == accounts and "e-test" in [e["edge_id"] for e in cluster["edges"]]
    assert all(e["source"] in accounts and e["target"] in accounts for e in cluster["edges"])
    # The author and cluster filters are one `terms` on the posts' account_key, on the real engine too.
    everyone = expected_posts("twitter15", 400).values()
    by_members = sorted(p.key for p in everyone if f"twitter:{p.author.id}" in accounts)
    in_cluster = client.get(f"{API}/posts", params={"cluster": "c-test", "limit": 200}, headers=auth(token)).json()
    assert sorted(p["key"] for p in in_cluster["items"]) == by_members
    one = members[0].author.id
    by_author = client.get(f"{API}/posts", params={"author": f"twitter:{one}", "limit": 200}, headers=auth(token))
    assert sorted(p["key"] for p in by_author.json()["items"]) == sorted(p.key for p in everyone if p.author.id == one)

    env = namespace_env(settings, {"FLOCKWATCH_STATE_DIR": str(settings.state_dir)})
    runner = CliRunner()
    reshare = next(p.key for p in first if p.reshare_of)
    for args in (
        ["plot", "narrative", "n-test", "--output", str(tmp_path / "n.svg")],
        ["plot", "cluster", "c-test", "--output", str(tmp_path / "c.png")],
        ["plot", "spread", reshare, "--kind", "timeline", "--output", str(tmp_path / "s.svg")],
    ):
        done = runner.invoke(app, args, env=env)
        assert done.exit_code == 0, (args, done.output)
    assert (tmp_path / "n.svg").read_bytes().startswith(b"<?xml") and (tmp_path / "c.png").read_bytes()[
        :4
    ] == b"\x89PNG"
    missing = runner.invoke(app, ["plot", "cluster", "nope", "--output", str(tmp_path / "x.png")], env=env)
    assert missing.exit_code == 1 and "no cluster nope" in missing.output

    # `flockwatch export`: files the tools they are for open
    for args in (
        ["export", "posts", "--narrative", "n-test", "--format", "parquet", "--output", str(tmp_path / "p.parquet")],
        ["export", "cascade", reshare, "--format", "graphml", "--output", str(tmp_path / "c.graphml")],
        ["export", "cluster", "c-test", "--format", "stix", "--output", str(tmp_path / "c.json")],
        ["export", "cluster", "c-test", "--format", "gexf", "--output", str(tmp_path / "c.gexf")],
    ):
        done = runner.invoke(app, args, env=env)
        assert done.exit_code == 0, (args, done.output)
    assert sorted(pq.read_table(tmp_path / "p.parquet").column("key").to_pylist()) == sorted(p.key for p in members)
    assert reshare in nx.read_graphml(tmp_path / "c.graphml")
    assert stix.validate((tmp_path / "c.json").read_text())[0] == []
    assert set(accounts) <= set(nx.read_gexf(tmp_path / "c.gexf").nodes)
    bad = runner.invoke(
        app, ["export", "cluster", "c-test", "--format", "xlsx", "--output", str(tmp_path / "x")], env=env
    )
    assert bad.exit_code == 1 and "not 'xlsx'" in bad.output

    # `flockwatch query`: the read routes from the command line
    lines = runner.invoke(app, ["query", "posts", "--narrative", "n-test", "--limit", "3"], env=env).stdout.splitlines()
    assert [json.loads(line)["key"] for line in lines] == [p.key for p in reversed(members)][:3]
    spread = json.loads(runner.invoke(app, ["query", "spread", reshare], env=env).stdout)
    assert reshare in {n["post_key"] for n in spread["tree"]["nodes"]}
    told = json.loads(runner.invoke(app, ["query", "narrative", "n-test"], env=env).stdout)
    assert told["representative_text"] == members[0].text and sum(b["posts"] for b in told["timeline"]) == 5
    queried = json.loads(runner.invoke(app, ["query", "cluster", "c-test"], env=env).stdout)
    assert queried["cluster"]["accounts"] == accounts
    account = json.loads(runner.invoke(app, ["query", "account", accounts[0]], env=env).stdout)
    assert {f"twitter:{p['author']['id']}" for p in account["posts"]} == {accounts[0]}
    assert runner.invoke(app, ["query", "cluster", "nope"], env=env).exit_code == 1

    # `flockwatch case`: a case on the real store, its bundle verified, its STIX validated
    made = runner.invoke(app, ["case", "create", "--name", "IRA retweet ring", "--by", "ana"], env=env)
    assert made.exit_code == 0, made.output
    case_id = made.stdout.strip()
    for kind, ref in (("post", members[0].key), ("cascade", reshare), ("cluster", "c-test"), ("narrative", "n-test"),
                      ("account", accounts[0])):  # fmt: skip
        added = runner.invoke(app, ["case", "add", case_id, kind, ref, "--by", "ana"], env=env)
        assert added.exit_code == 0, added.output
    assert runner.invoke(app, ["case", "add", case_id, "post", members[0].key], env=env).exit_code == 1  # once
    noted = runner.invoke(app, ["case", "note", case_id, "same source", "--ref", f"post:{members[0].key}"], env=env)
    assert noted.exit_code == 0, noted.output
    shown = json.loads(runner.invoke(app, ["case", "show", case_id], env=env).stdout)
    assert len(shown["items"]) == 5 and shown["notes"][0]["refs"] == [f"post:{members[0].key}"]
    assert json.loads(runner.invoke(app, ["case", "list"], env=env).stdout.splitlines()[0])["case_id"] == case_id
    zipped, report = tmp_path / "case.zip", tmp_path / "case.json"
    assert runner.invoke(app, ["case", "export", case_id, "--output", str(zipped)], env=env).exit_code == 0
    stix_args = ["case", "export", case_id, "--format", "stix", "--output", str(report)]
    assert runner.invoke(app, stix_args, env=env).exit_code == 0
    verified = runner.invoke(app, ["case", "verify", str(zipped)], env=env)
    assert verified.exit_code == 0 and "every file matches" in verified.output
    assert stix.validate(report.read_text())[0] == []
    with zipfile.ZipFile(zipped) as z:
        assert {"files/cascade-1.png", "files/cluster-1.png", "files/narratives.png"} <= set(z.namelist())
        z.extractall(tmp_path / "unpacked")
    (tmp_path / "unpacked" / "items.json").write_text("{}")
    tampered = runner.invoke(app, ["case", "verify", str(tmp_path / "unpacked")], env=env)
    assert tampered.exit_code == 1 and "items.json" in tampered.output


def test_the_readme_block(settings: Settings, tmp_path: Path) -> None:
    """The README's API block, run as written by bash (the store holds this test's few posts)."""
    assert replay(settings, "twitter15", limit=200).produced == 200
    run_until_caught_up("normalize", settings)
    run_until_caught_up("index", settings)
    open_store(settings).engine.refresh()
    readme = (REPO_ROOT / "README.md").read_text()
    block = readme.split("## The query API", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    path = f"{Path(FLOCKWATCH).parent}:{os.environ['PATH']}"
    env = namespace_env(settings, {"FLOCKWATCH_STATE_DIR": str(tmp_path), "PATH": path})
    script = f"set -e\n{block}\nkill %1\nwait\n"
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 143), done.stderr
    answer = json.loads(done.stdout)
    assert set(answer) == {"items", "next"} and isinstance(answer["items"], list)
