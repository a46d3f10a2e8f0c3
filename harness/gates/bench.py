"""`python -m sockets_conformance bench` (= `tox -e bench`): how fast the suite and the harness
are, in
one table measured in one run on this machine.

It is a benchmark, not a timed test: it prints numbers and says which targets they meet,
and exits 0 either way (a busy machine must not fail a build). Each number is measured so
that it means one thing:

Suite wall time
    `pytest -q --adapter IMPL` as a subprocess, with `-n auto` and serially: what a user
    waits for, start-up and collection included. The `-n auto` runs are repeated
    (`--rounds`, default 3), the implementations taking turns, and the median counts: this
    machine slows down under sustained load, which must not count against whichever
    implementation runs last. Each implementation is first collected
    once, untimed, so that compiled bytecode and the page cache are warm; bytecode caching
    is left on (PYTHONDONTWRITEBYTECODE is removed from the subprocesses' environment),
    as in a plain `pytest` run. An implementation that is not installed is skipped, with
    the reason its adapter gives.

Harness overhead, per case and per step
    Every case runs in-process against the reference, with the adapter wrapped so that
    time spent inside its calls (call, await, batch, scope open/close, the guard report)
    is clocked, and with the peers' waits (accept, expect, expect_eof: the implementation
    or the wire is being waited for) clocked too. What is left of each case's wall time
    is the harness's own work: rendering templates, judging replies, starting and
    stopping peers, holding the closed port, bookkeeping. It is divided by the cases and
    by the steps that ran. Waiting inside an adapter call is never counted as overhead:
    for the reference that includes the implementation's own work, and the deliberate
    `pending` windows. Two more layers are measured apart: loading (YAML, schema,
    checks) per case file, and what pytest and the plugin add per case, which is the
    serial run's wall time minus its fixed cost (the same run with every case deselected:
    start-up, collection, shut-down) minus the time the cases themselves took (from the
    run's `--results-jsonl`).

Growth with the number of cases
    The reference suite with `-n auto --repeat 10` (every case ten times, under new ids)
    against the 1x run; the fixed cost (the `-n auto` run with every case deselected: the
    workers start and collect, then run nothing; `--collect-only` would not start them)
    is taken off both before the per-case times are compared, so a constant start-up
    does not pass for sub-linear growth.

Throughput and connect latency
    64 MiB each way, and connect() until `opened` fulfils, through the same adapter
    operations the suite uses: harness/gates/bench_cases/*.yaml run by the runner against each
    implementation (the upload is one write, the download one readBytes round trip), the
    steps' own durations added up; the median of several runs, the bytes generated before
    the clock starts. Next to them a raw asyncio loopback socket, the physical baseline:
    a Protocol that counts bytes on each side, and `loop.create_connection` for the
    latency. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sockets_conformance.adapters.registry import UnknownAdapter, resolve
from sockets_conformance.model.case import Case
from sockets_conformance.model.data import generated
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.model.values import AwaitReply, CallReply
from sockets_conformance.paths import CASES, ROOT
from sockets_conformance.running.adapter import Adapter, AdapterError, CaseContext, Scope
from sockets_conformance.running.runner import Settings, run_case
from sockets_conformance.servers.puppet import Connection, PuppetPeer

BENCH_CASES = Path(__file__).resolve().parent / "bench_cases"
IMPLEMENTATIONS = ("reference", "node", "workerd")
MiB = 1024 * 1024

# The targets of issue 9.
TARGET_REFERENCE_WALL = 5.0     # s, the suite against the reference with -n auto
TARGET_WORKERD_RATIO = 2.0      # workerd's -n auto wall time / the reference's
TARGET_LINEAR_SLACK = 0.2       # per-case time at 10x within 20 % of the 1x one
TARGET_THROUGHPUT_RATIO = 0.5   # reference throughput / raw asyncio, each direction


# --- measurements ----------------------------------------------------------------------------
@dataclass
class SuiteRun:
    implementation: str
    mode: str                   # "-n auto" | "serial" | "-n auto --repeat 10" | ...
    seconds: float | None       # None: not run
    outcome: str                # pytest's summary ("142 passed"), or why it was skipped
    exit_code: int | None = None
    samples: list[float] = field(default_factory=list)  # every round; `seconds` the median


@dataclass
class Overhead:
    cases: int
    steps: int
    wall: float
    adapter: float
    peer_waits: float
    load_per_case: float
    pytest_per_case: float | None = None

    @property
    def harness(self) -> float:
        return self.wall - self.adapter - self.peer_waits


@dataclass
class Transfer:
    implementation: str
    upload: float | None = None       # seconds for the 64 MiB
    download: float | None = None
    opened: float | None = None       # median seconds from connect() until opened fulfils
    note: str = ""


@dataclass
class Report:
    cores: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    size: int = 64 * MiB
    suite: list[SuiteRun] = field(default_factory=list)
    collect_seconds: dict[str, float] = field(default_factory=dict)
    overhead: Overhead | None = None
    transfers: list[Transfer] = field(default_factory=list)
    raw: Transfer | None = None
    versions: dict[str, str] = field(default_factory=dict)


def load_average() -> tuple[float, float, float]:
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def wait_until_idle(limit: float, patience: float) -> None:
    """Wait (up to `patience` seconds) for the 1-minute load average to drop below
    `limit`: numbers taken while others use the cores measure them, not the suite."""
    deadline = time.monotonic() + patience
    while load_average()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)


# --- the suite, as pytest subprocesses ------------------------------------------------------
NOTHING = "no-case-has-this-name"   # -k that deselects every case: the run's fixed cost
_SUMMARY = re.compile(r"(\d+) (passed|failed|xfailed|xpassed|skipped|errors?|deselected)")


def _environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def pytest_wall(implementation: str, *args: str, timeout_multiplier: float = 1.0,
                results: Path | None = None) -> SuiteRun:
    """One pytest run of the whole suite in a subprocess, timed from spawn to exit."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--adapter={implementation}", f"--timeout-multiplier={timeout_multiplier}",
               *args]
    if results is not None:
        command.append(f"--results-jsonl={results}")
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=_environment(), capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - started
    counts = _SUMMARY.findall(done.stdout.splitlines()[-1] if done.stdout else "")
    outcome = ", ".join(f"{n} {what}" for n, what in counts) or \
        (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["?"])[-1]
    mode = " ".join(a for a in args if a not in ("--collect-only", "-k", NOTHING))
    return SuiteRun(implementation, mode or "serial", seconds, outcome, done.returncode)


