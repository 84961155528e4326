"""bench.reliability: the promise → test map stays valid, and JUnit XML becomes docs/reliability.md faithfully."""

from __future__ import annotations

from bench.reliability import PROMISES, ROOT, CaseResult, Promise, parse_junit, render

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="3">
<testcase classname="tests.unit.test_a" name="test_one" file="tests/unit/test_a.py" line="3" time="0.5">
<system-out>--------------------------------- Captured Out ---------------------------------
2026-12-04T01:31:02.724864Z [info     ] IO loop starting (client_id=x) [kafka.net.selector] loc=selector.py:236
INFO     kafka.cluster:cluster.py:120 Starting metadata refresh loop
2026-12-04T01:31:03.1Z [warning  ] retrying [urllib3.connectionpool] loc=connectionpool.py:868
Traceback (most recent call last):
  File "connection.py", line 239, in _new_conn
    sock = connection.create_connection(
urllib3.exceptions.NewConnectionError: refused

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "x.py", line 1, in f
ConnectionRefusedError: [Errno 111] Connection refused
drained in 4.2 s
</system-out></testcase>
<testcase classname="tests.unit.test_a" name="test_two[x]" file="tests/unit/test_a.py" line="9" time="1.0">
<failure message="assert 1 == 2">boom</failure></testcase>
<testcase classname="tests.unit.test_b" name="test_three" time="0.1"><skipped message="no"/></testcase>
</testsuite></testsuites>
"""


def test_every_promised_test_exists() -> None:
    for promise in PROMISES:
        assert promise.tests, promise.title
        for target in promise.tests:
            path, _, name = target.partition("::")
            assert (ROOT / path).is_file(), target
            if name:
                assert f"def {name}(" in (ROOT / path).read_text(encoding="utf-8"), target


def test_parse_junit_keeps_outcome_seconds_and_printed_lines() -> None:
    one, two, three = parse_junit(JUNIT)
    assert one == CaseResult("tests/unit/test_a.py::test_one", "passed", 0.5, ("drained in 4.2 s",))
    assert (two.node, two.outcome) == ("tests/unit/test_a.py::test_two[x]", "failed")
    assert (three.node, three.outcome) == ("tests/unit/test_b.py::test_three", "skipped")


def test_a_promise_holds_only_when_its_tests_ran_and_passed() -> None:
    results = parse_junit(JUNIT)
    ok = Promise("Fast drain", "drains", ("tests/unit/test_a.py::test_one",))
    bad = Promise("Whole file", "all of a", ("tests/unit/test_a.py",))
    missing = Promise("Nothing ran", "none", ("tests/unit/test_c.py",))
    text = render((ok, bad, missing), results, "# R\n")
    assert "## Fast drain: holds" in text and "- `test_one`: drained in 4.2 s" in text
    assert "## Whole file: DOES NOT HOLD" in text and "1 passed, 1 failed" in text
    assert "## Nothing ran: DOES NOT HOLD" in text and "none ran" in text
    assert "Captured Out" not in text


def test_the_doc_is_the_runners() -> None:
    doc = (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")
    assert "python -m bench.reliability" in doc
    assert [line[3:].split(":")[0] for line in doc.splitlines() if line.startswith("## ")] == [
        p.title for p in PROMISES
    ]
