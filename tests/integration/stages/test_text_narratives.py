"""Real IRA posts through Kafka and OpenSearch: narrative ids on the stream, stable across a worker restart and a
replay; narrative and account documents that match a recomputation from the stored posts, unchanged by a replay."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flockwatch.adapters.kafka_bus import run_stage
from flockwatch.adapters.replayer import replay
from flockwatch.config import Settings
from flockwatch.messages import InMessage, StageOutcome
from flockwatch.schema import TextScore
from flockwatch.stages.text import TextScoreStage, score_batch
from flockwatch.store import Store, open_store
from flockwatch.store.documents import IndexKind
from flockwatch.text.canonical import canonical_text, copy_form
from flockwatch.text.detector import shared_detector, stored_threshold
from flockwatch.text.narratives import NarrativeConfig, NarrativeIndex
from flockwatch.text.rollup import AccountPosts, account_document, narrative_document, summarize_posts
from flockwatch.topics import Topic
from flockwatch.workers import build_stage, group_id, narrative_state_dir, run_until_caught_up
from tests.expected import expected_posts

pytestmark = [pytest.mark.integration, pytest.mark.store]

N = 600


@dataclass
class Recording:
    """A text stage that keeps each batch it processed and the scores it emitted, in order."""

    inner: TextScoreStage
    batches: list[list[InMessage]] = field(default_factory=list)
    scores: list[TextScore] = field(default_factory=list)
    name: str = "text"
    inputs: tuple[Topic, ...] = (Topic.normalized,)

    def process(self, messages: Sequence[InMessage]) -> StageOutcome:
        outcome = self.inner.process(messages)
        self.batches.append(list(messages))
        self.scores += [TextScore.model_validate_json(o.value) for o in outcome.out if o.topic == Topic.text_scores]
        return outcome


def text_stage(settings: Settings) -> Recording:
    stage = build_stage("text", settings)
    assert isinstance(stage, TextScoreStage)
    return Recording(stage)


def run_text(settings: Settings, stage: Recording, stop_after: int | None = None) -> None:
    stop = threading.Event()

    def count(_: object) -> None:
        if stop_after is not None and len(stage.batches) >= stop_after:
            stop.set()

    run_stage(
        settings,
        stage,
        group_id(settings, "text"),
        stop=stop,
        until_caught_up=True,
        max_seconds=300,
        max_poll_records=200,
        on_batch=count,
    )


def stored(store: Store, kind: IndexKind, sort: str) -> dict[str, dict[str, Any]]:
    store.engine.refresh()
    return {
        d["_id"]: {k: v for k, v in d.items() if k != "_id"}
        for d in store.engine.scan(kind, {"match_all": {}}, [{sort: "asc"}])
    }


def same_time(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    return datetime.fromisoformat(a.replace("Z", "+00:00")) == datetime.fromisoformat(b.replace("Z", "+00:00"))


def restarted_text_worker(settings: Settings) -> tuple[int, Recording, Recording]:
    """N IRA posts normalised, then a text worker that stops after one batch and a new one (a restart) that loads
    the persisted state: (posts normalised, first worker, second worker)."""
    assert replay(settings, "ira_2016", limit=N).produced == N
    n_posts = run_until_caught_up("normalize", settings)["normalized"]
    first = text_stage(settings)
    run_text(settings, first, stop_after=1)
    assert len(first.batches) == 1 and (narrative_state_dir(settings) / "journal.jsonl").exists()
    second = text_stage(settings)
    run_text(settings, second)
    assert len(first.scores) + len(second.scores) == n_posts
    return n_posts, first, second


def uninterrupted(workers: Sequence[Recording], config: NarrativeConfig) -> list[tuple[str, str | None, Any]]:
    """(post key, narrative id, how) of one index, never restarted, fed the batches the workers processed."""
    reference = NarrativeIndex(config, track_stats=False)
    expected = []
    for batch in (b for w in workers for b in w.batches):
        for out in score_batch(batch, shared_detector(), narratives=reference).out:
            ts = TextScore.model_validate_json(out.value)
            expected.append((ts.post_key, ts.narrative_id, ts.narrative_how))
    return expected


def test_narratives_on_the_stream(settings: Settings, tmp_path: Path) -> None:
    settings = settings.model_copy(update={"state_dir": tmp_path})
    n_posts, first, second = restarted_text_worker(settings)
    scores = first.scores + second.scores
    # Every probability the model gave comes with its uncertainty, a range holding the score; no other has one.
    modelled = [s for s in scores if any(e.signal == "model.machine_probability" for e in s.evidence)]
    assert modelled and all(
        s.interval is not None and s.machine_score is not None and s.interval[0] <= s.machine_score <= s.interval[1]
        for s in modelled
    )
    assert all(s.interval is None for s in scores if s not in modelled)
    by_key = {s.post_key: (s.narrative_id, s.narrative_how) for s in scores}
    # Every post with words has a narrative (texts of emoji or links only have none).
    texts = {k: copy_form(canonical_text(p.text)) for k, p in expected_posts("ira_2016", N).items()}
    assert {k for k, (nid, _) in by_key.items() if nid} == {k for k, form in texts.items() if form}
    hows = [how for _, how in by_key.values()]
    assert hows.count("exact") + hows.count("near_copy") >= 5, hows  # IRA reposts the same texts

    # The restart changed nothing: one uninterrupted index fed the same batches gives the same ids.
    config = NarrativeConfig(generation_forms=settings.narrative_generation_forms)
    assert [(s.post_key, s.narrative_id, s.narrative_how) for s in scores] == uninterrupted([first, second], config)
    # ... and some posts after the restart joined narratives born before it.
    before = {s.narrative_id for s in first.scores if s.narrative_how == "new"}
    assert any(s.narrative_id in before and s.narrative_how != "new" for s in second.scores)

    indexed = run_until_caught_up("index", settings)
    assert indexed["indexed"] == 2 * n_posts
    assert "narratives_updated" not in indexed  # the index stage writes posts and scores only
    # The rollups stage, after the index caught up: every scored post is stored, so no batch waits.
    rolled = run_until_caught_up("rollups", settings)
    assert rolled["narratives_updated"] > 0 and rolled["accounts_updated"] > 0
    assert rolled["consumed"] == n_posts and "rollup_missing_posts" not in rolled and not rolled["retries"]
    store = open_store(settings)
    posts = stored(store, IndexKind.posts, "key")
    assert {k: (d.get("narrative_id"), d.get("narrative_how")) for k, d in posts.items()} == by_key
    stored_intervals = {k: d["text_score"].get("interval") for k, d in posts.items()}
    assert stored_intervals == {s.post_key: None if s.interval is None else list(s.interval) for s in scores}
    for d in posts.values():
        if d["text_score"].get("interval"):
            low, high = d["text_score"]["interval"]
            assert low <= d["text_score"]["machine_score"] <= high

    # Narrative documents are exactly what the stored posts say (the store aggregates, Python recomputes).
    narratives = stored(store, IndexKind.narratives, "narrative_id")
    want = {nid: narrative_document(s) for nid, s in summarize_posts(posts.values()).items()}
    assert set(narratives) == set(want)
    assert sum(d["post_count"] for d in narratives.values()) == sum(1 for nid, _ in by_key.values() if nid)
    for nid, doc in narratives.items():
        for name in ("first_seen", "last_seen"):
            assert same_time(doc.pop(name), want[nid].pop(name)), nid
        assert doc == want[nid], nid
    big = max(narratives.values(), key=lambda d: d["post_count"])
    assert big["post_count"] >= 3 and big["account_count"] >= 2 and big["platforms"] == {"twitter": big["post_count"]}
    assert big["representative_text"] and 0 <= big["machine_posts"] <= big["scored_posts"] <= big["post_count"]

    # Account documents: machine-likeness over each account's recent scored posts, with what it rests on.
    accounts = stored(store, IndexKind.accounts, "key")
    authors = {f"{d['platform']}:{d['author']['id']}" for d in posts.values()}
    assert set(accounts) == authors
    threshold = stored_threshold()
    for key, full in list(accounts.items())[:25]:
        doc = dict(full)
        mine = sorted((d for d in posts.values() if f"{d['platform']}:{d['author']['id']}" == key),
                      key=lambda d: (d["created_at"], d["key"]), reverse=True)  # fmt: skip
        recomputed = account_document(AccountPosts(key, doc["platform"], doc.get("handle"), mine[:200]), threshold)
        assert same_time(doc.pop("machine_last_seen"), recomputed.pop("machine_last_seen"))
        assert doc == recomputed, key
        assert doc["machine_n_posts"] == len(mine[:200]) and doc["machine_n_scored"] <= doc["machine_n_posts"]
    assert any(d["machine_n_scored"] > 0 for d in accounts.values())

    # The same input again, through a third text worker: same ids, same documents, same counts.
    assert replay(settings, "ira_2016", limit=N).produced == N
    run_until_caught_up("normalize", settings)
    third = text_stage(settings)
    run_text(settings, third)
    assert {s.post_key: (s.narrative_id, s.narrative_how) for s in third.scores} == by_key
    run_until_caught_up("index", settings)
    assert run_until_caught_up("rollups", settings)["consumed"] == n_posts
    again = stored(store, IndexKind.posts, "key")
    assert {k: (d.get("narrative_id"), d.get("narrative_how")) for k, d in again.items()} == by_key
    narratives_again = stored(store, IndexKind.narratives, "narrative_id")
    for doc in narratives_again.values():
        doc.pop("first_seen"), doc.pop("last_seen")
    assert narratives_again == narratives
    # Counts and labels exactly; the scores themselves were recomputed, and ONNX batches differ in the last bits.
    accounts_again = stored(store, IndexKind.accounts, "key")
    assert set(accounts_again) == set(accounts)
    for key, doc in accounts.items():
        doc, again_doc = dict(doc), dict(accounts_again[key])
        for name in ("machine_score", "machine_share"):
            assert again_doc.pop(name) == pytest.approx(doc.pop(name), abs=1e-6), key
        evidence, evidence_again = doc.pop("machine_evidence"), again_doc.pop("machine_evidence")
        assert [e["detail"] for e in evidence_again] == [e["detail"] for e in evidence], key
        assert again_doc == doc, key

    # What analysts list: the largest narratives and the accounts, from the same documents.
    from typer.testing import CliRunner

    from flockwatch.cli.app import app

    env = {"FLOCKWATCH_INDEX_PREFIX": settings.index_prefix}
    listed = CliRunner().invoke(app, ["top", "narratives", "-n", "3", "--json"], env=env)
    assert listed.exit_code == 0, listed.output
    top = [json.loads(line) for line in listed.output.splitlines()]
    assert top[0]["narrative_id"] == big["narrative_id"] or top[0]["post_count"] == big["post_count"]
    assert [d["post_count"] for d in top] == sorted((d["post_count"] for d in top), reverse=True)
    table = CliRunner().invoke(app, ["top", "accounts", "--min-scored", "1", "-n", "5"], env=env)
    assert table.exit_code == 0 and "score" in table.output.splitlines()[0], table.output
    assert len(table.output.splitlines()) == 1 + min(5, sum(d["machine_n_scored"] >= 1 for d in accounts.values()))


def test_narratives_on_the_stream_through_generations(settings: Settings, tmp_path: Path) -> None:
    # Generations of 150 copy forms: the 600 posts pass through several, so the index forgets, and the restart
    # finds one half full. The restarted worker still answers as one that never stopped.
    settings = settings.model_copy(update={"state_dir": tmp_path, "narrative_generation_forms": 150})
    _, first, second = restarted_text_worker(settings)
    scores = first.scores + second.scores
    config = NarrativeConfig(generation_forms=150)
    assert [(s.post_key, s.narrative_id, s.narrative_how) for s in scores] == uninterrupted([first, second], config)
    forms = {copy_form(canonical_text(p.text)) for p in expected_posts("ira_2016", N).values()} - {""}
    assert len(forms) > 2 * 150  # more than two generations hold
    assert second.inner.narratives is not None and second.inner.narratives.forms <= 2 * 150
    assert any(s.narrative_how in ("exact", "near_copy", "paraphrase") for s in second.scores)
