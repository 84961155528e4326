"""Every DAG parameter has a schema with bounds, and Airflow refuses a run whose conf breaks one."""

from __future__ import annotations

import copy
import importlib.util
from datetime import datetime
from types import ModuleType
from typing import Any

import pytest
from airflow.sdk.exceptions import ParamValidationError

from flockwatch.config import REPO_ROOT

DAGS = {"alerts": "alerts_dag", "graph_windows": "graph_windows_dag", "ingest_replay": "ingest_replay_dag"}


@pytest.fixture(scope="module")
def dags() -> dict[str, Any]:
    loaded = {}
    for name, attr in DAGS.items():
        spec = importlib.util.spec_from_file_location(f"dag_{name}", REPO_ROOT / "dags" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        loaded[name] = getattr(module, attr)
    return loaded


def validated(dag: Any, conf: dict[str, Any]) -> dict[str, Any]:
    """What Airflow does with a run's conf: set each value on a copy of the DAG's params and validate."""
    params = copy.deepcopy(dag.params)
    for key, value in conf.items():
        params[key] = value
    return dict(params.validate())


def test_every_dag_with_params_is_checked(dags: dict[str, Any]) -> None:
    with_params = {p.stem for p in (REPO_ROOT / "dags").glob("*.py") if "Param(" in p.read_text(encoding="utf-8")}
    assert with_params == set(DAGS)


def test_every_parameter_has_a_type_and_bounds(dags: dict[str, Any]) -> None:
    for name, dag in dags.items():
        for key in dag.params:
            schema = dag.params.get_param(key).schema
            types = schema.get("type")
            kinds = set(types) if isinstance(types, list) else {types}
            assert types is not None, (name, key)
            if kinds & {"integer", "number"}:
                assert {"minimum", "exclusiveMinimum"} & set(schema) and "maximum" in schema, (name, key, schema)
            if "string" in kinds:
                assert "enum" in schema or "maxLength" in schema, (name, key, schema)


@pytest.mark.parametrize(
    ("dag", "conf"),
    [
        ("graph_windows", {"end": "2016-10-04T00:00:00", "window_hours": 24, "windows": 3, "permutations": 50}),
        ("graph_windows", {"end": "2016-10-04", "cluster_on": "all", "min_weight": 3}),
        ("alerts", {"end": "2016-10-06T00:00:00+00:00", "window": "24h", "lookback": "96h"}),
        ("alerts", {"end": "2016-10-06 12:30:00.123456Z", "window": "1.5h", "lookback": "90s"}),
    ],
)
def test_good_values_are_accepted(dags: dict[str, Any], dag: str, conf: dict[str, Any]) -> None:
    assert validated(dags[dag], conf) == {**validated(dags[dag], {}), **conf}
    if conf.get("end"):
        datetime.fromisoformat(conf["end"])  # what the pattern lets through, the task can read


@pytest.mark.parametrize(
    ("dag", "conf"),
    [
        ("graph_windows", {"end": "tomorrow"}),
        ("graph_windows", {"end": "2016-10-04" + "0" * 100}),
        ("graph_windows", {"window_hours": 0}),
        ("graph_windows", {"window_hours": 10**9}),
        ("graph_windows", {"windows": 0}),
        ("graph_windows", {"windows": 10**6}),
        ("graph_windows", {"permutations": -1}),
        ("graph_windows", {"permutations": 10**9}),
        ("graph_windows", {"cluster_on": "some"}),
        ("graph_windows", {"min_weight": 0}),
        ("graph_windows", {"min_weight": 10**12}),
        ("alerts", {"end": "2016-10-06; drop"}),
        ("alerts", {"window": "forever"}),
        ("alerts", {"window": "99999999d"}),
        ("alerts", {"window": "-6h"}),
        ("alerts", {"lookback": ""}),
        ("alerts", {"lookback": 24}),
    ],
)
def test_bad_values_are_refused(dags: dict[str, Any], dag: str, conf: dict[str, Any]) -> None:
    with pytest.raises(ParamValidationError):
        validated(dags[dag], conf)
