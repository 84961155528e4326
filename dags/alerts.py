"""Windowed alert sweeps: Kleinberg's batch Viterbi over stored posts, then the same rules and dedupe as the
streaming `flockwatch worker alerts`. Logic lives in flockwatch.stages.alert_sweep.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import Param, dag, task

from flockwatch.dag_param_patterns import DURATION, ISO_8601


@dag(
    dag_id="alerts",
    schedule=timedelta(minutes=15),
    catchup=False,
    max_active_runs=1,
    tags=["flockwatch", "alerts"],
    params={
        "end": Param(
            None,
            type=["null", "string"],
            maxLength=40,
            pattern=ISO_8601,
            description="Window end, ISO 8601; null = now",
        ),
        "window": Param(
            "6h", type="string", maxLength=12, pattern=DURATION, description="Window length (15m, 6h, 2d...)"
        ),
        "lookback": Param(
            "24h", type="string", maxLength=12, pattern=DURATION, description="Extra history for the baseline"
        ),
    },
)
def alerts() -> None:
    @task
    def sweep_window(**context: Any) -> dict[str, Any]:
        from datetime import UTC, datetime

        from flockwatch.adapters.alert_sinks import build_sinks
        from flockwatch.alerts.rules import load_config
        from flockwatch.config import get_settings
        from flockwatch.stages.alert_sweep import sweep
        from flockwatch.store import prepare_store
        from flockwatch.yamlconf import parse_duration

        p = context["params"]
        end = datetime.fromisoformat(p["end"]) if p["end"] else None
        if end is not None and end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        store = prepare_store(get_settings())
        config = load_config()
        report = sweep(
            store,
            config,
            end=end,
            window=parse_duration(p["window"]),
            lookback=parse_duration(p["lookback"]),
            sinks=build_sinks(config.sinks),
        )
        return report.as_dict()

    @task
    def lag_age() -> dict[str, Any]:
        """Every stage group's oldest unread record against retention.ms; warn/critical → an operational alert."""
        from flockwatch.adapters.alert_sinks import build_sinks
        from flockwatch.adapters.kafka_bus import when_kafka_ready
        from flockwatch.adapters.kafka_lag_age import check_lag_age, raise_lag_alerts
        from flockwatch.alerts.rules import load_config
        from flockwatch.config import get_settings
        from flockwatch.store import prepare_store

        settings = get_settings()
        report = when_kafka_ready(settings, lambda: check_lag_age(settings))
        config = load_config()
        counts = raise_lag_alerts(prepare_store(settings), report, build_sinks(config.sinks), config.retry)
        return {"state": report.state.value, **counts}

    sweep_window()
    lag_age()


alerts_dag = alerts()
