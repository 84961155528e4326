"""Narratives: copypasta and paraphrases join, ids are stable across runs and restarts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flockwatch.text.canonical import canonical_text, copy_form
from flockwatch.text.narratives import NarrativeIndex, assign_all, narrative_id_for

POSTS = [
    "BREAKING: Hillary's emails show she lied about Benghazi #tcot https://t.co/aaa",
    "RT @someone: BREAKING: Hillary's emails show she lied about Benghazi #tcot https://t.co/bbb",
    "breaking hillary's emails show she lied about benghazi tcot!!!",
    "BREAKING: Hillary's emails show she LIED about Benghazi #tcot #maga",
    "Going to the game tonight with my brother, can't wait",
    "🔥🔥🔥",
    "",
]


def texts() -> list[str]:
    return [canonical_text(p) for p in POSTS]


def test_copies_join_and_distinct_text_does_not() -> None:
    got = assign_all(NarrativeIndex(), texts())
    ids = [a.narrative_id for a in got]
    assert ids[0] == ids[1] == ids[2] == ids[3]
    assert [a.how for a in got[:4]] == ["new", "exact", "exact", "near_copy"]
    assert 0.5 <= got[3].similarity < 1.0
    assert ids[4] not in (None, ids[0])
    assert got[5].narrative_id is None and got[5].how == "empty"
    assert got[6].narrative_id is None
    # The id comes from the first member's copy form: it is reproducible from the text alone.
    assert ids[0] == narrative_id_for(copy_form(texts()[0]))


def test_same_input_same_ids_every_run() -> None:
    first = [a.narrative_id for a in assign_all(NarrativeIndex(), texts())]
    second = [a.narrative_id for a in assign_all(NarrativeIndex(), texts())]
    assert first == second


def test_ids_survive_a_restart(tmp_path: Path) -> None:
    whole = [a.narrative_id for a in assign_all(NarrativeIndex(), texts())]
    index = NarrativeIndex()
    head = [a.narrative_id for a in assign_all(index, texts()[:1])]
    index.save(tmp_path / "state")
    restarted = NarrativeIndex.load(tmp_path / "state")
    tail = [a.narrative_id for a in assign_all(restarted, texts()[1:])]
    assert head + tail == whole
    assert whole[0] is not None and restarted.stats[whole[0]].post_count == 4
    # Loading from a folder with no state gives an empty index.
    assert len(NarrativeIndex.load(tmp_path / "nothing")) == 0


def test_paraphrase_by_embedding_neighbours(tmp_path: Path) -> None:
    a = canonical_text("The election was stolen by massive voter fraud in three swing states")
    b = canonical_text("Massive voter fraud in three swing states stole this election from the people")
    c = canonical_text("Lovely weather for a picnic by the lake with the whole family today")
    base = np.zeros(384, dtype=np.float32)
    base[0] = 1.0
    near = base.copy()
    near[1] = 0.3
    near /= np.linalg.norm(near)
    far = np.zeros(384, dtype=np.float32)
    far[2] = 1.0
    index = NarrativeIndex()
    got = [index.assign(t, v) for t, v in ((a, base), (b, near), (c, far))]
    assert got[1].how == "paraphrase" and got[1].narrative_id == got[0].narrative_id
    assert got[1].similarity > 0.9
    assert got[2].how == "new"
    index.save(tmp_path)
    again = NarrativeIndex.load(tmp_path)
    d = canonical_text("Three swing states had massive voter fraud and the election was stolen from us")
    assert again.assign(d, near).narrative_id == got[0].narrative_id


def test_stats_for_the_store() -> None:
    from datetime import UTC, datetime

    index = NarrativeIndex()
    t = texts()[0]
    index.assign(t, raw=POSTS[0], platform="twitter", account="a", created_at=datetime(2016, 10, 2, tzinfo=UTC),
                 machine=True)  # fmt: skip
    index.assign(t, raw=POSTS[0], platform="bluesky", account="b", created_at=datetime(2016, 10, 1, tzinfo=UTC),
                 machine=False)  # fmt: skip
    doc = next(iter(index.stats.values())).as_document()
    assert doc["post_count"] == 2 and doc["platforms"] == {"twitter": 1, "bluesky": 1}
    assert doc["first_seen"].startswith("2016-10-01") and doc["last_seen"].startswith("2016-10-02")
    assert doc["machine_share"] == 0.5 and doc["account_count"] == 2
    assert doc["representative_text"] == POSTS[0]


def _vec(i: int) -> np.ndarray:
    v = np.zeros(384, dtype=np.float32)
    v[i] = 1.0
    return v


LONG = [
    canonical_text("The election was stolen by massive voter fraud in three swing states"),
    canonical_text("Massive voter fraud in three swing states stole this election from the people"),
    canonical_text("Lovely weather for a picnic by the lake with the whole family today"),
    canonical_text("BREAKING: Hillary's emails show she lied about Benghazi #tcot"),
    canonical_text("BREAKING: Hillary's emails show she LIED about Benghazi #tcot #maga"),
]
VECS = [_vec(0), _vec(0) * 0.95 + _vec(1) * 0.31, _vec(2), _vec(3), _vec(3)]


def test_journal_commit_restart_and_replay(tmp_path: Path) -> None:
    ids = [f"p{i}" for i in range(len(LONG))]
    reference = NarrativeIndex(track_stats=False)
    whole = [reference.assign(t, v, item_id=k) for t, v, k in zip(LONG, VECS, ids, strict=True)]
    index = NarrativeIndex(track_stats=False)
    head = [index.assign(t, v, item_id=k) for t, v, k in zip(LONG[:3], VECS[:3], ids[:3], strict=True)]
    assert index.commit(tmp_path) > 0 and (tmp_path / "journal.jsonl").exists()
    assert not (tmp_path / "narratives.json").exists()  # a commit appends; no snapshot yet
    restarted = NarrativeIndex.load(tmp_path, track_stats=False)
    tail = [restarted.assign(t, v, item_id=k) for t, v, k in zip(LONG[3:], VECS[3:], ids[3:], strict=True)]
    assert [(a.narrative_id, a.how) for a in head + tail] == [(a.narrative_id, a.how) for a in whole]
    assert [a.how for a in whole] == ["new", "paraphrase", "new", "new", "near_copy"]
    # A redelivered post answers as the first time (a later post with its words would be "exact").
    assert restarted.assign(LONG[1], VECS[1], item_id="p1") == head[1]
    assert restarted.assign(LONG[4], VECS[4], item_id="p4") == tail[1]
    assert restarted.assign(LONG[4], VECS[4], item_id="other").how == "exact"
    restarted.commit(tmp_path)
    again = NarrativeIndex.load(tmp_path, track_stats=False)
    assert again.assign(LONG[4], VECS[4], item_id="p4") == tail[1]


def test_journal_drops_a_torn_line_and_snapshots(tmp_path: Path) -> None:
    index = NarrativeIndex(track_stats=False)
    first = index.assign(LONG[0], VECS[0], item_id="a")
    index.commit(tmp_path)
    index.assign(LONG[2], VECS[2], item_id="b")
    index.commit(tmp_path)
    journal = tmp_path / "journal.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join(lines[:-1]) + lines[-1][:20])  # crash in the middle of the last write
    loaded = NarrativeIndex.load(tmp_path, track_stats=False)
    assert journal.read_bytes() == b"".join(lines[:-1])  # truncated to whole lines: appends stay parseable
    assert loaded.assign(LONG[0], VECS[0], item_id="a") == first
    # A snapshot holds everything and empties the journal; later changes go to a new journal.
    loaded.assign(LONG[3], VECS[3], item_id="c")
    loaded.commit(tmp_path, snapshot_every=1)
    assert (tmp_path / "narratives.json").exists() and not journal.exists()
    later = loaded.assign(LONG[2], VECS[2], item_id="d")
    loaded.commit(tmp_path)
    final = NarrativeIndex.load(tmp_path, track_stats=False)
    assert final.assign(LONG[2], VECS[2], item_id="d") == later
    assert final.assign(LONG[3], VECS[3], item_id="zz").how == "exact"
    assert len(list(tmp_path.glob("narratives-*.npz"))) == 1
