"""The puppet peer: a TCP server on 127.0.0.1 that does exactly what the case timeline says.

It reads continuously (unless paused) and keeps every byte, so a large client write never
stalls waiting for a `peer.expect` step, and the report can show what arrived. Waits are on
events, never sleeps. A connection keeps its write side open after the client's FIN
(eof_received returns True) so half-close can be observed both ways.

TLS runs inside the same Protocol (servers/tls.py), from the first byte for a `tls: true`
peer or from the `start_tls` step on. The handshake runs in the background as bytes arrive:
no step waits for it. `send` before it completes is queued; `expect` waits for data as
always. A failed handshake is recorded and fails the connection's next data step. The byte
logs (`received`, `sent`) hold application bytes, never TLS records.
"""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import ssl
from collections import deque
from collections.abc import Callable

from sockets_conformance.servers import certs
from sockets_conformance.servers.buffer import ChunkBuffer
from sockets_conformance.servers.network import Outbox, Split, WireLog
from sockets_conformance.servers.tls import ServerTls, TlsState, looks_like_client_hello


class PeerFailure(Exception):
    """The wire did not carry what the case said it would."""


class PeerTimeout(PeerFailure):
    pass


class Connection(asyncio.Protocol):
    """One accepted connection: a byte log plus an unread buffer that expect() consumes.

    With TLS (`tls_context` given, or after start_tls) wire bytes go through a ServerTls
    and only the application bytes reach `unread` and `received`.
    """

    def __init__(self, tls_context: ssl.SSLContext | None = None,
                 rng: random.Random | None = None) -> None:
        self.transport: asyncio.Transport | None = None
        self.outbox: Outbox | None = None   # every write, FIN and RST (servers/network.py)
        self.log = WireLog()
        self._rng = rng                     # the seeded fragmentation, when it is on
        self.pace = 0.0                     # a slow reader: pause this long after each read
        self._held = False                  # reading paused by a pause_reading step
        self.unread = ChunkBuffer()
        # Logs as chunks, joined when read: a large transfer is copied once, not twice.
        self._received: list[bytes] = []
        self._sent: list[bytes] = []
        self.eof = False
        self.lost: BaseException | None = None
        self.closed = False
        self.tls: ServerTls | None = None
        self._tls_context = tls_context
        self._shut = False              # shutdown() ran: nothing more may be sent
        self._fin_pending = False       # FIN owed once a queued close_notify goes out
        self._bare_fin = False          # ... or once the handshake is over, without one
        self._split: Split | None = None  # how data queued behind the handshake leaves
        self._changed = asyncio.Event()

    @property
    def tls_failure(self) -> str | None:
        """Why TLS broke on this connection (handshake or later), or None."""
        return self.tls.error if self.tls is not None else None

    # asyncio.Protocol -----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.outbox = Outbox(self.transport, self.log, self._rng)  # type: ignore[arg-type]
        if self._tls_context is not None:
            self.tls = ServerTls(self._tls_context)

    def data_received(self, data: bytes) -> None:
        self.log.note_read(len(data))
        if self.pace and self.transport is not None and not self._held:
            self.transport.pause_reading()
            asyncio.get_running_loop().call_later(self.pace, self._paced)
        if self.tls is None:
            self._deliver(data)
            return
        plain = self.tls.receive(data)
        split = self._split if self.tls.state is TlsState.OPEN else None
        if split is not None:
            self._split = None
        self._flush_tls(split)
        if self._fin_pending and self.tls.state is TlsState.OPEN and (
                self.tls.close_notify_sent or self._bare_fin):
            self._fin_pending = False
            self._write_eof()
        if plain:
            self._deliver(plain)
        if self.tls.close_notify_received:
            self.eof = True
        if self.tls.state is TlsState.FAILED and self.outbox is not None:
            self.outbox.close()  # after our alert (flushed above); nothing more can follow
        self._changed.set()

    def eof_received(self) -> bool:
        if self.tls is not None:
            self.tls.receive_eof()
        self.eof = True
        self._changed.set()
        return True  # keep our write side open: the client may have half-closed on purpose

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.tls is not None:
            self.tls.connection_lost(exc)
        self.closed = True
        self.lost = exc
        self.eof = True
        self._changed.set()

    @property
    def received(self) -> bytes:
        """Every application byte that arrived on this connection, in order."""
        return _joined(self._received)

    @property
    def sent(self) -> bytes:
        """Every application byte this connection sent (or queued behind a handshake)."""
        return _joined(self._sent)

    def _deliver(self, data: bytes) -> None:
        self.unread.append(data)
        self._received.append(data)
        self._changed.set()

    def _paced(self) -> None:
        if self.transport is not None and not self._held and not self.transport.is_closing():
            self.transport.resume_reading()

    def _flush_tls(self, split: Split | None = None) -> None:
        assert self.tls is not None
        out = self.tls.outgoing()
        if out and self.outbox is not None and not self.outbox.closing:
            self.outbox.write(out, split)

    def _check_tls(self) -> None:
        if self.tls_failure is not None:
            raise PeerFailure(self.tls_failure)

    # actions ----------------------------------------------------------------------------
    async def _wait(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        async def loop() -> None:
            while not ready():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), timeout)
        except TimeoutError:
            still = ""
            if self.tls is not None and self.tls.state is TlsState.HANDSHAKING:
                still = ("; the TLS handshake has not completed (did the client start TLS? "
                         f"first bytes from it: {_preview(self.tls.first_bytes)})")
            raise PeerTimeout(f"{what}: nothing after {timeout:.2f} s; unread so far "
                              f"{_preview(bytes(self.unread))}{still}") from None

    def send(self, data: bytes, split: Split | None = None) -> None:
        """Send now, or as `split` says (segments, pauses, FIN or RST right behind); over
        TLS the split cuts the records, so one record spans several segments."""
        self._check_tls()  # first: it explains why the connection is closed
        if self.transport is None or self.transport.is_closing() or self.outbox is None \
                or self.outbox.closing:
            raise PeerFailure("cannot send: the connection is closed")
        if self._shut:
            raise PeerFailure("cannot send: this peer already shut down its side")
        self._sent.append(bytes(data))
        if split is not None and split.end == "fin":
            self._shut = True
        if self.tls is not None:
            if self.tls.state is TlsState.HANDSHAKING:
                self._split = split
            self.tls.send(data)
            self._flush_tls(split)
            return
        self.outbox.write(data, split)

    async def flushed(self) -> None:
        if self.outbox is not None:
            await self.outbox.flushed()

    async def expect_sni(self, name: str | None, timeout: float) -> None:
        """The server name the client's ClientHello carried (None: no SNI extension)."""
        await self._wait(lambda: self.tls is not None and (
            self.tls.state is not TlsState.HANDSHAKING or self.eof), timeout,
            "expected a TLS ClientHello")
        if self.log.sni != name:
            raise PeerFailure(f"expected SNI {name!r}, got "
                              f"{repr(self.log.sni) if self.log.sni else 'no SNI'}")

    async def expect(self, data: bytes, timeout: float) -> None:
        n = len(data)
        await self._wait(lambda: len(self.unread) >= n or self.eof or bool(self.tls_failure),
                         timeout, f"expected {n} bytes {_preview(data)}")
        if self.unread.startswith(data):  # compared in place: no copy of a 32 MiB transfer
            self.unread.drop(n)
            return
        got = self.unread.peek(n)
        if len(got) < n and self.tls_failure:
            raise PeerFailure(f"{self.tls_failure} (expected {_preview(data)}"
                              f"{', got ' + _preview(got) if got else ''})")
        if got != data:
            at = next((i for i, (a, b) in enumerate(zip(got, data, strict=False)) if a != b),
                      len(got))
            end = " then EOF" if len(got) < n and self.eof else ""
            raise PeerFailure(f"expected {_preview(data)}, got {_preview(got)}{end} "
                              f"(first difference at byte {at})")
        self.unread.drop(n)

    async def expect_eof(self, timeout: float) -> None:
        """EOF is a FIN, or over TLS the client's close_notify (the TCP may stay open: a TLS
        half-close) or a bare FIN (some implementations close without close_notify)."""
        await self._wait(lambda: self.eof or bool(self.unread) or bool(self.tls_failure),
                         timeout, "expected EOF")
        if self.unread:
            raise PeerFailure(f"expected EOF, got more data: {_preview(bytes(self.unread))}")
        self._check_tls()
        if isinstance(self.lost, ConnectionResetError):
            raise PeerFailure("expected EOF (FIN), but the connection was reset")

    def shutdown(self, close_notify: bool = True) -> None:
        """FIN; over TLS close_notify first (queued behind a handshake still running;
        `close_notify` False: a bare FIN, as a truncating peer ends), and reading goes on."""
        assert self.transport is not None
        self._check_tls()
        self._shut = True
        if self.tls is not None and (close_notify or self.tls.state is TlsState.HANDSHAKING):
            self._bare_fin = not close_notify
            if close_notify:
                self.tls.close_notify()
                self._flush_tls()
            if not self.tls.close_notify_sent:
                self._fin_pending = True  # queued behind the handshake; data_received sends it
                return
        self._write_eof()

    def _write_eof(self) -> None:
        if self.outbox is not None:
            self.outbox.write_eof()

    def close(self, close_notify: bool = True) -> None:
        if self.outbox is None:
            return
        if self.tls is not None and self.tls.state is TlsState.OPEN and close_notify:
            self.tls.close_notify()
            self._flush_tls()
        self.outbox.close()

    def reset(self) -> None:
        """RST (SO_LINGER 0), after whatever this peer sent before it."""
        if self.outbox is not None:
            self.outbox.reset()

    def pause_reading(self) -> None:
        assert self.transport is not None
        self._held = True
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        assert self.transport is not None
        self._held = False
        self.transport.resume_reading()

    def start_tls(self, context: ssl.SSLContext) -> None:
        """Upgrade to TLS (server side) at exactly this point of the byte stream.

        Bytes that already arrived and no `expect` consumed came in plaintext before the
        upgrade: treating them as TLS is the STARTTLS command-injection bug (CVE-2011-0411),
        so they fail the step and stay in `unread`, never reaching TLS. The check and the
        switch happen in one synchronous step on the event loop, so no byte can slip in
        between (loop.start_tls would need reading paused around its await). The step does
        not wait for the handshake: the client usually starts it only in a later step.
        """
        if self.tls is not None:
            raise PeerFailure("start_tls: this connection already speaks TLS")
        if self.unread:
            hint = ""
            if looks_like_client_hello(bytes(self.unread)):
                hint = (" (it looks like a TLS ClientHello: if the client was meant to start "
                        "TLS here, put peer.start_tls before the client's startTls step, "
                        "right after the peer's go-ahead)")
            raise PeerFailure(f"plaintext pipelined behind the STARTTLS upgrade: "
                              f"{_preview(bytes(self.unread))} arrived before the upgrade "
                              f"and was not consumed by a peer.expect{hint}")
        if self.eof:
            raise PeerFailure("start_tls: the client already closed its side")
        if self.transport is None or self.transport.is_closing():
            raise PeerFailure("start_tls: the connection is closed")
        self.tls = ServerTls(context)


