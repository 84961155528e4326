"""Which Flockwatch evidence supports which DISARM Red Framework technique, and finding that evidence in a case.

:data:`DISARM_MAPPING` is the one table (``docs/disarm.md`` mirrors it; a unit test checks they agree). Technique ids
and names are those of the DISARM Foundation's DISARMframeworks repository (``generated_pages/techniques/``, main
branch as of commit 49df5f6, February 2025). A technique is referenced only when the evidence is actually present
(:func:`findings`); evidence kinds with no defensible technique (``co_post``: merely posting at the same time; a
generic manipulation score without a signal that says *synthetic*) map to nothing.

Thresholds (:data:`MIN_ACCOUNTS`, :data:`MACHINE_SHARE`, :data:`SIGNAL_SCORE`) are deliberately conservative: a
single pair of accounts or a single machine-like post does not make a technique.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DISARM_SOURCE = "DISARM"
DISARM_URL = "https://github.com/DISARMFoundation/DISARMframeworks/blob/main/generated_pages/techniques/{id}.md"

# evidence key -> what Flockwatch observed, the DISARM technique id and its name.
DISARM_MAPPING: dict[str, dict[str, str]] = {
    "co_tweet": {
        "evidence": "coordination edges: the same normalised text posted by different accounts within the window",
        "technique_id": "T0119",
        "technique": "Cross-Posting",
    },
    "co_similar_tweet": {
        "evidence": "coordination edges: near-identical text (token Jaccard) posted by different accounts within the "
        "window",
        "technique_id": "T0084.001",
        "technique": "Use Copypasta",
    },
    "co_retweet": {
        "evidence": "coordination edges: the same post reshared by different accounts within seconds",
        "technique_id": "T0049",
        "technique": "Flood Information Space",
    },
    "co_link": {
        "evidence": "coordination edges: the same canonical URL posted by different accounts within seconds",
        "technique_id": "T0049",
        "technique": "Flood Information Space",
    },
    "co_media": {
        "evidence": "coordination edges: the same media file (sha256) posted by different accounts within seconds",
        "technique_id": "T0049",
        "technique": "Flood Information Space",
    },
    "co_hashtag": {
        "evidence": "coordination edges: the same sequence of three or more hashtags posted by different accounts "
        "within seconds",
        "technique_id": "T0049.002",
        "technique": "Flood Existing Hashtag",
    },
    "co_reply": {
        "evidence": "coordination edges: replies to the same post by different accounts within seconds",
        "technique_id": "T0049.005",
        "technique": "Conduct Swarming",
    },
    "narrative_copies": {
        "evidence": "a narrative whose posts joined as exact or near copies of one text, from several accounts",
        "technique_id": "T0084.001",
        "technique": "Use Copypasta",
    },
    "narrative_cross_platform": {
        "evidence": "a narrative with posts on two or more platforms",
        "technique_id": "T0119.002",
        "technique": "Post across Platform",
    },
    "machine_text": {
        "evidence": "machine-generated text scores: a narrative or cluster whose scored posts are mostly labelled "
        "machine",
        "technique_id": "T0085.001",
        "technique": "Develop AI-Generated Text",
    },
    "synthetic_image": {
        "evidence": "media verdicts: an image with a synthetic-image or AI-generator-metadata signal",
        "technique_id": "T0086.002",
        "technique": "Develop AI-Generated Images (Deepfakes)",
    },
    "synthetic_video": {
        "evidence": "media verdicts: a video with a face-manipulation (deepfake) signal",
        "technique_id": "T0087.001",
        "technique": "Develop AI-Generated Videos (Deepfakes)",
    },
    "synthetic_audio": {
        "evidence": "media verdicts: audio with a voice-clone signal",
        "technique_id": "T0088.001",
        "technique": "Develop AI-Generated Audio (Deepfakes)",
    },
    "banked_fake_reupload": {
        "evidence": "media re-uploads: a post's media matched a hash-bank item labelled as a known fake",
        "technique_id": "T0084",
        "technique": "Reuse Existing Content",
    },
}

MIN_ACCOUNTS = 3  # a coordination kind or copied narrative counts from this many distinct accounts
MACHINE_SHARE = 0.5  # share of scored posts labelled machine
MIN_SCORED = 5  # ... over at least this many scored posts
SIGNAL_SCORE = 0.5  # a media signal at or above this
SYNTHETIC_SIGNALS = {
    "synthetic_image": "synthetic_image",
    "generator_metadata": "synthetic_image",
    "face_video": "synthetic_video",
    "voice_clone": "synthetic_audio",
}
FAKE_LABELS = frozenset({"known_fake", "fake", "manipulated", "synthetic", "deepfake", "fact_checked_fake"})


@dataclass
class Finding:
    """One piece of evidence for one technique: what it is about (``subjects``: Flockwatch refs such as
    ``cluster:<id>``, ``narrative:<id>``, ``media:<sha256>``, ``post:<key>``) and why, in words."""

    evidence: str
    subjects: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def technique_id(self) -> str:
        return DISARM_MAPPING[self.evidence]["technique_id"]

    @property
    def technique(self) -> str:
        return DISARM_MAPPING[self.evidence]["technique"]


def _coordination(edges: Iterable[Mapping[str, Any]], clusters: Iterable[Mapping[str, Any]]) -> list[Finding]:
    accounts: dict[str, set[str]] = {}
    evidence: dict[str, list[str]] = {}
    for e in sorted(edges, key=lambda d: (str(d.get("kind")), str(d.get("source")), str(d.get("target")))):
        kind = str(e.get("kind") or "")
        if kind not in DISARM_MAPPING or not int(e.get("weight") or 0):
            continue
        accounts.setdefault(kind, set()).update(str(e.get(side)) for side in ("source", "target"))
        if len(evidence.setdefault(kind, [])) < 3:
            evidence[kind].append(
                f"{e.get('source')} and {e.get('target')}: {e.get('n_coactions') or e.get('weight')} co-actions, "
                f"min Δt {e.get('min_dt_s')} s"
            )
    subjects = [f"cluster:{c.get('cluster_id')}" for c in clusters if c.get("cluster_id")]
    out = []
    for kind in sorted(accounts):
        if len(accounts[kind]) >= MIN_ACCOUNTS:
            out.append(Finding(kind, list(subjects), [f"{len(accounts[kind])} accounts", *evidence[kind]]))
    return out


def _machine(docs: Iterable[Mapping[str, Any]], prefix: str, id_field: str, share: str, n: str) -> list[Finding]:
    out = []
    for d in docs:
        value, scored = d.get(share), d.get(n)
        if not (isinstance(value, int | float) and isinstance(scored, int)):
            continue
        if scored >= MIN_SCORED and value >= MACHINE_SHARE:
            detail = f"{value:.0%} of {scored} scored posts labelled machine"
            out.append(Finding("machine_text", [f"{prefix}:{d.get(id_field)}"], [detail]))
    return out


def _narratives(narratives: Iterable[Mapping[str, Any]]) -> list[Finding]:
    out = []
    for n in narratives:
        ref = f"narrative:{n.get('narrative_id')}"
        joined = n.get("joined_by") or {}
        copies = sum(int(joined.get(k) or 0) for k in ("exact", "near_copy")) if isinstance(joined, Mapping) else 0
        if copies and int(n.get("account_count") or 0) >= MIN_ACCOUNTS:
            out.append(
                Finding(
                    "narrative_copies", [ref], [f"{copies} posts joined as copies, {n.get('account_count')} accounts"]
                )
            )
        platforms = n.get("platforms") or {}
        if isinstance(platforms, Mapping) and len(platforms) >= 2:
            out.append(Finding("narrative_cross_platform", [ref], [f"platforms: {', '.join(sorted(platforms))}"]))
    return out


def media_entries(post: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A stored post's media scores (``media_by_url`` values: MediaScore fields)."""
    entries = post.get("media_by_url")
    return [e for e in entries.values() if isinstance(e, Mapping)] if isinstance(entries, Mapping) else []


