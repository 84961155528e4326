"""Rules, watchlists and the line-tracking YAML loader: good input parses, bad input names line and reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flockwatch.alerts.lifecycle import TransitionError, check_transition, parse_status, transition
from flockwatch.alerts.rules import (
    DEFAULT_CONFIG_YAML,
    Condition,
    default_config,
    load_config,
    parse_config,
)
from flockwatch.alerts.watchlist import WatchEntity, match_all, matches, parse_watchlist, tokens
from flockwatch.schema import AlertStatus, Author, Post, SourceRef
from flockwatch.yamlconf import ConfigError, format_duration, load_yaml, parse_duration


def errors(text: str, parse: object = parse_config) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse(text, "f.yaml")  # type: ignore[operator]
    return str(info.value).splitlines()


# --- YAML loader ------------------------------------------------------------------------------------------


def test_yaml_lines_and_duplicate_keys() -> None:
    doc = load_yaml("a:\n  b: 1\n  c:\n    - x\n    - y\n")
    assert doc.value == {"a": {"b": 1, "c": ["x", "y"]}}
    assert doc.lines[("a", "c", 1)] == 5
    assert doc.line_of(("a", "c", 1, "function-after[x]")) == 5
    assert errors("a: 1\nb: 2\na: 3\n", lambda t, s: load_yaml(t, s)) == ["f.yaml:3: a: duplicate key 'a'"]


def test_yaml_syntax_error_has_line() -> None:
    (line,) = errors("rules:\n  - name: x\n   scope: post\n")
    assert line.startswith("f.yaml:3: invalid YAML")


def test_yaml_merge_keys_and_empty_document() -> None:
    doc = load_yaml("base: &b {x: 1}\nother:\n  <<: *b\n  y: 2\n")
    assert doc.value["other"] == {"x": 1, "y": 2}
    assert load_yaml("").value == {}


def test_durations() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("1.5h") == timedelta(minutes=90)
    assert parse_duration(30) == timedelta(seconds=30)
    assert format_duration(timedelta(hours=6)) == "6h"
    for bad in ("soon", "-1h", True, "1y"):
        with pytest.raises(ValueError):
            parse_duration(bad)


# --- rules ------------------------------------------------------------------------------------------------


def test_default_config_is_valid_and_complete() -> None:
    config = default_config()
    names = {r.name for r in config.rules}
    assert {"entity-burst", "watched-entity-burst", "watched-entity-risk", "manipulated-media-spreading"} <= names
    assert config.detector.bin == timedelta(minutes=15)
    assert "entity-burst" in DEFAULT_CONFIG_YAML


def test_every_problem_is_reported_with_its_line() -> None:
    text = """\
detector:
  bin: 15x
rules:
  - name: Bad Name
    scope: post
    group_by: watch
    when: {signal: machine_text}
  - name: b
    scope: burst
    when:
      all:
        - {signal: watchlist, gte: 3}
        - {signal: nope}
    severity: urgent
    colour: red
sinks:
  - type: webhook
    url: ftp://example
