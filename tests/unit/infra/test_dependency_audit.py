"""``make audit`` (infra/dependency_audit.py): pip-audit's report sorted into clean, vulnerable and not audited."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from infra.dependency_audit import NOT_AUDITED, judge

SCRIPT = Path(__file__).resolve().parents[3] / "infra" / "dependency_audit.py"

VULN = {"id": "PYSEC-2099-1", "aliases": ["CVE-2099-0001"], "fix_versions": ["2.32.0"], "description": "x"}


def report(*deps: dict[str, Any]) -> dict[str, Any]:
    return {"dependencies": list(deps), "fixes": []}


def run(tmp_path: Path, rep: dict[str, Any], ignored: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "report.json").write_text(json.dumps(rep))
    (tmp_path / "ignore.json").write_text(json.dumps(ignored))
    cmd = [sys.executable, str(SCRIPT), "--report", str(tmp_path / "report.json")]
    cmd += ["--ignore-file", str(tmp_path / "ignore.json"), *flags]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_clean_audit_passes(tmp_path: Path) -> None:
    done = run(tmp_path, report({"name": "requests", "version": "2.32.0", "vulns": []}), {})
    assert done.returncode == 0, done
    assert "audited 1 dependencies: 0 unignored advisories" in done.stdout


def test_an_advisory_fails_unless_accepted_with_a_reason(tmp_path: Path) -> None:
    rep = report({"name": "requests", "version": "2.31.0", "vulns": [VULN]})
    done = run(tmp_path, rep, {})
    assert done.returncode == 1
    assert "VULNERABLE  requests 2.31.0: PYSEC-2099-1 (fix: 2.32.0)" in done.stdout
    # Accepted by an alias, and the reason is printed beside it.
    done = run(tmp_path, rep, {"CVE-2099-0001": "only reachable through .netrc, which workers never read"})
    assert done.returncode == 0, done
    assert "accepted: only reachable through .netrc" in done.stdout
    assert run(tmp_path, rep, {"CVE-2099-0001": " "}).returncode != 0  # a reason is required


def test_unreachable_service_is_said_not_passed(tmp_path: Path) -> None:
    skipped = {"name": "requests", "skip_reason": "Dependency not found on PyPI and could not be audited"}
    done = run(tmp_path, report(skipped, {**skipped, "name": "urllib3"}), {})
    assert done.returncode == 0 and "NOT AUDITED: none of 2 dependencies could be checked" in done.stderr
    assert "audited" not in done.stdout
    assert run(tmp_path, report(skipped), {}, "--require-service").returncode == NOT_AUDITED


def test_a_partial_audit_fails() -> None:
    verdict = judge(report({"name": "a", "version": "1", "vulns": []}, {"name": "b", "skip_reason": "not on PyPI"}), {})
    assert verdict.audited == ["a"] and verdict.skipped == {"b": "not on PyPI"} and verdict.exit_code == 1


def test_the_extra_pin_is_the_one_the_makefile_installs() -> None:
    from infra.dependency_audit import EXTRA_PINS

    makefile = (SCRIPT.parents[1] / "Makefile").read_text(encoding="utf-8")
    version = next(line.split(":=")[1].strip() for line in makefile.splitlines() if line.startswith("FACENET_VERSION"))
    assert (f"facenet-pytorch=={version}",) == EXTRA_PINS
