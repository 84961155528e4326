"""A wrong setting or a local set-up the command cannot use is one line naming the setting, exit 1."""

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from flockwatch.adapters.local_services import ServiceError
from flockwatch.cli.app import setup_error_line
from flockwatch.config import Settings


def test_a_wrong_store_engine_names_the_setting() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(store_engine="elastic")
    line = setup_error_line(caught.value)
    assert line is not None and line.startswith("invalid settings: FLOCKWATCH_STORE_ENGINE: Input should be")


def test_other_errors_are_not_set_up_errors() -> None:
    assert setup_error_line(ServiceError("no `java` on PATH")) == "no `java` on PATH"
    assert setup_error_line(RuntimeError("a bug")) is None


def test_the_command_prints_one_line_and_exits_1() -> None:
    env = {**os.environ, "FLOCKWATCH_STORE_ENGINE": "elastic"}
    result = subprocess.run(
        [sys.executable, "-m", "flockwatch.cli", "status"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "flockwatch: invalid settings: FLOCKWATCH_STORE_ENGINE: Input should be 'opensearch' or 'elasticsearch'"
    ]
