"""pytest plugin: every cases/**/*.yaml becomes one test item named by its case id.

Features become markers (-m "not half-open"), --area and --level select by the case id's
first segment and by the level of the requirements a case cites, the adapter is chosen with
--adapter, and every case runs on one asyncio loop per pytest process so adapters that keep a
process (drivers, workerd) can reuse it across cases.

A configuration error (an unknown adapter, a missing --node-module, a driver that does not
start) is found once, before any case runs, by the process that controls the run: it is a
usage error (exit 4), not one ERROR per case.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import pytest
from sockets_conformance.adapters.registry import (
    FORMS,
    NAMED,
    UnknownAdapter,
    check_spec,
    resolve,
    shown,
)
from sockets_conformance.model.case import Case
from sockets_conformance.model.requirements import LEVELS
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.paths import CASE_SCHEMA, CASES, ROOT
from sockets_conformance.reports.failure import Outcome, shown_path, summary_lines
from sockets_conformance.reports.results_file import ResultsWriter
from sockets_conformance.running import expectations as exp
from sockets_conformance.running.adapter import Adapter, AdapterError, ImplementationInfo

# The loader (jsonschema), the runner (asyncio, trustme, cryptography) and the Allure
# support are imported where they are first used: under -n auto the controlling process
# collects and runs nothing, and importing them there cost a third of a second of the
# suite's wall time before any worker started.
if TYPE_CHECKING:
    import asyncio

    from sockets_conformance.model.loader import CaseError
    from sockets_conformance.running.runner import Settings

STATUS_KEY = "conformance_status"
CASE_KEY = "conformance_case"
START_ERROR_LINES = 3    # a start failure's message; pytest adds "ERROR: " and a blank line


def _features() -> list[str]:
    schema = json.loads(CASE_SCHEMA.read_text())
    return list(schema["$defs"]["feature"]["enum"])


def _with_expectations() -> list[str]:
    """The named adapters that ship an expectations file, for --help."""
    return [name for name in NAMED
            if (path := exp.default_path(name)) is not None and path.exists()]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "cloudflare:sockets conformance")
    group.addoption("--adapter", default="reference",
                    help=f"implementation under test: {', '.join(FORMS)} (default: reference; "
                         f"driver:COMMAND speaks spec/adapter-protocol.md)")
    group.addoption("--node-module", metavar="PATH", default=None,
                    help="with --adapter node: run the Node.js driver against this module "
                         "(a path or package name exporting connect) instead of "
                         "@arrowood.dev/socket")
    shipped = " and ".join(_with_expectations()) or "none"
    group.addoption("--expectations", metavar="PATH", default=None,
                    help=f"expected results (default: adapters/ADAPTER/expectations.yaml, "
                         f"which these adapters ship: {shipped}; none with --node-module)")
    group.addoption("--update-expectations", action="store_true",
                    help="rewrite the expectations file from this run (new entries get "
                         "reason TODO)")
    group.addoption("--timeout-multiplier", type=float, default=1.0,
                    help="scale every per-step timeout (default 2 s) by this factor")
    group.addoption("--strict-conformance", action="store_true",
                    help="treat NON-STRICT results (message differs, SHOULD broken) as failures")
    group.addoption("--area", action="append", default=[], metavar="AREA",
                    help="run only cases whose id starts with AREA/ (e.g. close, half-open; "
                         "repeatable)")
    group.addoption("--level", action="append", default=[], metavar="LEVEL",
                    help=f"run only cases that cite a requirement of this level "
                         f"({', '.join(LEVELS)}; repeatable)")
    group.addoption("--repeat", type=int, default=1, metavar="N",
                    help="run every case N times (as id, id@2, ... id@N) and fail the run if "
                         "any case's status changes between repetitions")
    group.addoption("--results-jsonl", metavar="PATH", default=None,
                    help="write the canonical results file (JSON lines) here")
    group.addoption("--cases-dir", action="append", default=[], metavar="DIR",
                    help="YAML files under DIR are case files too (your own cases; "
                         "sockets-conformance also collects DIR)")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _distributed(config: pytest.Config) -> bool:
    """This process controls xdist workers (-n N): it collects and runs no case itself."""
    option = config.option
    return (getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None))
            and not option.collectonly)


def _runs_no_case(config: pytest.Config) -> bool:
    """--help, --markers, --collect-only and their kind: no case will run."""
    option = config.option
    return any(getattr(option, name, False) for name in (
        "help", "markers", "collectonly", "showfixtures", "show_fixtures_per_test",
        "setupplan", "setuponly"))


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    for feature in _features():
        config.addinivalue_line("markers", f"{feature}: cases needing the {feature} feature")
    state = config.stash[_STATE] = _State(config)
    # Only a run with case files gets the plugin's Ctrl-C and start check: the plugin is
    # loaded into every pytest run of the environment it is installed in.
    may_run = not _runs_no_case(config) and _cases_may_run(config)
    if may_run:
        _install_interrupt_handler(config)
    if _is_worker(config):
        return  # the controller checked the options and the adapter already
    for kept in (_SUMMARY, _STATUSES, _EXPECTATION_NOTES, _IMPLEMENTATION):
        kept.clear()
    _selection(config)
    if not _runs_no_case(config):
        state.preflight(distributed=_distributed(config), may_run=may_run)
    path = config.getoption("results_jsonl")
    if path:  # only the process that sees all reports
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
        self.update_expectations: bool = config.getoption("update_expectations")
        if given and not Path(given).is_file() and not self.update_expectations:
            raise pytest.UsageError(f"--expectations {given}: no such file; name an existing "
                                    f"expectations file (--update-expectations creates one)")
        self.expectations_path = Path(given) if given else \
            exp.default_path(self.spec, self.node_module)
        if self.update_expectations and self.expectations_path is None:
            raise pytest.UsageError(f"--update-expectations: --adapter {self.spec} has no "
                                    f"expectations file of its own; name one with "
                                    f"--expectations PATH")
        try:
            self.expectations = exp.load(self.expectations_path)
        except exp.ExpectationsError as exc:
            raise pytest.UsageError(str(exc)) from None
        self._runner: asyncio.Runner | None = None
        self._resolved: Adapter | None = None   # resolved by the preflight, not started
        self._adapter: Adapter | None = None
        self._start_error: AdapterError | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from sockets_conformance.running.runner import Settings

            self._settings = Settings(
                timeout_multiplier=self.config.getoption("timeout_multiplier"))
        return self._settings

    @property
    def verdict_options(self) -> list[str]:
        """The options that change a case's verdict, for its rerun line."""
        get = self.config.getoption
        options = [] if self.spec == "reference" else ["--adapter", self.spec]
        if self.node_module is not None:
            options += ["--node-module", self.node_module]
        if get("expectations"):
            options += ["--expectations", get("expectations")]
        if self.strict:
            options.append("--strict-conformance")
        if get("timeout_multiplier") != 1.0:
            options += ["--timeout-multiplier", f"{get('timeout_multiplier'):g}"]
        return options

    def preflight(self, *, distributed: bool, may_run: bool) -> None:
        """Find a configuration error once, before any case runs: resolve the adapter and,
        for one that runs in a process (a driver), start it (the handshake) and stop it.
        Serially, the started adapter is kept for the cases; under xdist each worker starts
        its own, so the controller's is stopped again. Raises pytest.UsageError."""
        try:
            check_spec(self.spec, self.node_module)
        except UnknownAdapter as exc:
            raise pytest.UsageError(str(exc)) from None
        if self.spec == "reference" or not may_run:
            return  # the reference always resolves; importing it costs the controller time
        try:
            adapter = resolve(self.spec, node_module=self.node_module)
        except UnknownAdapter as exc:
            raise pytest.UsageError(str(exc)) from None
        if not _is_process(adapter):
            if not distributed:
                self._resolved = adapter
            return
        try:
            self.run(adapter.start())
        except AdapterError as exc:
            self.run(adapter.stop())
            raise pytest.UsageError(_start_failure(self.spec, self.node_module, exc)) from None
        if distributed:
            self.run(adapter.stop())
        else:
            self._adapter = adapter

    def adapter(self) -> Adapter:
        """The started adapter. A driver that cannot start raises the same AdapterError for
        every case (at once: a driver that hangs at start costs its timeout only once)."""
        if self._start_error is not None:
            raise self._start_error
        if self._adapter is None:
            try:
                adapter = self._resolved or resolve(self.spec, node_module=self.node_module)
            except UnknownAdapter as exc:  # the preflight was skipped or things changed
                self._start_error = AdapterError(str(exc))
                raise self._start_error from None
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


