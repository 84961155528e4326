"""`score text` and `graph cascades`: an operator's mistake is one usage error line, no traceback, no empty output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flockwatch.cli.app import app


def _usage_error(args: list[str], output: Path) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output  # click's usage error, not a crash (1) or success
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    assert not output.exists()
    return " ".join(result.output.replace("│", " ").split())  # the message as one line, without its box


def test_score_text_input_is_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    said = _usage_error(["score", "text", "--input", str(tmp_path), "--output", str(out)], out)
    assert "is a folder" in said


def test_score_text_input_missing(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    said = _usage_error(["score", "text", "--input", str(tmp_path / "nope.jsonl"), "--output", str(out)], out)
    assert "does not exist" in said


def test_score_text_bad_column_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("id,body\n1,hello\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    _usage_error(["score", "text", "--input", str(src), "--output", str(out)], out)


def test_score_text_makes_the_output_folder(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        '\ufeff{"id": "a", "text": "I can not believe this happened today", "language": 5}\n'
        '{"id": "b", "text": "and then we all went home", "language": ["en"]}\n',
        encoding="utf-8",
    )
    out = tmp_path / "new" / "folder" / "out.jsonl"
    result = CliRunner().invoke(app, ["score", "text", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(g["id"], g["label"] in ("machine", "human")) for g in got] == [("a", True), ("b", True)]


def test_score_text_writes_every_line_whatever_its_id_or_text(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": "\\ud800x", "text": "a lone surrogate in the id stopped the run here"}\n'
        '{"id": 2, "text": true}\n{"id": 3, "text": null}\n{"id": 4, "text": ["a", "b"]}\n'
        '{"id": 5, "text": "the last line is still written"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["score", "text", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["\ud800x", "2", "3", "4", "5"]  # the id read back as given
    assert lines[0]["label"] in ("human", "machine") and lines[4]["label"] in ("human", "machine")
    reasons = [line["evidence"][0]["detail"] for line in lines[1:4]]
    assert reasons == [
        "line 2: 'text' is a boolean, not a string",
        "line 3: 'text' is null, not a string",
        "line 4: 'text' is an array, not a string",
    ]
    assert all(line["label"] == "unscored" and line["machine_score"] is None for line in lines[1:4])


def test_score_text_a_text_whose_scoring_raises_costs_its_own_line(tmp_path: Path, monkeypatch: Any) -> None:
    from flockwatch.text.detector import TextDetector

    score = TextDetector.score

    def fails_on_boom(self: TextDetector, texts: Any, *args: Any, **kwargs: Any) -> Any:
        if any("boom" in t for t in texts):
            raise RuntimeError("a bug met this text")
        return score(self, texts, *args, **kwargs)

    monkeypatch.setattr(TextDetector, "score", fails_on_boom)
    src = tmp_path / "in.jsonl"
    texts = ["we went to the lake today", "boom goes the model", "and then we all went home"]
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["score", "text", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["label"] in ("human", "machine") for line in lines] == [True, False, True]
    [why] = lines[1]["evidence"]
    assert lines[1]["label"] == "unscored" and why == {
        "signal": "scoring_error",
        "score": 0.0,
        "on": "text",
        "detail": "RuntimeError: a bug met this text",
    }
    assert "scoring its texts one by one" in result.output
    # Every text failing is a broken model, not bad texts: the run stops, saying so.
    src.write_text("".join(json.dumps({"id": i, "text": f"boom {i}"}) + "\n" for i in range(3)), encoding="utf-8")
    result = CliRunner().invoke(app, ["score", "text", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 1 and "scoring failed on every text of a batch" in result.output


def test_score_text_help_names_the_fpr_values() -> None:
    said = " ".join(CliRunner().invoke(app, ["score", "text", "--help"], terminal_width=200).output.split())
    assert "0.01 or 0.05 only" in said


@pytest.mark.parametrize("fmt", ["jsonl", "twitter1516", "ced"])
def test_cascades_input_missing(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "out.jsonl"
    args = ["graph", "cascades", "--input", str(tmp_path / "nope"), "--format", fmt, "--output", str(out)]
    assert "does not exist" in _usage_error(args, out)


@pytest.mark.parametrize(("fmt", "said"), [("jsonl", "Is a directory"), ("twitter1516", None), ("ced", "CED")])
def test_cascades_input_of_the_wrong_kind(tmp_path: Path, fmt: str, said: str | None) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "x.tar.gz").write_bytes(b"not an archive")  # a folder with an archive, but not a tree archive
    out = tmp_path / "out.jsonl"
    args = ["graph", "cascades", "--input", str(folder), "--format", fmt, "--output", str(out)]
    assert (said or "tree") in _usage_error(args, out)


def test_cascades_jsonl_counts_repairs_and_makes_the_output_folder(tmp_path: Path) -> None:
    def line(pid: str, minute: int, reshare: str | None = None) -> str:
        when = f"2023-01-01T00:{minute:02d}:00Z"
        return json.dumps({"platform": "x", "platform_id": pid, "author": {"id": f"u{pid}"}, "reshare_of": reshare,
                           "created_at": when, "source": {"format": "t", "uri": "t"}})  # fmt: skip

    src = tmp_path / "posts.jsonl"
    lines = [line("r", 0), line("a", 10, "r"), line("a", 5, "r"), line("b", 20, "c"), line("c", 30, "b")]
    src.write_bytes("\n".join(lines).encode() + b"\n\xff\xfe\n")
    out = tmp_path / "new" / "out.jsonl"
    args = ["graph", "cascades", "--input", str(src), "--format", "jsonl", "--output", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    got = {d["cascade_id"]: d for d in map(json.loads, out.read_text(encoding="utf-8").splitlines())}
    assert got["x:r"]["repairs"]["duplicates"] == 1 and got["x:r"]["delay_median"] == 300.0
    assert got["x:b"]["repairs"]["cycles"] == 1 and got["x:b"]["size"] == 2
