"""`score media`, `match`, `bank add`: one bad item never costs the others, the bank add summary says what
happened, and operator mistakes are a usage line (exit 2), not a traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from flockwatch.cli.app import app


def picture(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return path


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def summary(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_score_media_writes_every_line_past_an_unreadable_path(tmp_path: Path) -> None:
    good, long = picture(tmp_path / "a.png"), tmp_path / ("a" * 300 + ".jpg")
    out = tmp_path / "scores.jsonl"
    got = summary(run("score", "media", long, good, "--no-fetch", "--output", out))
    assert got["inputs"] == 2 and got["refused"] == 1
    bad, ok = lines(out)
    assert bad["error"] == "unreadable file: File name too long" and ok["path"] == str(good)


def test_match_reads_a_bank_with_a_cut_line_and_survives_a_bad_query(tmp_path: Path) -> None:
    bank, good = tmp_path / "bank", picture(tmp_path / "a.png")
    summary(run("bank", "add", good, "--bank-dir", bank))
    with (bank / "bank.jsonl").open("a") as f:
        f.write('{"item": "/x.png", "sha')  # left by an interrupted `bank add`
    out = tmp_path / "m.jsonl"
    got = summary(run("match", tmp_path / ("q" * 300), good, "--bank-dir", bank, "--output", out))
    assert got["queries"] == 2 and got["matched"] == 1 and got["bad_bank_lines"] == 1
    bad, ok = lines(out)
    assert bad["matches"] == [] and "unreadable" in bad["error"]
    assert ok["matches"][0]["item"] == str(good) and ok["matches"][0]["distance"] == 0.0


def test_bank_add_says_what_was_already_banked(tmp_path: Path) -> None:
    bank, a = tmp_path / "bank", picture(tmp_path / "a.png")
    copy = shutil.copyfile(a, tmp_path / "copy.png")
    first = summary(run("bank", "add", a, "--bank-dir", bank))
    assert (first["added"], first["already_banked"], first["items"]) == (1, 0, 1)
    again = run("bank", "add", a, copy, "--bank-dir", bank, "--label", "authentic")
    got = summary(again)
    assert (got["added"], got["already_banked"], got["label_conflicts"]) == (0, 2, 2)
    assert (got["refused"], got["items"]) == (0, 1)
    assert f"already banked {copy} (same bytes as {a})" in again.stderr
    assert "keeps its label 'known_fake', --label 'authentic' not applied" in again.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["match", "{img}", "--bank-dir", "{img}", "--output", "{tmp}/o.jsonl"], "is a file, not a bank directory"),
        (["bank", "add", "{img}", "--bank-dir", "{img}"], "is a file, not a bank directory"),
        (["score", "media", "{img}", "--no-fetch", "--bank-dir", "{img}", "--output", "{tmp}/o.jsonl"], "not a bank"),
        (["match", "{img}", "--bank-dir", "{tmp}", "--output", "{tmp}"], "Is a directory"),
        (["score", "media", "{img}", "--no-fetch", "--output", "{img}/o.jsonl"], "is not a folder"),
        (["score", "media", "{img}", "--no-fetch", "--trust-anchors", "{tmp}/no", "--output", "{tmp}/o"], "No such"),
        (["score", "media", "{img}", "--no-fetch", "--trust-anchors", "{img}", "--output", "{tmp}/o"], "not PEM text"),
        (["bank", "push", "--bank-dir", "{tmp}/nowhere"], "no bank at"),
    ],
    ids=["match-bank-file", "add-bank-file", "score-bank-file", "output-dir", "output-under-file", "no-pem", "bad-pem",
         "push-nowhere"],
)  # fmt: skip
def test_operator_mistakes_are_usage_errors(tmp_path: Path, args: list[str], says: str) -> None:
    img = picture(tmp_path / "a.png")
    result = run(*(a.format(img=img, tmp=tmp_path) for a in args))
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert says in " ".join(result.stderr.replace("│", " ").split())  # rich wraps the message in a box


def test_match_on_a_missing_bank_warns_and_matches_nothing(tmp_path: Path) -> None:
    out, img = tmp_path / "m.jsonl", picture(tmp_path / "a.png")
    result = run("match", img, "--bank-dir", tmp_path / "nowhere", "--output", out)
    assert summary(result)["matched"] == 0 and "no bank at" in result.stderr
    assert not (tmp_path / "nowhere").exists() and lines(out) == [{"path": str(img), "matches": []}]


def test_match_help_does_not_promise_to_create_the_bank() -> None:
    result = run("match", "--help")
    assert result.exit_code == 0 and "--bank-dir" in result.stdout
    assert "created if missing" not in result.stdout
