"""Collection: every case file becomes one test item named by its case id.

A case runs as a CaseItem whose verdict becomes pytest's (pass, skip for NOT-APPLICABLE,
a strict xfail for an expected status that is not a pass); a file that cannot be loaded
becomes one BrokenCaseItem, so the rest of the suite still runs. Reports point at the case
file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sockets_conformance.model.case import Case
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.paths import CASES, ROOT
from sockets_conformance.plugin.casefiles import case_roots, is_case_file
from sockets_conformance.plugin.state import STATE, State
from sockets_conformance.reports.failure import shown_path
from sockets_conformance.running.adapter import AdapterError, ImplementationInfo

# The loader (jsonschema), the runner (asyncio, trustme, cryptography) and the Allure
# support are imported where they are first used: under -n auto the controlling process
# collects and runs nothing, and importing them there cost a third of a second of the
# suite's wall time before any worker started.
if TYPE_CHECKING:
    from sockets_conformance.model.loader import CaseError

STATUS_KEY = "conformance_status"
CASE_KEY = "conformance_case"


def collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A CaseFile for a YAML file where cases live; anything else is not the plugin's."""
    if file_path.suffix == ".yaml" and is_case_file(file_path, case_roots(parent.config)):
        return CaseFile.from_parent(parent, path=file_path)
    return None


class CaseFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        from sockets_conformance.model.loader import CaseError, load_case

        try:
            case = load_case(self.path)
        except CaseError as exc:
            return [BrokenCaseItem.from_parent(self, name=self.path.stem, error=exc)]
        repeat = max(1, self.config.getoption("repeat"))
        return [CaseItem.from_parent(self, name=case.id if k == 1 else f"{case.id}@{k}",
                                     case=case, repetition=k) for k in range(1, repeat + 1)]


