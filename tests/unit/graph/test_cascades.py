"""Cascade trees and metrics: hand-computed shapes, brute force for structural virality, bad input."""

from __future__ import annotations

import io
import itertools
import json
import tarfile
from pathlib import Path

import networkx as nx  # type: ignore[import-untyped, unused-ignore]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.graph.cascade_io import parse_twitter_tree, read_ced
from flockwatch.graph.cascade_metrics import (
    cascade_metrics,
    gini,
    metrics_from_networkx,
    structural_virality,
    tree_to_networkx,
)
from flockwatch.graph.cascades import CascadeBuilder, Event, build_tree, tree_from_parents


def star(n: int) -> list[Event]:
    return [Event("r", None, 0.0, "u0")] + [Event(f"c{i}", "r", 60.0 * i, f"u{i}") for i in range(1, n)]


def chain(n: int) -> list[Event]:
    return [Event("n0", None, 0.0, "u0")] + [Event(f"n{i}", f"n{i - 1}", float(i), f"u{i}") for i in range(1, n)]


def test_star_and_chain_by_hand() -> None:
    s = cascade_metrics(build_tree("s", star(5)))
    assert (s["size"], s["depth"], s["max_breadth"], s["root_share"]) == (5, 1, 4, 1.0)
    assert s["structural_virality"] == pytest.approx(2 * 4 / 5)  # 2(n-1)/n
    assert s["branching_factor"] == 4.0 and s["lifetime"] == 240.0
    assert s["time_to_10"] is None and s["delay_median"] == 150.0 and s["share_first_hour"] == 1.0
    c = cascade_metrics(build_tree("c", chain(6)))
    assert (c["depth"], c["max_breadth"], c["root_share"]) == (5, 1, 0.2)
    assert c["structural_virality"] == pytest.approx((6 + 1) / 3)  # (n+1)/3
    assert c["branching_factor"] == 1.0
    lone = cascade_metrics(build_tree("l", [Event("x", None, 5.0)]))
    assert lone["size"] == 1 and lone["structural_virality"] == 0.0 and lone["delay_median"] is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=40))
def test_structural_virality_equals_mean_pairwise_distance(seeds: list[int]) -> None:
    parent = [-1] + [seeds[i] % i for i in range(1, len(seeds))]
    tree = tree_from_parents("t", parent, [float(i) for i in range(len(parent))])
    g = nx.Graph()
    g.add_nodes_from(range(len(parent)))
    g.add_edges_from((i, p) for i, p in enumerate(parent) if p >= 0)
    n = len(parent)
    if n == 1:
        assert structural_virality(tree) == 0.0
        return
    dist = dict(nx.all_pairs_shortest_path_length(g))
    brute = sum(dist[i][j] for i, j in itertools.permutations(range(n), 2)) / (n * (n - 1))
    assert structural_virality(tree) == pytest.approx(brute)


def test_gini() -> None:
    assert gini([1, 1, 1, 1]) == 0.0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)  # (m-1)/m for one holder among m
    assert gini([]) == 0.0
    t = build_tree("g", [Event("r", None, 0, "a"), Event("1", "r", 1, "b"), Event("2", "r", 2, "b"),
                         Event("3", "r", 3, "c")])  # fmt: skip
    assert cascade_metrics(t)["spreader_gini"] == pytest.approx(gini([2, 1]))
    assert cascade_metrics(t, coordinated_users={"b"})["coordinated_share"] == 0.5


def test_bad_input_is_repaired_and_counted() -> None:
    events = [
        Event("b", "a", 20.0, "u2"),  # arrives before its parent (out of order)
        Event("a", "root", 10.0, "u1"),
        Event("a", "root", 12.0, "u1"),  # duplicate, later: dropped
        Event("root", None, 0.0, "u0"),
        Event("s", "s", 5.0, "u3"),  # self-loop
        Event("m", "ghost", 6.0, "u4"),  # missing parent
        Event("x", "y", 30.0, "u5"),  # x <-> y cycle
        Event("y", "x", 31.0, "u6"),
        Event("z", "y", 40.0, "u7"),  # hangs from the cycle
        Event("k", "a", 1.0, "u8"),  # stamped before its parent (clock skew)
        Event("q", None, 50.0, "u9"),  # a second root candidate
    ]
    tree = build_tree("bad", events, root_id="root")
    r = tree.repairs
    assert (r.duplicates, r.self_loops, r.missing_parents, r.cycles, r.skewed, r.extra_roots) == (1, 1, 1, 1, 1, 1)
    assert len(tree) == 10 and tree.ids[0] == "root"
    parent = {tree.ids[i]: tree.ids[p] for i, p in enumerate(tree.parent) if p >= 0}
    assert parent["b"] == "a" and parent["s"] == "root" and parent["m"] == "root" and parent["q"] == "root"
    assert parent["x"] == "root" and parent["y"] == "x" and parent["z"] == "y"  # earliest of the cycle cut
    assert tree.time[tree.ids.index("k")] == 10.0  # moved to its parent's time
    assert all(tree.time[i] >= tree.time[p] for i, p in enumerate(tree.parent) if p >= 0)
    assert all(0 <= p < i for i, p in enumerate(tree.parent[1:], start=1))
    cascade_metrics(tree)  # no crash


