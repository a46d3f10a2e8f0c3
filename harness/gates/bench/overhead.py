"""Harness overhead: every case in-process against the reference, with the time spent
inside adapter calls and inside the peers' waits clocked apart; the rest is the harness's.

Waiting inside an adapter call is never counted as overhead: for the reference that is the
implementation's own work and the deliberate `pending` windows.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sockets_conformance.gates.bench.measures import Overhead, Report, find_run
from sockets_conformance.model.case import Case
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.results import CaseResult
from sockets_conformance.model.values import AwaitReply, CallReply
from sockets_conformance.paths import CASES
from sockets_conformance.running.adapter import Adapter, CaseContext, Scope
from sockets_conformance.running.runner import Settings, run_case
from sockets_conformance.servers.puppet import Connection, PuppetPeer


@dataclass
class _Clock:
    """The seconds spent inside adapter calls and inside the peers' waits, so far."""

    adapter: float = 0.0
    peer: float = 0.0


class _TimedScope:
    """A Scope that clocks the time spent inside the implementation's calls."""

    def __init__(self, scope: Scope, clock: _Clock) -> None:
        self._scope, self._clock = scope, clock

    async def _timed(self, coro: Any) -> Any:
        started = time.perf_counter()
        try:
            return await coro
        finally:
            self._clock.adapter += time.perf_counter() - started

    async def call(self, op: str, args: dict[str, Any]) -> CallReply:
        return await self._timed(self._scope.call(op, args))  # type: ignore[no-any-return]

    async def await_promise(self, promise_id: str, timeout: float) -> AwaitReply:
        return await self._timed(  # type: ignore[no-any-return]
            self._scope.await_promise(promise_id, timeout))

    async def call_batch(self, ops: list[tuple[str, dict[str, Any]]]) -> list[CallReply]:
        return await self._timed(self._scope.call_batch(ops))  # type: ignore[no-any-return]

    async def violations(self) -> list[str]:
        return await self._timed(self._scope.violations())  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self._timed(self._scope.close())


class _TimedAdapter:
    """An Adapter whose scopes are _TimedScopes (and whose open_scope is clocked too)."""

    def __init__(self, adapter: Adapter, clock: _Clock) -> None:
        self._adapter, self._clock = adapter, clock
        self.info = adapter.info

    def __getattr__(self, name: str) -> Any:  # self_address and the like
        return getattr(self._adapter, name)

    async def start(self) -> None:
        await self._adapter.start()

    async def stop(self) -> None:
        await self._adapter.stop()

    async def open_scope(self, context: CaseContext) -> _TimedScope:
        started = time.perf_counter()
        try:
            scope = await self._adapter.open_scope(context)
        finally:
            self._clock.adapter += time.perf_counter() - started
        return _TimedScope(scope, self._clock)

    def diagnostics(self) -> str:
        return self._adapter.diagnostics()


@contextlib.contextmanager
def _clocked_peer_waits(clock: _Clock) -> Iterator[None]:
    """Clock the peers' waits for the implementation (accept, expect, expect_eof all wait
    in these two methods). Patched for the measurement only, and put back afterwards."""
    accept, wait = PuppetPeer.accept, Connection._wait

    async def timed_accept(self: PuppetPeer, timeout: float) -> Connection:
        started = time.perf_counter()
        try:
            return await accept(self, timeout)
        finally:
            clock.peer += time.perf_counter() - started

    async def timed_wait(self: Connection, ready: Any, timeout: float, what: str) -> None:
        started = time.perf_counter()
        try:
            await wait(self, ready, timeout, what)
        finally:
            clock.peer += time.perf_counter() - started

    PuppetPeer.accept = timed_accept  # type: ignore[method-assign]
    Connection._wait = timed_wait  # type: ignore[method-assign]
    try:
        yield
    finally:
        PuppetPeer.accept = accept  # type: ignore[method-assign]
        Connection._wait = wait  # type: ignore[method-assign]


def all_cases() -> list[Case]:
    """The whole suite, loaded: what the overhead is measured over by default."""
    return [load_case(path) for path in sorted(CASES.rglob("*.yaml"))]


def load_seconds_per_case() -> float:
    """Loading a case file (YAML, schema, checks), measured apart from running it."""
    paths = sorted(CASES.rglob("*.yaml"))
    load_case(paths[0])  # the schema validator and the catalogue are built once per process
    started = time.perf_counter()
    for path in paths:
        load_case(path)
    return (time.perf_counter() - started) / len(paths)


async def _overhead(cases: list[Case], settings: Settings) -> tuple[_Clock, float, int,
                                                                     list[CaseResult]]:
    """Run `cases` one at a time against a clocked reference: the clocks, the cases' wall
    time, the steps that ran, and the results."""
    from sockets_conformance.adapters.reference.adapter import ReferenceAdapter

    clock = _Clock()
    adapter = _TimedAdapter(ReferenceAdapter(), clock)
    await adapter.start()
    results, wall, steps = [], 0.0, 0
    try:
        with _clocked_peer_waits(clock):
            for case in cases:
                started = time.perf_counter()
                result = await run_case(case, adapter, settings)  # type: ignore[arg-type]
                wall += time.perf_counter() - started
                steps += sum(1 for s in result.steps if s.outcome != "not run")
                results.append(result)
    finally:
        await adapter.stop()
    return clock, wall, steps, results


def measure_overhead(cases: list[Case] | None = None,
                     settings: Settings | None = None) -> tuple[Overhead, list[CaseResult]]:
    """Harness overhead of an in-process run of `cases` (default: the suite)."""
    cases = all_cases() if cases is None else cases
    clock, wall, steps, results = asyncio.run(_overhead(cases, settings or Settings()))
    return Overhead(len(cases), steps, wall, clock.adapter, clock.peer,
                    load_seconds_per_case()), results


def pytest_per_case(report: Report, cases: int) -> float | None:
    """What pytest and the plugin add per case: the serial run's wall time minus its fixed
    cost (every case deselected) minus the cases' own time; None if one was not measured."""
    serial = find_run(report, "reference", "serial")
    fixed = report.collect_seconds.get("reference serial")
    own = report.collect_seconds.get("reference cases")
    if serial and serial.seconds and fixed is not None and own is not None:
        return (serial.seconds - fixed - own) / cases
    return None
