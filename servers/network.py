"""Peer network conditions: how a peer's bytes, FIN and RST leave it, and what it records.

Real networks cut a message into many segments, pause in the middle of it, put data and
FIN in one segment, reset right after data, and read slowly; implementations break exactly
there. A connection's `Outbox` puts everything it sends on the wire in order (data, FIN,
close, RST). Without a condition it writes at once, so a 64 MiB transfer costs nothing more;
with one (a `Split` of a send, or the suite-wide seeded fragmentation) the items go out one
by one from a task, and a later FIN or RST still follows the last segment. A step with a
Split ends once its last segment left (`flushed`); the seeded mode holds up no step.

`WireLog` keeps what the report shows beside the bytes: the SNI the peer received, each
segment it sent and each chunk it read, with the time since the connection arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# The suite-wide mode (--peer-fragmentation): at most this many pieces per send, each pause
# between them at most this long. Small: a case's steps must still fit their timeouts.
CHAOS_PIECES = 4
CHAOS_DELAY = 0.004
SHOWN_EVENTS = 24   # the report lists the first ones; a large transfer makes thousands


@dataclass(frozen=True)
class Split:
    """How one `peer.send` leaves: in `segments` pieces of near-equal size, or in pieces of
    `size` bytes, with `delay` seconds between pieces; `end` "fin" puts the FIN in the last
    data segment, "reset" sends an RST right after the last one."""

    segments: int | None = None
    size: int | None = None
    delay: float = 0.0
    end: str | None = None

    def cut(self, data: bytes) -> list[bytes]:
        if self.size:
            return [data[i:i + self.size] for i in range(0, len(data), self.size)] or [data]
        n = max(1, min(self.segments or 1, len(data)))
        bounds = [len(data) * i // n for i in range(n + 1)]
        return [data[a:b] for a, b in itertools.pairwise(bounds)] or [data]


def chaos_cut(data: bytes, rng: random.Random) -> list[tuple[bytes, float]]:
    """The seeded split: random cut points, a random small pause before each later piece."""
    if len(data) < 2:
        return [(data, 0.0)]
    points = sorted(rng.sample(range(1, len(data)), min(rng.randint(0, CHAOS_PIECES - 1),
                                                        len(data) - 1)))
    bounds = [0, *points, len(data)]
    return [(data[a:b], 0.0 if i == 0 else round(rng.uniform(0, CHAOS_DELAY), 4))
            for i, (a, b) in enumerate(itertools.pairwise(bounds))]


@dataclass
class WireLog:
    """What a connection saw on the wire, for the report."""

    started: float = field(default_factory=time.perf_counter)
    sni: str | None = None
    sent: list[tuple[float, int, str]] = field(default_factory=list)
    read: list[tuple[float, int]] = field(default_factory=list)

    def now(self) -> float:
        return time.perf_counter() - self.started

    def note_sent(self, size: int, what: str = "") -> None:
        self.sent.append((self.now(), size, what))

    def note_read(self, size: int) -> None:
        self.read.append((self.now(), size))

    def describe(self, tls: bool) -> str:
        parts = []
        if tls:
            parts.append(f"SNI received: {self.sni!r}" if self.sni else "SNI received: none")
        parts.append("sent " + _events([(t, f"{n} B{' ' + w if w else ''}")
                                        for t, n, w in self.sent]))
        parts.append("read " + _events([(t, f"{n} B") for t, n in self.read]))
        return "; ".join(parts)


def _events(events: list[tuple[float, str]]) -> str:
    if not events:
        return "nothing"
    shown = ", ".join(f"{what} at {t * 1000:.1f} ms" for t, what in events[:SHOWN_EVENTS])
    more = f", … ({len(events)} in all)" if len(events) > SHOWN_EVENTS else ""
    return f"{len(events)} segment(s): {shown}{more}"


class Outbox:
    """Everything a connection sends, in order. Items: ("data", bytes, pause_before),
    ("fin",), ("datafin", bytes), ("close",), ("reset",)."""

    def __init__(self, transport: asyncio.Transport, log: WireLog,
                 rng: random.Random | None = None) -> None:
        self._transport = transport
        self._log = log
        self._rng = rng
        self._queue: deque[tuple] = deque()  # type: ignore[type-arg]
        self._task: asyncio.Task[None] | None = None
        self.closing = False                  # a close or RST is on its way
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Already asyncio's default; set here because segments must leave one by one.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes, split: Split | None = None) -> None:
        if not data:
            return
        if split is not None:
            pieces = split.cut(data)
            for i, piece in enumerate(pieces):
                last = i == len(pieces) - 1
                pause = split.delay if i else 0.0
                if last and split.end == "fin":
                    self._queue.append(("datafin", piece, pause))
                else:
                    self._queue.append(("data", piece, pause))
            if split.end == "reset":
                self._queue.append(("reset",))
        elif self._rng is not None:
            self._queue.extend(("data", piece, pause) for piece, pause in
                               chaos_cut(data, self._rng))
        elif not self._queue:
            self._put(data)
            return
        else:
            self._queue.append(("data", data, 0.0))
        self._kick()

    def write_eof(self) -> None:
        self._then(("fin",))

    def close(self) -> None:
        self.closing = True
        self._then(("close",))

    def reset(self) -> None:
        self.closing = True
        self._then(("reset",))

    def _then(self, item: tuple) -> None:  # type: ignore[type-arg]
        if self._queue:
            self._queue.append(item)
            self._kick()
        else:
            self._do(item)

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._queue:
            item = self._queue.popleft()
            if item[0] in ("data", "datafin") and item[2] > 0:
                await asyncio.sleep(item[2])  # the condition itself: a pause on the wire
            self._do(item)

    def _do(self, item: tuple) -> None:  # type: ignore[type-arg]
        kind, transport = item[0], self._transport
        if transport.is_closing():
            self._queue.clear()
            return
        if kind == "data":
            self._put(item[1])
        elif kind == "datafin":
            self._data_with_fin(item[1])
        elif kind == "fin":
            if transport.can_write_eof():
                transport.write_eof()
                self._log.note_sent(0, "FIN")
        elif kind == "close":
            transport.close()
            self._log.note_sent(0, "close")
        elif kind == "reset":
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            self._log.note_sent(0, "RST")

    def _put(self, data: bytes) -> None:
        self._transport.write(data)
        self._log.note_sent(len(data))

    def _data_with_fin(self, data: bytes) -> None:
        """Data and FIN in one segment: corked, the kernel holds the data, and the FIN of
        shutdown() is set on that same queued segment; uncorking sends both at once."""
        sock = self._transport.get_extra_info("socket")
        cork = getattr(socket, "TCP_CORK", None)
        if sock is not None and cork is not None:
            sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
        self._transport.write(data)
        if self._transport.can_write_eof():
            self._transport.write_eof()
        if sock is not None and cork is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, cork, 0)
        self._log.note_sent(len(data), "with FIN")

    async def flushed(self) -> None:
        """Until every queued item has gone out."""
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def cancel(self) -> None:
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()


def split(args: dict[str, Any]) -> Split | None:
    """The Split a `peer.send` step's options ask for, or None (one write, as always)."""
    keys = {"segments", "segment_size", "delay", "end"}
    if not keys & args.keys():
        return None
    return Split(segments=args.get("segments"), size=args.get("segment_size"),
                 delay=float(args.get("delay", 0.0)), end=args.get("end"))