class PuppetPeer:
    """A listening peer; `accept` hands out connections in arrival order.

    `tls`: every connection speaks TLS from its first byte. `cert`: which certificate the
    peer presents, from the start or at `start_tls` (a certs.CERT_KINDS name).
    `receive_buffer`: SO_RCVBUF of the listening socket, so accepted connections advertise a
    small window from their SYN on. `rng`: the seeded fragmentation of every send.
    """

    def __init__(self, name: str, host: str = "127.0.0.1", *, tls: bool = False,
                 cert: str = "valid", receive_buffer: int | None = None,
                 rng: random.Random | None = None) -> None:
        self.name = name
        self.host = host
        self.tls = tls
        self.cert = cert
        self.receive_buffer = receive_buffer
        self.rng = rng
        self.port = 0
        self.connections: list[Connection] = []
        self._pending: deque[Connection] = deque()
        self._arrived = asyncio.Event()
        self._server: asyncio.base_events.Server | None = None
        self._tls_context: ssl.SSLContext | None = None
        self.current: Connection | None = None

    def server_context(self) -> ssl.SSLContext:
        context = certs.server_context(self.cert)
        context.sni_callback = self._sni
        return context

    def _sni(self, sslobj: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        """Called only when the ClientHello names a server: note it on its connection."""
        for conn in self.connections:
            if conn.tls is not None and conn.tls.owns(sslobj):
                conn.log.sni = name

    async def start(self) -> None:
        # Resolve the certificate now: a bad kind or a trustme problem fails setup, not
        # the first connection.
        self._tls_context = self.server_context() if self.tls else None
        loop = asyncio.get_running_loop()
        if self.receive_buffer is None:
            self._server = await loop.create_server(self._new_connection, self.host, 0)
        else:
            listener = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.receive_buffer)
            listener.bind((self.host, 0))
            self._server = await loop.create_server(self._new_connection, sock=listener)
        self.port = self._server.sockets[0].getsockname()[1]

    def _new_connection(self) -> Connection:
        conn = Connection(self._tls_context, self.rng)
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

    def start_tls(self) -> None:
        """Upgrade the current connection to TLS here (see Connection.start_tls)."""
        self.conn().start_tls(self.server_context())

    def conn(self) -> Connection:
        if self.current is None:
            raise PeerFailure(f"peer {self.name!r} has no connection yet: add {self.name}.accept")
        return self.current

    @property
    def received(self) -> bytes:
        return _joined([c.received for c in self.connections])

    @property
    def sent(self) -> bytes:
        return _joined([c.sent for c in self.connections])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for c in self.connections:
            if c.outbox is not None:
                c.outbox.cancel()
            if c.transport is not None:
                c.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()