def _is_process(adapter: Adapter) -> bool:
    """A driver in another process (node, workerd, driver:, or a python: factory that
    returns one). The driver module is loaded whenever such an adapter exists."""
    driver = sys.modules.get("sockets_conformance.running.driver")
    return driver is not None and isinstance(adapter, driver.DriverAdapter)


def _start_failure(spec: str, node_module: str | None, exc: AdapterError) -> str:
    """At most START_ERROR_LINES lines: what failed, then what the driver said about it."""
    lines = str(exc).splitlines() or ["no reason given"]
    given = f"--adapter {shown(spec)}" + (f" --node-module {node_module}" if node_module else "")
    head = f"{given}: the implementation did not start, so no case ran: {lines[0]}"
    extra = lines[1:] + [f"  stderr: {line[:300]}" for line in _telling(exc.stderr)]
    return "\n".join([head, *extra[:START_ERROR_LINES - 1]])


_ERROR_LINE = re.compile(r"^\S*(Error|Exception)\b[^:]*: \S")   # "TypeError: x", "Error [E]: x"


def _telling(stderr: str) -> list[str]:
    """The stderr line that says what went wrong: the last "SomeError: message" of a
    Python or Node.js traceback (whose last lines are stack frames), else the last two."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if _ERROR_LINE.match(line)]
    return errors[-1:] if errors else lines[-2:]


def _case_roots(config: pytest.Config) -> list[Path]:
    return [CASES, *(Path(d) for d in config.getoption("cases_dir"))]


def _cases_may_run(config: pytest.Config) -> bool:
    """Whether the paths given could hold a case file, told without collecting: `pytest
    tests --adapter node` need not start node. Anything not a path (--pyargs) may."""
    roots = _case_roots(config)
    base = config.invocation_params.dir
    for arg in config.args:
        path = base / arg.split("::")[0]
        if path.is_file():
            if path.suffix == ".yaml" and _is_case_file(path, roots):
                return True
        elif not path.is_dir() or _holds_case(path.resolve(), roots):
            return True   # not a path at all (--pyargs), or a folder with a case in it
    return False


_SKIPPED_DIRS = {"node_modules", "venv", "__pycache__", "build", "dist"}


def _holds_case(folder: Path, roots: list[Path]) -> bool:
    if any(r.resolve().is_relative_to(folder) or folder.is_relative_to(r.resolve())
           for r in roots if r.is_dir()):
        return True
    for where, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith(".")]
        if any(f.endswith(".yaml") and _is_case_file(Path(where, f), roots) for f in files):
            return True
    return False


# --- selection: --area and --level ------------------------------------------------------------
def _levels_chosen(config: pytest.Config) -> set[str]:
    return {level.upper() for level in config.getoption("level")}


def _selection(config: pytest.Config) -> None:
    """Check --area and --level before anything runs: a usage error names the valid ones."""
    wrong = sorted(_levels_chosen(config) - set(LEVELS))
    if wrong:
        raise pytest.UsageError(f"--level {wrong[0]}: no such level; use "
                                f"{', '.join(LEVELS)}")
    areas = config.getoption("area")
    if areas:
        known = _known_areas(config)
        wrong = [area for area in areas if area not in known]
        if wrong:
            raise pytest.UsageError(f"--area {wrong[0]}: no such area; use one of "
                                    f"{', '.join(sorted(known))}")


def _known_areas(config: pytest.Config) -> set[str]:
    """The first-level folders of every place cases come from: the bundled cases/, each
    --cases-dir, and the `cases` folder around each path given."""
    roots = _case_roots(config)
    base = config.invocation_params.dir
    for arg in config.args:
        path = (base / arg.split("::")[0]).resolve()
        roots += [p for p in (path, *path.parents) if p.name == "cases"][:1]
    return {d.name for r in roots if r.is_dir() for d in r.iterdir()
            if d.is_dir() and not d.name.startswith((".", "_"))}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    areas = set(config.getoption("area"))
    levels = _levels_chosen(config)
    if not areas and not levels:
        return
    selected, deselected = [], []
    for item in items:
        (selected if _selected(item, areas, levels) else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def _selected(item: pytest.Item, areas: set[str], levels: set[str]) -> bool:
    """Only case items are selected by area and level; a broken case file counts as of
    its folder's area and of every level (it must not disappear from a run silently)."""
    if isinstance(item, CaseItem):
        return ((not areas or item.case.area in areas)
                and (not levels or bool(_levels(item.case.requirements) & levels)))
    if isinstance(item, BrokenCaseItem):
        return not areas or item.path.parent.name in areas
    return True


