"""Replay a recorded dataset into Kafka (the batch ingest path). Logic lives in flockwatch.replayer."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, task


@dag(
    dag_id="ingest_replay",
    schedule=None,
    catchup=False,
    tags=["flockwatch", "ingest"],
    params={
        "dataset": Param("ira_2016", type="string", description="Replay format name"),
        "path": Param(None, type=["null", "string"], description="File or folder; default: the dataset's own"),
        "limit": Param(10_000, type=["null", "integer"], minimum=1),
        "rate": Param(None, type=["null", "number"], description="Records per second; null = max"),
    },
)
def ingest_replay() -> None:
    @task
    def create_topics() -> list[str]:
        from flockwatch.config import get_settings
        from flockwatch.kafka_bus import ensure_topics

        return ensure_topics(get_settings())

    @task
    def replay_dataset(**context: Any) -> dict[str, Any]:
        from pathlib import Path

        from flockwatch.config import get_settings
        from flockwatch.replayer import replay

        p = context["params"]
        report = replay(
            get_settings(), p["dataset"], Path(p["path"]) if p["path"] else None, limit=p["limit"], rate=p["rate"]
        )
        if report.errors:  # a truncated or corrupt file fails the task, visibly, after keeping what was read
            raise RuntimeError("; ".join(report.errors))
        return {"read": report.read, "produced": report.produced, "oversize": report.oversize_dead_lettered}

    create_topics() >> replay_dataset()


ingest_replay_dag = ingest_replay()
