"""pytest plugin: every cases/**/*.yaml becomes one test item named by its case id.

Features become markers (-m "not half-open"), --area and --level select by the case id's
first segment and by the level of the requirements a case cites, the adapter is chosen with
--adapter, and every case runs on one asyncio loop per pytest process so adapters that keep a
process (drivers, workerd) can reuse it across cases.

A configuration error (an unknown adapter, a missing --node-module, a driver that does not
start) is found once, before any case runs, by the process that controls the run: it is a
usage error (exit 4), not one ERROR per case.

pytest finds hooks on the module the pytest11 entry point names, so every hook is here; the
work is done by the submodules: state (adapter, loop, preflight), casefiles, items
(collection), selection (--area, --level), interrupt (Ctrl-C), record and summary (what
the reporting process saw and says).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sockets_conformance.adapters.registry import FORMS, NAMED
from sockets_conformance.model.requirements import LEVELS
from sockets_conformance.paths import CASE_SCHEMA
from sockets_conformance.plugin.casefiles import cases_may_run
from sockets_conformance.plugin.interrupt import (
    ignore_while_spawning,
    install_interrupt_handler,
    restore_spawn_sigint,
    uninstall_interrupt_handler,
)
from sockets_conformance.plugin.items import CaseItem, collect_file, point_at_case
from sockets_conformance.plugin.record import CONFIG, WRITER, clear, record
from sockets_conformance.plugin.selection import check_selection, deselect
from sockets_conformance.plugin.state import STATE, State, distributed, is_worker, runs_no_case
from sockets_conformance.plugin.summary import fail_flaky_run, finish_expectations, write_summary
from sockets_conformance.reports.results_file import ResultsWriter
from sockets_conformance.running import expectations as exp


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
    group.addoption("--workerd-version", metavar="VERSION", default=None,
                    help="with --adapter workerd: run this pinned workerd release (default: "
                         "the current pin, adapters/workerd/package.json; older ones are "
                         "adapters/workerd/releases/VERSION, each with its own expectations)")
    shipped = " and ".join(_with_expectations()) or "none"
    group.addoption("--expectations", metavar="PATH", default=None,
                    help=f"expected results (default: adapters/ADAPTER/expectations.yaml, "
                         f"which these adapters ship: {shipped}; none with --node-module)")
    group.addoption("--update-expectations", action="store_true",
                    help="rewrite the expectations file from this run (new entries get "
                         "reason TODO)")
    group.addoption("--timeout-multiplier", type=float, default=1.0,
                    help="scale every per-step timeout (default 2 s) by this factor")
    group.addoption("--cases-at-once", type=int, default=None, metavar="N",
                    help="cases each pytest process runs at once against an implementation "
                         "in another process, each on a driver process of its own (default: "
                         "8; workerd 1, as each driver carries a workerd; the in-process "
                         "reference always 1)")
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
    group.addoption("--peer-fragmentation", metavar="SEED", default=None, type=int,
                    help="every peer send is cut at seeded random points with small seeded "
                         "pauses; each case must give the same status as without it (with "
                         "--repeat each repetition derives its own seed from SEED)")
    group.addoption("--results-jsonl", metavar="PATH", default=None,
                    help="write the canonical results file (JSON lines) here")
    group.addoption("--cases-dir", action="append", default=[], metavar="DIR",
                    help="YAML files under DIR are case files too (your own cases; "
                         "sockets-conformance also collects DIR)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    for feature in _features():
        config.addinivalue_line("markers", f"{feature}: cases needing the {feature} feature")
    state = config.stash[STATE] = State(config)
    # Only a run with case files gets the plugin's Ctrl-C and start check: the plugin is
    # loaded into every pytest run of the environment it is installed in.
    may_run = not runs_no_case(config) and cases_may_run(config)
    if may_run:
        install_interrupt_handler(config)
    if is_worker(config):
        return  # the controller checked the options and the adapter already
    clear()
    check_selection(config)
    if not runs_no_case(config):
        state.preflight(distributed=distributed(config), may_run=may_run)
    path = config.getoption("results_jsonl")
    if path:  # only the process that sees all reports
        config.stash[WRITER] = ResultsWriter(Path(path), config.getoption("adapter"))


def pytest_unconfigure(config: pytest.Config) -> None:
    uninstall_interrupt_handler()
    state = config.stash.get(STATE, None)
    if state is not None:
        state.close()
    writer = config.stash.get(WRITER, None)
    if writer is not None:
        writer.close()
    clear()  # a pytest that ran this one in-process must not sum up its cases as its own


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Deal every case out at the start when the workers run cases ahead (plugin/ahead.py);
    otherwise xdist's own scheduling."""
    state = config.stash.get(STATE, None)
    if state is None or state.ahead_width <= 1 or config.getoption("dist") != "load":
        return None
    from sockets_conformance.plugin.ahead import dealt_scheduler

    return dealt_scheduler(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if isinstance(item, CaseItem):
        item.nextitem = nextitem  # the next case may already run (plugin/ahead.py)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return collect_file(file_path, parent)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    deselect(config, items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Point a case's report at its case file and line (items.point_at_case)."""
    report = yield
    point_at_case(item, call, report)
    return report


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    CONFIG[:] = [session.config]


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    restore_spawn_sigint()   # xdist spawned its workers in its pytest_sessionstart


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config: pytest.Config, specs: Any) -> None:
    ignore_while_spawning()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """--update-expectations: rewrite the file from what this run saw. Only the process
    that receives every report writes it (the xdist controller, or a lone pytest), and only
    after a run that finished (an interrupted run would drop entries it never reached).
    Also: with --repeat, a case whose status changed fails the run."""
    fail_flaky_run(session)
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or is_worker(config):
        return
    finish_expectations(state, exitstatus)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    write_summary(terminalreporter, exitstatus, config)
