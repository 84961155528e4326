"""The alerts feed as a person reads it: narratives named by what they say, one block per alert."""

from __future__ import annotations

from typing import Any

from flockwatch.alerts.readable import alert_table, describe_entity, one_line


def test_a_narrative_is_shown_with_its_text() -> None:
    texts = {"n-2b14fad1f9f83cad": "Ballots   found\nin a river near   the depot " + "x" * 200}
    described = describe_entity("narrative:n-2b14fad1f9f83cad", texts)
    assert described.startswith('narrative "Ballots found in a river near the depot x')
    assert described.endswith('…" (n-2b14fad1f9f83cad)') and "\n" not in described
    assert describe_entity("narrative:n-unknown", texts) == "narrative:n-unknown"
    assert describe_entity("hashtag:#vote", texts) == "hashtag:#vote"


def test_the_table_lists_each_alert_with_what_it_is_about() -> None:
    alerts: list[dict[str, Any]] = [
        {"alert_id": "al-2", "status": "new", "severity": "high", "rule": "narrative-burst",
         "created_at": "2030-01-01T05:06:07+00:00", "entity": "narrative:n-1", "post_keys": ["a", "b"],
         "summary": "narrative:n-1 is bursting"},
        {"alert_id": "al-1", "status": "resolved", "severity": "low", "rule": "watch", "entity": "watch:trump"},
    ]  # fmt: skip
    lines = alert_table(alerts, {"n-1": "They are hiding the ballots"}).splitlines()
    assert lines[0].split() == ["ALERT", "STATUS", "SEVERITY", "RULE", "CREATED", "(UTC)", "POSTS"]
    assert lines[2].split() == ["al-2", "new", "high", "narrative-burst", "2030-01-01", "05:06", "2"]
    assert lines[3].strip() == 'narrative "They are hiding the ballots" (n-1)'
    assert lines[4].strip() == "narrative:n-1 is bursting"
    assert lines[5].split() == ["al-1", "resolved", "low", "watch", "-", "0"]
    assert alert_table([], {}) == "no alerts"
    assert one_line("a\tb\n c", 3) == "a…" and one_line("a\tb\n c") == "a b c"
