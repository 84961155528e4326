"""``make audit``: pip-audit over the locked dependencies, with reasons for every ignored advisory.

pip-audit reads advisories from the PyPI JSON API (or OSV). Where that service cannot be reached it marks each
dependency "skipped" and still exits 0 with "No known vulnerabilities found", which would read as a clean audit.
This wrapper tells the three outcomes apart:

- exit 0 — every locked dependency was audited and nothing unignored was found;
- exit 1 — an advisory not listed in ``infra/audit-ignore.json`` (each entry: advisory id → why it is accepted);
- NOT AUDITED — no dependency could be audited (the service is unreachable, as on the offline CI machine): said
  on stderr in one line; exit 0 so offline CI stays usable, or exit 3 with ``--require-service``.

A partial audit (some dependencies skipped) fails too: a lock we cannot fully check is not called clean.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
IGNORE_FILE = ROOT / "infra" / "audit-ignore.json"
# Installed with --no-deps beside the lock (see the Makefile); audited like the rest.
EXTRA_PINS = ("facenet-pytorch==2.6.0",)

NOT_AUDITED = 3


@dataclass
class Verdict:
    audited: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # name -> pip-audit's reason
    findings: list[str] = field(default_factory=list)  # "name version: ID (fix: ...)"
    accepted: list[str] = field(default_factory=list)  # ignored advisories that matched, with their reason

    @property
    def exit_code(self) -> int:
        if not self.audited:
            return NOT_AUDITED
        return 1 if self.findings or self.skipped else 0


def judge(report: dict[str, Any], ignored: dict[str, str]) -> Verdict:
    """Sort pip-audit's JSON report into audited, skipped, unignored findings and accepted advisories."""
    verdict = Verdict()
    for dep in report.get("dependencies", []):
        name = str(dep.get("name", "?"))
        if "skip_reason" in dep:
            verdict.skipped[name] = str(dep["skip_reason"])
            continue
        verdict.audited.append(name)
        for vuln in dep.get("vulns", []):
            ids = [str(vuln.get("id", "?")), *map(str, vuln.get("aliases", []))]
            hit = next((i for i in ids if i in ignored), None)
            fixes = ", ".join(map(str, vuln.get("fix_versions", []))) or "none"
            line = f"{name} {dep.get('version', '?')}: {ids[0]} (fix: {fixes})"
            if hit is None:
                verdict.findings.append(line)
            else:
                verdict.accepted.append(f"{line}, accepted: {ignored[hit]}")
    return verdict


def load_ignored(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    if not isinstance(data, dict) or not all(isinstance(v, str) and v.strip() for v in data.values()):
        raise SystemExit(f"{path}: expected a JSON object of advisory id -> non-empty reason")
    return data


def run_pip_audit(pip_audit: str, lock: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        pins = [line for line in lock.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
        requirements.write_text("\n".join([*pins, *EXTRA_PINS]) + "\n", encoding="utf-8")
        cmd = [pip_audit, "-r", str(requirements), "--no-deps", "--disable-pip", "--progress-spinner", "off"]
        done = subprocess.run([*cmd, "-f", "json"], capture_output=True, text=True, check=False)
    if not done.stdout.strip():
        raise SystemExit(f"pip-audit printed no report (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pip-audit", default=str(Path(sys.executable).with_name("pip-audit")))
    parser.add_argument("--lock", type=Path, default=ROOT / "constraints.txt")
    parser.add_argument("--ignore-file", type=Path, default=IGNORE_FILE)
    parser.add_argument("--report", type=Path, help="judge this saved pip-audit JSON report instead of running it")
    parser.add_argument("--require-service", action="store_true", help="exit 3 when nothing could be audited")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text()) if args.report else run_pip_audit(args.pip_audit, args.lock)
    verdict = judge(report, load_ignored(args.ignore_file))
    for line in verdict.accepted:
        print(f"accepted  {line}")
    for line in verdict.findings:
        print(f"VULNERABLE  {line}")
    if not verdict.audited:
        first = next(iter(verdict.skipped.values()), "no dependencies listed")
        print(
            f"NOT AUDITED: none of {len(verdict.skipped)} dependencies could be checked, the advisory service is "
            f"unreachable from this machine ({first})",
            file=sys.stderr,
        )
        return NOT_AUDITED if args.require_service else 0
    for name, reason in verdict.skipped.items():
        print(f"SKIPPED  {name}: {reason}")
    print(
        f"audited {len(verdict.audited)} dependencies: {len(verdict.findings)} unignored advisories, "
        f"{len(verdict.accepted)} accepted, {len(verdict.skipped)} skipped"
    )
    return verdict.exit_code


if __name__ == "__main__":
    sys.exit(main())