def unavailable(implementation: str) -> str | None:
    """Why an implementation cannot run here (its adapter's own words), or None."""
    try:
        resolve(implementation)
    except UnknownAdapter as exc:
        return str(exc)
    return None


def case_seconds(results: Path) -> float:
    """The cases' own time in a --results-jsonl file."""
    total = 0.0
    for line in results.read_text().splitlines():
        record = json.loads(line)
        if "case" in record:
            total += float(record.get("duration") or 0.0)
    return total


# --- harness overhead, in-process -----------------------------------------------------------
@dataclass
class _Clock:
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
    return [load_case(path) for path in sorted(CASES.rglob("*.yaml"))]


def load_seconds_per_case() -> float:
    paths = sorted(CASES.rglob("*.yaml"))
    load_case(paths[0])  # the schema validator and the catalogue are built once per process
    started = time.perf_counter()
    for path in paths:
        load_case(path)
    return (time.perf_counter() - started) / len(paths)


async def _overhead(cases: list[Case], settings: Settings) -> tuple[_Clock, float, int,
                                                                     list[CaseResult]]:
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


# --- throughput and latency ---------------------------------------------------------------
def bench_case(name: str, size: int) -> Case:
    """A case from harness/gates/bench_cases, with its 64 MiB replaced by `size` if asked."""
    if size == 64 * MiB:
        return load_case(BENCH_CASES / f"{name}.yaml")
    text = (BENCH_CASES / f"{name}.yaml").read_text().replace("67108864", str(size))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text)
        return load_case(path)


