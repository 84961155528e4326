"""Real IRA posts through Kafka: normalize → text scores → store; every post document gets its text_score."""

from __future__ import annotations

import pytest

from flockwatch.config import Settings
from flockwatch.replayer import replay
from flockwatch.store import IndexKind, OpenSearchStore
from flockwatch.workers import STAGES, run_until_caught_up

pytestmark = pytest.mark.integration

N = 3000


def test_text_scores_land_in_post_documents(settings: Settings) -> None:
    assert STAGES.index("normalize") < STAGES.index("text") < STAGES.index("index") < STAGES.index("rollups")
    report = replay(settings, "ira_2016", limit=N)
    assert report.produced == N
    normalized = run_until_caught_up("normalize", settings)
    scored = run_until_caught_up("text", settings)
    indexed = run_until_caught_up("index", settings)
    n_posts = normalized["normalized"]
    assert n_posts > 0
    assert scored["text_scored"] == n_posts
    assert scored.get("dead_lettered", 0) == 0
    assert scored.get("text_machine", 0) + scored.get("text_human", 0) + scored.get("text_unscored", 0) == n_posts
    assert indexed["indexed"] == 2 * n_posts  # the post and its score, merged into one document

    store = OpenSearchStore(settings)
    store.refresh()
    assert store.count(IndexKind.posts) <= n_posts
    with_score = store.query_string(IndexKind.posts, "_exists_:text_score.label", size=50)
    assert len(with_score) == 50
    labels = set()
    for doc in with_score:
        ts = doc["text_score"]
        labels.add(ts["label"])
        assert ts["model"].startswith("text_detector@")
        assert ts["evidence"], doc["key"]
        if ts["label"] == "unscored":
            assert "machine_score" not in ts
            assert any(e["signal"] == "unscored" for e in ts["evidence"])
        else:
            assert 0.0 <= ts["machine_score"] <= 1.0
            assert ts["evidence"][0]["signal"] in ("model.machine_probability", "rule.llm_artefact",
                                                   "rule.self_disclosure", "rule.refusal")  # fmt: skip
        assert doc["text"]  # the post fields are there too
    assert labels & {"human", "machine"}
    # Non-English IRA posts (the dataset tags their language) are unscored, with that reason.
    tagged = store.query_string(IndexKind.posts, "language:ru AND _exists_:text_score.label", size=5)
    for doc in tagged:
        assert doc["text_score"]["label"] in ("unscored", "machine")
    # Searchable by label.
    assert store.count(IndexKind.posts) >= len(store.query_string(IndexKind.posts, "text_score.label:human", size=10))
