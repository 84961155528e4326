"""Who reshared, on the running pipeline: cascades judged through the API and the CLI (and listed in a file) read
back from the store give an account history (`flockwatch graph history --from-store`), and a graph worker started with
FLOCKWATCH_GRAPH_ACCOUNT_HISTORY writes cascade documents whose scores fuse it, with the evidence, exactly as the
pure core computes them.

Real IRA 2016 posts on real Kafka and OpenSearch; the judgements are made up by the test (alternate verdicts on
the largest cascades): this checks the wiring, not what the history is worth (the model card measures that).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from flockwatch.adapters.replayer import replay
from flockwatch.adapters.scratch import scratch_namespace
from flockwatch.api.access import Role
from flockwatch.api.app import API, api_paths, create_app
from flockwatch.cli.app import app
from flockwatch.config import Settings
from flockwatch.graph.account_history import AccountHistory, history_evidence, learn, resharers
from flockwatch.stages.graph import CascadeEntry, load_risk_model
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind
from flockwatch.workers import run_until_caught_up

pytestmark = [pytest.mark.integration]

N = 2_000
JUDGED = 30


def words(output: str) -> str:
    """A CLI error's words, out of the box the terminal drew around them."""
    return " ".join(output.replace("│", " ").split())


def run_graph(settings: Settings) -> list[dict[str, Any]]:
    assert replay(settings, "ira_2016", limit=N).produced == N
    run_until_caught_up("normalize", settings)
    run_until_caught_up("graph", settings)
    engine = open_store(settings).engine
    engine.refresh()
    return list(engine.scan(IndexKind.cascades, {"match_all": {}}, [{"cascade_id": "asc"}]))


def test_graph_worker_fuses_a_history_of_judged_stored_cascades(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = {d["cascade_id"]: d for d in run_graph(settings)}
    assert not any(d.get("resharer_history") for d in plain.values())  # no history configured: spread only
    largest = sorted((d for d in plain.values() if not d.get("merged_into")), key=lambda d: (-d["size"], d["_id"]))
    verdicts = {str(d["cascade_id"]): "false" if k % 2 == 0 else "true" for k, d in enumerate(largest[:JUDGED])}
    # a third judged by analysts, through the API (one changed their mind) and `graph verdict` (one withdrew and
    # judged again); the rest listed in a file
    by_analysts = dict(list(verdicts.items())[: JUDGED // 3])
    api_settings = settings.model_copy(update={"state_dir": tmp_path / "state"})
    token = api_paths(api_settings)[0].create("analyst", Role.analyst)
    client = TestClient(create_app(api_settings))
    monkeypatch.setenv("FLOCKWATCH_INDEX_PREFIX", settings.index_prefix)
    for k, (cid, label) in enumerate(by_analysts.items()):
        if k % 2:
            cli = CliRunner().invoke(app, ["graph", "verdict", cid, "--verdict", label, "--by", "ana", "--note", "n"])
            assert cli.exit_code == 0 and json.loads(cli.output)["verdict"] == label, cli.output
            continue
        for said in (["unverified"] if k == 0 else []) + [label]:
            put = client.put(f"{API}/cascades/{cid}/verdict", json={"verdict": said},
                             headers={"Authorization": f"Bearer {token}"})  # fmt: skip
            assert put.status_code == 200, put.text
    withdrawn = list(by_analysts)[1]
    assert json.loads(CliRunner().invoke(app, ["graph", "verdict", withdrawn, "--withdraw"]).output)["withdrawn"]
    again = CliRunner().invoke(app, ["graph", "verdict", withdrawn, "--withdraw"])
    assert again.exit_code == 2 and "has no verdict" in words(again.output)
    CliRunner().invoke(app, ["graph", "verdict", withdrawn, "--verdict", by_analysts[withdrawn]])
    listed = [json.loads(line) for line in CliRunner().invoke(app, ["graph", "verdicts"]).output.splitlines()]
    assert {v["cascade_id"]: v["verdict"] for v in listed} == by_analysts
    refused = CliRunner().invoke(app, ["graph", "verdict", "twitter:not-stored", "--verdict", "false"])
    assert refused.exit_code == 2 and "no cascade twitter:not-stored" in words(refused.output)
    target = str(largest[0]["cascade_id"])
    stub = {"cascade_id": "twitter:merged", "merged_into": target, "size": 0, "members": [], "events": []}
    open_store(settings).engine.put(IndexKind.cascades, "twitter:merged", stub)
    merged = CliRunner().invoke(app, ["graph", "verdict", "twitter:merged", "--verdict", "false"])
    assert merged.exit_code == 2 and f"merged into {target}: judge {target}" in words(merged.output)
    labels, history_path = tmp_path / "judged.jsonl", tmp_path / "history.json"
    rows = [{"cascade_id": cid, "label": label} for cid, label in verdicts.items() if cid not in by_analysts]
    rows.append({"cascade_id": "twitter:not-stored", "label": "false"})
    labels.write_text("".join(json.dumps(r) + "\n" for r in rows))

    only_analysts = CliRunner().invoke(app, ["graph", "history", "--from-store", "--output", str(history_path)])
    assert only_analysts.exit_code == 0, only_analysts.output
    assert set(AccountHistory.load(history_path).judged) == set(by_analysts)
    args = ["graph", "history", "--from-store", "--labels", str(labels), "--output", str(history_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"{JUDGED} judged cascades ({JUDGED // 2} flagged)" in result.output
    assert "1 judged cascades not in the store" in result.output
    history = AccountHistory.load(history_path)
    assert set(history.judged) == set(verdicts) and all(a.startswith("twitter:") for a in history.records)
    # the judged cascades' resharers, as the stage's own trees give them
    trees = {cid: resharers(CascadeEntry.from_doc(plain[cid]).tree()) for cid in verdicts}
    assert learn(((cid, verdicts[cid] == "false", trees[cid]) for cid in verdicts), "x").records == history.records

    # a graph worker with the history, on the same posts in a fresh namespace
    monkeypatch.setenv("FLOCKWATCH_GRAPH_ACCOUNT_HISTORY", str(history_path))
    with scratch_namespace("it") as fresh:
        fused = {d["cascade_id"]: d for d in run_graph(fresh)}
    assert fused.keys() == plain.keys()
    risk = load_risk_model()
    assert risk is not None
    known = 0
    for cid, doc in fused.items():
        if doc.get("merged_into"):
            continue
        assert doc["spread_risk_score"] == pytest.approx(plain[cid]["risk_score"])
        tree = CascadeEntry.from_doc(doc).tree()
        want = risk.scores_with_history(tree, history).fields()
        assert doc["risk_score"] == pytest.approx(want["risk_score"])
        assert doc["early_warning_score"] == pytest.approx(want["early_warning_score"])
        assert doc["resharer_history"] == json.loads(json.dumps(want["resharer_history"]))
        known += doc["resharer_history"]["known_resharers"] > 0
    assert known > JUDGED  # cascades nobody judged gain evidence from the accounts' records
    # a judged cascade is scored without its own verdict: as with a history that never judged it
    cid = next(iter(verdicts))
    rest = learn(((c, verdicts[c] == "false", trees[c]) for c in verdicts if c != cid), "the others")
    want_own = history_evidence(rest, resharers(CascadeEntry.from_doc(fused[cid]).tree()))
    assert fused[cid]["resharer_history"] == json.loads(json.dumps(want_own.to_dict()))
