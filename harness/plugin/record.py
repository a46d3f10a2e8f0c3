"""What the reporting process keeps of the run: each case's outcome, status and implementation.

Only the process that sees every report (the xdist controller, or a lone pytest) has the
whole run: it keeps what the terminal summary, --repeat, --update-expectations and the
results file need, from the user properties each case's report carries.
"""

from __future__ import annotations

from typing import Any

import pytest
from sockets_conformance.plugin.items import CASE_KEY, STATUS_KEY
from sockets_conformance.reports.failure import Outcome
from sockets_conformance.reports.results_file import ResultsWriter

SUMMARY: list[Outcome] = []
STATUSES: dict[str, str] = {}        # case id -> status, for --update-expectations
EXPECTATION_NOTES: list[str] = []
IMPLEMENTATION: list[dict[str, Any]] = []
CONFIG: list[pytest.Config] = []
WRITER = pytest.StashKey[ResultsWriter]()


def clear() -> None:
    """Forget an earlier run in this process (pytester runs pytest in-process)."""
    for kept in (SUMMARY, STATUSES, EXPECTATION_NOTES, IMPLEMENTATION):
        kept.clear()


def record(report: pytest.TestReport) -> None:
    """Keep a case's report: its outcome for the summary; its status, implementation and
    results-file line once it has run."""
    props = dict(report.user_properties)
    status = props.get(STATUS_KEY)
    case = props.get(CASE_KEY)
    if status is None and case is None:  # not a conformance case (the project's own tests)
        return
    if report.when != "call" and not (report.failed or (report.when == "setup"
                                                        and report.skipped)):
        return
    name = report.nodeid.split("::")[-1]
    SUMMARY.append(Outcome(name, str(status or ""), props.get("conformance_expected"),
                           str(props.get("conformance_message", "")), _pytest_outcome(report)))
    if report.when != "call" or status is None:
        return
    STATUSES[str(case or report.nodeid)] = str(status)
    if props.get("conformance_impl"):
        IMPLEMENTATION[:] = [props["conformance_impl"]]
    writer = CONFIG[0].stash.get(WRITER, None) if CONFIG else None
    if writer is not None and case is not None:
        writer.case(props, float(props.get("conformance_seconds", report.duration)))


def _pytest_outcome(report: pytest.TestReport) -> str:
    """The word pytest's final line counts this report under."""
    if report.when != "call" and report.failed:
        return "error"
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def flaky() -> dict[str, list[str]]:
    """Case id -> its statuses in repetition order, for cases that did not always agree."""
    runs: dict[str, list[tuple[int, str]]] = {}
    for outcome in SUMMARY:
        base, _, k = outcome.case.partition("@")
        runs.setdefault(base, []).append((int(k or 1), outcome.status))
    return {case_id: [s for _, s in sorted(r)] for case_id, r in runs.items()
            if len({s for _, s in r}) > 1}
