"""Keep third-party chatter out of the command line's output; Flockwatch's own warnings and logs still show.

A first run exports MiniLM to ONNX, and torch, transformers and onnxruntime then print TracerWarnings, a
"Loading weights" bar and a "consider pre-processing" log line: nothing an analyst can act on. Hidden here:

* Python warnings attributed to any module outside ``flockwatch`` (Flockwatch's own keep Python's usual rules);
  left alone when the user chose filters with ``-W`` or ``PYTHONWARNINGS``;
* log records below ERROR from the model libraries' loggers, and from code that logs through the root logger
  (onnxruntime's quantiser does); the service clients (Kafka, the store, HTTP) are left alone, as their
  warnings say something about the deployment;
* the Hugging Face progress bars and advisory notices, through variables those libraries read on import.

``FLOCKWATCH_VERBOSE=1`` (or ``flockwatch demo --verbose``) shows everything again. Stage processes started with
``spawn`` inherit the environment, not the filters, so they call :func:`quiet_third_party` themselves.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

VERBOSE_ENV = "FLOCKWATCH_VERBOSE"

# Read by the libraries when first imported, so set before any of them is (they are imported lazily).
QUIET_ENV = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' "Loading weights" bar goes through this switch too
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}

# Model libraries whose WARNING-level logs are about their internals, not about the user's deployment.
QUIET_LOGGERS = (
    "transformers",
    "sentence_transformers",
    "huggingface_hub",
    "torch",
    "onnx",
    "onnxruntime",
    "tokenizers",
    "PIL",
    "matplotlib",
    "filelock",
)

# Any module whose name does not start with ``flockwatch``: a warning from there is ignored.
NOT_FLOCKWATCH = r"(?!flockwatch(\.|$))"
FLOCKWATCH_DIR = str(Path(__file__).resolve().parents[1])


def verbose_requested(env: dict[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get(VERBOSE_ENV, "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


class RootThirdPartyFilter(logging.Filter):
    """Drops records below ERROR logged straight on the root logger by code outside Flockwatch.

    A filter on the root logger sees only those records (ones propagated from named loggers skip it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or record.pathname.startswith(FLOCKWATCH_DIR)


@dataclass
class _Installed:
    """What :func:`quiet_third_party` changed, so :func:`show_everything` can put it back exactly."""

    env: list[str] = field(default_factory=list)
    levels: dict[str, int] = field(default_factory=dict)
    warning_filter: tuple[object, ...] | None = None
    root_filter: RootThirdPartyFilter | None = None


_installed: _Installed | None = None


def quiet_third_party() -> bool:
    """Hide third-party noise in this process unless ``FLOCKWATCH_VERBOSE`` is set; True when it did.

    Idempotent; call it before the model libraries are imported so their environment switches take effect."""
    global _installed
    if verbose_requested():
        return False
    if _installed is not None:
        return True
    done = _Installed()
    for name, value in QUIET_ENV.items():
        if name not in os.environ:  # an explicit choice by the user wins
            os.environ[name] = value
            done.env.append(name)
    for name in QUIET_LOGGERS:
        logger = logging.getLogger(name)
        done.levels[name] = logger.level
        if logger.getEffectiveLevel() < logging.ERROR:
            logger.setLevel(logging.ERROR)
    if not sys.warnoptions:
        warnings.filterwarnings("ignore", module=NOT_FLOCKWATCH)
        done.warning_filter = warnings.filters[0]
    done.root_filter = RootThirdPartyFilter()
    logging.getLogger().addFilter(done.root_filter)
    _installed = done
    return True


def show_everything() -> None:
    """Undo :func:`quiet_third_party` here and in processes started from now on (they inherit the variable)."""
    global _installed
    os.environ[VERBOSE_ENV] = "1"
    done, _installed = _installed, None
    if done is None:
        return
    for name in done.env:
        os.environ.pop(name, None)
    for name, level in done.levels.items():
        logging.getLogger(name).setLevel(level)
    if done.warning_filter is not None and done.warning_filter in warnings.filters:
        warnings.filters.remove(done.warning_filter)  # type: ignore[attr-defined]
    if done.root_filter is not None:
        logging.getLogger().removeFilter(done.root_filter)
