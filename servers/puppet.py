"""The puppet peer: a TCP server on 127.0.0.1 that does exactly what the case timeline says.

It reads continuously (unless paused) and keeps every byte, so a large client write never
stalls waiting for a `peer.expect` step, and the report can show what arrived. Waits are on
events, never sleeps. A connection keeps its write side open after the client's FIN
(eof_received returns True) so half-close can be observed both ways.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import deque


class PeerFailure(Exception):
    """The wire did not carry what the case said it would."""


class PeerTimeout(PeerFailure):
    pass


class Connection(asyncio.Protocol):
    """One accepted connection: a byte log plus an unread buffer that expect() consumes."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.unread = bytearray()
        self.received = bytearray()
        self.sent = bytearray()
        self.eof = False
        self.lost: BaseException | None = None
        self.closed = False
        self._changed = asyncio.Event()

    # asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.unread += data
        self.received += data
        self._changed.set()

    def eof_received(self) -> bool:
        self.eof = True
        self._changed.set()
        return True  # keep our write side open: the client may have half-closed on purpose

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.lost = exc
        self.eof = True
        self._changed.set()

    # actions ----------------------------------------------------------------------------
    async def _wait(self, ready: callable, timeout: float, what: str) -> None:  # type: ignore[valid-type]
        async def loop() -> None:
            while not ready():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            raise PeerTimeout(f"{what}: nothing after {timeout:.2f} s; unread so far "
                              f"{_preview(bytes(self.unread))}") from None

    def send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise PeerFailure("cannot send: the connection is closed")
        self.sent += data
        self.transport.write(data)

    async def expect(self, data: bytes, timeout: float) -> None:
        n = len(data)
        await self._wait(lambda: len(self.unread) >= n or self.eof, timeout,
                         f"expected {n} bytes {_preview(data)}")
        got = bytes(self.unread[:n])
        if got != data:
            at = next((i for i, (a, b) in enumerate(zip(got, data, strict=False)) if a != b),
                      len(got))
            end = " then EOF" if len(got) < n and self.eof else ""
            raise PeerFailure(f"expected {_preview(data)}, got {_preview(got)}{end} "
                              f"(first difference at byte {at})")
        del self.unread[:n]

    async def expect_eof(self, timeout: float) -> None:
        await self._wait(lambda: self.eof or bool(self.unread), timeout, "expected EOF")
        if self.unread:
            raise PeerFailure(f"expected EOF, got more data: {_preview(bytes(self.unread))}")
        if isinstance(self.lost, ConnectionResetError):
            raise PeerFailure("expected EOF (FIN), but the connection was reset")

    def shutdown(self) -> None:
        assert self.transport is not None
        if self.transport.can_write_eof():
            self.transport.write_eof()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def reset(self) -> None:
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def pause_reading(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()


class PuppetPeer:
    """A listening peer; `accept` hands out connections in arrival order."""

    def __init__(self, name: str, host: str = "127.0.0.1") -> None:
        self.name = name
        self.host = host
        self.port = 0
        self.connections: list[Connection] = []
        self._pending: deque[Connection] = deque()
        self._arrived = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None
        self.current: Connection | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_connection, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def _new_connection(self) -> Connection:
        conn = Connection()
        self.connections.append(conn)
        self._pending.append(conn)
        self._arrived.set()
        return conn

    async def accept(self, timeout: float) -> Connection:
        async def next_conn() -> Connection:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            return self._pending.popleft()

        try:
            self.current = await asyncio.wait_for(next_conn(), timeout)
        except TimeoutError:
            raise PeerTimeout(f"no connection arrived within {timeout:.2f} s") from None
        return self.current

    def conn(self) -> Connection:
        if self.current is None:
            raise PeerFailure(f"peer {self.name!r} has no connection yet: add {self.name}.accept")
        return self.current

    @property
    def received(self) -> bytes:
        return b"".join(bytes(c.received) for c in self.connections)

    @property
    def sent(self) -> bytes:
        return b"".join(bytes(c.sent) for c in self.connections)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in self.connections:
            if c.transport is not None:
                c.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()


class ClosedPort:
    """A loopback port that refuses connections: bound, never listening, held for the case."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((host, 0))
        self.host = host
        self.port: int = self._sock.getsockname()[1]

    def close(self) -> None:
        self._sock.close()


def _preview(data: bytes, limit: int = 48) -> str:
    if len(data) > limit:
        return f"{data[:limit]!r}… ({len(data)} bytes)"
    return repr(data)