async def _transfers(implementation: str, size: int, runs: int, samples: int,
                     settings: Settings) -> Transfer:
    out = Transfer(implementation)
    adapter = resolve(implementation)
    cases = {name: bench_case(name, size) for name in ("upload", "download", "opened")}
    for seed in (64, 65):  # the bench cases' data, made before any clock starts (lru_cache)
        generated(size, seed)
    await adapter.start()
    try:
        async def timed(name: str, kinds: tuple[str, ...]) -> float | str:
            case = cases[name]
            result = await run_case(case, adapter, settings)
            if result.status is not Status.PASS:
                return f"{result.status.value}: {result.message}"[:160]
            labels = [s.kind if s.kind != "peer" else f"peer.{s.action}" for s in case.steps]
            return sum(r.seconds for r, label in zip(result.steps, labels, strict=True)
                       if label in kinds)

        notes = []
        for name, kinds, attr, n in (("upload", ("write", "peer.expect"), "upload", runs),
                                     ("download", ("peer.send", "read"), "download", runs),
                                     ("opened", ("connect", "await"), "opened", samples)):
            got = [await timed(name, kinds) for _ in range(n)]
            failed = [g for g in got if isinstance(g, str)]
            if failed:
                notes.append(f"{attr}: {failed[0]}")
            else:
                setattr(out, attr, statistics.median(got))
        out.note = "; ".join(notes)
    finally:
        await adapter.stop()
    return out


def measure_transfers(implementation: str, size: int = 64 * MiB, runs: int = 3,
                      samples: int = 30, settings: Settings | None = None) -> Transfer:
    try:
        return asyncio.run(_transfers(implementation, size, runs, samples,
                                      settings or Settings()))
    except (UnknownAdapter, AdapterError) as exc:
        return Transfer(implementation, note=f"skipped: {exc}")


class _Counter(asyncio.Protocol):
    """Counts the bytes that arrive; `done` when `expected` did."""

    def __init__(self, expected: int, done: asyncio.Future[float]) -> None:
        self.expected, self.done, self.count = expected, done, 0

    def data_received(self, data: bytes) -> None:
        self.count += len(data)
        if self.count >= self.expected and not self.done.done():
            self.done.set_result(time.perf_counter())


class _Sender(asyncio.Protocol):
    """Writes `data` as soon as it is connected (the peer's side of a download)."""

    def __init__(self, data: bytes, started: list[float]) -> None:
        self.data, self.started = data, started

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.started.append(time.perf_counter())
        transport.write(self.data)  # type: ignore[attr-defined]


