"""quiet_third_party hides warnings and library logs from other packages, never Flockwatch's own nor errors."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from flockwatch.cli import quiet

THIRD_PARTY_FILE = "/venv/lib/python3.11/site-packages/onnxruntime/quantization/quantize.py"


@pytest.fixture
def quieted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """quiet_third_party in effect for the test; every global it touched restored afterwards."""
    monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
    for name in quiet.QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "warnoptions", [])
    monkeypatch.setattr(quiet, "_installed", None)
    levels = {name: logging.getLogger(name).level for name in quiet.QUIET_LOGGERS}
    root_filters = list(logging.getLogger().filters)
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # Python's rule for a user warning: show it
        assert quiet.quiet_third_party()
        yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger().filters[:] = root_filters


def shown(module: str, category: type[Warning] = UserWarning) -> bool:
    """Whether a warning attributed to ``module`` reaches the user under the filters now in effect."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit(f"from {module}", category, f"{module.replace('.', '/')}.py", 1, module=module)
    return bool(caught)


def logged(logger: logging.Logger, level: int, pathname: str, caplog: pytest.LogCaptureFixture) -> bool:
    """Whether a record from ``pathname`` logged on ``logger`` reaches the handlers (as ``logger.log`` would)."""
    caplog.clear()
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, pathname, 1, "msg", (), None))
    return bool(caplog.records)


@pytest.mark.usefixtures("quieted")
def test_third_party_warnings_are_hidden_and_flockwatchs_are_not() -> None:
    assert not shown("transformers.masking_utils")
    assert not shown("torch.onnx._internal.symbolic_opset11", FutureWarning)
    assert not shown("sklearn")
    assert not shown("flockwatchy")  # a name that merely starts the same way is someone else's
    assert shown("flockwatch.cli.demo")
    assert shown("flockwatch")


@pytest.mark.usefixtures("quieted")
def test_library_logs_below_error_are_hidden_flockwatch_logs_and_errors_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ours = str(Path(quiet.__file__))
    root = logging.getLogger()
    assert not logged(logging.getLogger("PIL.PngImagePlugin"), logging.WARNING, THIRD_PARTY_FILE, caplog)
    assert logged(logging.getLogger("PIL.PngImagePlugin"), logging.ERROR, THIRD_PARTY_FILE, caplog)
    # onnxruntime logs through the root logger: told apart from Flockwatch by the file the record comes from.
    assert not logged(root, logging.WARNING, THIRD_PARTY_FILE, caplog)
    assert logged(root, logging.ERROR, THIRD_PARTY_FILE, caplog)
    assert logged(root, logging.WARNING, ours, caplog)
    assert logged(logging.getLogger("flockwatch.stages.text"), logging.WARNING, ours, caplog)
    # Service clients' warnings are about the deployment: they stay.
    assert logged(logging.getLogger("kafka.conn"), logging.WARNING, THIRD_PARTY_FILE, caplog)


@pytest.mark.usefixtures("quieted")
def test_progress_bar_switches_are_set_for_the_libraries() -> None:
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    assert os.environ["TRANSFORMERS_VERBOSITY"] == "error"


@pytest.mark.usefixtures("quieted")
def test_show_everything_undoes_it_and_tells_child_processes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    quiet.show_everything()
    assert shown("transformers.masking_utils")
    assert logged(logging.getLogger("PIL.PngImagePlugin"), logging.WARNING, THIRD_PARTY_FILE, caplog)
    assert logged(logging.getLogger(), logging.WARNING, THIRD_PARTY_FILE, caplog)
    assert "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    assert os.environ[quiet.VERBOSE_ENV] == "1"
    assert not quiet.quiet_third_party()  # a spawned stage process, seeing the variable, stays verbose
    assert shown("transformers.masking_utils")
    monkeypatch.delenv(quiet.VERBOSE_ENV)


def test_the_users_own_choices_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRANSFORMERS_VERBOSITY", "info")
    monkeypatch.setattr(sys, "warnoptions", ["default"])  # python -W default / PYTHONWARNINGS=default
    monkeypatch.setattr(quiet, "_installed", None)
    monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
    levels = {name: logging.getLogger(name).level for name in quiet.QUIET_LOGGERS}
    root_filters = list(logging.getLogger().filters)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            assert quiet.quiet_third_party()
            assert shown("transformers.masking_utils")
        assert os.environ["TRANSFORMERS_VERBOSITY"] == "info"
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger().filters[:] = root_filters


@pytest.mark.parametrize(("value", "verbose"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_verbose_switch(value: str, verbose: bool) -> None:
    assert quiet.verbose_requested({quiet.VERBOSE_ENV: value}) is verbose
