"""An alert's brief: the narrative's words, the accounts behind it, media verdicts with their signals, and
pseudonyms (no handles) for researchers."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from flockwatch.alerts.alert_brief import alert_brief, evidence_sentence, media_verdict

ALERT = {
    "alert_id": "a1",
    "rule": "narrative-burst",
    "severity": "high",
    "entity": "narrative:n-1",
    "summary": "narrative:n-1 is bursting",
    "post_count": 3,
    "post_keys": ["x:1", "x:2", "x:3"],
    "narrative_id": "n-1",
    "cluster_id": "c9",
    "evidence": [{"signal": "burst", "score": 0.93, "on": "narrative:n-1", "detail": "12 posts/h vs 1.5"}],
}
NARRATIVE = {
    "narrative_id": "n-1",
    "representative_text": "The   ballots were\nshredded in the night",
    "post_count": 40,
    "account_count": 7,
    "platforms": {"twitter": 40},
}


def post(n: int, author: str, media: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "key": f"x:{n}",
        "platform": "x",
        "author": {"id": author, "handle": f"@{author}"},
        "created_at": f"2026-11-03T12:0{n}:00+00:00",
        "text": f"post {n}",
        "text_score": {"machine_score": 0.8, "label": "machine"},
        "media_by_url": media or {},
    }


FAKE = {
    "media_url": "https://cdn.example/v.mp4",
    "sha256": "ab" * 32,
    "media_kind": "video",
    "manipulation_score": 0.91,
    "signals": [
        {"signal": "lip_sync", "score": 0.4, "on": "https://cdn.example/v.mp4", "detail": "mouth drift"},
        {"signal": "face_swap", "score": 0.91, "on": "https://cdn.example/v.mp4", "detail": "blend boundary"},
    ],
    "provenance": {"c2pa": "absent"},
    "matches": [{"verdict": "matches a banked known fake", "distance": 3}],
}


def test_the_brief_says_what_the_narrative_says_and_who_posted_it() -> None:
    posts = [post(3, "u2"), post(1, "u1", {"m": FAKE}), post(2, "u1")]
    brief = alert_brief(ALERT, NARRATIVE, posts)
    assert brief["about"] == 'narrative "The ballots were shredded in the night" (n-1)'
    assert brief["headline"].startswith('high narrative-burst: narrative "The ballots')
    assert brief["headline"].endswith("(3 posts)")
    assert brief["narrative"]["text"] == NARRATIVE["representative_text"]
    assert brief["accounts"] == [{"account": "x:u1", "posts": 2}, {"account": "x:u2", "posts": 1}]
    assert [p["post_key"] for p in brief["posts"]] == ["x:1", "x:2", "x:3"]  # earliest first
    assert brief["posts"][0]["handle"] == "@u1" and brief["posts"][0]["machine_score"] == 0.8
    assert brief["evidence"] == ["burst (0.93) on narrative:n-1: 12 posts/h vs 1.5"]
    [media] = brief["media"]
    assert media["post_key"] == "x:1"
    assert media["verdict"].startswith("manipulation score 0.91; strongest signal: face_swap (0.91)")
    assert media["signals"][1].startswith("lip_sync (0.40)")
    assert media["matches"] == ["matches a banked known fake"] and media["provenance"] == "c2pa: absent"
    assert brief["links"] == {"narrative_id": "n-1", "cluster_id": "c9", "cascade_id": None, "watch_entity": None}


def test_researchers_see_pseudonyms_and_no_handles() -> None:
    brief = alert_brief(ALERT, NARRATIVE, [post(1, "u1")], pseudonym=lambda a: "p-" + a[::-1])
    assert brief["accounts"] == [{"account": "p-1u:x", "posts": 1}]
    assert brief["posts"][0]["account"] == "p-1u:x" and brief["posts"][0]["handle"] is None
    assert "u1" not in str(brief["posts"])


def test_an_alert_without_narrative_or_posts_still_reads() -> None:
    brief = alert_brief({"rule": "watched", "entity": "watch:jdoe", "severity": "low"}, None, [])
    assert brief["about"] == "watch:jdoe" and brief["narrative"] is None
    assert brief["accounts"] == brief["posts"] == brief["media"] == []
    assert brief["headline"] == "low watched: watch:jdoe (0 posts)"


def test_observations_are_shown_beside_the_signals_without_moving_the_verdict() -> None:
    entry = {
        "manipulation_score": 0.2,
        "observations": [
            {"signal": "lip_sync", "on": "u", "detail": "face 1: audio 300 ms late; face 2: in step", "data": {}},
            "junk",
        ],
    }
    panel = media_verdict(entry)
    assert panel["observations"] == ["lip_sync: face 1: audio 300 ms late", "lip_sync: face 2: in step"]
    assert panel["verdict"] == "manipulation score 0.20"


def test_media_that_could_not_be_scored_says_why() -> None:
    assert media_verdict({"error": "refused: private address"})["verdict"] == "not scored: refused: private address"
    assert media_verdict({})["verdict"] == "no manipulation score"


@given(st.dictionaries(st.sampled_from(["signal", "score", "on", "detail"]), st.none() | st.text() | st.floats()))
def test_any_evidence_becomes_one_sentence(evidence: dict[str, Any]) -> None:
    assert isinstance(evidence_sentence(evidence), str)
