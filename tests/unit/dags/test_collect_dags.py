"""The collection DAGs follow the collection file: one per pull source, on its schedule; none without a file."""

from __future__ import annotations

import importlib.util
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest

from flockwatch.config import REPO_ROOT
from flockwatch.yamlconf import ConfigError

FILE = """\
sources:
  reddit:
    every: 10m
    targets: [{subreddit: politics, listings: [hot, new]}]
  rss:
    every: 1h
    trending: {max_added: 0}
    targets: [{feed: "https://news.example/rss"}]
  bluesky:
    targets: [{collections: [app.bsky.feed.post]}]
"""
FEEDS = """\
  bluesky:
    every: 30m
    targets:
      - collections: [app.bsky.feed.post]
      - search: election
"""


def load(monkeypatch: pytest.MonkeyPatch, collection: Path | None) -> ModuleType:
    if collection is None:
        monkeypatch.delenv("FLOCKWATCH_COLLECTION_FILE", raising=False)
    else:
        monkeypatch.setenv("FLOCKWATCH_COLLECTION_FILE", str(collection))
    spec = importlib.util.spec_from_file_location("dag_collect", REPO_ROOT / "dags" / "collect.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_one_dag_per_pull_source_on_its_schedule(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "collection.yaml"
    path.write_text(FILE)
    module = load(monkeypatch, path)
    dags = {
        name: value for name, value in vars(module).items() if name.startswith("collect_") and name.endswith("_dag")
    }
    assert set(dags) == {"collect_reddit_dag", "collect_rss_dag"}  # bluesky is a stream: a worker, not a DAG
    reddit, rss = dags["collect_reddit_dag"], dags["collect_rss_dag"]
    assert reddit.dag_id == "collect_reddit" and reddit.max_active_runs == 1
    assert reddit.timetable.delta == timedelta(minutes=10) and rss.timetable.delta == timedelta(hours=1)
    assert set(reddit.task_dict) == {"follow_trending", "pull"}
    assert reddit.task_dict["pull"].upstream_task_ids == {"follow_trending"}
    assert set(rss.task_dict) == {"pull"}  # no trending pass for rss (and max_added 0)


def test_bluesky_feeds_and_searches_get_a_dag(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "collection.yaml"
    path.write_text(FILE.split("  bluesky:")[0] + FEEDS)
    module = load(monkeypatch, path)
    bluesky = module.collect_bluesky_dag
    assert bluesky.dag_id == "collect_bluesky" and bluesky.timetable.delta == timedelta(minutes=30)
    assert set(bluesky.task_dict) == {"follow_trending", "pull"}  # rising hashtags become searches


def test_no_collection_file_no_dags(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load(monkeypatch, None)
    assert not [name for name in vars(module) if name.startswith("collect_") and name.endswith("_dag")]


def test_an_invalid_file_is_an_import_error_naming_the_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "collection.yaml"
    path.write_text(FILE.replace("every: 1h", "every: often"))
    with pytest.raises(ConfigError, match=r"collection.yaml:6: sources.rss.every"):
        load(monkeypatch, path)
