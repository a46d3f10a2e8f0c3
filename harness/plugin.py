"""pytest plugin: every cases/**/*.yaml becomes one test item named by its case id.

Features become markers (-m "not half-open"), the adapter is chosen with --adapter, and
every case runs on one asyncio loop per pytest process so adapters that keep a process
(drivers, workerd) can reuse it across cases.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sockets_conformance import expectations as exp
from sockets_conformance.adapter import Adapter, AdapterError, ImplementationInfo
from sockets_conformance.model import Case
from sockets_conformance.paths import CASE_SCHEMA, CASES, ROOT
from sockets_conformance.registry import UnknownAdapter, resolve
from sockets_conformance.results import CaseResult, Status
from sockets_conformance.results_file import ResultsWriter

# The loader (jsonschema), the runner (asyncio, trustme, cryptography) and the Allure
# support are imported where they are first used: under -n auto the controlling process
# collects and runs nothing, and importing them there cost a third of a second of the
# suite's wall time before any worker started.
if TYPE_CHECKING:
    import asyncio

    from sockets_conformance.loader import CaseError
    from sockets_conformance.runner import Settings

STATUS_KEY = "conformance_status"


def _features() -> list[str]:
    schema = json.loads(CASE_SCHEMA.read_text())
    return list(schema["$defs"]["feature"]["enum"])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "cloudflare:sockets conformance")
    group.addoption("--adapter", default="reference",
                    help="implementation under test: reference (default), node, "
                         "driver:COMMAND (spec/adapter-protocol.md) or python:MOD:FACTORY")
    group.addoption("--node-module", metavar="PATH", default=None,
                    help="with --adapter node: run the Node.js driver against this module "
                         "(a path or package name exporting connect) instead of "
                         "@arrowood.dev/socket")
    group.addoption("--expectations", metavar="PATH", default=None,
                    help="expected results (default: adapters/<adapter>/expectations.yaml "
                         "for reference and node)")
    group.addoption("--update-expectations", action="store_true",
                    help="rewrite the expectations file from this run (new entries get "
                         "reason TODO)")
    group.addoption("--timeout-multiplier", type=float, default=1.0,
                    help="scale every per-step timeout (default 2 s) by this factor")
    group.addoption("--strict-conformance", action="store_true",
                    help="treat NON-STRICT results (message differs, SHOULD broken) as failures")
    group.addoption("--repeat", type=int, default=1, metavar="N",
                    help="run every case N times (as id, id@2, ... id@N) and fail the run if "
                         "any case's status changes between repetitions")
    group.addoption("--results-jsonl", metavar="PATH", default=None,
                    help="write the canonical results file (JSON lines) here")
    group.addoption("--cases-dir", action="append", default=[], metavar="DIR",
                    help="YAML files under DIR are case files too (your own cases; "
                         "sockets-conformance also collects DIR)")


def pytest_configure(config: pytest.Config) -> None:
    for feature in _features():
        config.addinivalue_line("markers", f"{feature}: cases needing the {feature} feature")
    config.stash[_STATE] = _State(config)
    path = config.getoption("results_jsonl")
    if path and not hasattr(config, "workerinput"):  # only the process that sees all reports
        config.stash[_WRITER] = ResultsWriter(Path(path), config.getoption("adapter"))


class _State:
    """Per-process: the adapter and the asyncio loop every case runs on."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.spec: str = config.getoption("adapter")
        self._settings: Settings | None = None
        self.strict: bool = config.getoption("strict_conformance")
        self.node_module: str | None = config.getoption("node_module")
        given = config.getoption("expectations")
        self.expectations_path = Path(given) if given else \
            exp.default_path(self.spec, self.node_module)
        self.update_expectations: bool = config.getoption("update_expectations")
        if self.update_expectations and self.expectations_path is None:
            raise pytest.UsageError(f"--update-expectations: --adapter {self.spec} has no "
                                    f"expectations file of its own; name one with "
                                    f"--expectations PATH")
        try:
            self.expectations = exp.load(self.expectations_path)
        except exp.ExpectationsError as exc:
            raise pytest.UsageError(str(exc)) from None
        self._runner: asyncio.Runner | None = None
        self._adapter: Adapter | None = None
        self._start_error: AdapterError | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from sockets_conformance.runner import Settings

            self._settings = Settings(
                timeout_multiplier=self.config.getoption("timeout_multiplier"))
        return self._settings

    def adapter(self) -> Adapter:
        """The started adapter. A driver that cannot start raises the same AdapterError for
        every case (at once: a driver that hangs at start costs its timeout only once)."""
        if self._start_error is not None:
            raise self._start_error
        if self._adapter is None:
            adapter = resolve(self.spec, node_module=self.node_module)
            try:
                self.run(adapter.start())
            except AdapterError as exc:
                self.run(adapter.stop())
                self._start_error = exc
                raise
            self._adapter = adapter
        return self._adapter

    def run(self, coro: Any) -> Any:
        if self._runner is None:
            import asyncio

            self._runner = asyncio.Runner()
        return self._runner.run(coro)

    def close(self) -> None:
        if self._adapter is not None:
            self.run(self._adapter.stop())
        if self._runner is not None:
            self._runner.close()


