"""Suite wall time: the whole suite as pytest subprocesses, per implementation and mode.

A subprocess, timed from spawn to exit, is what a user waits for: start-up and collection
count. The fixed cost (the same run with every case deselected) is measured too, so that
the overhead and growth figures can take it off.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sockets_conformance.adapters.registry import UnknownAdapter, resolve
from sockets_conformance.gates.bench.measures import SUMMARY, Report, SuiteRun
from sockets_conformance.paths import ROOT

NOTHING = "no-case-has-this-name"   # -k that deselects every case: the run's fixed cost


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def pytest_wall(implementation: str, *args: str, timeout_multiplier: float = 1.0,
                results: Path | None = None) -> SuiteRun:
    """One pytest run of the whole suite in a subprocess, timed from spawn to exit."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--adapter={implementation}", f"--timeout-multiplier={timeout_multiplier}",
               *args]
    if results is not None:
        command.append(f"--results-jsonl={results}")
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=_environment(), capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - started
    counts = SUMMARY.findall(done.stdout.splitlines()[-1] if done.stdout else "")
    outcome = ", ".join(f"{n} {what}" for n, what in counts) or \
        (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["?"])[-1]
    mode = " ".join(a for a in args if a not in ("--collect-only", "-k", NOTHING))
    return SuiteRun(implementation, mode or "serial", seconds, outcome, done.returncode)


def unavailable(implementation: str) -> str | None:
    """Why an implementation cannot run here (its adapter's own words), or None."""
    try:
        resolve(implementation)
    except UnknownAdapter as exc:
        return str(exc)
    return None


def case_seconds(results: Path) -> float:
    """The cases' own time in a --results-jsonl file."""
    total = 0.0
    for line in results.read_text().splitlines():
        record = json.loads(line)
        if "case" in record:
            total += float(record.get("duration") or 0.0)
    return total


def _warm_up(report: Report, implementations: list[str],
             say: Callable[[str], None]) -> list[str]:
    """The implementations that can run, each collected once, untimed; the others are
    reported as skipped."""
    available = []
    for impl in implementations:
        why = unavailable(impl)
        if why is not None:
            say(f"{impl}: skipped ({why})")
            report.suite.append(SuiteRun(impl, "-n auto", None, f"skipped: {why}"))
            continue
        available.append(impl)
        # Warm-up (untimed): bytecode and the page cache, so no run pays for them.
        pytest_wall(impl, "--collect-only")
    return available


def _fixed_costs(report: Report) -> None:
    """The reference's runs with every case deselected, serial and -n auto."""
    report.collect_seconds["reference serial"] = \
        pytest_wall("reference", "-k", NOTHING).seconds or 0.0
    report.collect_seconds["reference -n auto"] = \
        pytest_wall("reference", "-k", NOTHING, "-n", "auto").seconds or 0.0


def _one_run(report: Report, impl: str, mode: tuple[str, ...],
             timeout_multiplier: float) -> SuiteRun:
    """One timed run; the serial reference run also records the cases' own time."""
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results.jsonl"
        got = pytest_wall(impl, *mode, timeout_multiplier=timeout_multiplier,
                          results=results if not mode else None)
        if impl == "reference" and not mode and results.exists():
            report.collect_seconds["reference cases"] = case_seconds(results)
    return got


def _median_run(done: list[SuiteRun]) -> SuiteRun:
    """The round whose time is the (low) median, carrying every round's time."""
    times = sorted(r.seconds for r in done if r.seconds is not None)
    middle = done[[r.seconds for r in done].index(statistics.median_low(times))]
    middle.samples = times
    return middle


def _in_turns(report: Report, available: list[str], mode: tuple[str, ...], rounds: int,
              timeout_multiplier: float, say: Callable[[str], None]) -> None:
    """The implementations take turns, round after round, and each gets the median of its
    rounds: a machine that slows down under sustained load (a VM's CPU credits, heat)
    must not count against whichever implementation happens to run last."""
    runs_of: dict[str, list[SuiteRun]] = {impl: [] for impl in available}
    for _ in range(rounds):
        for impl in available:
            got = _one_run(report, impl, mode, timeout_multiplier)
            say(f"{impl} {got.mode}: {got.seconds:.2f} s ({got.outcome})")
            runs_of[impl].append(got)
    for done in runs_of.values():
        report.suite.append(_median_run(done))


def measure_suite(report: Report, implementations: list[str], *, rounds: int, repeat: int,
                  timeout_multiplier: float, say: Callable[[str], None]) -> None:
    """Every suite run of the benchmark, added to `report`: warm-up, fixed costs, the
    -n auto rounds, the serial run, and the reference repeated `repeat` times."""
    available = _warm_up(report, implementations, say)
    if "reference" in available:
        _fixed_costs(report)
    _in_turns(report, available, ("-n", "auto"), rounds, timeout_multiplier, say)
    _in_turns(report, available, (), 1, timeout_multiplier, say)
    if "reference" in implementations and repeat > 1:
        got = pytest_wall("reference", "-n", "auto", "--repeat", str(repeat),
                          timeout_multiplier=timeout_multiplier)
        say(f"reference {got.mode}: {got.seconds:.2f} s ({got.outcome})")
        report.suite.append(got)
