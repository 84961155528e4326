"""docs/reliability.md: each reliability promise, the tests that prove it, and what they printed on the last run.

Runs the tests below with pytest (the integration ones talk to the real Kafka and OpenSearch, which the
integration conftest starts like ``flockwatch up``), reads pytest's JUnit XML (outcome, seconds and the lines
each test printed) and rewrites docs/reliability.md. A figure in that file is a line a test printed in that run.

    python -m bench.reliability            # all promises, about 10 minutes on 2 cores
    python -m bench.reliability --only "Poison messages" --no-write
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.report import machine

ROOT = Path(__file__).resolve().parents[1]
RELIABILITY_MD = ROOT / "docs" / "reliability.md"
COMMAND = "python -m bench.reliability"
EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout|Warning|Exit|Interrupt)\b")
CHAINED = re.compile(r"^(During handling of the above exception|The above exception was the direct cause)")
# What is not a test's own print(): pytest's "----- Captured Out -----" separators, and log records (structlog's
# console lines, which Airflow routes stdlib logging through, and pytest's own log format).
NOT_PRINTED = re.compile(
    r"^-+ Captured .* -+$|^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\S* \[|^(DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S+:\S+:\d+ "
)


@dataclass(frozen=True)
class Promise:
    title: str
    promise: str
    tests: tuple[str, ...]  # pytest node ids or files, relative to the repository root


PROMISES: tuple[Promise, ...] = (
    Promise(
        "Poison messages",
        "One bad record costs only itself: long ids are hashed under the store's 512-byte limit, a failing batch "
        "is bisected down to the record, which is dead-lettered once with its reason; every stage's lag returns "
        "to 0 and no worker exits; a batch failing record after record pauses at half the poll interval, commits "
        "what it handled and goes on, each record dead-lettered once; dead letters go back to their topics once "
        "the bug is fixed (`dead-letters --redrive`); a worker's final flush is published.",
        (
            "tests/integration/stages/test_poison.py",
            "tests/unit/stages/test_poison.py",
            "tests/unit/test_redrive.py",
            "tests/integration/stages/test_loop_stop.py",
        ),
    ),
    Promise(
        "Bad input is dead-lettered, never dropped",
        "Replays go on past bad lines (deep nesting, oversize CSV fields, extra columns, invalid UTF-8), each one a "
        "dead letter; a raw record without its text field is dead-lettered naming the field.",
        (
            "tests/unit/replay/test_bad_lines.py",
            "tests/unit/stages/test_poison.py::test_a_raw_record_without_its_text_field_is_dead_lettered_naming_the_field",
            "tests/integration/stages/test_dead_letters.py",
        ),
    ),
    Promise(
        "Media within memory and time",
        "A 4-minute 4K H.264 clip scores in under 60 s with peak private memory under 1 GB (anonymous memory, "
        "sampled every 5 ms; total RSS, which adds the shared libraries' file pages, under 1.25 GB) (frames "
        "downscaled as decoded, a deadline per item); a backlog of slow media drains to lag 0 with no failed "
        "commits; the media cache stays under its byte bound (LRU).",
        (
            "tests/unit/media/test_media_budget.py",
            "tests/integration/stages/test_media_backlog.py",
            "tests/unit/media/test_media_cache.py",
        ),
    ),
    Promise(
        "Fetching cannot reach internal addresses",
        "yt-dlp's redirects and hand-offs are checked on every hop (loopback, link-local 169.254.169.254, NAT64 "
        "forms, https→http refused); stream messages never make a worker read local files.",
        (
            "tests/unit/adapters/test_media_fetch_hardening.py",
            "tests/integration/adapters/test_media_fetch_guard.py",
        ),
    ),
    Promise(
        "Authentication and TLS",
        "Kafka under SASL/SCRAM over TLS with per-stage ACLs refuses unauthenticated and wrong-password clients; "
        "store clients verify the CA and send credentials; wildcard deletes are refused.",
        (
            "tests/integration/adapters/test_kafka_sasl.py",
            "tests/unit/adapters/test_client_security.py",
            "tests/integration/store/test_store_destructive.py",
        ),
    ),
    Promise(
        "Alerts delivered at least once; secrets never written",
        "kill -9 of the alerts worker after the store upsert still delivers every alert (outbox in the store); no "
        "Slack URL in any log or index; STARTTLS verifies certificates; Slack text is escaped; alert books stay "
        "bounded.",
        (
            "tests/integration/stages/test_alerts_outbox.py",
            "tests/unit/alerts/test_delivery.py",
        ),
    ),
    Promise(
        "Outages and restarts lose and duplicate nothing",
        "A store outage and a broker restart mid-replay, and a killed worker, end with exact counts; a graph worker "
        "stopped and killed mid-stream finds every co-action of an uninterrupted run.",
        (
            "tests/integration/adapters/test_outages.py",
            "tests/integration/stages/test_graph_restart.py",
        ),
    ),
    Promise(
        "Recovery in seconds",
        "A killed worker's partitions go to a restarted one after the consumer session (8 s), not half a minute, "
        "and at once to one restarted under its static instance id (a duplicate id stops the fenced worker); "
        "a frozen store (accepting connections, answering nothing) is noticed after the first 5 s request "
        "timeout (a bulk body gets 1 s more per MiB), later tries wait longer (doubling to 60 s), and the replay "
        "still ends exact.",
        (
            "tests/integration/adapters/test_outages.py::test_killed_worker_loses_nothing",
            "tests/integration/adapters/test_worker_takeover.py",
            "tests/integration/adapters/test_outages.py::test_frozen_store_is_noticed_in_seconds_and_loses_nothing",
            "tests/unit/store/test_timeouts.py",
        ),
    ),
    Promise(
        "Consumer-lag age and disk",
        "The oldest unread record's age is checked against retention.ms (warn, critical, alert through the sinks); "
        "the store runs with absolute disk watermarks on.",
        (
            "tests/unit/test_lag_age.py",
            "tests/integration/adapters/test_kafka_lag_age.py",
            "tests/integration/adapters/test_local_services.py::test_store_runs_with_absolute_disk_watermarks",
        ),
    ),
    Promise(
        "DAG parameters and exports",
        "Every DAG parameter has a schema with bounds; a replay path outside the data directory fails before "
        "producing; CSV exports cannot start a formula.",
        (
            "tests/unit/dags/test_dag_params.py",
            "tests/unit/replay/test_dag_params.py",
            "tests/integration/dags/test_ingest_replay_params.py",
            "tests/unit/graph/test_export_csv.py",
        ),
    ),
    Promise(
        "Parsers under property-based tests",
        "Every dataset reader and normaliser under hypothesis with realistic sizes (long texts, deep nesting, many "
        "fields) and real records with one field changed.",
        (
            "tests/unit/replay/test_properties.py",
            "tests/unit/replay/test_fuzz.py",
        ),
    ),
    Promise(
        "Dependencies audited",
        "`make audit` fails on an advisory not accepted with a reason, and says NOT AUDITED where the advisory "
        "service cannot be reached.",
        ("tests/unit/infra/test_dependency_audit.py",),
    ),
)


@dataclass(frozen=True)
class CaseResult:
    node: str  # file::name
    outcome: str  # passed, failed, error, skipped
    seconds: float
    printed: tuple[str, ...]


def printed_lines(text: str) -> tuple[str, ...]:
    """The lines of a test's captured output that it printed itself: log records, with any traceback they
    carry (indented lines, then the exception's own line), and pytest's banners are left out."""
    kept: list[str] = []
    in_record = False
    for line in text.splitlines():
        if not line.strip():
            continue
        if NOT_PRINTED.match(line) or line.startswith("Traceback (most recent call last):"):
            in_record = True
            continue
        if in_record and (line[0].isspace() or EXCEPTION_LINE.match(line) or CHAINED.match(line)):
            continue
        in_record = False
        kept.append(line)
    return tuple(kept)


def parse_junit(xml_text: str) -> list[CaseResult]:
    """Test cases of a pytest JUnit XML report (``-o junit_logging=system-out``), in report order."""
    results: list[CaseResult] = []
    for case in ET.fromstring(xml_text).iter("testcase"):
        # xunit1 reports carry the file; the classname fallback is right for tests outside classes.
        path = case.get("file") or str(case.get("classname", "")).replace(".", "/") + ".py"
        node = f"{path}::{case.get('name', '')}"
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = "failed" if tag == "failure" else tag
        out = case.find("system-out")
        printed = printed_lines(out.text or "") if out is not None else ()
        results.append(CaseResult(node, outcome, float(case.get("time", 0.0)), printed))
    return results


def belongs(result: CaseResult, target: str) -> bool:
    return result.node == target or result.node.split("::")[0] == target or result.node.startswith(target + "[")


def render(promises: tuple[Promise, ...], results: list[CaseResult], header: str) -> str:
    lines = [header]
    for p in promises:
        mine = [r for r in results if any(belongs(r, t) for t in p.tests)]
        counts = {o: sum(r.outcome == o for r in mine) for o in ("passed", "failed", "error", "skipped")}
        verdict = "holds" if mine and counts["passed"] == len(mine) - counts["skipped"] else "DOES NOT HOLD"
        summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
        lines += [f"## {p.title}: {verdict}", "", p.promise, "", f"Tests ({summary or 'none ran'}):", ""]
        lines += [f"- `{t}`" for t in p.tests]
        printed = [(r, line) for r in mine for line in r.printed]
        if printed:
            lines += ["", "Printed in this run:", ""]
            lines += [f"- `{r.node.split('::')[-1]}`: {line}" for r, line in printed]
        lines.append("")
    return "\n".join(lines)


def run(promises: tuple[Promise, ...]) -> tuple[list[CaseResult], float]:
    targets = list(dict.fromkeys(t for p in promises for t in p.tests))
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
        cmd += ["-o", "junit_logging=system-out", "-o", "junit_family=xunit1", *targets]
        started = datetime.now(UTC)
        subprocess.run(cmd, cwd=ROOT, check=False)
        seconds = (datetime.now(UTC) - started).total_seconds()
        return parse_junit(report.read_text(encoding="utf-8")), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--only", action="append", help="a promise title (repeatable); default: all")
    parser.add_argument("--no-write", action="store_true", help="print instead of rewriting docs/reliability.md")
    args = parser.parse_args(argv)
    chosen = tuple(p for p in PROMISES if not args.only or p.title in args.only)
    if not chosen:
        parser.error(f"no promise titled {args.only}; titles: {[p.title for p in PROMISES]}")
    results, seconds = run(chosen)
    header = (
        "# Reliability\n\n"
        "Each promise, the tests that prove it, and the lines those tests printed, from the last run of "
        f"`{COMMAND}` (written by it; do not edit by hand).\n\n"
        f"- Machine: {machine()}\n- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n"
        f"- {len(results)} tests in {seconds:.0f} s\n"
    )
    text = render(chosen, results, header)
    if args.no_write:
        print(text)
    else:
        RELIABILITY_MD.write_text(text, encoding="utf-8")
        print(f"wrote {RELIABILITY_MD.relative_to(ROOT)}")
    return 0 if all(r.outcome in ("passed", "skipped") for r in results) and results else 1


if __name__ == "__main__":
    sys.exit(main())
