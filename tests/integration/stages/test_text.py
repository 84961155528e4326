"""Real IRA posts through Kafka: normalize → text scores → store; every post document gets its text_score."""

from __future__ import annotations

from collections import Counter

import pytest

from flockwatch.adapters.replayer import replay
from flockwatch.config import Settings
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.workers import STAGES, run_until_caught_up
from tests.expected import expected_normalize_counts, expected_posts

pytestmark = [pytest.mark.integration, pytest.mark.store]

N = 3000
RULE_SIGNALS = ("model.machine_probability", "rule.llm_artefact", "rule.self_disclosure", "rule.refusal")


def test_text_scores_land_in_post_documents(settings: Settings) -> None:
    assert STAGES.index("normalize") < STAGES.index("text") < STAGES.index("index") < STAGES.index("rollups")
    report = replay(settings, "ira_2016", limit=N)
    assert report.produced == N
    normalized = run_until_caught_up("normalize", settings)
    scored = run_until_caught_up("text", settings)
    indexed = run_until_caught_up("index", settings)
    n_posts = normalized["normalized"]
    assert n_posts == expected_normalize_counts("ira_2016", N)["normalized"]
    assert scored["text_scored"] == n_posts
    assert scored.get("dead_lettered", 0) == 0
    assert scored.get("text_machine", 0) + scored.get("text_human", 0) + scored.get("text_unscored", 0) == n_posts
    assert indexed["indexed"] == 2 * n_posts  # the post and its score, merged into one document

    store = open_store(settings)
    store.engine.refresh()
    # Records repeated in the dataset share a post key and collapse into one document: compare with the
    # in-process normalisation of the same prefix, key for key.
    expected = expected_posts("ira_2016", N)
    assert store.engine.count(IndexKind.posts) == len(expected)
    docs = list(store.engine.scan(IndexKind.posts, {"match_all": {}}, [{"key": "asc"}]))
    assert {d["key"] for d in docs} == set(expected)
    labels: Counter[str] = Counter()
    for doc in docs:
        assert doc["text"] == expected[doc["key"]].text  # the post fields are there too
        ts = doc.get("text_score")
        assert ts is not None, doc["key"]
        labels[ts["label"]] += 1
        assert ts["model"].startswith("text_detector@"), doc["key"]
        assert ts["evidence"], doc["key"]
        if ts["label"] == "unscored":
            assert ts["machine_score"] is None and ts["interval"] is None, doc["key"]  # written as nulls
            assert any(e["signal"] == "unscored" for e in ts["evidence"]), doc["key"]
        else:
            assert ts["label"] in ("human", "machine"), doc["key"]
            assert 0.0 <= ts["machine_score"] <= 1.0, doc["key"]
            assert ts["evidence"][0]["signal"] in RULE_SIGNALS, doc["key"]
        # Non-English IRA posts (the dataset tags their language) are unscored, with that reason.
        if doc.get("language") == "ru":
            assert ts["label"] in ("unscored", "machine"), doc["key"]
    assert labels["human"] + labels["machine"] > 0
    # Each stored label is one the stage counted (a repeated record is scored once per delivery).
    for label, n in labels.items():
        assert n <= scored.get(f"text_{label}", 0), (label, n, scored)
    # Searchable by label: the keyword field answers with exactly the documents that carry it.
    for label, n in labels.items():
        assert store.engine.count(IndexKind.posts, {"term": {"text_score.label": label}}) == n, label