def test_root_is_inferred_or_made_up() -> None:
    t = build_tree("i", [Event("b", "a", 5.0), Event("a", None, 1.0), Event("c", None, 3.0)])
    assert t.ids[0] == "a" and t.repairs.extra_roots == 1
    p = build_tree("p", [Event("b", "src", 5.0), Event("c", "src", 3.0)], root_id="src")
    assert p.repairs.placeholder_root and p.ids == ["src", "c", "b"] and p.time[0] == 0.0
    with pytest.raises(ValueError):
        build_tree("none", [])


def test_builder_is_incremental() -> None:
    b = CascadeBuilder("inc", root_id="r")
    for ev in star(4):
        b.add(ev)
    assert cascade_metrics(b.tree())["size"] == 4
    b.add(Event("c1", "r", 999.0))  # duplicate, later: ignored
    b.add(Event("d", "c1", 500.0))
    m = cascade_metrics(b.tree())
    assert m["size"] == 5 and m["depth"] == 2 and b.tree().repairs.duplicates == 1


def test_networkx_round_trip() -> None:
    tree = build_tree("c", chain(4))
    g = tree_to_networkx(tree)
    assert metrics_from_networkx(g, root="n0") == cascade_metrics(tree)


def test_twitter_tree_lines() -> None:
    lines = [
        "['ROOT', 'ROOT', '0.0']->['1', '99', '0.0']",
        "['1', '99', '0.0']->['2', '99', '1.5']",
        "['2', '99', '1.5']->['3', '77', '2.0']",
        "['1', '99', '0.0']->['2', '99', '1.5']",  # duplicate edge
        "garbage",
    ]
    c = parse_twitter_tree("99", iter(lines))
    tree = build_tree(c.cascade_id, c.events, c.root_id)
    m = cascade_metrics(tree)
    assert (m["size"], m["depth"], m["lifetime"]) == (3, 2, 120.0)
    assert tree.repairs.duplicates == 1


def test_ced_archive(tmp_path: Path) -> None:
    path = tmp_path / "CED_Dataset.tar.gz"
    members = {
        "CED_Dataset/original-microblog/1_abc_42.json": {"text": "src", "time": 1400000000, "user": {}},
        "CED_Dataset/rumor-repost/1_abc_42.json": [
            {"mid": "r1", "parent": "", "uid": "7", "text": "", "date": "2014-05-14 00:53:20"},
            {"mid": "r2", "parent": "r1", "uid": "8", "text": "", "date": "2014-05-14 01:00:00"},
            {"mid": "r3", "parent": "", "uid": "9", "text": "", "date": "not a date"},
        ],
    }
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            raw = json.dumps(data).encode()
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    [c] = list(read_ced(path))
    assert c.cascade_id == "abc" and c.label == "rumor"
    tree = build_tree(c.cascade_id, c.events, c.root_id)
    assert tree.ids == ["abc", "r1", "r2"]
    # 1400000000 is 2014-05-13 16:53:20 UTC, i.e. 2014-05-14 00:53:20 in Beijing (UTC+8)
    assert tree.time == [0.0, 0.0, 400.0]


def test_posts_jsonl_cascades(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from flockwatch.graph.cascade_io import read_posts_jsonl
    from flockwatch.schema import Author, Post, SourceRef

    t0 = datetime(2020, 1, 1, tzinfo=UTC)

    def post(pid: str, minutes: int, reshare: str | None = None, reply: str | None = None) -> Post:
        when = t0 + timedelta(minutes=minutes)
        return Post(platform="x", platform_id=pid, author=Author(id=f"u{pid}"), created_at=when,
                    reshare_of=reshare, reply_to=reply, source=SourceRef(format="t", uri="mem://"))  # fmt: skip

    lines = [post("1", 0), post("2", 5, reshare="1"), post("3", 7, reply="2"), post("9", 1), post("8", 3, reply="7")]
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(p.model_dump_json() for p in lines) + "\nnot json\n", encoding="utf-8")
    cascades = {c.cascade_id: c for c in read_posts_jsonl(path)}
    assert set(cascades) == {"x:1", "x:9", "x:7"}
    tree = build_tree("x:1", cascades["x:1"].events, cascades["x:1"].root_id)
    assert tree.ids == ["x:1", "x:2", "x:3"] and tree.time == [0.0, 300.0, 420.0]
    orphan = build_tree("x:7", cascades["x:7"].events, cascades["x:7"].root_id)
    assert orphan.repairs.placeholder_root and orphan.ids == ["x:7", "x:8"]


