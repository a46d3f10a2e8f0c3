"""The end of a run: --repeat's verdict, the expectations file and its notes, the summary
with the run's conformance score.

All of it is told from what the reporting process recorded (record.py, and pytest's own
stats of the reports for the score), so it says the same under xdist as in a lone pytest.
"""

from __future__ import annotations

from typing import Any

import pytest
from sockets_conformance.model.results import Status
from sockets_conformance.plugin.items import CASE_KEY, STATUS_KEY
from sockets_conformance.plugin.record import (
    EXPECTATION_NOTES,
    IMPLEMENTATION,
    STATUSES,
    SUMMARY,
    flaky,
)
from sockets_conformance.plugin.state import STATE, State
from sockets_conformance.reports import scores
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


def score_line(stats: dict[str, list[Any]]) -> str:
    """The run's conformance score (reports/scores.py), from the case records its reports
    carry: pytest's own stats hold every report, under xdist too. A case run several times
    (--repeat) counts once, as passed only if every repetition passed."""
    records: dict[str, dict[str, Any]] = {}
    for reports in stats.values():
        for report in reports:
            props = dict(getattr(report, "user_properties", ()))
            if getattr(report, "when", None) != "call" or STATUS_KEY not in props:
                continue
            record = {"status": props[STATUS_KEY],
                      "message": props.get("conformance_message", ""),
                      "requirements": props.get("conformance_requirements", [])}
            case = str(props.get(CASE_KEY, report.nodeid))
            if case not in records or scores.passed(records[case]) is not False:
                records[case] = record
    score = scores.score(records.values())
    note = score.note()
    return f"  conformance: {score.text()}" + (f"; {note}" if note else "")


def cleanup_lines(stats: dict[str, list[Any]]) -> list[str]:
    """The cases whose end-of-case cleanup failed, whatever their verdict: a failed cleanup
    is told beside the verdict and never changes it, so a passing case shows it only here
    (and in the results file)."""
    failed: dict[str, str] = {}
    for reports in stats.values():
        for report in reports:
            props = dict(getattr(report, "user_properties", ()))
            if getattr(report, "when", None) == "call" and props.get("conformance_cleanup"):
                failed[str(props.get(CASE_KEY, report.nodeid))] = props["conformance_cleanup"]
    if not failed:
        return []
    return [f"  {len(failed)} cleanup(s) failed (the verdicts stand):"] + [
        f"    {case}: {why}" for case, why in sorted(failed.items())]


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
    lines = summary_lines(state.spec, SUMMARY, shown_path(path) if path else "",
                          implementation if implementation != state.spec else "")
    lines.insert(1, score_line(tr.stats))
    lines += cleanup_lines(tr.stats)
    for line in lines:
        tr.write_line(line)
    if config.getoption("repeat") > 1:
        changed = flaky()
        tr.write_line(f"repeat {config.getoption('repeat')}: {len(changed)} case(s) changed "
                      f"status")
        for case_id, statuses in changed.items():
            tr.write_line(f"  FLAKY {case_id}: {' '.join(statuses)}")