_STATE = pytest.StashKey[_State]()
_WRITER = pytest.StashKey[ResultsWriter]()


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()
    writer = config.stash.get(_WRITER, None)
    if writer is not None:
        writer.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    roots = [CASES, *(Path(d) for d in parent.config.getoption("cases_dir"))]
    if file_path.suffix == ".yaml" and _is_case_file(file_path, roots):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _is_case_file(path: Path, roots: list[Path]) -> bool:
    """Under the bundled cases/ or a --cases-dir, or in any folder named `cases` (a copy of
    the suite, a fixture's cases): never the malformed examples under tests/."""
    resolved = path.resolve()
    return any(resolved.is_relative_to(r.resolve()) for r in roots) or "cases" in path.parts


class CaseFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        from sockets_conformance.loader import CaseError, load_case

        try:
            case = load_case(self.path)
        except CaseError as exc:
            return [BrokenCaseItem.from_parent(self, name=self.path.stem, error=exc)]
        repeat = max(1, self.config.getoption("repeat"))
        return [CaseItem.from_parent(self, name=case.id if k == 1 else f"{case.id}@{k}",
                                     case=case) for k in range(1, repeat + 1)]


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
        self.user_properties.append((STATUS_KEY, Status.ERROR.value))
        raise CaseFailed(f"ERROR  invalid case file\n  {self.error}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.error.line, f"invalid case {self.path.name}"


class CaseItem(pytest.Item):
    def __init__(self, *, case: Case, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        for feature in case.features:
            self.add_marker(feature)
        from sockets_conformance import allure_support

        for mark in allure_support.markers(case):
            self.add_marker(mark)
        self.expected = self.config.stash[_STATE].expectations.get(case.id)
        if self.expected is not None:
            self.add_marker(pytest.mark.xfail(
                reason=f"{self.expected.status.value}: {self.expected.reason}", strict=True,
                raises=ExpectedStatus))
        self.result: CaseResult | None = None

    def runtest(self) -> None:
        from sockets_conformance import allure_support
        from sockets_conformance.report import render
        from sockets_conformance.runner import run_case

        state = self.config.stash[_STATE]
        try:
            adapter = state.adapter()
            result = state.run(run_case(self.case, adapter, state.settings))
            info = adapter.info
        except UnknownAdapter as exc:
            raise pytest.UsageError(str(exc)) from None
        except AdapterError as exc:  # the driver could not even start: this case is ERROR
            info = ImplementationInfo(state.spec, "?", "?")
            result = CaseResult(self.case.id, Status.ERROR, f"adapter error: {exc}",
                                diagnostics=exc.stderr, implementation=state.spec)
        self.result = result
        self.user_properties += [
            (STATUS_KEY, result.status.value),
            ("conformance_message", result.message),
            ("conformance_case", self.case.id),
            ("conformance_path", self.case.path.relative_to(ROOT).as_posix()
             if self.case.path.is_relative_to(ROOT) else str(self.case.path)),
            ("conformance_requirements", list(self.case.requirements)),
            ("conformance_features", list(self.case.features)),
            ("conformance_seconds", result.seconds),
            ("conformance_impl", {"name": info.name, "version": info.version,
                                  "language": info.language, "homepage": info.homepage}),
        ]
        if self.expected is not None:
            self.user_properties.append(("conformance_expected", self.expected.status.value))
        allure_support.attach(self.case, result, info, state.spec)
        if result.status is Status.NOT_APPLICABLE:
            pytest.skip(f"NOT-APPLICABLE: {result.message}")
        passed = result.status is Status.PASS or (result.status is Status.NON_STRICT
                                                  and not state.strict)
        expected = self.expected
        if expected is not None and result.status is expected.status:
            raise ExpectedStatus(render(self.case, result, state.spec))
        if passed:
            return  # with an expectation, the strict xfail marker reports XPASS(strict)
        text = render(self.case, result, state.spec)
        if expected is not None:
            text = (f"expected {expected.status.value} ({state.expectations_path}: "
                    f"{expected.reason}); got {result.status.value}\n{text}")
        if result.status is Status.ERROR:
            raise CaseFailed(text)
        raise CaseBehaviourFailed(text)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseFailed):
            return excinfo.value.text
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, 0, f"case {self.case.id}"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call":
        return
    props = dict(report.user_properties)
    status = props.get(STATUS_KEY)
    if status is None:  # not a conformance case (the project's own tests)
        return
    _SUMMARY.append((report.nodeid, status, str(props.get("conformance_message", ""))))
    _STATUSES[str(props.get("conformance_case", report.nodeid))] = str(status)
    writer = _CONFIG[0].stash.get(_WRITER, None) if _CONFIG else None
    if writer is not None:
        writer.case(props, float(props.get("conformance_seconds", report.duration)))


_SUMMARY: list[tuple[str, str, str]] = []
_STATUSES: dict[str, str] = {}        # case id -> status, for --update-expectations
_EXPECTATION_NOTES: list[str] = []
_CONFIG: list[pytest.Config] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG[:] = [session.config]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """--update-expectations: rewrite the file from what this run saw. Only the process
    that receives every report writes it (the xdist controller, or a lone pytest), and only
    after a run that finished (an interrupted run would drop entries it never reached).
    Also: with --repeat, a case whose status changed fails the run."""
    config = session.config
    if config.getoption("repeat") > 1 and _flaky() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    state = config.stash.get(_STATE, None)
    if state is None or hasattr(config, "workerinput"):
        return
    path = state.expectations_path
    stale = sorted(c for c in state.expectations if not exp.case_exists(c))
    if stale:
        _EXPECTATION_NOTES.append(f"{len(stale)} expectation(s) name cases that do not exist: "
                                  f"{', '.join(stale)}")
    if not state.update_expectations or path is None:
        todo = sorted(c for c, e in state.expectations.items() if not e.reviewed)
        if todo:
            _EXPECTATION_NOTES.append(f"{len(todo)} expectation(s) in {path} still say "
                                      f"reason: TODO: {', '.join(todo)}")
        return
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        _EXPECTATION_NOTES.append(f"run did not finish (exit {int(exitstatus)}): {path} "
                                  f"left unchanged")
        return
    results = {case_id: Status(status) for case_id, status in _STATUSES.items()}
    updated = exp.update(state.expectations, results)
    exp.write(path, updated)
    todo = sorted(c for c, e in updated.items() if not e.reviewed)
    _EXPECTATION_NOTES.append(f"wrote {path}: {len(updated)} entries" + (
        f"; {len(todo)} need review (reason: TODO): {', '.join(todo)}" if todo else ""))


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _EXPECTATION_NOTES:
        terminalreporter.section("expectations")
        for note in _EXPECTATION_NOTES:
            terminalreporter.write_line(note)
    if not _SUMMARY:
        return
    counts = Counter(status for _, status, _ in _SUMMARY)
    order = [s.value for s in Status]
    line = ", ".join(f"{counts[s]} {s}" for s in order if counts[s])
    tr = terminalreporter
    tr.section("conformance")
    tr.write_line(f"adapter {config.getoption('adapter')}: {line}")
    for nodeid, status, message in _SUMMARY:
        if status == Status.NON_STRICT.value:
            tr.write_line(f"  NON-STRICT {nodeid.split('::')[-1]}: {message}")
    if config.getoption("repeat") > 1:
        flaky = _flaky()
        tr.write_line(f"repeat {config.getoption('repeat')}: {len(flaky)} case(s) changed status")
        for case_id, statuses in flaky.items():
            tr.write_line(f"  FLAKY {case_id}: {' '.join(statuses)}")


def _flaky() -> dict[str, list[str]]:
    """Case id -> its statuses in repetition order, for cases that did not always agree."""
    runs: dict[str, list[tuple[int, str]]] = {}
    for nodeid, status, _ in _SUMMARY:
        name = nodeid.split("::")[-1]
        base, _, k = name.partition("@")
        runs.setdefault(base, []).append((int(k or 1), status))
    return {case_id: [s for _, s in sorted(r)] for case_id, r in runs.items()
            if len({s for _, s in r}) > 1}