class CaseFailed(Exception):
    """A case that did not pass for a reason the harness could not judge (ERROR): Allure
    files it as "broken"."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


class CaseBehaviourFailed(CaseFailed, AssertionError):
    """The implementation behaved wrongly (FAIL, TIMEOUT, NON-STRICT under --strict): an
    AssertionError, so Allure files it as "failed", not "broken"."""


class ExpectedStatus(CaseFailed):
    """The case ended with the status its expectations entry names: the strict xfail
    marker (raises=ExpectedStatus) turns exactly this into xfailed, nothing else."""


class BrokenCaseItem(pytest.Item):
    """A case file that cannot be loaded: one clear failure, the rest of the suite runs."""

    def __init__(self, *, error: CaseError, **kw: Any) -> None:
        super().__init__(**kw)
        self.error = error

    def runtest(self) -> None:
        self.user_properties += [(STATUS_KEY, Status.ERROR.value),
                                 ("conformance_message", f"invalid case file: {self.error}")]
        raise CaseFailed(f"ERROR  invalid case file\n  {self.error}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.error.line or 1) - 1, f"invalid case {self.path.name}"


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, repetition: int = 1, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        self.repetition = repetition   # k of "id@k" under --repeat
        for feature in case.features:
            self.add_marker(feature)
        from sockets_conformance.reports import allure_results

        for mark in allure_results.markers(case):
            self.add_marker(mark)
        state = self.config.stash[STATE]
        self.expected = state.expectations.get(case.id)
        # A NON-STRICT entry may meet a result that counts as passed (only the words
        # differ): an entry never turns a pass into an xfail, so its marker waits for the
        # result (runtest adds it when the result is not a pass).
        if self.expected is not None and (self.expected.status is not Status.NON_STRICT
                                          or state.strict):
            self._expect_failure()
        self.result: CaseResult | None = None
        self.nextitem: pytest.Item | None = None   # set as the item starts (plugin hook)
        # On every report of this item, even one the harness failed to judge.
        self.user_properties.append((CASE_KEY, case.id))

    def runtest(self) -> None:
        from sockets_conformance.reports import allure_results, scores
        from sockets_conformance.reports.failure import render

        state = self.config.stash[STATE]
        result, info = self._run(state)
        self.result = result
        self._record(result, info)
        options = self._rerun_options(state)
        allure_results.attach(self.case, result, info, state.spec, options,
                              expected=self.expected, expectations=state.expectations_path)
        if result.status is Status.NOT_APPLICABLE:
            pytest.skip(f"NOT-APPLICABLE: {result.message}")
        reworded = result.status is Status.NON_STRICT and bool(scores.passed(
            {"status": result.status.value, "message": result.message}))
        passed = result.status is Status.PASS or (result.status is Status.NON_STRICT
                                                  and not state.strict)
        expected = self.expected
        marked = any(m.name == "xfail" for m in self.iter_markers())
        if expected is not None and result.status is expected.status:
            if reworded and not state.strict:
                return  # passed; the entry says why the words differ (summary, reports)
            if not marked:
                self._expect_failure()
            raise ExpectedStatus(render(self.case, result, state.spec, options))
        if passed and (marked or expected is None):
            return  # with an expectation, the strict xfail marker reports XPASS(strict)
        text = render(self.case, result, state.spec, options)
        if expected is not None and result.status is Status.PASS:
            raise CaseBehaviourFailed(
                f"PASS, but {state.expectations_path} expects {expected.status.value} "
                f"({expected.reason}): the entry no longer holds; delete it\n{text}")
        if expected is not None:
            text = (f"expected {expected.status.value} ({state.expectations_path}: "
                    f"{expected.reason}); got {result.status.value}\n{text}")
        if result.status is Status.ERROR:
            raise CaseFailed(text)
        raise CaseBehaviourFailed(text)

    def _expect_failure(self) -> None:
        """The strict xfail marker of an expected status: exactly ExpectedStatus becomes
        xfailed, and a pass fails as XPASS(strict)."""
        assert self.expected is not None
        self.add_marker(pytest.mark.xfail(
            reason=f"{self.expected.status.value}: {self.expected.reason}", strict=True,
            raises=ExpectedStatus))

    def _record(self, result: CaseResult, info: ImplementationInfo) -> None:
        """The case's result as user properties: they travel with the report to the
        process that writes the summary and the results file (the xdist controller)."""
        self.user_properties += [
            (STATUS_KEY, result.status.value),
            ("conformance_message", result.message),
            ("conformance_cleanup", result.cleanup),
            ("conformance_path", self.case.path.relative_to(ROOT).as_posix()
             if self.case.path.is_relative_to(ROOT) else str(self.case.path)),
            ("conformance_requirements", list(self.case.requirements)),
            ("conformance_features", list(self.case.features)),
            ("conformance_seconds", result.seconds),
            ("conformance_impl", {"name": info.name, "version": info.version,
                                  "language": info.language, "homepage": info.homepage,
                                  **({"settings": info.settings} if info.settings else {})}),
        ]
        if self.expected is not None:
            self.user_properties += [
                ("conformance_expected", self.expected.status.value),
                ("conformance_expected_reason", self.expected.reason),
                ("conformance_expected_link", self.expected.link),
            ]

    def _run(self, state: State) -> tuple[CaseResult, ImplementationInfo]:
        from sockets_conformance.running.runner import run_case

        ahead = state.ahead()
        if ahead is not None:
            from sockets_conformance.plugin.ahead import upcoming

            ahead.launch(lambda: [(it.nodeid, it.case, it.repetition) for it in
                                  [self, *upcoming(self, self.nextitem)]
                                  if isinstance(it, CaseItem)])
            return state.run(ahead.result((self.nodeid, self.case, self.repetition)))
        try:
            adapter = state.adapter()
            return (state.run(run_case(self.case, adapter, state.settings, self.repetition)),
                    adapter.info)
        except AdapterError as exc:  # the driver could not even start: this case is ERROR
            return (CaseResult(self.case.id, Status.ERROR, f"adapter error: {exc}",
                               diagnostics=exc.stderr, implementation=state.spec),
                    ImplementationInfo(state.spec, "?", "?"))

    def _rerun_options(self, state: State) -> list[str]:
        """The run's verdict options, plus --cases-dir when only that makes the file a
        case file (it is neither bundled nor in a folder named `cases`)."""
        options = state.verdict_options
        if not is_case_file(self.case.path, [CASES]):
            resolved = self.case.path.resolve()
            root = next((Path(d) for d in self.config.getoption("cases_dir")
                         if resolved.is_relative_to(Path(d).resolve())), None)
            if root is not None:
                options += ["--cases-dir", shown_path(root)]
        return options

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, (self.line() or 1) - 1, f"case {self.case.id}"

    def line(self) -> int | None:
        """The line a report should point at (1-based): the failing step once the case has
        run, the `features:` line for NOT-APPLICABLE; None before the case runs."""
        result = self.result
        if result is None:
            return None
        if result.status is Status.NOT_APPLICABLE:
            return _key_line(self.case.path, "features")
        step = result.failed_step or next(
            (s for s in result.steps if s.outcome == "NON-STRICT"), None)
        return step.line if step is not None else None


def _key_line(path: Path, key: str) -> int | None:
    """The 1-based line of a top-level `key:` in the case file, None if it has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


def point_at_case(item: pytest.Item, call: pytest.CallInfo[None],
                  report: pytest.TestReport) -> None:
    """Point a case's report at its case file and line: a skip at the case's `features:`
    line (not at the plugin's pytest.skip call), a failure at the failing step."""
    line = item.line() if isinstance(item, CaseItem) and call.when == "call" else None
    if line is None:
        return
    if report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr,
                                                                         tuple):
        report.longrepr = (str(item.path), line, report.longrepr[2])
    elif report.failed or hasattr(report, "wasxfail"):
        report.location = (report.location[0], line - 1, report.location[2])
