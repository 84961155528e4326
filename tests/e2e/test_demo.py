"""The README's main command end to end: `flockwatch demo` on a real slice of IRA 2016."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from flockwatch.config import Settings
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.text.canonical import canonical_text, copy_form, decode_text
from tests.expected import expected_normalize_counts, expected_normalized_records, expected_posts

pytestmark = pytest.mark.e2e

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))


def test_help_lists_the_commands() -> None:
    out = subprocess.run([FLOCKWATCH, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("up", "down", "status", "replay", "worker", "demo", "search", "top"):
        assert f" {command} " in out, command


@pytest.mark.store
@pytest.mark.store_long
def test_demo_replays_and_indexes_every_post() -> None:
    """Every one of the seven stages did exactly what it promises on a known slice (counts computed in-process)."""
    tag = f"e2e{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "FLOCKWATCH_TOPIC_PREFIX": tag, "FLOCKWATCH_INDEX_PREFIX": tag}
    n = 5000
    try:
        done = subprocess.run(
            [FLOCKWATCH, "demo", "--limit", str(n), "--json"], env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        summary = json.loads(done.stdout)
        stages = summary["stages"]
        assert set(stages) == {"normalize", "text", "media", "index", "rollups", "graph", "alerts"}

        split = expected_normalize_counts("ira_2016", n)
        posts = expected_posts("ira_2016", n)
        normalized, distinct = split["normalized"], len(posts)
        authors = Counter(f"{p.platform}:{p.author.id}" for p in posts.values())
        assert summary["posts_read"] == summary["posts_produced"] == n
        assert (summary["normalized"], summary["skipped_not_posts"], summary["dead_lettered"]) == (
            normalized,
            split["skipped"],
            split["dead_lettered"],
        )
        # normalize: every raw record consumed, exactly the expected split.
        assert stages["normalize"]["consumed"] == n
        assert stages["normalize"]["normalized"] == normalized
        # text: every normalised post scored and given a narrative (each joins one way), except the posts
        # with nothing left to compare once URLs and mentions are gone ("empty").
        text = stages["text"]
        assert text["consumed"] == text["text_scored"] == normalized
        assert sum(v for k, v in text.items() if k.startswith("narrative_")) == normalized
        records = expected_normalized_records("ira_2016", n)
        assert text.get("narrative_empty", 0) == sum(
            not copy_form(canonical_text(decode_text(p.text))) for p in records
        )
        # media: every post seen; IRA posts carry no media, and each is counted as such.
        assert stages["media"]["consumed"] == normalized
        assert stages["media"]["media_none"] == normalized - sum(1 for p in posts.values() if p.media)
        # index: posts and their text scores, all written; the store holds each distinct post once, scored.
        assert stages["index"]["consumed"] == stages["index"]["indexed"] == 2 * normalized
        assert summary["indexed_in_store"] == distinct
        assert summary["stored_text_scored_posts"] == distinct
        # rollups: one account document per author, one narrative document per narrative id in the posts.
        assert stages["rollups"]["consumed"] == normalized
        assert summary["stored_accounts"] == len(authors)
        store = open_store(Settings(topic_prefix=tag, index_prefix=tag))
        narrative_ids = store.posts.top_values("narrative_id", size=n)
        assert summary["stored_narratives"] == len(narrative_ids) > 0
        busiest, count = authors.most_common(1)[0]
        account = store.engine.get(IndexKind.accounts, busiest)
        assert account is not None and account["post_count"] == count
        # graph: every post placed. Its dedupe memory is bounded by event time, so a row captured twice far
        # apart is placed twice (idempotent writes): between the distinct posts and every normalised one.
        assert stages["graph"]["consumed"] == normalized
        assert distinct <= stages["graph"]["posts"] <= normalized
        assert stages["graph"].get("rejected", 0) == 0  # counted when the store rejects a document
        assert summary["stored_cascades"] > 0 and summary["stored_coordination_edges"] > 0
        # alerts: every post read and judged with its stored text score; every new alert stored.
        alerts = stages["alerts"]
        assert alerts["consumed"] == alerts["text_scores"] == normalized and not alerts.get("alerts_incomplete_posts")
        assert alerts["posts"] + alerts.get("duplicate_posts", 0) == normalized and alerts["posts"] >= distinct
        assert summary["stored_alerts"] == stages["alerts"]["alerts_new"] > 0

        # The demo ends with the API's URL and an analyst token that the API accepts.
        from flockwatch.api.app import api_paths

        assert summary["api"]["url"] == "http://127.0.0.1:8000/api/v1/"
        tokens, _ = api_paths(Settings())
        who = tokens.principal(summary["api"]["token"])
        assert who is not None and (who.name, who.role.value) == ("demo", "analyst")
        assert summary["api"]["dashboard"] == "http://127.0.0.1:8000/"
        see_the_alerts_in_the_dashboard(env, summary["api"]["token"], summary["stored_alerts"])

        # The suggested query really finds posts.
        query = next(q for q in summary["example_queries"] if q.startswith("flockwatch search"))
        hits = subprocess.run(
            [FLOCKWATCH, "search", query.split(" ", 2)[2].strip('"'), "--size", "3"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        assert len(hits) == 3 and all(json.loads(h)["source"]["format"] == "ira_2016" for h in hits)
    finally:
        open_store(Settings(topic_prefix=tag, index_prefix=tag)).engine.drop_all()


def see_the_alerts_in_the_dashboard(env: dict[str, str], token: str, alerts: int) -> None:
    """`flockwatch serve`, then the dashboard in headless Chromium signed in with the demo's token: the alerts feed
    over the demo's data, and the first alert's evidence in words (screenshots in test-artifacts/dashboard/)."""
    from tests.browser import chromium, free_port, screenshot, sign_in

    port = free_port()
    server = subprocess.Popen([FLOCKWATCH, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    try:
        with chromium() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(page, f"http://127.0.0.1:{port}", token, wait_for_server=True)
            assert "demo (analyst)" in page.inner_text("#who")
            cards = page.locator("article.alert")
            assert cards.count() == min(alerts, 50)  # the feed's first page
            screenshot(page, "demo-01-alerts-feed")
            first = cards.nth(0)
            first.get_by_role("button", name="Evidence").click()
            first.locator(".brief h2").first.wait_for()
            brief = first.locator(".brief").inner_text()
            assert "Accounts behind it" in brief and "Earliest posts" in brief
            assert first.locator(".brief tbody tr").count() > 0  # the posts (and accounts) behind the alert
            screenshot(page, "demo-02-alert-evidence")
    finally:
        server.terminate()
        server.wait(timeout=30)


# What third-party chatter looks like on a terminal: a Python warning ("path:12: FutureWarning: ..." and its
# "  warnings.warn(" source line), a library's log line in logging's default format ("WARNING:root:..."),
# a tqdm bar ("103/103 [00:00<00:00, 1825.49it/s]") and the tokenizers fork notice.
THIRD_PARTY_NOISE = re.compile(
    r"\w+Warning: |^\s*warnings\.warn|^(DEBUG|INFO|WARNING|ERROR|CRITICAL):\w"
    r"|[\d?.]+(it/s|s/it)\]|huggingface/tokenizers",
    re.MULTILINE,
)


KAFKA_ERROR = re.compile(r"^(ERROR|CRITICAL):kafka\.")


# Not marked `store`: what the model libraries print does not depend on the engine, so the Elasticsearch leg skips it.
def test_demo_output_carries_no_third_party_noise(tmp_path: Path) -> None:
    """A first run (empty model cache: MiniLM is exported to ONNX, which makes torch, transformers and onnxruntime
    talk) prints the demo's own lines only."""
    tag = f"e2e{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "FLOCKWATCH_TOPIC_PREFIX": tag,
        "FLOCKWATCH_INDEX_PREFIX": tag,
        "FLOCKWATCH_MODEL_CACHE": str(tmp_path / "models"),
    }
    for name in ("FLOCKWATCH_VERBOSE", "PYTHONWARNINGS"):
        env.pop(name, None)
    try:
        done = subprocess.run(
            [FLOCKWATCH, "demo", "--limit", "50"], env=env, capture_output=True, text=True, timeout=600
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, done.stderr[-3000:]
        assert "Flockwatch demo: ira_2016" in done.stdout
        assert any((tmp_path / "models").rglob("*.onnx")), "the model cache was not exercised"
        lines = output.splitlines()
        # The Kafka client's own errors are shown by design (flockwatch.cli.quiet: they are about the deployment);
        # kafka-python's IO loop logs one now and then when a connection closes mid-read.
        noise = [i for i, line in enumerate(lines) if THIRD_PARTY_NOISE.search(line) and not KAFKA_ERROR.match(line)]
        # Each noisy line with what follows it: a library's ERROR is only diagnosable with its traceback.
        assert not noise, "\n---\n".join("\n".join(lines[i : i + 25]) for i in noise)
    finally:
        open_store(Settings(topic_prefix=tag, index_prefix=tag)).engine.drop_all()
