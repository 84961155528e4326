"""demo.stage_processes collects every stage's counts, including stages that reported and exited at once."""

from __future__ import annotations

import queue
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, cast

from flockwatch.cli.demo import RunningStages, _collect_counts


@dataclass
class FakeProcess:
    exitcode: int | None


def running(**exitcodes: int | None) -> RunningStages:
    return RunningStages(cast(dict[str, Any], {name: FakeProcess(code) for name, code in exitcodes.items()}))


def test_a_stage_that_reported_and_exited_still_counts() -> None:
    stages, results = running(media=0, alerts=None), queue.Queue[tuple[str, dict[str, int]]]()
    results.put(("alerts", {"posts": 3}))
    results.put(("media", {"consumed": 5}))  # reported, then exited before collection began
    _collect_counts(stages, results, deadline_s=5)
    assert stages.counts == {"media": Counter(consumed=5), "alerts": Counter(posts=3)}


def test_a_stage_that_crashed_without_reporting_is_given_up_on_quickly() -> None:
    stages, results = running(graph=1, text=0), queue.Queue[tuple[str, dict[str, int]]]()
    results.put(("text", {"text_scored": 2}))
    started = time.monotonic()
    _collect_counts(stages, results, deadline_s=30)
    assert stages.counts == {"text": Counter(text_scored=2)}
    assert time.monotonic() - started < 5
