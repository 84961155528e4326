"""``ingest_replay``'s parameters: every one has a schema with bounds, and ``path`` cannot leave the data directory."""

from __future__ import annotations

import copy
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from airflow.sdk.exceptions import ParamValidationError

from flockwatch.config import REPO_ROOT
from flockwatch.replay import FORMATS, OutsideDataDirError, confine_path


@pytest.fixture(scope="module")
def dag_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ingest_replay_dag_module", REPO_ROOT / "dags" / "ingest_replay.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validated(module: ModuleType, conf: dict[str, Any]) -> dict[str, Any]:
    """What Airflow does with a run's conf: merge it into the DAG's params and validate each."""
    params = copy.deepcopy(module.ingest_replay_dag.params)
    for key, value in conf.items():
        params[key] = value
    return dict(params.validate())


def test_every_parameter_has_a_type_and_the_numbers_have_bounds(dag_module: ModuleType) -> None:
    params = dag_module.ingest_replay_dag.params
    schemas = {key: params.get_param(key).schema for key in params}
    assert set(schemas) == {"dataset", "path", "limit", "rate"}
    assert all("type" in schema for schema in schemas.values()), schemas
    assert schemas["dataset"]["enum"] == sorted(FORMATS)
    assert schemas["path"]["maxLength"] > 0
    assert schemas["limit"]["minimum"] == 1 and schemas["limit"]["maximum"] >= 1_300_000
    assert schemas["rate"]["exclusiveMinimum"] == 0 and schemas["rate"]["maximum"] > 0


def test_good_values_are_accepted(dag_module: ModuleType) -> None:
    conf = {"dataset": "cnt_csv", "path": "x/y.csv", "limit": 5, "rate": 2.5}
    assert validated(dag_module, conf) == conf
    assert validated(dag_module, {})["limit"] == 10_000


@pytest.mark.parametrize(
    "conf",
    [
        {"dataset": "no_such_format"},
        {"dataset": 3},
        {"path": ""},
        {"path": "a" * 5000},
        {"path": 7},
        {"limit": 0},
        {"limit": -5},
        {"limit": 10**12},
        {"limit": 2.5},
        {"limit": "100"},
        {"rate": 0},
        {"rate": -1.0},
        {"rate": 1e9},
        {"rate": "fast"},
    ],
)
def test_bad_values_are_refused(dag_module: ModuleType, conf: dict[str, Any]) -> None:
    with pytest.raises(ParamValidationError):
        validated(dag_module, conf)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "sub" / "inside.csv").write_text("x\n")
    (tmp_path / "secret.csv").write_text("x\n")
    (data / "link_out.csv").symlink_to(tmp_path / "secret.csv")
    (data / "dir_out").symlink_to(tmp_path)
    (data / "link_in.csv").symlink_to(data / "sub" / "inside.csv")
    return data


def test_paths_inside_the_data_directory_resolve(data_dir: Path) -> None:
    inside = (data_dir / "sub" / "inside.csv").resolve()
    assert confine_path("sub/inside.csv", data_dir) == inside
    assert confine_path(str(inside), data_dir) == inside
    assert confine_path("link_in.csv", data_dir) == inside
    assert confine_path("sub/../sub/inside.csv", data_dir) == inside


@pytest.mark.parametrize(
    "path", ["../secret.csv", "link_out.csv", "dir_out/secret.csv", "/etc/passwd", "sub/../../secret.csv"]
)
def test_paths_that_lead_outside_are_refused(data_dir: Path, path: str) -> None:
    with pytest.raises(OutsideDataDirError, match="outside the data directory"):
        confine_path(path, data_dir)


def test_a_missing_path_inside_is_a_clear_error(data_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file"):
        confine_path("sub/none.csv", data_dir)
