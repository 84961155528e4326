"""What the pipeline must store for a dataset prefix, computed in-process without any server."""

from __future__ import annotations

import itertools

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.schema import Post


def expected_posts(dataset: str, n: int) -> dict[str, Post]:
    """The first ``n`` records normalised and keyed by post key (repeated records collapse, as in the store)."""
    posts: dict[str, Post] = {}
    for raw in itertools.islice(read_dataset(dataset, None, Settings().data_dir), n):
        post = normalize_record(raw)
        if post is not None:
            posts[post.key] = post
    return posts


def expected_normalize_counts(dataset: str, n: int) -> dict[str, int]:
    """What the normalize stage must count for the first ``n`` records: normalized, skipped, dead-lettered."""
    counts = {"normalized": 0, "skipped": 0, "dead_lettered": 0}
    for raw in itertools.islice(read_dataset(dataset, None, Settings().data_dir), n):
        try:
            post = normalize_record(raw)
        except Exception:  # the stage dead-letters whatever the normaliser cannot read
            counts["dead_lettered"] += 1
            continue
        counts["normalized" if post is not None else "skipped"] += 1
    return counts
