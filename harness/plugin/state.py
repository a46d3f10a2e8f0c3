"""Per-process state: the adapter and the asyncio loop every case runs on, and the preflight.

Every case of a pytest process runs on one loop so adapters that keep a process (drivers,
workerd) can reuse it across cases. A configuration error (an unknown adapter, a missing
--node-module, a driver that does not start) is found once, before any case runs, by the
process that controls the run: a usage error (exit 4), not one ERROR per case.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sockets_conformance.adapters.registry import UnknownAdapter, check_spec, resolve, shown
from sockets_conformance.running import expectations as exp
from sockets_conformance.running.adapter import Adapter, AdapterError

# The runner (asyncio, trustme, cryptography) is imported where it is first used: under
# -n auto the controlling process runs no case.
if TYPE_CHECKING:
    import asyncio

    from sockets_conformance.plugin.ahead import Ahead
    from sockets_conformance.running.runner import Settings

START_ERROR_LINES = 3    # a start failure's message; pytest adds "ERROR: " and a blank line


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker: the controller already checked the options and the adapter."""
    return hasattr(config, "workerinput")


def distributed(config: pytest.Config) -> bool:
    """This process controls xdist workers (-n N): it collects and runs no case itself."""
    option = config.option
    return (getattr(option, "dist", "no") != "no" and bool(getattr(option, "tx", None))
            and not option.collectonly)


def runs_no_case(config: pytest.Config) -> bool:
    """--help, --markers, --collect-only and their kind: no case will run."""
    option = config.option
    return any(getattr(option, name, False) for name in (
        "help", "markers", "collectonly", "showfixtures", "show_fixtures_per_test",
        "setupplan", "setuponly"))


# Set by the Ctrl-C handler when it stopped a running loop instead of raising (interrupt.py).
INTERRUPTED: list[bool] = []


