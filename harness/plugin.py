"""pytest plugin: every cases/**/*.yaml becomes one test item named by its case id.

Features become markers (-m "not half-open"), the adapter is chosen with --adapter, and
every case runs on one asyncio loop per pytest process so adapters that keep a process
(drivers, workerd) can reuse it across cases.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness import allure_support
from harness.adapter import Adapter
from harness.loader import CaseError, load_case
from harness.model import Case
from harness.paths import CASE_SCHEMA, CASES, ROOT
from harness.registry import UnknownAdapter, resolve
from harness.report import render
from harness.results import CaseResult, Status
from harness.results_file import ResultsWriter
from harness.runner import Settings, run_case

STATUS_KEY = "conformance_status"


def _features() -> list[str]:
    schema = json.loads(CASE_SCHEMA.read_text())
    return list(schema["$defs"]["feature"]["enum"])


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("conformance", "cloudflare:sockets conformance")
    group.addoption("--adapter", default="reference",
                    help="implementation under test: reference (default) or python:MOD:FACTORY")
    group.addoption("--timeout-multiplier", type=float, default=1.0,
                    help="scale every per-step timeout (default 2 s) by this factor")
    group.addoption("--strict-conformance", action="store_true",
                    help="treat NON-STRICT results (message differs, SHOULD broken) as failures")
    group.addoption("--results-jsonl", metavar="PATH", default=None,
                    help="write the canonical results file (JSON lines) here")


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
        self.settings = Settings(timeout_multiplier=config.getoption("timeout_multiplier"))
        self.strict: bool = config.getoption("strict_conformance")
        self._runner: asyncio.Runner | None = None
        self._adapter: Adapter | None = None

    def adapter(self) -> Adapter:
        if self._adapter is None:
            adapter = resolve(self.spec)
            self.run(adapter.start())
            self._adapter = adapter
        return self._adapter

    def run(self, coro: Any) -> Any:
        if self._runner is None:
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
    if file_path.suffix == ".yaml" and _is_case_file(file_path):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def _is_case_file(path: Path) -> bool:
    try:
        path.resolve().relative_to(CASES.resolve())
        return True
    except ValueError:
        return "cases" in path.parts


class CaseFile(pytest.File):
    def collect(self) -> list[pytest.Item]:
        try:
            case = load_case(self.path)
        except CaseError as exc:
            return [BrokenCaseItem.from_parent(self, name=self.path.stem, error=exc)]
        return [CaseItem.from_parent(self, name=case.id, case=case)]


class CaseFailed(Exception):
    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


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
        for mark in allure_support.markers(case):
            self.add_marker(mark)
        self.result: CaseResult | None = None

    def runtest(self) -> None:
        state = self.config.stash[_STATE]
        try:
            adapter = state.adapter()
        except UnknownAdapter as exc:
            raise pytest.UsageError(str(exc)) from None
        result = state.run(run_case(self.case, adapter, state.settings))
        self.result = result
        info = adapter.info
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
        allure_support.attach(self.case, result, info, state.spec)
        if result.status is Status.NOT_APPLICABLE:
            pytest.skip(f"NOT-APPLICABLE: {result.message}")
        if result.status is Status.PASS:
            return
        if result.status is Status.NON_STRICT and not state.strict:
            return
        raise CaseFailed(render(self.case, result, state.spec))

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
    writer = _CONFIG[0].stash.get(_WRITER, None) if _CONFIG else None
    if writer is not None:
        writer.case(props, float(props.get("conformance_seconds", report.duration)))


_SUMMARY: list[tuple[str, str, str]] = []
_CONFIG: list[pytest.Config] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    _CONFIG[:] = [session.config]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
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