def _levels(requirement_ids: Iterable[str]) -> set[str]:
    from sockets_conformance.model.requirements import catalogue

    reqs = catalogue()
    return {reqs[rid].level for rid in requirement_ids if rid in reqs}


# --- Ctrl-C -----------------------------------------------------------------------------------
_PREVIOUS_SIGINT: list[Any] = []


def _kill_drivers() -> None:
    driver = sys.modules.get("sockets_conformance.running.driver")
    if driver is not None:
        driver.kill_all()


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C in the process that reports: stop the drivers, end the run with one line
    (pytest.exit prints its message and no traceback)."""
    _kill_drivers()
    pytest.exit("interrupted (Ctrl-C)", returncode=pytest.ExitCode.INTERRUPTED)


def _worker_interrupted(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C reaches the xdist workers too (one foreground process group). A worker has
    nothing to report that the controller would still print: it stops its drivers and
    leaves without a traceback."""
    _kill_drivers()
    os._exit(pytest.ExitCode.INTERRUPTED)


def _install_interrupt_handler(config: pytest.Config) -> None:
    if config.getoption("usepdb", False) or threading.current_thread() is not \
            threading.main_thread():
        return
    _PREVIOUS_SIGINT[:] = [signal.getsignal(signal.SIGINT)]
    signal.signal(signal.SIGINT, _worker_interrupted if _is_worker(config) else _interrupted)