class ClosedPort:
    """A loopback port that refuses connections: bound, never listening, held for the case.

    Holding the bound socket is what makes it safe: while it is held nothing else can serve
    that address and port, so a connection there is refused by the kernel (RST)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self.host = host
        self.port: int = self._sock.getsockname()[1]

    @classmethod
    def fixed(cls, port: int, attempts: int = 8) -> ClosedPort:
        """A closed port with this exact number (80, 443: behaviours that depend on it).

        127.0.0.1 first, then random addresses of 127.0.0.0/8 (all loopback on Linux), so
        parallel runs do not compete for one address. A bind fails where the port needs
        privilege, or where something serves it on every address (0.0.0.0:port): then the
        OSError says why and the case cannot run here."""
        candidates = ["127.0.0.1"] + [
            f"127.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
            for _ in range(attempts)]
        error: OSError | None = None
        for host in candidates:
            try:
                return cls(host, port)
            except OSError as exc:
                error = exc
                if exc.errno == errno.EACCES:
                    break  # no privilege for a port below 1024: no address will do
        assert error is not None
        raise error

    def close(self) -> None:
        self._sock.close()


def _joined(chunks: list[bytes]) -> bytes:
    """The chunks as one bytes object, kept as the only chunk (a later call is free)."""
    if len(chunks) > 1:
        chunks[:] = [b"".join(chunks)]
    return chunks[0] if chunks else b""


def _preview(data: bytes, limit: int = 48) -> str:
    if len(data) > limit:
        return f"{data[:limit]!r}… ({len(data)} bytes)"
    return repr(data)
