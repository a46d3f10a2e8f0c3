"""Cases run ahead (harness/plugin/ahead.py): against an implementation in another process,
cases that wait run side by side, each on a driver process of its own, and nothing else about
the run changes.

The driver is the reference behind a relay that logs when each case's scope opens and closes
(tests/drivers/scope_log.py). Whether cases overlapped is read from that log's order, never
from how long the run took.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from sockets_conformance.paths import ROOT

RELAY = ROOT / "tests" / "drivers" / "scope_log.py"
# Waits for bytes the peer never sends: the step times out (a FAIL, as expected below).
WAITS = """\
id: t/waits-{n}
title: a read that never completes
requirements: [streams.read-delivers]
features: [tcp]
steps:
  - connect: {{}}
  - peer.accept
  - read: {{timeout: {wait}, expect: {{value: "pong"}}}}
"""
QUICK = """\
id: t/quick-{n}
title: a round trip
requirements: [streams.read-delivers]
features: [tcp]
steps:
  - connect: {{}}
  - peer.accept
  - peer.send: "pong"
  - read: {{expect: {{value: "pong"}}}}
"""


def run(tmp_path: Path, *options: str, wait: float = 0.3) -> tuple[subprocess.CompletedProcess[str],
                                                list[tuple[int, str, str, float]], dict[str, str]]:
    cases = tmp_path / "cases" / "t"
    cases.mkdir(parents=True, exist_ok=True)
    for n in range(3):
        (cases / f"waits-{n}.yaml").write_text(WAITS.format(n=n, wait=wait))
        (cases / f"quick-{n}.yaml").write_text(QUICK.format(n=n))
    log, results = tmp_path / "scopes.log", tmp_path / "results.jsonl"
    log.unlink(missing_ok=True)
    results.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
         "--adapter", f"driver:{sys.executable} {RELAY} {log}",
         "--results-jsonl", str(results), *options, str(tmp_path / "cases")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
    scopes = [(int(pid), what, case, float(at)) for pid, what, case, at in lines]
    statuses = {r["case"]: r["status"] for r in map(json.loads, results.read_text().splitlines())
                if "case" in r} if results.exists() else {}
    return done, scopes, statuses


def spans(scopes: list[tuple[int, str, str, float]], prefix: str) -> dict[str, tuple[float, float]]:
    opened = {case: at for _, what, case, at in scopes if what == "open"}
    closed = {case: at for _, what, case, at in scopes if what == "close"}
    return {case: (opened[case], closed[case]) for case in opened if case.startswith(prefix)}


EXPECTED = {**{f"t/waits-{n}": "FAIL" for n in range(3)},
            **{f"t/quick-{n}": "PASS" for n in range(3)}}


def test_cases_that_wait_run_side_by_side(tmp_path: Path) -> None:
    # Long enough waits that the next drivers start (under load too) before the first ends.
    done, scopes, statuses = run(tmp_path, "--cases-at-once", "4", wait=3)
    assert done.returncode == 1, done.stdout   # the waiting cases fail, as they should
    assert statuses == EXPECTED
    waits = spans(scopes, "t/waits-")
    assert len(waits) == 3
    # every waiting case opened before any of them closed: all three at once
    assert max(start for start, _ in waits.values()) < min(end for _, end in waits.values())
    assert len({pid for pid, *_ in scopes}) > 1


def test_one_at_a_time_is_serial_on_one_driver(tmp_path: Path) -> None:
    done, scopes, statuses = run(tmp_path, "--cases-at-once", "1")
    assert statuses == EXPECTED, done.stdout
    assert len({pid for pid, *_ in scopes}) == 1
    ordered = sorted(spans(scopes, "t/").values())
    assert all(end <= next_start for (_, end), (next_start, _) in pairwise(ordered))


@pytest.mark.parametrize("workers", ["2"])
def test_under_xdist_every_case_runs_once(tmp_path: Path, workers: str) -> None:
    done, scopes, statuses = run(tmp_path, "--cases-at-once", "4", "-n", workers)
    assert statuses == EXPECTED, done.stdout
    runs = Counter(case for _, what, case, _ in scopes if what == "open")
    assert runs == Counter(dict.fromkeys(EXPECTED, 1))
    assert "3 failed, 3 passed" in done.stdout


def test_cases_at_once_must_be_positive(tmp_path: Path) -> None:
    done, _, _ = run(tmp_path, "--cases-at-once", "0")
    assert done.returncode == 4
    assert "--cases-at-once 0: give 1 or more" in done.stderr