class State:
    """Per-process: the adapter and the asyncio loop every case runs on."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.spec: str = config.getoption("adapter")
        self._settings: Settings | None = None
        self.strict: bool = config.getoption("strict_conformance")
        self.node_module: str | None = config.getoption("node_module")
        self.workerd_version: str | None = config.getoption("workerd_version")
        given = config.getoption("expectations")
        self.update_expectations: bool = config.getoption("update_expectations")
        if given and not Path(given).is_file() and not self.update_expectations:
            raise pytest.UsageError(f"--expectations {given}: no such file; name an existing "
                                    f"expectations file (--update-expectations creates one)")
        self.expectations_path = Path(given) if given else \
            exp.default_path(self.spec, self.node_module, self.workerd_version)
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
        self.cases_at_once: int | None = config.getoption("cases_at_once")
        if self.cases_at_once is not None and self.cases_at_once < 1:
            raise pytest.UsageError(f"--cases-at-once {self.cases_at_once}: give 1 or more")
        self._ahead: Ahead | None = None
        # Cases at once per process, as the preflight found the adapter (1: one by one).
        self.ahead_width = 1

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from sockets_conformance.running.runner import Settings

            self._settings = Settings(
                timeout_multiplier=self.config.getoption("timeout_multiplier"),
                peer_fragmentation=self.config.getoption("peer_fragmentation"))
        return self._settings

    @property
    def verdict_options(self) -> list[str]:
        """The options that change a case's verdict, for its rerun line."""
        get = self.config.getoption
        options = [] if self.spec == "reference" else ["--adapter", self.spec]
        if self.node_module is not None:
            options += ["--node-module", self.node_module]
        if self.workerd_version is not None:
            options += ["--workerd-version", self.workerd_version]
        if get("expectations"):
            options += ["--expectations", get("expectations")]
        if self.strict:
            options.append("--strict-conformance")
        if get("timeout_multiplier") != 1.0:
            options += ["--timeout-multiplier", f"{get('timeout_multiplier'):g}"]
        if get("peer_fragmentation") is not None:
            options += ["--peer-fragmentation", str(get("peer_fragmentation"))]
        return options

    @property
    def given(self) -> str:
        """The options that chose the implementation, as typed."""
        return " ".join([f"--adapter {shown(self.spec)}",
                         *([f"--node-module {self.node_module}"] if self.node_module else []),
                         *([f"--workerd-version {self.workerd_version}"]
                           if self.workerd_version else [])])

    def preflight(self, *, distributed: bool, may_run: bool) -> None:
        """Find a configuration error once, before any case runs: resolve the adapter and,
        for one that runs in a process (a driver), start it (the handshake) and stop it.
        Serially, the started adapter is kept for the cases; under xdist each worker starts
        its own, so the controller's is stopped again. Raises pytest.UsageError."""
        try:
            check_spec(self.spec, self.node_module, self.workerd_version)
        except UnknownAdapter as exc:
            raise pytest.UsageError(str(exc)) from None
        if self.spec == "reference" or not may_run:
            return  # the reference always resolves; importing it costs the controller time
        try:
            adapter = resolve(self.spec, node_module=self.node_module,
                              workerd_version=self.workerd_version)
        except UnknownAdapter as exc:
            raise pytest.UsageError(str(exc)) from None
        if not _is_process(adapter):
            if not distributed:
                self._resolved = adapter
            return
        self.ahead_width = self.cases_at_once or getattr(adapter, "cases_at_once", 1)
        try:
            self.run(adapter.start())
        except AdapterError as exc:
            self.run(adapter.stop())
            raise pytest.UsageError(_start_failure(self.given, exc)) from None
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
                adapter = self._resolved or resolve(self.spec, node_module=self.node_module,
                                                    workerd_version=self.workerd_version)
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

    def ahead(self) -> Ahead | None:
        """Cases running ahead on more drivers (plugin/ahead.py), or None: an in-process
        adapter, one case at a time (--cases-at-once 1, or the adapter's own default), or
        an adapter that did not start (every case then reports that, one by one)."""
        if self._ahead is not None:
            return self._ahead
        try:
            adapter = self.adapter()
        except AdapterError:
            return None
        width = self.cases_at_once or getattr(adapter, "cases_at_once", 1)
        if not _is_process(adapter) or width <= 1:
            return None
        from sockets_conformance.plugin.ahead import Ahead

        def make() -> Adapter:
            return resolve(self.spec, node_module=self.node_module,
                           workerd_version=self.workerd_version)

        self.run(_noop())  # the loop exists before a task is made on it
        assert self._runner is not None
        self._ahead = Ahead(self._runner.get_loop(), adapter, make, width, self.settings,
                            self.spec)
        return self._ahead

    def run(self, coro: Any) -> Any:
        import asyncio

        if self._runner is None:
            self._runner = asyncio.Runner()
        try:
            return self._runner.run(coro)
        except asyncio.CancelledError:
            if INTERRUPTED:  # Ctrl-C stopped the loop's tasks (interrupt.py): end the run
                pytest.exit("interrupted (Ctrl-C)", returncode=pytest.ExitCode.INTERRUPTED)
            raise

    def close(self) -> None:
        if self._ahead is not None:
            self.run(self._ahead.close())
        if self._adapter is not None:
            self.run(self._adapter.stop())
        if self._runner is not None:
            self._runner.close()


STATE = pytest.StashKey[State]()


async def _noop() -> None:
    return None


def _is_process(adapter: Adapter) -> bool:
    """A driver in another process (node, workerd, driver:, or a python: factory that
    returns one). The driver module is loaded whenever such an adapter exists."""
    driver = sys.modules.get("sockets_conformance.running.driver")
    return driver is not None and isinstance(adapter, driver.DriverAdapter)


def _start_failure(given: str, exc: AdapterError) -> str:
    """At most START_ERROR_LINES lines: what failed, then what the driver said about it."""
    lines = str(exc).splitlines() or ["no reason given"]
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
