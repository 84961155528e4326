"""Windowed graph recomputation and history: coordination with significance, stable clusters, cascades.

Each run recomputes ``windows`` successive windows of ``window_hours`` ending at ``end`` (default: the
run's data interval end) from the posts in the store, oldest first, so each window's clusters inherit
the ids of the one before. It repairs what the streaming `flockwatch worker graph` cannot know (co-actions
across a restart, events later than its lateness, significance, clusters). Logic: flockwatch.stages.graph_windows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from flockwatch.dag_param_patterns import ISO_8601


@dag(
    dag_id="graph_windows",
    schedule=timedelta(hours=1),
    catchup=False,
    max_active_runs=1,
    tags=["flockwatch", "graph"],
    params={
        "end": Param(
            None,
            type=["null", "string"],
            maxLength=40,
            pattern=ISO_8601,
            description="Last window's end, ISO 8601; null = interval end",
        ),
        "window_hours": Param(
            6.0, type="number", exclusiveMinimum=0, maximum=24 * 366, description="Window length in hours"
        ),
        "windows": Param(1, type="integer", minimum=1, maximum=1_000, description="Successive windows, oldest first"),
        "permutations": Param(
            100, type="integer", minimum=0, maximum=100_000, description="Null-model shuffles per layer"
        ),
        "cluster_on": Param(
            "significant", type="string", enum=["significant", "all"], description="Edges clusters are built on"
        ),
        "min_weight": Param(
            2, type="integer", minimum=1, maximum=1_000_000, description="With cluster_on=all: lightest edge kept"
        ),
    },
)
def graph_windows() -> None:
    @task
    def recompute_windows(**context: Any) -> list[dict[str, Any]]:
        from flockwatch.config import get_settings
        from flockwatch.stages.graph_windows import run_windows
        from flockwatch.store import prepare_store

        store = prepare_store(get_settings(), graph=True)
        # one task, windows in order: each reads the clusters the previous one wrote
        return run_windows(store, context["params"], context["data_interval_end"])

    recompute_windows()


graph_windows_dag = graph_windows()
