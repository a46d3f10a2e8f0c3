"""The end of a run: --repeat's verdict, the expectations file and its notes, the summary.

All of it is told from what the reporting process recorded (record.py), so it says the
same under xdist as in a lone pytest.
"""

from __future__ import annotations

from typing import Any

import pytest
from sockets_conformance.model.results import Status
from sockets_conformance.plugin.record import (
    EXPECTATION_NOTES,
    IMPLEMENTATION,
    STATUSES,
    SUMMARY,
    flaky,
)
from sockets_conformance.plugin.state import STATE, State
from sockets_conformance.reports.failure import shown_path, summary_lines
from sockets_conformance.running import expectations as exp


def fail_flaky_run(session: pytest.Session) -> None:
    """With --repeat, a case whose status changed between repetitions fails the run."""
    if session.config.getoption("repeat") > 1 and flaky() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def finish_expectations(state: State, exitstatus: int) -> None:
    """Note stale and unreviewed entries; with --update-expectations, rewrite the file from
    what this run saw, but only after a run that finished (an interrupted run would drop
    entries it never reached)."""
    path = state.expectations_path
    stale = sorted(c for c in state.expectations if not exp.case_exists(c))
    if stale:
        EXPECTATION_NOTES.append(f"{len(stale)} expectation(s) name cases that do not exist: "
                                 f"{', '.join(stale)}")
    if not state.update_expectations or path is None:
        todo = sorted(c for c, e in state.expectations.items() if not e.reviewed)
        if todo:
            EXPECTATION_NOTES.append(f"{len(todo)} expectation(s) in {path} still say "
                                     f"reason: TODO: {', '.join(todo)}")
        return
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        EXPECTATION_NOTES.append(f"run did not finish (exit {int(exitstatus)}): {path} "
                                 f"left unchanged")
        return
    results = {case_id: Status(status) for case_id, status in STATUSES.items()}
    updated = exp.update(state.expectations, results)
    exp.write(path, updated)
    todo = sorted(c for c, e in updated.items() if not e.reviewed)
    EXPECTATION_NOTES.append(f"wrote {path}: {len(updated)} entries" + (
        f"; {len(todo)} need review (reason: TODO): {', '.join(todo)}" if todo else ""))


def write_summary(tr: Any, exitstatus: int, config: pytest.Config) -> None:
    """The expectations notes, the conformance section that reconciles with pytest's
    counts, and with --repeat the cases whose status changed."""
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return  # pytest's own line says it; partial counts are in its final line
    if EXPECTATION_NOTES:
        tr.section("expectations")
        for note in EXPECTATION_NOTES:
            tr.write_line(note)
    if not SUMMARY:
        return
    state = config.stash[STATE]
    path = state.expectations_path
    impl = IMPLEMENTATION[0] if IMPLEMENTATION else {}
    implementation = " ".join(str(impl.get(k, "")) for k in ("name", "version")
                              if impl.get(k) not in (None, "", "?")).strip()
    tr.section("conformance")
    for line in summary_lines(state.spec, SUMMARY, shown_path(path) if path else "",
                              implementation if implementation != state.spec else ""):
        tr.write_line(line)
    if config.getoption("repeat") > 1:
        changed = flaky()
        tr.write_line(f"repeat {config.getoption('repeat')}: {len(changed)} case(s) changed "
                      f"status")
        for case_id, statuses in changed.items():
            tr.write_line(f"  FLAKY {case_id}: {' '.join(statuses)}")
