"""What runs in the mutation gate's forked workers: one (mutant, case) pair at a time, its
result classified into an Outcome.

Each worker process keeps one asyncio loop (an asyncio.Runner) and one adapter per mutant,
started on first use, so that a pair costs only its case. The guard
(harness/running/guard.py) is installed before any case runs, and each mutant scope arms it
as the reference's does: an egress mutant's forbidden connection is refused before the
system call and fails the case (a kill), never sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

from sockets_conformance.adapters.reference.adapter import ReferenceAdapter
from sockets_conformance.gates.mutants import Mutant, catalogue
from sockets_conformance.gates.mutation_matrix import REFERENCE, Outcome, caught_by
from sockets_conformance.model.case import Case
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.running.adapter import Adapter
from sockets_conformance.running.guard import install as install_guard
from sockets_conformance.running.runner import Settings, run_case


@dataclass
class _Worker:
    cases: dict[str, Case]
    settings: Settings
    runner: asyncio.Runner
    adapters: dict[str, Adapter] = field(default_factory=dict)


_WORKER: _Worker | None = None


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of returning it to the kernel. The large
    transfer cases allocate tens of MiB per run; by default each such buffer is a fresh
    mmap whose pages the kernel must zero again, thousands of times over a gate run (a
    third of those cases' time). A no-op where there is no glibc."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30)
        libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3   # glibc <malloc.h>


def _init_worker(cases: list[Case], settings: Settings) -> None:
    global _WORKER
    install_guard()  # before any mutant can dial anything
    _keep_freed_memory()
    # Killed mutants leave failed futures behind on purpose; their "never retrieved" log
    # lines would bury the matrix.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    _WORKER = _Worker({c.id: c for c in cases}, settings, asyncio.Runner())


@contextlib.contextmanager
def _forked_plain() -> Iterator[None]:
    """Workers are forked with SIGTERM at its default and SIGINT ignored (Ctrl-C is the
    parent's to handle). A worker forked while the parent has a Python-level SIGTERM handler
    (the driver client's, for one) can lose the SIGTERM of Pool.terminate(): caught by the
    inherited handler before the worker replaces it, then dropped. The gate then waited
    forever in join (seen under xdist). The parent's own handlers come back once the
    workers exist (only a crashed worker is forked again, later)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _adapter(mutant_id: str) -> Adapter:
    assert _WORKER is not None
    if mutant_id not in _WORKER.adapters:
        if mutant_id == REFERENCE:
            adapter: Adapter = ReferenceAdapter()
        else:
            adapter = _mutants()[mutant_id].adapter()
        _WORKER.runner.run(adapter.start())
        _WORKER.adapters[mutant_id] = adapter
    return _WORKER.adapters[mutant_id]


def _mutants() -> dict[str, Mutant]:
    return {m.id: m for m in catalogue()}


def _budget(case: Case, settings: Settings) -> float:
    """A hard stop for one case, far beyond what its steps may take: only a runaway
    implementation (a step that never yields) meets it."""
    return 10.0 + 20 * settings.timeout(case.timeout)


async def _run_isolated(case: Case, adapter: Adapter, settings: Settings) -> CaseResult:
    """run_case, bounded, then every task the case left behind cancelled, so that nothing
    of one mutant runs on into the next case on this loop."""
    try:
        return await asyncio.wait_for(run_case(case, adapter, settings),
                                      _budget(case, settings))
    except TimeoutError:
        return CaseResult(case.id, Status.TIMEOUT,
                          f"the case did not finish within {_budget(case, settings):.0f} s")
    finally:
        current = asyncio.current_task()
        rest = [t for t in asyncio.all_tasks() if t is not current]
        for task in rest:
            task.cancel()
        if rest:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*rest, return_exceptions=True), 2.0)


def _run_pair(pair: tuple[str, str]) -> Outcome:
    mutant_id, case_id = pair
    assert _WORKER is not None
    case = _WORKER.cases[case_id]
    guard = install_guard()
    stray = len(guard.unattributed)
    started = time.perf_counter()
    try:
        result = _WORKER.runner.run(_run_isolated(case, _adapter(mutant_id), _WORKER.settings))
    except Exception:  # a harness problem: shown, and counted like any ERROR
        result = CaseResult(case_id, Status.ERROR, traceback.format_exc(limit=4))
    late = guard.unattributed[stray:]
    if late:  # refused while no case was armed: this case's leftovers, still this mutant's
        result.status = Status.FAIL
        result.message = "; ".join(a.message for a in late) + " (after the case ended)"
    message = result.message.strip().splitlines()[0][:300] if result.message.strip() else ""
    return Outcome(mutant_id, case_id, result.status.value, caught_by(result), message,
                   time.perf_counter() - started)
