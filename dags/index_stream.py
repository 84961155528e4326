"""Kafka → store in micro-batches: each run drains the stages' backlog, then stops.

Later stages (text and media scoring, coordination, alerts) join between `normalize`
and `index`, the narrative and account rollups after it; the streaming workers
(`flockwatch worker ...`) run the same stage objects.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task


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
        from flockwatch.config import get_settings
        from flockwatch.workers import run_until_caught_up

        return run_until_caught_up("normalize", get_settings())

    @task
    def score_text() -> dict[str, int]:
        from flockwatch.config import get_settings
        from flockwatch.workers import run_until_caught_up

        return run_until_caught_up("text", get_settings())

    @task
    def score_media() -> dict[str, int]:
        from flockwatch.config import get_settings
        from flockwatch.workers import run_until_caught_up

        return run_until_caught_up("media", get_settings())

    @task
    def index() -> dict[str, int]:
        from flockwatch.config import get_settings
        from flockwatch.workers import run_until_caught_up

        return run_until_caught_up("index", get_settings())

    @task
    def rollups() -> dict[str, int]:
        from flockwatch.config import get_settings
        from flockwatch.workers import run_until_caught_up

        # After `index` caught up, every scored post is stored: only a dead-lettered post makes it wait
        # (pipeline.rollups.MAX_WAIT_S at most, then counted as rollup_missing_posts).
        return run_until_caught_up("rollups", get_settings())

    normalize() >> [score_text(), score_media()] >> index() >> rollups()


index_stream_dag = index_stream()
