"""The trending pass: ask the platforms' trend lists and the engagement snapshots what is rising, and follow it.

For each configured source (``collect.trending`` has the measures):

- **mastodon**: each instance's ``/api/v1/trends/tags`` (the platform's own list), plus hashtags rising
  across every platform's recent snapshots → ``tag:NAME`` timelines on the configured instances;
- **reddit**: posts whose engagement rises fastest between snapshots (the ``rising`` listing feeds them)
  → their comment threads;
- **bluesky**: hashtags rising across every platform's recent snapshots → ``#NAME`` searches (``latest``);
- rss and video have no followable trend unit of their own: their snapshots still feed the cross-platform
  hashtag measure.

Additions are capped per source (``trending.max_added``) and expire (``trending.keep_for``); the followed set
is kept beside the cursors, so every worker and DAG run sees the same one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flockwatch.adapters.connectors.cursors import CursorStore
from flockwatch.adapters.connectors.http_api import ApiClient, ApiError
from flockwatch.adapters.connectors.targets import load_followed, save_followed
from flockwatch.collect.collection_file import CollectionFile
from flockwatch.collect.trending import (
    Rising,
    Snapshot,
    engagement_total,
    rising_hashtags,
    rising_posts,
    rising_trend_tags,
    update_followed,
)
from flockwatch.config import Settings
from flockwatch.replay.timestamps import from_iso

log = logging.getLogger(__name__)

# The recent window hashtag growth is measured over (against the window before it).
WINDOW = timedelta(hours=6)


@dataclass
class TrendingReport:
    source: str
    followed: list[str] = field(default_factory=list)
    added: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def snapshots_of(docs: Iterable[Mapping[str, Any]]) -> list[Snapshot]:
    """Engagement index documents as snapshots (malformed ones skipped)."""
    out = []
    for doc in docs:
        try:
            out.append(
                Snapshot(
                    post_key=str(doc["post_key"]),
                    collected_at=from_iso(doc["collected_at"], what="collected_at"),
                    created_at=from_iso(doc["created_at"], what="created_at"),
                    engagement=engagement_total(doc),
                    hashtags=tuple(str(t) for t in doc.get("hashtags") or ()),
                )
            )
        except (KeyError, ValueError):
            continue
    return out


def mastodon_trend_tags(settings: Settings, instance: str, limit: int) -> list[Rising]:
    client = ApiClient(endpoint=instance, max_attempts=3)
    token = settings.mastodon_token(instance.split("://", 1)[-1].split("/", 1)[0])
    headers = {"Authorization": f"Bearer {token}"} if token else None
    tags = client.get_json(f"{instance}/api/v1/trends/tags", params={"limit": 20}, headers=headers)
    return rising_trend_tags(tags if isinstance(tags, list) else [], limit)


def candidates(
    settings: Settings, collection: CollectionFile, source: str, snapshots: list[Snapshot], now: datetime
) -> tuple[list[Rising], list[str]]:
    """(rising candidates for ``source``, problems met asking platforms)."""
    block = getattr(collection.sources, source)
    limit = max(block.trending.max_added, 1) * 3
    problems: list[str] = []
    if source == "mastodon":
        found = rising_hashtags(snapshots, now, WINDOW, limit)
        for instance in dict.fromkeys(t.instance for t in block.targets):
            try:
                found += mastodon_trend_tags(settings, instance, limit)
            except ApiError as exc:
                problems.append(f"{instance}: {exc}")
        return found, problems
    if source == "reddit":
        mine = [s for s in snapshots if s.post_key.startswith("reddit:")]
        return rising_posts(mine, limit), problems
    if source == "bluesky":
        return rising_hashtags(snapshots, now, WINDOW, limit), problems
    return [], problems


def trending_pass(
    settings: Settings,
    collection: CollectionFile,
    cursors: CursorStore,
    snapshot_docs: Iterable[Mapping[str, Any]],
    now: datetime | None = None,
) -> list[TrendingReport]:
    """Update every configured source's followed additions; one report per source."""
    now = now or datetime.now(UTC)
    snapshots = snapshots_of(snapshot_docs)
    reports = []
    for source in ("reddit", "mastodon", "rss", "video", "bluesky"):
        block = getattr(collection.sources, source)
        if block is None:
            continue
        report = TrendingReport(source)
        found, report.problems = candidates(settings, collection, source, snapshots, now)
        followed, added, dropped = update_followed(
            load_followed(cursors, source), found, now, block.trending.max_added, block.trending.keep_for
        )
        if found or dropped or followed:
            save_followed(cursors, source, followed)
        report.followed = sorted(followed)
        report.added = [{"target": r.target, "score": round(r.score, 3), "why": r.why} for r in added]
        report.dropped = dropped
        reports.append(report)
    return reports
