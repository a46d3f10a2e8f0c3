"""One truthful summary: the `conformance` section of a run tells expected results from
unexpected ones, lists only the unexpected, adds up to pytest's own counts, and states the
score (reports/scores.py; its rules are in tests/test_scores.py).

One mixed run serves both checks, serially (in this process: the summary is not a matter of
processes) and under xdist (a process of its own, as a user runs it, whose workers report to
the controller that writes the summary).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from sockets_conformance.reports import failure as rep

from tests.test_usage import (
    MUST,
    SHOULD,
    inprocess_run,
    output,
    pytest_run,
    scripted_adapter,
    write_case,
)

MIXED = {  # name: (want, requirement, feature, expectation or None)
    "pass": ("pong", MUST, "tcp", None),
    "fail-expected": ("pang", MUST, "tcp", "FAIL"),
    "fail": ("pang", MUST, "tcp", None),
    "pass-expected": ("pong", MUST, "tcp", "FAIL"),
    "non-strict": ("pang", SHOULD, "tcp", None),
    "non-strict-expected": ("pang", SHOULD, "tcp", "NON-STRICT"),
    "not-applicable": ("pong", MUST, "tls", None),
    "wrong-expected": ("pang", MUST, "tcp", "TIMEOUT"),
}


def mixed_args(tmp_path: Path, *extra: str) -> list[str]:
    """Writes the mixed cases and their expectations; returns the run's arguments."""
    folder = tmp_path / "cases" / "t"
    entries = []
    for name, (want, requirement, feature, expected) in MIXED.items():
        write_case(folder, name, want, requirement, feature)
        if expected:
            entries.append(f"t/{name}: {{status: {expected}, reason: known}}")
    expectations = tmp_path / "expectations.yaml"
    expectations.write_text("\n".join(entries) + "\n")
    return ["--adapter", scripted_adapter(tmp_path), "--expectations", str(expectations),
            *extra, str(tmp_path / "cases")]


def pytest_counts(stdout: str) -> dict[str, int]:
    last = stdout.strip().splitlines()[-1]
    return {word.rstrip("s") if word == "errors" else word: int(n)
            for n, word in re.findall(r"(\d+) (passed|failed|skipped|xfailed|xpassed|errors?)",
                                      last)}


def summary_counts(stdout: str) -> tuple[dict[str, int], list[str]]:
    """The conformance section's numbers and its list of unexpected results."""
    section = stdout.split(" conformance ")[1].split("\n", 1)[1].split("\n=")[0]
    counts = {}
    for key, pattern in [("cases", r": (\d+) case"), ("PASS", r"^  (\d+) PASS"),
                         ("expected", r"^  (\d+) expected"),
                         ("NOT-APPLICABLE", r"^  (\d+) NOT-APPLICABLE"),
                         ("unexpected", r"^  (\d+) unexpected")]:
        found = re.search(pattern, section, re.MULTILINE)
        counts[key] = int(found.group(1)) if found else 0
    listed = [line.strip() for line in section.splitlines() if line.startswith("    ")]
    return counts, listed


def check_summary_adds_up(done: subprocess.CompletedProcess[str], where: str) -> None:
    assert done.returncode == 1, output(done)
    counts, listed = summary_counts(done.stdout)
    got = pytest_counts(done.stdout)
    tolerated = [line for line in listed if "counted as passed" in line]
    assert got == {"failed": 3, "passed": 2, "skipped": 1, "xfailed": 2}, done.stdout
    assert counts["PASS"] + len(tolerated) == got["passed"]
    assert counts["expected"] == got.get("xfailed", 0)
    assert counts["NOT-APPLICABLE"] == got.get("skipped", 0)
    assert counts["unexpected"] - len(tolerated) == got.get("failed", 0) + got.get("error", 0)
    assert counts["cases"] == sum(got.values()) == len(MIXED)
    assert len(listed) == counts["unexpected"]
    assert f"  2 expected (1 FAIL, 1 NON-STRICT) per {where}" in done.stdout
    assert "4 unexpected (1 PASS, 2 FAIL, 1 NON-STRICT):" in done.stdout
    assert listed[0].startswith("FAIL t/fail: ") and "pang" in listed[0]
    assert listed[1].startswith("NON-STRICT t/non-strict: ")
    assert listed[1].endswith("(counted as passed; --strict-conformance fails it)")
    assert listed[2] == f"PASS t/pass-expected: expected FAIL per {where}; delete its entry"
    assert listed[3].startswith("FAIL t/wrong-expected: ")
    assert listed[3].endswith(f"(expected TIMEOUT per {where})")
    # the expected ones are counted, never listed
    assert not any("-expected:" in line and "wrong" not in line and "pass-" not in line
                   for line in listed)


def check_score_line(done: subprocess.CompletedProcess[str]) -> None:
    """MUST cases pass, fail (known or not), pass against their entry, and one lacks a
    feature; both SHOULD cases break their SHOULD."""
    section = done.stdout.split(" conformance ")[1].splitlines()
    assert section[2] == "  conformance: MUST 2/5 (40%) · SHOULD 0/2 (0%) · MAY 0/0", \
        output(done)


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_summary_adds_up_to_pytests_counts_and_states_the_score(
        tmp_path: Path, workers: list[str], pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch) -> None:
    args = mixed_args(tmp_path, *workers)
    done = (pytest_run(*args) if workers else inprocess_run(pytester, monkeypatch, *args))
    check_summary_adds_up(done, rep.shown_path(tmp_path / "expectations.yaml"))
    check_score_line(done)


def test_summary_under_strict_conformance(tmp_path: Path, pytester: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    done = inprocess_run(pytester, monkeypatch, *mixed_args(tmp_path, "--strict-conformance"))
    counts, listed = summary_counts(done.stdout)
    got = pytest_counts(done.stdout)
    assert got == {"failed": 4, "passed": 1, "skipped": 1, "xfailed": 2}, done.stdout
    assert counts["PASS"] == got["passed"] and counts["unexpected"] == got["failed"]
    assert not any("counted as passed" in line for line in listed)


def test_summary_lines_without_surprises() -> None:
    outcomes = [rep.Outcome("a/x", "PASS", None, "", "passed"),
                rep.Outcome("a/y", "FAIL", "FAIL", "m", "xfailed"),
                rep.Outcome("a/z", "NON-STRICT", "NON-STRICT", "m", "xfailed")]
    assert rep.summary_lines("node", outcomes, "adapters/node/expectations.yaml",
                             "@arrowood.dev/socket 0.2.0") == [
        "adapter node (@arrowood.dev/socket 0.2.0): 3 case(s)",
        "  1 PASS",
        "  2 expected (1 FAIL, 1 NON-STRICT) per adapters/node/expectations.yaml",
        "  0 unexpected",
    ]