async def _raw(size: int, runs: int, samples: int) -> Transfer:
    loop = asyncio.get_running_loop()
    data = generated(size, 64)
    ups, downs, opens = [], [], []
    for _ in range(runs):
        done: asyncio.Future[float] = loop.create_future()
        server = await loop.create_server(lambda d=done: _Counter(size, d), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        started = time.perf_counter()
        transport.write(data)
        ups.append(await done - started)
        transport.close()
        server.close()
        await server.wait_closed()

        done = loop.create_future()
        begun: list[float] = []
        server = await loop.create_server(lambda b=begun: _Sender(data, b), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(lambda d=done: _Counter(size, d),
                                                    "127.0.0.1", port)
        finished = await done
        downs.append(finished - begun[0])
        transport.close()
        server.close()
        await server.wait_closed()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for _ in range(samples):
        started = time.perf_counter()
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        opens.append(time.perf_counter() - started)
        transport.close()
    server.close()
    await server.wait_closed()
    return Transfer("raw asyncio socket", statistics.median(ups), statistics.median(downs),
                    statistics.median(opens))


def measure_raw(size: int = 64 * MiB, runs: int = 3, samples: int = 30) -> Transfer:
    return asyncio.run(_raw(size, runs, samples))


# --- the report -----------------------------------------------------------------------------
def _fmt_s(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value * 1000:.2f} ms"


def _rate(size: int, seconds: float | None) -> str:
    return "–" if not seconds else f"{size / MiB / seconds:.0f} MiB/s"


def _ratio(value: float | None, base: float | None, invert: bool = False) -> str:
    if not value or not base:
        return "–"
    return f"{(base / value if invert else value / base):.2f}×"


def _find(report: Report, implementation: str, mode: str) -> SuiteRun | None:
    return next((r for r in report.suite if r.implementation == implementation
                 and r.mode == mode), None)


def targets(report: Report) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for each target of issue 9; met None: not measured."""
    out: list[tuple[str, str, bool | None]] = []
    ref = _find(report, "reference", "-n auto")
    ref_s = ref.seconds if ref else None
    out.append((f"reference suite ≤ {TARGET_REFERENCE_WALL:.0f} s with -n auto "
                f"({report.cores} cores)", _fmt_s(ref_s),
                None if ref_s is None else ref_s <= TARGET_REFERENCE_WALL))
    wd = _find(report, "workerd", "-n auto")
    wd_s = wd.seconds if wd else None
    ratio = wd_s / ref_s if wd_s and ref_s else None
    out.append((f"workerd ≤ {TARGET_WORKERD_RATIO:.0f}× the reference (-n auto)",
                "–" if ratio is None else f"{ratio:.2f}×",
                None if ratio is None else ratio <= TARGET_WORKERD_RATIO))
    growth = linearity(report)
    out.append((f"time linear in case count (per-case time at 10× within "
                f"{TARGET_LINEAR_SLACK:.0%} of 1×)",
                "–" if growth is None else f"{growth:.2f}× per case",
                None if growth is None else growth <= 1 + TARGET_LINEAR_SLACK))
    ref_t = next((t for t in report.transfers if t.implementation == "reference"), None)
    raw = report.raw
    for direction in ("upload", "download"):
        mine = getattr(ref_t, direction) if ref_t else None
        base = getattr(raw, direction) if raw else None
        share = base / mine if mine and base else None
        out.append((f"reference {direction} ≥ {TARGET_THROUGHPUT_RATIO}× raw asyncio",
                    "–" if share is None else f"{share:.2f}×",
                    None if share is None else share >= TARGET_THROUGHPUT_RATIO))
    return out


def linearity(report: Report) -> float | None:
    """Per-case time at 10× over per-case time at 1×, the fixed cost taken off both."""
    one = _find(report, "reference", "-n auto")
    ten = next((r for r in report.suite if r.implementation == "reference"
                and "--repeat" in r.mode), None)
    fixed = report.collect_seconds.get("reference -n auto")
    if not (one and ten and one.seconds and ten.seconds and fixed is not None):
        return None
    times = int(ten.mode.split("--repeat")[1].split()[0])
    per_one = one.seconds - fixed
    per_ten = (ten.seconds - fixed) / times
    return per_ten / per_one if per_one > 0 else None


def render(report: Report) -> str:
    lines = [f"# sockets-conformance benchmark — {report.cores} cores, load average "
             f"{report.load_before[0]:.2f} before / {report.load_after[0]:.2f} after "
             f"(1 min)", ""]
    if report.versions:
        lines += ["versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()),
                  ""]
    lines += ["## Suite wall time", "",
              "| implementation | -n auto (median) | -n auto, each round | serial | "
              "-n auto vs reference | result (-n auto) |",
              "| --- | --- | --- | --- | --- | --- |"]
    ref = _find(report, "reference", "-n auto")
    for impl in dict.fromkeys(r.implementation for r in report.suite):
        par, ser = _find(report, impl, "-n auto"), _find(report, impl, "serial")
        if par is not None and par.seconds is None:
            lines.append(f"| {impl} | – | – | – | – | {par.outcome} |")
            continue
        each = ", ".join(f"{t:.2f}" for t in par.samples) if par and par.samples else "–"
        lines.append(f"| {impl} | {_fmt_s(par.seconds if par else None)} | {each} | "
                     f"{_fmt_s(ser.seconds if ser else None)} | "
                     f"{_ratio(par.seconds if par else None, ref.seconds if ref else None)}"
                     f" | {par.outcome if par else '–'} |")
    lines.append("")
    one = _find(report, "reference", "-n auto")
    ten = next((r for r in report.suite if "--repeat" in r.mode), None)
    if one and ten and one.seconds and ten.seconds:
        fixed = report.collect_seconds.get("reference -n auto", 0.0)
        growth = linearity(report)
        lines += ["## Growth with the number of cases (reference, -n auto)", "",
                  "| run | wall | wall − fixed start-up | per case |", "| --- | --- | --- | --- |",
                  f"| fixed cost (every case deselected) | {_fmt_s(fixed)} | – | – |"]
        n1 = _count(one.outcome)
        n10 = _count(ten.outcome)
        for run, n in ((one, n1), (ten, n10)):
            assert run.seconds is not None
            lines.append(f"| {run.mode} ({n} cases) | {_fmt_s(run.seconds)} | "
                         f"{_fmt_s(run.seconds - fixed)} | "
                         f"{_ms((run.seconds - fixed) / n) if n else '–'} |")
        times = n10 // n1 if n1 else 0
        marginal = (ten.seconds - one.seconds) / (n10 - n1) if n10 > n1 else None
        lines += ["", f"{times}× the cases took {ten.seconds / one.seconds:.2f}× the wall "
                  f"time; per case, {growth:.2f}× the 1× cost; each case added costs "
                  f"{_ms(marginal)}." if growth else "", ""]
    if report.overhead is not None:
        o = report.overhead
        lines += ["## Harness overhead (reference, in-process and serial pytest)", "",
                  "| layer | total | per case | per step |", "| --- | --- | --- | --- |",
                  f"| whole cases ({o.cases} cases, {o.steps} steps) | {_fmt_s(o.wall)} | "
                  f"{_ms(o.wall / o.cases)} | {_ms(o.wall / o.steps)} |",
                  f"| inside adapter calls (implementation, pending windows) | "
                  f"{_fmt_s(o.adapter)} | {_ms(o.adapter / o.cases)} | "
                  f"{_ms(o.adapter / o.steps)} |",
                  f"| peers waiting for the wire | {_fmt_s(o.peer_waits)} | "
                  f"{_ms(o.peer_waits / o.cases)} | {_ms(o.peer_waits / o.steps)} |",
                  f"| **runner's own work** (the rest) | {_fmt_s(o.harness)} | "
                  f"**{_ms(o.harness / o.cases)}** | **{_ms(o.harness / o.steps)}** |",
                  f"| loading a case file (YAML, schema, checks) | – | "
                  f"{_ms(o.load_per_case)} | – |",
                  f"| pytest + plugin per case (serial run − fixed cost − cases) | – | "
                  f"{_ms(o.pytest_per_case)} | – |", ""]
    if report.transfers:
        raw = report.raw
        size = report.size
        lines += [f"## Throughput ({size // MiB} MiB each way) and connect latency", "",
                  "| implementation | upload | vs raw | download | vs raw | connect → opened "
                  "(median) | vs raw | note |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for t in [*report.transfers, *([raw] if raw else [])]:
            lines.append(
                f"| {t.implementation} | {_rate(size, t.upload)} | "
                f"{_ratio(t.upload, raw.upload if raw else None, invert=True)} | "
                f"{_rate(size, t.download)} | "
                f"{_ratio(t.download, raw.download if raw else None, invert=True)} | "
                f"{_ms(t.opened)} | {_ratio(t.opened, raw.opened if raw else None)} | "
                f"{t.note} |")
        lines += ["", "vs raw: throughput as a share of the raw socket's (1.00× = as fast); "
                  "latency as a multiple of the raw socket's.", ""]
    lines += ["## Targets", "", "| target | measured | met |", "| --- | --- | --- |"]
    for target, measured, met in targets(report):
        lines.append(f"| {target} | {measured} | "
                     f"{'not measured' if met is None else 'yes' if met else 'NO'} |")
    return "\n".join(lines) + "\n"


def _count(outcome: str) -> int:
    return sum(int(n) for n, what in _SUMMARY.findall(outcome)
               if what not in ("deselected",))


def _versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0]}
    for impl in ("node", "workerd"):
        with contextlib.suppress(Exception):
            adapter = resolve(impl)
            if impl == "node":
                node = getattr(adapter, "command", ["node"])[0]
                out["node"] = subprocess.run([node, "--version"], capture_output=True,
                                             text=True, timeout=30).stdout.strip()
            else:
                from sockets_conformance.adapters.workerd.launch import version

                out["workerd"] = version()
    return out


# --- entry ------------------------------------------------------------------------------------
def run(implementations: list[str], *, size: int, runs: int, samples: int, repeat: int,
        timeout_multiplier: float, rounds: int = 3, overhead: bool = True,
        log: Any = sys.stderr) -> Report:
    report = Report(cores=os.cpu_count() or 1, load_before=load_average(), size=size,
                    versions=_versions())

    def say(text: str) -> None:
        print(f"[bench] {text}", file=log, flush=True)

    available = []
    for impl in implementations:
        why = unavailable(impl)
        if why is not None:
            say(f"{impl}: skipped ({why})")
            report.suite.append(SuiteRun(impl, "-n auto", None, f"skipped: {why}"))
            continue
        available.append(impl)
        # Warm-up (untimed): bytecode and the page cache, so no run pays for them.
        pytest_wall(impl, "--collect-only")
    if "reference" in available:
        report.collect_seconds["reference serial"] = \
            pytest_wall("reference", "-k", NOTHING).seconds or 0.0
        report.collect_seconds["reference -n auto"] = \
            pytest_wall("reference", "-k", NOTHING, "-n", "auto").seconds or 0.0
    # The implementations take turns, round after round, and each gets the median of its
    # rounds: a machine that slows down under sustained load (a VM's CPU credits, heat)
    # must not count against whichever implementation happens to run last.
    for mode in (("-n", "auto"), ()):
        runs_of: dict[str, list[SuiteRun]] = {impl: [] for impl in available}
        for _ in range(rounds if mode else 1):
            for impl in available:
                with tempfile.TemporaryDirectory() as tmp:
                    results = Path(tmp) / "results.jsonl"
                    got = pytest_wall(impl, *mode, timeout_multiplier=timeout_multiplier,
                                      results=results if not mode else None)
                    if impl == "reference" and not mode and results.exists():
                        report.collect_seconds["reference cases"] = case_seconds(results)
                say(f"{impl} {got.mode}: {got.seconds:.2f} s ({got.outcome})")
                runs_of[impl].append(got)
        for done in runs_of.values():
            times = sorted(r.seconds for r in done if r.seconds is not None)
            middle = done[[r.seconds for r in done].index(statistics.median_low(times))]
            middle.samples = times
            report.suite.append(middle)
    if "reference" in implementations and repeat > 1:
        got = pytest_wall("reference", "-n", "auto", "--repeat", str(repeat),
                          timeout_multiplier=timeout_multiplier)
        say(f"reference {got.mode}: {got.seconds:.2f} s ({got.outcome})")
        report.suite.append(got)
    if overhead:
        report.overhead, _ = measure_overhead(
            settings=Settings(timeout_multiplier=timeout_multiplier))
        serial = _find(report, "reference", "serial")
        fixed = report.collect_seconds.get("reference serial")
        cases = report.collect_seconds.get("reference cases")
        if serial and serial.seconds and fixed is not None and cases is not None:
            report.overhead.pytest_per_case = \
                (serial.seconds - fixed - cases) / report.overhead.cases
        say(f"overhead: {report.overhead.harness / report.overhead.cases * 1000:.2f} ms "
            f"a case")
    for impl in implementations:
        got_t = measure_transfers(impl, size, runs, samples,
                                  Settings(timeout_multiplier=timeout_multiplier))
        say(f"{impl} transfers: up {got_t.upload}, down {got_t.download}, "
            f"opened {got_t.opened} {got_t.note}")
        report.transfers.append(got_t)
    report.raw = measure_raw(size, runs, samples)
    report.load_after = load_average()
    return report


def main(args: argparse.Namespace) -> int:
    if args.wait_idle:
        wait_until_idle(args.idle_load, args.wait_idle)
    report = run(args.impl or list(IMPLEMENTATIONS), size=args.size, runs=args.runs,
                 samples=args.samples, repeat=args.repeat, rounds=args.rounds,
                 timeout_multiplier=args.timeout_multiplier)
    print(render(report))
    if args.json:
        data = asdict(report)
        data["targets"] = [{"target": t, "measured": m, "met": met}
                           for t, m, met in targets(report)]
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return 0
