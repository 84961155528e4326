"""Kafka → store in micro-batches: each run drains the stages' backlog, then stops.

Later stages (text and media scoring, coordination, alerts) join between `normalize`
and `index`, the narrative and account rollups after it; the streaming workers
(`flockwatch worker ...`) run the same stage objects.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task


def drain(stage: str) -> dict[str, int]:
    """Run one stage until its consumer group has no lag (imports inside: DAG parsing stays cheap)."""
    from flockwatch.config import get_settings
    from flockwatch.workers import run_until_caught_up

    return run_until_caught_up(stage, get_settings())


@dag(
    dag_id="index_stream",
    schedule=timedelta(minutes=1),
    catchup=False,
    max_active_runs=1,
    tags=["flockwatch", "stream"],
)
def index_stream() -> None:
    @task
    def normalize() -> dict[str, int]:
        return drain("normalize")

    @task
    def score_text() -> dict[str, int]:
        return drain("text")

    @task
    def score_media() -> dict[str, int]:
        return drain("media")

    @task
    def index() -> dict[str, int]:
        return drain("index")

    @task
    def rollups() -> dict[str, int]:
        # After `index` caught up, every scored post is stored: only a dead-lettered post makes it wait
        # (pipeline.rollups.MAX_WAIT_S at most, then counted as rollup_missing_posts).
        return drain("rollups")

    normalize() >> [score_text(), score_media()] >> index() >> rollups()


index_stream_dag = index_stream()