"""
    lines = errors(text)
    assert "f.yaml:2: detector.bin: expected a duration like '90s', '15m', '1h' or '2d', got '15x'" in lines
    assert any(x.startswith("f.yaml:4: rules[0].name: rule name 'Bad Name'") for x in lines)
    assert "f.yaml:7: rules[0].when: numeric signal 'machine_text' needs one of gte, gt, lte, lt" in lines
    assert any(x.startswith("f.yaml:12: rules[1].when.all[0]: boolean signal 'watchlist'") for x in lines)
    assert any(x.startswith("f.yaml:13: rules[1].when.all[1].signal: unknown signal 'nope'") for x in lines)
    assert any(x.startswith("f.yaml:14: rules[1].severity:") for x in lines)
    assert "f.yaml:15: rules[1].colour: unknown field 'colour'" in lines
    assert "f.yaml:17: sinks[0]: a webhook sink needs url: http(s)://..." in lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rules:\n  - {name: a, scope: burst, when: {signal: machine_text, gte: 1}}\n", "not available in scope"),
        ("rules:\n  - {name: a, scope: post, when: {signal: watchlist}}\n", "needs group_by"),
        ("rules:\n  - {name: a, scope: burst, group_by: watch, when: {signal: watchlist}}\n", "drop group_by"),
        ("rules:\n  - {name: a, scope: burst, when: {}}\n", "exactly one of all, any, not or signal"),
        ("rules:\n  - {name: a, scope: burst, when: {all: [], signal: watchlist}}\n", "at least 1 item"),
        ("rules:\n  - {name: a, scope: burst, when: {signal: entity_type, gte: 2}}\n", "needs eq: TEXT"),
        (
            "rules:\n  - {name: a, scope: burst, when: {signal: burst_weight, gte: 1}, severity: high,"
            " escalate: [{posts: 5, severity: low}]}\n",
            "not above",
        ),
        (
            "rules:\n  - {name: a, scope: burst, when: {signal: watchlist}}\n"
            "  - {name: a, scope: burst, when: {signal: watchlist}}\n",
            "f.yaml:3: rules[1].name: duplicate rule name 'a'",
        ),
        ("sinks:\n  - {type: email, host: h, sender: a@b, to: [x]}\n", "not an email address"),
        ("sinks:\n  - {type: webhook, url: 'http://127.0.0.1:1/'}\n", "needs secret_env"),
        ("sinks:\n  - {type: slack, url: 'http://x', rules: [nope]}\n", "no rule named 'nope'"),
        ("rules: {name: a}\n", "f.yaml:1: rules: Input should be a valid list"),
        ("retry: {outbox_rescan: 0s}\n", "f.yaml:1: retry.outbox_rescan: outbox_rescan must be at least 1s"),
    ],
)
def test_rule_errors(text: str, expected: str) -> None:
    assert any(expected in line for line in errors(text)), errors(text)


def test_the_outbox_rescan_interval_is_part_of_the_retry_policy() -> None:
    assert default_config().retry.outbox_rescan == timedelta(seconds=30)
    assert parse_config("retry: {outbox_rescan: 2s}\n", "f.yaml").retry.outbox_rescan == timedelta(seconds=2)


def test_condition_evaluation() -> None:
    cond = Condition.model_validate(
        {
            "all": [
                {"signal": "watchlist"},
                {"any": [{"signal": "machine_text", "gte": 0.8}, {"signal": "known_fake_media"}]},
                {"not": {"signal": "language", "in": ["ru", "uk"]}},
            ]
        }
    )
    assert cond.signals() == {"watchlist", "machine_text", "known_fake_media", "language"}
    assert cond.evaluate({"watchlist": True, "machine_text": 0.9, "language": "en"})
    assert cond.evaluate({"watchlist": True, "known_fake_media": True, "language": "EN"})
    assert not cond.evaluate({"watchlist": True, "machine_text": 0.5})
    assert not cond.evaluate({"watchlist": True, "machine_text": 0.9, "language": "RU"})
    assert not cond.evaluate({"machine_text": 0.99})  # watchlist missing = false
    assert not Condition.model_validate({"signal": "machine_text", "lt": 0.5}).evaluate({})  # missing ≠ 0
    assert Condition.model_validate({"signal": "coordinated", "eq": False}).evaluate({})


def test_severity_escalation() -> None:
    config = parse_config(
        "rules:\n  - name: a\n    scope: burst\n    when: {signal: burst_weight, gte: 1}\n    severity: low\n"
        "    escalate: [{posts: 10, severity: medium}, {posts: 100, severity: critical}]\n"
    )
    rule = config.rules[0]
    assert [rule.severity_for(n) for n in (1, 10, 99, 100)] == ["low", "medium", "medium", "critical"]


def test_load_config_from_env_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "alerts.yaml"
    path.write_text("rules: []\n")
    assert load_config(env={"FLOCKWATCH_ALERTS_CONFIG": str(path)}).rules == []
    assert load_config(env={}).rules  # the default
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


# --- watchlists -------------------------------------------------------------------------------------------

WATCHLIST = """\
entities:
  - id: hillary-clinton
    kind: candidate
    name: Hillary Clinton
    aliases: [Hillary, Crooked Hillary]
    handles: ["@HillaryClinton"]
  - id: trump
    kind: candidate
    name: Donald Trump
    aliases: [Trump]
    handles: [realDonaldTrump]
    languages: [EN]
"""


def post(text: str, mentions: list[str] | None = None, handle: str = "someone", language: str | None = "en") -> Post:
    return Post(
        platform="twitter",
        platform_id=str(abs(hash((text, handle)))),
        author=Author(id=handle, handle=handle),
        text=text,
        language=language,
        mentions=mentions or [],
        created_at=datetime(2016, 10, 9, tzinfo=UTC),
        source=SourceRef(format="test", uri="mem://"),
    )


def test_watchlist_parses_and_normalises() -> None:
    hillary, trump = parse_watchlist(WATCHLIST)
    assert hillary.handles == ["hillaryclinton"] and hillary.key == "watch:hillary-clinton"
    assert trump.languages == ["en"]
    assert parse_watchlist("- {id: a, name: Alpha}\n")[0].id == "a"  # a bare list is accepted


def test_watchlist_errors_name_line_and_reason() -> None:
    text = """\