def _media(posts: Iterable[Mapping[str, Any]]) -> list[Finding]:
    found: dict[tuple[str, str], Finding] = {}
    for post in posts:
        for entry in media_entries(post):
            ref = f"media:{entry.get('sha256') or entry.get('media_url')}"
            for signal in entry.get("signals") or []:
                evidence = SYNTHETIC_SIGNALS.get(str(signal.get("signal")))
                score = signal.get("score")
                if evidence and isinstance(score, int | float) and score >= SIGNAL_SCORE:
                    f = found.setdefault((evidence, ref), Finding(evidence, [ref]))
                    f.details.append(f"{signal.get('signal')} {score:.2f}: {signal.get('detail', '')}"[:300])
            for match in entry.get("matches") or []:
                label = match.get("label")
                if label is None or label in FAKE_LABELS:
                    f = found.setdefault(("banked_fake_reupload", ref), Finding("banked_fake_reupload", [ref]))
                    f.details.append(
                        f"matched bank item {match.get('sha256') or match.get('item')} "
                        f"({label or 'unlabelled'}, {match.get('how')}, distance {match.get('distance')})"
                    )
    return [found[k] for k in sorted(found)]


def findings(items: Mapping[str, Iterable[Mapping[str, Any]]]) -> list[Finding]:
    """Every technique the case's evidence supports (``items``: ``posts``, ``edges``, ``clusters``,
    ``narratives``... store documents), in a stable order; nothing when nothing supports one."""
    clusters = list(items.get("clusters", ()))
    out = _coordination(items.get("edges", ()), clusters)
    out += _narratives(items.get("narratives", ()))
    out += _machine(items.get("narratives", ()), "narrative", "narrative_id", "machine_share", "scored_posts")
    out += _machine(clusters, "cluster", "cluster_id", "machine_text_share", "text_scored_posts")
    out += _media(items.get("posts", ()))
    return out


def markdown_table() -> str:
    """The mapping as the Markdown table ``docs/disarm.md`` carries."""
    lines = ["| Evidence key | Flockwatch evidence | DISARM technique | Name |", "| --- | --- | --- | --- |"]
    for key, row in DISARM_MAPPING.items():
        lines.append(f"| `{key}` | {row['evidence']} | {row['technique_id']} | {row['technique']} |")
    return "\n".join(lines)