def test_cascades_cli(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flockwatch.cli.graph import graph_app

    folder = tmp_path / "tw"
    (folder / "tree").mkdir(parents=True)
    (folder / "tree" / "99.txt").write_text(
        "['ROOT', 'ROOT', '0.0']->['1', '99', '0.0']\n['1', '99', '0.0']->['2', '99', '3.0']\n", encoding="utf-8"
    )
    (folder / "label.txt").write_text("false:99\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        graph_app, ["cascades", "--input", str(folder), "--format", "twitter1516", "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    [line] = out.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["cascade_id"] == "99" and record["label"] == "false" and record["size"] == 2
    assert 0 < record["risk_score"] < 1 and 0 < record["early_warning_score"] < 1


def _twitter_folder(root: Path, trees: dict[str, list[str]], labels: dict[str, str]) -> Path:
    """A twitter1516 folder: each tree's root tweet by ``author``, one retweet of it per resharer, a minute apart."""
    folder = root / "tw"
    (folder / "tree").mkdir(parents=True)
    for tid, users in trees.items():
        lines = [f"['ROOT', 'ROOT', '0.0']->['author', '{tid}', '0.0']"]
        lines += [f"['author', '{tid}', '0.0']->['{u}', '{tid}', '{k + 1}.0']" for k, u in enumerate(users)]
        (folder / "tree" / f"{tid}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "label.txt").write_text("".join(f"{v}:{k}\n" for k, v in labels.items()), encoding="utf-8")
    return folder


def test_history_cli_learns_judged_cascades_and_cascades_cli_fuses_it(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flockwatch.cli.graph import graph_app

    trees = {"1": ["a", "b"], "2": ["a", "c"], "3": ["c", "d"], "4": ["a", "b", "e"], "5": ["x"]}
    folder = _twitter_folder(tmp_path, trees, {"1": "false", "2": "false", "3": "true", "4": "unverified"})
    run = CliRunner().invoke
    history, out = tmp_path / "history.json", tmp_path / "out.jsonl"
    result = run(graph_app, ["history", "--input", str(folder), "--format", "twitter1516", "--output", str(history)])
    assert result.exit_code == 0, result.output
    assert "3 judged cascades (2 flagged), 4 accounts, 2 cascades without a usable label skipped" in result.output
    args = ["cascades", "--input", str(folder), "--format", "twitter1516", "--output", str(out)]
    assert run(graph_app, args).exit_code == 0
    spread_only = {r["cascade_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert "resharer_history" not in spread_only["4"]
    result = run(graph_app, [*args, "--history", str(history)])
    assert result.exit_code == 0, result.output
    rows = {r["cascade_id"]: r for r in map(json.loads, out.read_text().splitlines())}
    four = rows["4"]
    assert four["spread_risk_score"] == spread_only["4"]["risk_score"]
    assert four["risk_score"] > four["spread_risk_score"]  # a reshared two false cascades, b one
    assert four["resharer_history"]["known_resharers"] == 2 and four["resharer_history"]["resharers"] == 3
    assert four["resharer_history"]["flagged_resharers"][0] == {"account": "a", "flagged": 2, "seen": 2}
    assert rows["5"]["resharer_history"]["known_resharers"] == 0  # no record: fused on the spread alone
    # cascade 1 is judged: scored without its own verdict, a keeps only cascade 2 and b has no other
    assert rows["1"]["resharer_history"]["flagged_resharers"] == [{"account": "a", "flagged": 1, "seen": 1}]

    # --labels: only the listed cascades, with the listed labels (a `graph cascades` output will do)
    labels = tmp_path / "judged.jsonl"
    labels.write_text(json.dumps({"cascade_id": "3", "label": "false"}) + "\n\n" + json.dumps(rows["5"]) + "\n")
    result = run(graph_app, ["history", "--input", str(folder), "--format", "twitter1516", "--output", str(history),
                             "--labels", str(labels)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(history.read_text())["records"] == {"c": [1, 1], "d": [1, 1]}


def test_history_cli_refuses_bad_input(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from flockwatch.cli.graph import graph_app

    run = CliRunner().invoke
    folder = _twitter_folder(tmp_path, {"1": ["a"]}, {"1": "unverified"})
    history, out = tmp_path / "history.json", tmp_path / "out.jsonl"
    base = ["--input", str(folder), "--format", "twitter1516"]
    result = run(graph_app, ["history", *base, "--output", str(history)])
    assert result.exit_code == 2 and "no cascade with a false/true" in result.output and not history.exists()
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"cascade_id": "1"}\n')
    result = run(graph_app, ["history", *base, "--output", str(history), "--labels", str(labels)])
    assert result.exit_code == 2 and "line 1" in result.output
    history.write_text('{"format": "something else"}')
    result = run(graph_app, ["cascades", *base, "--output", str(out), "--history", str(history)])
    assert result.exit_code == 2 and "not a flockwatch.account_history/1 file" in result.output
    model = tmp_path / "model.json"
    committed = json.loads((Path(__file__).parents[3] / "models" / "cascade_risk" / "model.json").read_text())
    model.write_text(json.dumps({**committed, "history_fusion": None}))
    result = run(graph_app, ["cascades", *base, "--output", str(out), "--history", str(history), "--model", str(model)])
    assert result.exit_code == 2 and "no history weights" in result.output