_SPAWN_SIGINT: list[Any] = []


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: Any) -> None:
    """Workers start with Ctrl-C ignored (a disposition a new process inherits, and Python
    keeps): one interrupted while importing printed a traceback each. The plugin gives them
    their handler once configured; pytest_runtestloop gives the controller its own back."""
    if _PREVIOUS_SIGINT and threading.current_thread() is threading.main_thread():
        _SPAWN_SIGINT[:] = [signal.getsignal(signal.SIGINT)]
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _restore_spawn_sigint() -> None:
    if _SPAWN_SIGINT:
        signal.signal(signal.SIGINT, _SPAWN_SIGINT.pop())


_STATE = pytest.StashKey[_State]()
_WRITER = pytest.StashKey[ResultsWriter]()


def pytest_unconfigure(config: pytest.Config) -> None:
    _restore_spawn_sigint()
    if _PREVIOUS_SIGINT and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _PREVIOUS_SIGINT.pop())
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()
    writer = config.stash.get(_WRITER, None)
    if writer is not None:
        writer.close()


# --- collection -------------------------------------------------------------------------------
def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and _is_case_file(file_path, _case_roots(parent.config)):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _is_case_file(path: Path, roots: list[Path]) -> bool:
    """Under the bundled cases/ or a --cases-dir, or in any folder named `cases` (a copy of
    the suite, a fixture's cases): never the malformed examples under tests/."""
    resolved = path.resolve()
    return any(resolved.is_relative_to(r.resolve()) for r in roots) or "cases" in path.parts


class CaseFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        from sockets_conformance.model.loader import CaseError, load_case

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
    def __init__(self, *, case: Case, **kw: Any) -> None:
        super().__init__(**kw)
        self.case = case
        for feature in case.features:
            self.add_marker(feature)
        from sockets_conformance.reports import allure_results

        for mark in allure_results.markers(case):
            self.add_marker(mark)
        self.expected = self.config.stash[_STATE].expectations.get(case.id)
        if self.expected is not None:
            self.add_marker(pytest.mark.xfail(
                reason=f"{self.expected.status.value}: {self.expected.reason}", strict=True,
                raises=ExpectedStatus))
        self.result: CaseResult | None = None
        # On every report of this item, even one the harness failed to judge.
        self.user_properties.append((CASE_KEY, case.id))

    def runtest(self) -> None:
        from sockets_conformance.reports import allure_results
        from sockets_conformance.reports.failure import render

        state = self.config.stash[_STATE]
        result, info = self._run(state)
        self.result = result
        self.user_properties += [
            (STATUS_KEY, result.status.value),
            ("conformance_message", result.message),
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
        options = self._rerun_options(state)
        allure_results.attach(self.case, result, info, state.spec, options)
        if result.status is Status.NOT_APPLICABLE:
            pytest.skip(f"NOT-APPLICABLE: {result.message}")
        passed = result.status is Status.PASS or (result.status is Status.NON_STRICT
                                                  and not state.strict)
        expected = self.expected
        if expected is not None and result.status is expected.status:
            raise ExpectedStatus(render(self.case, result, state.spec, options))
        if passed:
            return  # with an expectation, the strict xfail marker reports XPASS(strict)
        text = render(self.case, result, state.spec, options)
        if expected is not None:
            text = (f"expected {expected.status.value} ({state.expectations_path}: "
                    f"{expected.reason}); got {result.status.value}\n{text}")
        if result.status is Status.ERROR:
            raise CaseFailed(text)
        raise CaseBehaviourFailed(text)

    def _run(self, state: _State) -> tuple[CaseResult, ImplementationInfo]:
        from sockets_conformance.running.runner import run_case

        try:
            adapter = state.adapter()
            return state.run(run_case(self.case, adapter, state.settings)), adapter.info
        except AdapterError as exc:  # the driver could not even start: this case is ERROR
            return (CaseResult(self.case.id, Status.ERROR, f"adapter error: {exc}",
                               diagnostics=exc.stderr, implementation=state.spec),
                    ImplementationInfo(state.spec, "?", "?"))

    def _rerun_options(self, state: _State) -> list[str]:
        """The run's verdict options, plus --cases-dir when only that makes the file a
        case file (it is neither bundled nor in a folder named `cases`)."""
        options = state.verdict_options
        if not _is_case_file(self.case.path, [CASES]):
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
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    return text.count("\n", 0, match.start()) + 1 if match else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Point a case's report at its case file and line: a skip at the case's `features:`
    line (not at the plugin's pytest.skip call), a failure at the failing step."""
    report = yield
    line = item.line() if isinstance(item, CaseItem) and call.when == "call" else None
    if line is None:
        return report
    if report.skipped and not hasattr(report, "wasxfail") and isinstance(report.longrepr,
                                                                         tuple):
        report.longrepr = (str(item.path), line, report.longrepr[2])
    elif report.failed or hasattr(report, "wasxfail"):
        report.location = (report.location[0], line - 1, report.location[2])
    return report


# --- what the reporting process sees ------------------------------------------------------------
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    status = props.get(STATUS_KEY)
    case = props.get(CASE_KEY)
    if status is None and case is None:  # not a conformance case (the project's own tests)
        return
    if report.when != "call" and not (report.failed or (report.when == "setup"
                                                        and report.skipped)):
        return
    name = report.nodeid.split("::")[-1]
    _SUMMARY.append(Outcome(name, str(status or ""), props.get("conformance_expected"),
                            str(props.get("conformance_message", "")), _pytest_outcome(report)))
    if report.when != "call" or status is None:
        return
    _STATUSES[str(case or report.nodeid)] = str(status)
    if props.get("conformance_impl"):
        _IMPLEMENTATION[:] = [props["conformance_impl"]]
    writer = _CONFIG[0].stash.get(_WRITER, None) if _CONFIG else None
    if writer is not None and case is not None:
        writer.case(props, float(props.get("conformance_seconds", report.duration)))


def _pytest_outcome(report: pytest.TestReport) -> str:
    """The word pytest's final line counts this report under."""
    if report.when != "call" and report.failed:
        return "error"
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


_SUMMARY: list[Outcome] = []
_STATUSES: dict[str, str] = {}        # case id -> status, for --update-expectations
_EXPECTATION_NOTES: list[str] = []
_IMPLEMENTATION: list[dict[str, Any]] = []
_CONFIG: list[pytest.Config] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG[:] = [session.config]


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    _restore_spawn_sigint()   # xdist spawned its workers in its pytest_sessionstart


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """--update-expectations: rewrite the file from what this run saw. Only the process
    that receives every report writes it (the xdist controller, or a lone pytest), and only
    after a run that finished (an interrupted run would drop entries it never reached).
    Also: with --repeat, a case whose status changed fails the run."""
    config = session.config
    if config.getoption("repeat") > 1 and _flaky() and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    state = config.stash.get(_STATE, None)
    if state is None or _is_worker(config):
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
    if exitstatus == pytest.ExitCode.INTERRUPTED:
        return  # pytest's own line says it; partial counts are in its final line
    tr = terminalreporter
    if _EXPECTATION_NOTES:
        tr.section("expectations")
        for note in _EXPECTATION_NOTES:
            tr.write_line(note)
    if not _SUMMARY:
        return
    state = config.stash[_STATE]
    path = state.expectations_path
    impl = _IMPLEMENTATION[0] if _IMPLEMENTATION else {}
    implementation = " ".join(str(impl.get(k, "")) for k in ("name", "version")
                              if impl.get(k) not in (None, "", "?")).strip()
    tr.section("conformance")
    for line in summary_lines(state.spec, _SUMMARY, shown_path(path) if path else "",
                              implementation if implementation != state.spec else ""):
        tr.write_line(line)
    if config.getoption("repeat") > 1:
        flaky = _flaky()
        tr.write_line(f"repeat {config.getoption('repeat')}: {len(flaky)} case(s) changed status")
        for case_id, statuses in flaky.items():
            tr.write_line(f"  FLAKY {case_id}: {' '.join(statuses)}")


def _flaky() -> dict[str, list[str]]:
    """Case id -> its statuses in repetition order, for cases that did not always agree."""
    runs: dict[str, list[tuple[int, str]]] = {}
    for outcome in _SUMMARY:
        base, _, k = outcome.case.partition("@")
        runs.setdefault(base, []).append((int(k or 1), outcome.status))
    return {case_id: [s for _, s in sorted(r)] for case_id, r in runs.items()
            if len({s for _, s in r}) > 1}
