"""Throughput and connect latency: 64 MiB each way and connect() until `opened`, per
implementation, next to a raw asyncio loopback socket, the physical baseline.

The implementations are measured through the same adapter operations the suite uses
(bench_cases/*.yaml here, run by the runner), the steps' own durations added up;
the median of several runs, the bytes generated before the clock starts. Everything stays
on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sockets_conformance.adapters.registry import UnknownAdapter, resolve
from sockets_conformance.gates.bench.measures import MiB, Transfer
from sockets_conformance.model.case import Case
from sockets_conformance.model.data import generated
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.results import Status
from sockets_conformance.running.adapter import Adapter, AdapterError
from sockets_conformance.running.runner import Settings, run_case

BENCH_CASES = Path(__file__).resolve().parent / "bench_cases"


def bench_case(name: str, size: int) -> Case:
    """A case from bench_cases/, with its 64 MiB replaced by `size` if asked."""
    if size == 64 * MiB:
        return load_case(BENCH_CASES / f"{name}.yaml")
    text = (BENCH_CASES / f"{name}.yaml").read_text().replace("67108864", str(size))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        path.write_text(text)
        return load_case(path)


# Each bench case, and the steps whose durations are the measurement (also the Transfer field).
_MEASURED = (("upload", ("write", "peer.expect")), ("download", ("peer.send", "read")),
             ("opened", ("connect", "await")))


async def _step_seconds(case: Case, kinds: tuple[str, ...], adapter: Adapter,
                        settings: Settings) -> float | str:
    """One run of `case`: the seconds its steps of `kinds` took (the transfer itself, not
    the case's set-up), or why it did not pass."""
    result = await run_case(case, adapter, settings)
    if result.status is not Status.PASS:
        return f"{result.status.value}: {result.message}"[:160]
    labels = [s.kind if s.kind != "peer" else f"peer.{s.action}" for s in case.steps]
    return sum(r.seconds for r, label in zip(result.steps, labels, strict=True)
               if label in kinds)


async def _transfers(implementation: str, size: int, runs: int, samples: int,
                     settings: Settings) -> Transfer:
    out = Transfer(implementation)
    adapter = resolve(implementation)
    cases = {name: bench_case(name, size) for name, _ in _MEASURED}
    for seed in (64, 65):  # the bench cases' data, made before any clock starts (lru_cache)
        generated(size, seed)
    await adapter.start()
    try:
        notes = []
        for name, kinds in _MEASURED:
            n = samples if name == "opened" else runs
            got = [await _step_seconds(cases[name], kinds, adapter, settings)
                   for _ in range(n)]
            failed = [g for g in got if isinstance(g, str)]
            if failed:
                notes.append(f"{name}: {failed[0]}")
            else:
                setattr(out, name, statistics.median(got))
        out.note = "; ".join(notes)
    finally:
        await adapter.stop()
    return out


def measure_transfers(implementation: str, size: int = 64 * MiB, runs: int = 3,
                      samples: int = 30, settings: Settings | None = None) -> Transfer:
    """`implementation`'s throughput and latency; one that cannot start is a note, not an
    error, so the other implementations are still measured."""
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


async def _serve(protocol: Any) -> tuple[asyncio.Server, int]:
    """A loopback server of `protocol` (a factory) and its port."""
    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _close(transport: asyncio.BaseTransport, server: asyncio.Server) -> None:
    transport.close()
    server.close()
    await server.wait_closed()


async def _raw_upload(data: bytes) -> float:
    """Seconds from the one write until the server has counted every byte."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    server, port = await _serve(lambda: _Counter(len(data), done))
    transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
    started = time.perf_counter()
    transport.write(data)
    seconds = await done - started
    await _close(transport, server)
    return seconds


async def _raw_download(data: bytes) -> float:
    """Seconds from the server's one write until the client has counted every byte."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float] = loop.create_future()
    begun: list[float] = []
    server, port = await _serve(lambda: _Sender(data, begun))
    transport, _ = await loop.create_connection(lambda: _Counter(len(data), done),
                                                "127.0.0.1", port)
    finished = await done
    await _close(transport, server)
    return finished - begun[0]


async def _raw_connects(samples: int) -> list[float]:
    """Seconds of each `loop.create_connection` to one listening server."""
    loop = asyncio.get_running_loop()
    server, port = await _serve(asyncio.Protocol)
    opens = []
    for _ in range(samples):
        started = time.perf_counter()
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        opens.append(time.perf_counter() - started)
        transport.close()
    server.close()
    await server.wait_closed()
    return opens


async def _raw(size: int, runs: int, samples: int) -> Transfer:
    data = generated(size, 64)
    ups, downs = [], []
    for _ in range(runs):
        ups.append(await _raw_upload(data))
        downs.append(await _raw_download(data))
    opens = await _raw_connects(samples)
    return Transfer("raw asyncio socket", statistics.median(ups), statistics.median(downs),
                    statistics.median(opens))


def measure_raw(size: int = 64 * MiB, runs: int = 3, samples: int = 30) -> Transfer:
    """The raw asyncio socket's throughput and latency: what the loopback allows at all."""
    return asyncio.run(_raw(size, runs, samples))
