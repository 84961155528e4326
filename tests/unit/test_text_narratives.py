"""Narratives: copypasta and paraphrases join, ids are stable across runs and restarts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flockwatch.text.narratives import NarrativeIndex, assign_all, narrative_id_for
from flockwatch.text.normalize import copy_form, normalize_text

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
    return [normalize_text(p) for p in POSTS]


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
    a = normalize_text("The election was stolen by massive voter fraud in three swing states")
    b = normalize_text("Massive voter fraud in three swing states stole this election from the people")
    c = normalize_text("Lovely weather for a picnic by the lake with the whole family today")
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
    d = normalize_text("Three swing states had massive voter fraud and the election was stolen from us")
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
