"""What the pipeline must store for a dataset prefix, computed in-process without any server."""

from __future__ import annotations

import itertools

from flockwatch.config import Settings
from flockwatch.replay import normalize_record, read_dataset
from flockwatch.schema import Post


def expected_normalized_records(dataset: str, n: int) -> list[Post]:
    """The first ``n`` records normalised, one post per record that is a post (repeats included, as on the topic)."""
    records = itertools.islice(read_dataset(dataset, None, Settings().data_dir), n)
    return [post for post in map(normalize_record, records) if post is not None]


def expected_posts(dataset: str, n: int) -> dict[str, Post]:
    """The first ``n`` records normalised and keyed by post key (repeated records collapse, as in the store)."""
    return {post.key: post for post in expected_normalized_records(dataset, n)}


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
