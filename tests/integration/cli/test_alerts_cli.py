"""`flockwatch watchlist ...` and `flockwatch alerts ...` against the real store: JSON out, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flockwatch.cli.app import app
from flockwatch.config import Settings
from flockwatch.schema import Alert
from flockwatch.stages.alerts import alert_doc
from flockwatch.store import open_store
from flockwatch.store.documents import IndexKind

pytestmark = [pytest.mark.integration, pytest.mark.store]


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("FLOCKWATCH_INDEX_PREFIX", settings.index_prefix)
    monkeypatch.setenv("FLOCKWATCH_TOPIC_PREFIX", settings.topic_prefix)
    return CliRunner()


def run(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result.stdout if code == 0 else result.stderr


def test_watchlist_commands(cli: CliRunner, tmp_path: Path) -> None:
    out = run(
        cli,
        "watchlist",
        "add",
        "hillary",
        "--name",
        "Hillary Clinton",
        "--alias",
        "Hillary",
        "--handle",
        "@HillaryClinton",
        "--kind",
        "candidate",
    )
    assert json.loads(out) == {"added": 1, "ids": ["hillary"]}
    good = tmp_path / "watch.yaml"
    good.write_text(
        "entities:\n  - {id: trump, name: Donald Trump, languages: [en]}\n  - {id: obama, name: Barack Obama}\n"
    )
    assert json.loads(run(cli, "watchlist", "add", "--file", str(good)))["ids"] == ["trump", "obama"]
    listed = json.loads(run(cli, "watchlist", "list"))
    assert [e["id"] for e in listed] == ["hillary", "obama", "trump"]
    assert listed[0]["handles"] == ["hillaryclinton"] and listed[0]["kind"] == "candidate"
    assert json.loads(run(cli, "watchlist", "remove", "obama")) == {"removed": "obama"}
    assert "no watched entity 'obama'" in run(cli, "watchlist", "remove", "obama", code=1)
    # malformed input: the line and the reason, nothing stored
    bad = tmp_path / "bad.yaml"
    bad.write_text("entities:\n  - id: ok\n    name: Fine\n  - id: Not Ok\n    name: x\n    handles: ['no spaces']\n")
    err = run(cli, "watchlist", "add", "--file", str(bad), code=2)
    assert f"{bad}:4: entities[1].id: id 'Not Ok' must be a slug" in err
    assert f"{bad}:6: entities[1].handles: handle 'no spaces'" in err
    assert "language 'english'" in run(cli, "watchlist", "add", "x", "--name", "X", "--language", "english", code=2)
    assert "give an entity id and --name" in run(cli, "watchlist", "add", "x", code=2)
    assert "cannot read" in run(cli, "watchlist", "add", "--file", str(tmp_path / "missing.yaml"), code=2)
    assert [e["id"] for e in json.loads(run(cli, "watchlist", "list"))] == ["hillary", "trump"]


def test_alert_commands(cli: CliRunner, settings: Settings) -> None:
    store = open_store(settings)
    for i, severity in enumerate(("medium", "high")):
        alert = Alert(
            alert_id=f"al-{i}",
            rule="entity-burst",
            severity=severity,
            entity=f"hashtag:#game{i}",
            created_at=datetime(2030, 1, 1, i, tzinfo=UTC),
            summary=f"burst {i}",
            post_keys=[f"twitter:{i}"],
        )
        store.alerts.upsert([alert_doc(alert)])
    store.engine.refresh(IndexKind.alerts)
    listed = json.loads(run(cli, "alerts", "list", "--json"))
    assert [a["alert_id"] for a in listed] == ["al-1", "al-0"] and listed[0]["status"] == "new"
    assert [a["alert_id"] for a in json.loads(run(cli, "alerts", "list", "--severity", "medium", "--json"))] == ["al-0"]
    table = run(cli, "alerts", "list").splitlines()  # the readable default
    assert table[0].split()[:4] == ["ALERT", "STATUS", "SEVERITY", "RULE"]
    assert table[2].split()[:5] == ["al-1", "new", "high", "entity-burst", "2030-01-01"]
    assert table[3].strip() == "hashtag:#game1" and table[4].strip() == "burst 1"
    acked = json.loads(run(cli, "alerts", "ack", "al-0", "--by", "ana", "--note", "checking"))
    assert acked["status"] == "acknowledged" and acked["history"][0]["by"] == "ana"
    assert json.loads(run(cli, "alerts", "resolve", "al-0"))["status"] == "resolved"
    assert json.loads(run(cli, "alerts", "resolve", "al-1"))["status"] == "resolved"  # new → resolved is allowed
    assert "cannot go from resolved to acknowledged" in run(cli, "alerts", "ack", "al-0", code=1)
    assert "no alert 'al-9'" in run(cli, "alerts", "ack", "al-9", code=1)
    assert "unknown status 'open'" in run(cli, "alerts", "list", "--status", "open", code=2)
    store.engine.refresh(IndexKind.alerts)
    full = json.loads(run(cli, "alerts", "list", "--status", "resolved", "--full"))
    assert [h["status"] for h in full[-1]["history"]] == ["acknowledged", "resolved"]


def test_check_config(cli: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "alerts.yaml"
    good.write_text("rules:\n  - {name: b, scope: burst, when: {signal: burst_weight, gte: 5}}\n")
    assert json.loads(run(cli, "alerts", "check-config", str(good))) == {"ok": True, "rules": ["b"], "sinks": []}
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "rules:\n  - name: b\n    scope: burst\n    when: {signal: burst_weight, gte: 5}\n    severity: urgent\n"
    )
    assert f"{bad}:5: rules[0].severity:" in run(cli, "alerts", "check-config", str(bad), code=2)
