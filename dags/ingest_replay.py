"""Replay a recorded dataset into Kafka (the batch ingest path). Logic lives in flockwatch.adapters.replayer.

Whoever may trigger this DAG chooses its parameters, so each has a schema with bounds (Airflow
refuses a run whose conf breaks one) and ``path`` may only name something inside the data
directory: it is resolved (symlinks, ``..``) and checked before anything is produced.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task

# flockwatch.replay.FORMATS, spelled out so parsing the DAG imports nothing of flockwatch (a test checks they agree).
DATASETS = [
    "bluesky_appview",
    "bluesky_jetstream",
    "cnt_csv",
    "ira_2016",
    "mastodon",
    "pheme",
    "reddit",
    "rss",
    "rumoureval2017",
    "twitter15",
    "weibo_ced",
    "ytdlp",
]
MAX_LIMIT = 10_000_000  # above the largest dataset (Weibo CED: 1.28M records)
MAX_RATE = 100_000.0  # records per second; far above what one producer sustains


@dag(
    dag_id="ingest_replay",
    schedule=None,
    catchup=False,
    tags=["flockwatch", "ingest"],
    params={
        "dataset": Param("ira_2016", type="string", enum=DATASETS, description="Replay format name"),
        "path": Param(
            None,
            type=["null", "string"],
            minLength=1,
            maxLength=4096,
            description="File or folder inside the data directory (relative to it); default: the dataset's own",
        ),
        "limit": Param(10_000, type=["null", "integer"], minimum=1, maximum=MAX_LIMIT, description="Records to read"),
        "rate": Param(
            None,
            type=["null", "number"],
            exclusiveMinimum=0,
            maximum=MAX_RATE,
            description="Records per second; null = max",
        ),
    },
)
def ingest_replay() -> None:
    @task
    def create_topics() -> list[str]:
        from flockwatch.adapters.kafka_bus import ensure_topics
        from flockwatch.config import get_settings

        return ensure_topics(get_settings())

    @task
    def replay_dataset(**context: Any) -> dict[str, Any]:
        from flockwatch.adapters.replayer import replay
        from flockwatch.config import get_settings
        from flockwatch.replay import confine_path

        settings = get_settings()
        p = context["params"]
        # before the first record: a path outside the data directory fails the task with nothing produced
        path = confine_path(p["path"], settings.data_dir) if p["path"] else None
        report = replay(settings, p["dataset"], path, limit=p["limit"], rate=p["rate"])
        if report.errors:  # a truncated or corrupt file fails the task, visibly, after keeping what was read
            raise RuntimeError("; ".join(report.errors))
        return {
            "read": report.read,
            "produced": report.produced,
            "oversize": report.oversize_dead_lettered,
            "rejected": report.rejected,
        }

    create_topics() >> replay_dataset()


ingest_replay_dag = ingest_replay()
