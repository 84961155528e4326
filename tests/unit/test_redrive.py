"""Which dead letters can be redriven, and where to."""

from __future__ import annotations

from typing import Any

import pytest

from flockwatch.redrive import redrive_plan
from flockwatch.schema import MAX_DEAD_LETTER_ORIGINAL, DeadLetter


def letter(original: bytes = b"{}", **where: Any) -> DeadLetter:
    return DeadLetter.of("normalize", "bug", original, **where)


def test_a_letter_read_from_a_stage_input_goes_back_there() -> None:
    plan = redrive_plan(letter(source_topic="fw.posts.raw", source_offset=3), "fw")
    assert plan.topic == "fw.posts.raw" and plan.why_not is None


@pytest.mark.parametrize(
    ("where", "why"),
    [
        ({}, "no source topic"),
        ({"source_topic": "other.posts.raw"}, "not one of this deployment's stage inputs"),
        ({"source_topic": "fw.dead-letter"}, "not one of this deployment's stage inputs"),
        ({"source_topic": "fw.unknown"}, "not one of this deployment's stage inputs"),
    ],
)
def test_letters_that_cannot_go_back_say_why(where: dict[str, Any], why: str) -> None:
    plan = redrive_plan(letter(**where), "fw")
    assert plan.topic is None and plan.why_not is not None and why in plan.why_not


def test_a_truncated_original_is_not_redriven() -> None:
    big = letter(b"x" * (MAX_DEAD_LETTER_ORIGINAL + 1), source_topic="fw.posts.raw")
    plan = redrive_plan(big, "fw")
    assert plan.topic is None and plan.why_not is not None and f"{MAX_DEAD_LETTER_ORIGINAL + 1}-byte" in plan.why_not


def test_dry_run_without_redrive_is_a_usage_error() -> None:
    from typer.testing import CliRunner

    from flockwatch.cli.app import app

    result = CliRunner().invoke(app, ["dead-letters", "--dry-run"])
    assert result.exit_code == 2 and "--dry-run goes with --redrive" in " ".join(
        result.output.replace("│", " ").split()
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--stage", "all"], "no stage 'all'"),
        (["--redrive", "--with-original"], "--redrive sends them"),
        (["--redrive", "--limit", "0"], "--limit"),
    ],
)
def test_dead_letter_usage_errors(args: list[str], said: str) -> None:
    from typer.testing import CliRunner

    from flockwatch.cli.app import app

    result = CliRunner().invoke(app, ["dead-letters", *args])
    assert result.exit_code == 2 and said in " ".join(result.output.replace("│", " ").split())
