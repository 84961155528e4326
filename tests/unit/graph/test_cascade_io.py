"""Cascade readers: the repairs the jsonl reader makes are counted, damaged bytes cost a line, not the run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flockwatch.graph.cascade_io import read_posts_jsonl, read_twitter1516, tree_of
from flockwatch.graph.cascades import Tree
from flockwatch.schema import Author, Post, SourceRef

T0 = datetime(2023, 1, 1, tzinfo=UTC)


def post(pid: str, minutes: float, reshare: str | None = None, root: str | None = None) -> str:
    return Post(platform="x", platform_id=pid, author=Author(id=f"u{pid}"), created_at=T0 + timedelta(minutes=minutes),
                reshare_of=reshare, root_id=root, source=SourceRef(format="t", uri="t")).model_dump_json()  # fmt: skip


def trees(tmp_path: Path, lines: list[str]) -> dict[str, Tree]:
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {c.cascade_id: tree_of(c) for c in read_posts_jsonl(path)}


def test_duplicates_keep_the_earliest_copy_and_are_counted(tmp_path: Path) -> None:
    lines = [post("r", 0), post("a", 10, "r"), post("a", 5, "r"), post("r", 0), post("b", 20, "a"), post("b", 20, "r")]
    [tree] = trees(tmp_path, lines).values()
    assert tree.repairs.duplicates == 3
    assert dict(zip(tree.ids, tree.time, strict=True)) == {"x:r": 0.0, "x:a": 300.0, "x:b": 1200.0}
    assert tree.parent[tree.ids.index("x:b")] == tree.ids.index("x:a")  # equal times: the first copy


def test_a_loop_is_one_cycle_rooted_at_its_earliest_post(tmp_path: Path) -> None:
    lines = [post("b", 20, "a"), post("a", 10, "b"), post("c", 30, "a")]
    assert {k: (t.ids, t.repairs.cycles, t.repairs.skewed) for k, t in trees(tmp_path, lines).items()} == {
        "x:a": (["x:a", "x:b", "x:c"], 1, 0)
    }
    # The loop's earliest post, not its smallest key: no time is moved.
    loop = [post("a", 10, "c"), post("b", 20, "a"), post("c", 5, "b"), post("r", 0), post("d", 40, "r")]
    got = trees(tmp_path, loop)
    assert got["x:c"].ids == ["x:c", "x:a", "x:b"] and got["x:c"].repairs.cycles == 1
    assert got["x:c"].repairs.skewed == 0 and got["x:r"].repairs.cycles == 0


def test_self_loops_are_counted_at_the_root_and_below_it(tmp_path: Path) -> None:
    got = trees(tmp_path, [post("r", 0), post("a", 10, "a")])
    assert got["x:a"].repairs.self_loops == 1 and got["x:r"].repairs.self_loops == 0
    below = trees(tmp_path, [post("R", 0), post("b", 10, "b", root="R")])["x:R"]
    assert (below.repairs.self_loops, below.repairs.extra_roots) == (1, 0)


def test_a_root_whose_parent_is_in_its_own_cascade_is_a_cycle(tmp_path: Path) -> None:
    [tree] = trees(tmp_path, [post("R", 0, "a", root="R"), post("a", 10, "R", root="R")]).values()
    assert tree.ids == ["x:R", "x:a"] and tree.repairs.cycles == 1


def test_missing_parents_are_counted_under_a_named_root(tmp_path: Path) -> None:
    got = trees(tmp_path, [post("R", 0), post("a", 10, "Q", root="R"), post("b", 20, "zz")])
    assert got["x:R"].repairs.missing_parents == 1
    # Without root_id the absent parent is the top of the chain: a placeholder root, nothing attached elsewhere.
    assert got["x:zz"].repairs.placeholder_root and got["x:zz"].repairs.missing_parents == 0


def test_invalid_utf8_costs_a_line_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "posts.jsonl"
    path.write_bytes(b"\n".join([post("r", 0).encode(), b"\xff\xfe garbage", post("a", 1, "r").encode(), b""]))
    [c] = read_posts_jsonl(path)
    assert sorted(e.id for e in c.events) == ["x:a", "x:r"]


def test_twitter_folder_with_invalid_utf8(tmp_path: Path) -> None:
    (tmp_path / "7.txt").write_bytes(
        b"['ROOT', 'ROOT', '0.0']->['1', '7', '0.0']\n\xff\xfe\n['1', '7', '0.0']->['2', '7', '1.0']\n"
    )
    (tmp_path / "label.txt").write_bytes(b"false:7\n\xe9t\xe9:8\n")
    [c] = read_twitter1516(tmp_path)
    assert c.label == "false" and len(c.events) == 2


def test_twitter_path_without_trees_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="tree"):
        next(read_twitter1516(tmp_path / "nowhere"))


# Posts with random parents, copies, self-loops and loops (no root_id): every post lands in one tree, every copy
# is counted, and every parent link the tree does not keep is counted as the repair that dropped it.
_ids = st.sampled_from("abcdefgh")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_ids, st.integers(0, 50), st.one_of(st.none(), _ids, st.just("zz"))), max_size=20))
def test_every_post_in_one_tree_every_repair_counted(tmp_path_factory: Any, rows: list[tuple[str, int, Any]]) -> None:
    got = trees(tmp_path_factory.mktemp("p"), [post(pid, t, parent) for pid, t, parent in rows])
    kept: dict[str, tuple[int, str | None]] = {}
    for pid, t, parent in rows:  # the earliest copy, the first of equal times
        if pid not in kept or t < kept[pid][0]:
            kept[pid] = (t, parent)
    placeholders = {t.ids[0] for t in got.values() if t.repairs.placeholder_root}
    assert sorted(i for t in got.values() for i in t.ids if i not in placeholders) == sorted(f"x:{p}" for p in kept)
    assert sum(t.repairs.duplicates for t in got.values()) == len(rows) - len(kept)
    for tree in got.values():
        dropped = 0
        for i, node in enumerate(tree.ids):
            if node in placeholders:
                continue
            parent = kept[node[2:]][1]
            if parent is not None and (i == 0 or tree.ids[tree.parent[i]] != f"x:{parent}"):
                dropped += 1
        r = tree.repairs
        assert dropped == r.missing_parents + r.self_loops + r.cycles, (tree.ids, r)
