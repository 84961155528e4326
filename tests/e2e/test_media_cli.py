"""The media CLI contracts from a shell, no services: `bank add`, `match`, `score media`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from flockwatch.config import Settings

pytestmark = pytest.mark.e2e

FLOCKWATCH = str(Path(sys.executable).with_name("flockwatch"))
MEDIA = Settings().data_dir / "media"
VARIANTS = MEDIA / "images" / "pdq_variants"


def run(*args: str) -> dict[str, Any]:
    done = subprocess.run([FLOCKWATCH, *args], capture_output=True, text=True, check=True, timeout=600)
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_bank_add_then_match(tmp_path: Path) -> None:
    bank, out = tmp_path / "bank", tmp_path / "matches.jsonl"
    original = str(VARIANTS / "bridge-1-original.jpg")
    assert run("bank", "add", "--bank-dir", str(bank), original)["added"] == 1
    assert run("bank", "add", "--bank-dir", str(bank), original)["items"] == 1  # idempotent
    unrelated = MEDIA / "images" / "cnndetection" / "236_gaugan_real.jpg"
    queries = [str(p) for p in sorted(VARIANTS.glob("bridge-*.jpg"))] + [str(unrelated)]
    run("match", "--bank-dir", str(bank), *queries, "--output", str(out))
    got = {line["path"]: line["matches"] for line in lines(out)}
    assert list(got) == queries
    for q in queries[:-1]:
        (m,) = got[q]
        assert m["item"] == original and 0.0 <= m["distance"] < 0.25, (q, m)
    assert got[original][0]["distance"] == 0.0
    assert got[queries[-1]] == []  # an unrelated photo matches nothing


def test_score_media_lines(tmp_path: Path) -> None:
    svg = tmp_path / "logo.png"
    svg.write_text("<svg xmlns='http://www.w3.org/2000/svg'><script/></svg>")
    ai = str(MEDIA / "images" / "c2pa_examples" / "ChatGPT_Image.png")
    out = tmp_path / "scores.jsonl"
    summary = run("score", "media", ai, str(svg), "http://10.0.0.1/a.jpg", "--output", str(out))
    assert summary == {"inputs": 3, "scored": 1, "unscored": 0, "refused": 2, "output": str(out)}
    scored, markup, internal = lines(out)
    assert scored["path"] == ai and scored["manipulation_score"] >= 0.9
    assert scored["provenance"]["c2pa"]["characterisation"] == "ai_generated"
    assert scored["matches"] == []
    assert {"name", "score", "evidence"} <= set(scored["signals"][0]) and scored["signals"][0]["name"] == "c2pa"
    assert markup["manipulation_score"] is None and "markup" in markup["error"]
    assert internal["manipulation_score"] is None and "private" in internal["error"]