entities:
  - id: Not A Slug
    name: x
    aliases: ["a"]
    handles: ["bad handle!"]
    languages: [english]
  - id: ok
    nickname: y
  - id: ok
    name: dup
"""
    lines = errors(text, parse_watchlist)
    assert any(x.startswith("f.yaml:2: entities[0].id: id 'Not A Slug' must be a slug") for x in lines)
    assert any(x.startswith("f.yaml:4: entities[0].aliases: alias 'a' is too short") for x in lines)
    assert any(x.startswith("f.yaml:5: entities[0].handles: handle 'bad handle!'") for x in lines)
    assert any(x.startswith("f.yaml:6: entities[0].languages: language 'english'") for x in lines)
    assert "f.yaml:8: entities[1].nickname: unknown field 'nickname'" in lines
    assert "f.yaml:7: entities[1].name: Field required" in lines
    dup = "entities:\n  - {id: a, name: x}\n  - {id: a, name: y}\n"
    assert errors(dup, parse_watchlist) == ["f.yaml:3: entities[1].id: duplicate id 'a' (first at item 0)"]


def test_matching_phrases_handles_languages() -> None:
    hillary, trump = parse_watchlist(WATCHLIST)
    assert tokens("#Hillary’s e-mails") == ["hillary", "s", "e", "mails"]
    assert matches(hillary, post("So #Hillary’s emails again"))
    assert matches(hillary, post("crooked   HILLARY strikes"))
    assert not matches(hillary, post("Hillaryous comedy"))  # whole words only
    assert matches(hillary, post("hi", mentions=["HillaryClinton"]))
    assert matches(hillary, post("hi", handle="HILLARYCLINTON"))
    assert matches(trump, post("Trump's rally"))
    assert not matches(trump, post("Trump's rally", language="ru"))  # language filter
    assert not matches(trump, post("Donald Duck and Hillary"))
    found = match_all([hillary, trump], [post("Hillary vs Trump"), post("nothing here")])
    assert [[e.id for e in v] for v in found.values()] == [["hillary-clinton", "trump"]]


def test_matching_regional_languages_fediverse_handles_and_turkish_i() -> None:
    english = WatchEntity(id="e", name="Donald Trump", languages=["en-US"])
    assert english.languages == ["en"]
    assert all(matches(english, post("Donald Trump spoke", language=code)) for code in ("en", "en-US", "en_gb"))
    assert not matches(english, post("Donald Trump spoke", language="de-DE"))
    fedi = WatchEntity(id="f", name="Alice Example", handles=["@Alice@Mastodon.Social"])
    assert fedi.handles == ["alice@mastodon.social"]
    assert matches(fedi, post("hi", mentions=["alice@mastodon.social"]))
    assert not matches(fedi, post("hi", mentions=["alice@other.example"]))  # another server, another person
    imamoglu = WatchEntity(id="i", name="Ekrem İmamoğlu")
    assert tokens("EKREM İMAMOĞLU") == tokens("ekrem imamoğlu") == ["ekrem", "imamoğlu"]
    assert all(matches(imamoglu, post(t)) for t in ("Ekrem İmamoğlu konuştu", "EKREM IMAMOĞLU", "ekrem imamoğlu"))


def test_watch_entity_validation_in_python() -> None:
    with pytest.raises(ValueError, match="no letters or digits"):
        WatchEntity(id="x", name="!!!")


# --- lifecycle --------------------------------------------------------------------------------------------


def test_lifecycle_transitions() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    doc: dict[str, Any] = {"status": "new", "history": []}
    doc |= transition(doc, AlertStatus.acknowledged, at, "ana", "looking")
    assert doc["status"] == "acknowledged"
    doc |= transition(doc, AlertStatus.resolved, at, None, None)
    assert [h["status"] for h in doc["history"]] == ["acknowledged", "resolved"]
    assert doc["history"][0] == {
        "from": "new",
        "status": "acknowledged",
        "at": at.isoformat(),
        "by": "ana",
        "note": "looking",
    }
    with pytest.raises(TransitionError, match="cannot go from resolved to acknowledged"):
        transition(doc, AlertStatus.acknowledged, at, None, None)
    with pytest.raises(TransitionError, match="already resolved"):
        check_transition("resolved", AlertStatus.resolved)
    assert check_transition("new", AlertStatus.resolved) == AlertStatus.new
    with pytest.raises(TransitionError, match="unknown status"):
        parse_status("closed")
