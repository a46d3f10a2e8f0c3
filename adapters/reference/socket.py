"""The reference Socket: connect() over asyncio with workerd's observable behaviour.

The socket's life is an explicit state table (h11-style): every change goes through
`_to(event)`, so an impossible transition is a bug that shows, not a silent drift. The
wire side is `Wire`, a plain asyncio.Protocol with read backpressure; the JS-facing side is
two streams from streams.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import ssl
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sockets_conformance.model.values import UNDEFINED

from . import address as addr
from . import egress, limits
from .js import JSError, promise, settle, type_error
from .streams import LOCKED_WRITER, ReadableStream, Reader, WritableStream, Writer
from .tls import client_context
from .wire import LOST, Wire

CONNECT_FAILED = "proxy request failed, cannot connect to the specified address"
HTTP_HINT = (". It looks like you might be trying to connect to a HTTP-based service"
             " — consider using fetch instead")
STREAM_CANCELLED = "Stream was cancelled."
READABLE_CLOSING = "This ReadableStream belongs to an object that is closing."
WRITABLE_CLOSING = "This WritableStream belongs to an object that is closing."
BAD_SECURE_TRANSPORT = "Unsupported value in secureTransport socket option: "
TLS_ON_TLS = "Cannot startTls on a TLS socket."
TLS_AFTER_CLOSE = "The connection was closed before startTls could be started."
TLS_NEEDS_OPTION = ("The `secureTransport` socket option must be set to 'starttls' for "
                    "startTls to be used.")
TLS_TWICE = ("startTls has already been called on this socket, or the socket was transferred "
             "over RPC.")
# workerd's ReadableStream::detach() on a locked stream (startTls() with a reader held)
DETACH_LOCKED_READER = "The ReadableStream has been locked to a reader."


class State(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    FAILED = "failed"        # the connection could not be made
    CLOSING = "closing"      # close() called, flushing
    CLOSED = "closed"
    UPGRADED = "upgraded"    # startTls() handed the connection to a new socket


# (state, event) -> next state. Events not listed for a state are ignored on purpose
# (e.g. "eof" while CLOSING: close() already decides the end).
TRANSITIONS: dict[tuple[State, str], State] = {
    (State.CONNECTING, "connected"): State.OPEN,
    (State.CONNECTING, "connect_failed"): State.FAILED,
    (State.CONNECTING, "close"): State.CLOSING,
    (State.OPEN, "close"): State.CLOSING,
    (State.OPEN, "finished"): State.CLOSED,      # EOF read and writable closed (not half-open)
    (State.OPEN, "lost"): State.CLOSED,
    (State.CLOSING, "closed"): State.CLOSED,
    (State.CLOSING, "connect_failed"): State.CLOSING,
    (State.FAILED, "close"): State.FAILED,
    (State.CONNECTING, "upgraded"): State.UPGRADED,
    (State.OPEN, "upgraded"): State.UPGRADED,
}


@dataclass
class Options:
    secure_transport: str = "off"
    allow_half_open: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    high_water_mark: int | None = None   # highWaterMark: the writable's, in bytes

    @classmethod
    def parse(cls, raw: Any) -> Options:
        if raw is None or raw is UNDEFINED:
            return cls()
        if not isinstance(raw, dict):
            return cls()
        st = raw.get("secureTransport", UNDEFINED)
        if st is UNDEFINED or st is None:
            st = "off"
        else:
            st = _js_string(st)
            if st not in ("off", "on", "starttls"):
                raise type_error(BAD_SECURE_TRANSPORT + st)
        hwm = raw.get("highWaterMark", UNDEFINED)
        high_water_mark = None if hwm is UNDEFINED or hwm is None else int(hwm)
        return cls(st, bool(raw.get("allowHalfOpen", False)), dict(raw), high_water_mark)


def _js_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class Socket:
    """What connect() returns. Public attribute names are the JavaScript ones.

    The larger behaviours (connect, close, the end of the stream, startTls) are written as a
    short method that calls one named step per thing workerd does, in workerd's order. Each
    step is a seam: the mutation gate's faulty variants (harness/gates/mutants/) override exactly
    one step to leave it out or get it wrong, so no copy of a method exists anywhere.

    Seams for variants:
    - `WIRE`: the Wire class a new connection uses (its `_take_chunk`, `_send`, `_drained`);
    - `TLS_CHECKS`: startTls()'s synchronous checks, by method name, in order;
    - the steps of `_connect`, `close`/`_close`, `_finish_after_eof`, `_detach_for_tls`
      and `_tls_context`, `_egress_refusal`, `_fail_connect`, `_fail_handshake`, `_on_eof`,
      `_on_lost`.
    """

    WIRE: ClassVar[type[Wire]] = Wire
    TLS_CHECKS: ClassVar[tuple[str, ...]] = (
        "_refuse_tls_socket", "_refuse_closed_socket", "_require_starttls_option",
        "_refuse_second_start_tls")

    def __init__(self, address: addr.Address, options: Options, context: Any, *,
                 upgrade_from: Socket | None = None, tls_hostname: str | None = None) -> None:
        self._address = address
        self._options = options
        self._context = context
        self.state = State.CONNECTING
        self.opened = promise()
        self.closed = promise()
        self._close_promise: asyncio.Future[Any] | None = None
        self._upgraded = False
        self._tls_started = False       # startTls() was called on this socket
        self._tls_refused: JSError | None = None  # why the old socket could not let go
        self._tls_hostname = tls_hostname or address.connect_host
        self._is_upgrade = upgrade_from is not None
        # A socket made by startTls() takes over the same connection.
        self._wire = upgrade_from._wire if upgrade_from is not None else self.WIRE()
        self._wire.on_lost = self._on_lost
        self._connected = promise()
        self.readable = ReadableStream(self, on_eof=self._on_eof)
        self.writable = WritableStream(_SinkView(self), options.high_water_mark)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._spawn(self._connect() if upgrade_from is None else self._upgrade(upgrade_from))

    # JS-visible properties --------------------------------------------------------------
    @property
    def secureTransport(self) -> str:
        return self._options.secure_transport

    @property
    def upgraded(self) -> bool:
        return self._upgraded

    # state -------------------------------------------------------------------------------
    def _to(self, event: str) -> None:
        nxt = TRANSITIONS.get((self.state, event))
        if nxt is not None:
            self.state = nxt

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # connection --------------------------------------------------------------------------
    def _egress_refusal(self) -> egress.Refusal | None:
        """Production's egress policy (egress.py); a variant overrides this to show what the
        harness guard does when an implementation does not refuse."""
        return egress.refusal_for(self._address, self._context)

    async def _connect(self) -> None:
        refused = self._egress_refusal()
        if refused is not None:
            self._fail_connect(refused.message)
            return
        if not await self._dial():
            self._fail_connect()
            return
        if self._options.secure_transport == "on" and not await self._handshake():
            return
        self._open(self._address.text)

    async def _dial(self) -> bool:
        """The TCP connection, within the limit of six open connections per invocation
        (more wait their turn, never rejected). False if it was refused."""
        limit = limits.for_context(self._context)
        if limit is not None:
            await limit.acquire()
        loop = asyncio.get_running_loop()
        try:
            await loop.create_connection(lambda: self._wire, self._address.connect_host,
                                         self._address.port)
        except OSError:
            if limit is not None:
                limit.release()
            return False
        if limit is not None:
            if self._wire.lost:
                limit.release()
            else:
                self._wire.release_slot = limit.release
        return True

    def _open(self, remote_address: str) -> None:
        """The connection is usable: queued writes go out, opened resolves."""
        self._to("connected")
        settle(self._connected, True)
        self._resolve_opened(remote_address)

    def _resolve_opened(self, remote_address: str) -> None:
        settle(self.opened, {"remoteAddress": remote_address})

    def _tls_context(self) -> ssl.SSLContext:
        """Verifies the chain against the run's CA and the certificate's name."""
        return client_context(getattr(self._context, "ca_pem", None))

    async def _handshake(self) -> bool:
        """TLS client handshake on the wire; SNI and certificate name are the address's
        hostname (or TlsOptions.expectedServerHostname). A failure rejects opened/closed."""
        try:
            await self._wire.start_tls(self._tls_context(), self._tls_hostname)
        except JSError as exc:
            self._wire.close()
            self._fail_handshake(exc)
            return False
        return True

    def _fail_handshake(self, error: JSError) -> None:
        """With secureTransport "on" a failed handshake is a failed connection. After
        startTls() workerd's new streams sit on the secured stream's promise, so its
        rejection errors them: reads and writes reject, none reports the end of the stream
        (verified on workerd 1.20261117.1)."""
        if self._is_upgrade:
            self._fail_upgrade(JSError("Error", error.message))
        else:
            self._fail_connect(error.message)

    async def _upgrade(self, old: Socket) -> None:
        """The socket startTls() returned: wait for the old one to flush and let go, then
        shake hands over the same connection."""
        if not await old._detach_for_tls():
            if old._tls_refused is not None:
                self._fail_upgrade(old._tls_refused)
            else:
                self._fail_connect()
            return
        if not await self._handshake():
            return
        self._open(old._address.text)

    async def _detach_for_tls(self) -> bool:
        """Flush pending writes, then make both streams unusable for good (locked, errored),
        mark the socket upgraded and resolve closed. False if the connection never opened.

        workerd detaches the writable, then the readable, and cannot detach a stream the
        caller still holds a writer or reader on: the upgrade stops there, the new socket's
        closed rejects with that TypeError and the old socket stays un-upgraded (verified on
        workerd 1.20261117.1). Real clients release both locks first."""
        try:
            await asyncio.shield(self._connected)
        except JSError:
            return False
        await self.writable.flush()
        if self._held_lock_blocks_upgrade(self.writable.writer, LOCKED_WRITER):
            return False
        self._detach_writable()
        if self._held_lock_blocks_upgrade(self.readable.reader, DETACH_LOCKED_READER):
            return False
        self._detach_readable()
        self._mark_upgraded()
        self._to("upgraded")
        self._upgrade_resolves_closed()
        return True

    def _held_lock_blocks_upgrade(self, holder: Reader | Writer | None, message: str) -> bool:
        """A stream still locked to the caller's reader or writer cannot be detached: the
        upgrade stops here, and `message` is why the new socket's closed rejects."""
        if holder is None:
            return False
        self._tls_refused = type_error(message)
        return True

    def _detach_writable(self) -> None:
        self.writable.writer = Writer(self.writable)
        self.writable.fail(type_error(WRITABLE_CLOSING))

    def _detach_readable(self) -> None:
        self.readable.reader = Reader(self.readable)
        self.readable.fail(type_error(READABLE_CLOSING))

    def _mark_upgraded(self) -> None:
        self._upgraded = True

    def _upgrade_resolves_closed(self) -> None:
        settle(self.closed, UNDEFINED)

    def _fail_upgrade(self, error: JSError) -> None:
        """startTls() could not take the connection over (a lock still held on the old
        socket's streams; workerd leaves opened pending there, rejecting it is kinder), or
        its handshake failed."""
        self._to("connect_failed")
        settle(self._connected, error=error)
        settle(self.opened, error=error)
        settle(self.closed, error=error)
        self.readable.fail(error)
        self.writable.fail(error)

    def _fail_connect(self, message: str | None = None) -> None:
        msg = message or CONNECT_FAILED + (HTTP_HINT if self._address.port in (80, 443) else "")
        error = JSError("Error", msg)
        self._to("connect_failed")
        settle(self._connected, error=error)
        settle(self.opened, error=error)
        settle(self.closed, error=error)
        # As workerd: the readable is cancelled (a read already waiting rejects, later reads
        # end), the writable aborted (writes reject; a writer.close() already made fulfils).
        self.readable.cancel_with(JSError("Error", STREAM_CANCELLED))
        self.writable.fail(error, closes_fulfil=True)

    async def _wire_ready(self) -> Wire:
        await asyncio.shield(self._connected)
        return self._wire

    # Source / Sink for the streams --------------------------------------------------------
    async def pull(self) -> bytes | None:
        wire = await self._wire_ready()
        return await wire.next_chunk()

    def cancel(self) -> None:
        pass

    async def write(self, data: bytes) -> None:
        wire = await self._wire_ready()
        await wire.write(data)

    async def close_write(self) -> None:
        wire = await self._wire_ready()
        wire.write_eof()

    def abort(self) -> None:
        pass

    # events -----------------------------------------------------------------------------
    def _on_eof(self) -> None:
        """The reader saw end of stream. Without allowHalfOpen the socket closes its side."""
        if self._options.allow_half_open or self.state is not State.OPEN:
            return
        self._spawn(self._finish_after_eof())

    async def _finish_after_eof(self) -> None:
        await self._eof_closes_writable()
        self._to("finished")
        self._eof_closes_connection()
        self._eof_resolves_closed()

    async def _eof_closes_writable(self) -> None:
        """writer.close() (FIN after what is queued), or the flush of one already closing."""
        if self.writable.state == "writable":
            done = self.writable.close()
            with contextlib.suppress(JSError):
                await done
        else:
            await self.writable.flush()

    def _eof_closes_connection(self) -> None:
        self._wire.close()

    def _eof_resolves_closed(self) -> None:
        settle(self.closed, UNDEFINED)

    def _on_lost(self, exc: BaseException | None) -> None:
        if exc is None or self.state is not State.OPEN:
            return
        self.writable.fail(JSError("Error", LOST))
        self._to("lost")
        settle(self.closed, UNDEFINED)

    # JS methods --------------------------------------------------------------------------
    def close(self) -> asyncio.Future[Any]:
        """First call: a new promise, resolved when the close is done; later calls: closed.
        Readers and writers fail at once; the connection goes once writes are flushed."""
        if self._close_promise is not None:
            return self.closed
        self._close_promise = promise()
        self._to("close")
        self._close_errors_readable()
        self._close_refuses_writes()
        self._spawn(self._close())
        return self._close_promise

    def _close_errors_readable(self) -> None:
        self.readable.fail(type_error(READABLE_CLOSING))

    def _close_refuses_writes(self) -> None:
        self.writable.reject_writes_with = type_error(WRITABLE_CLOSING)

    async def _close(self) -> None:
        await self._close_waits_for_opened()
        await self._close_flushes_writes()
        self._close_aborts_writable()
        self._close_releases_connection()
        self._to("closed")
        self._close_resolves_closed()
        self._close_resolves_its_promise()

    async def _close_waits_for_opened(self) -> None:
        with contextlib.suppress(JSError):
            await asyncio.shield(self.opened)

    async def _close_flushes_writes(self) -> None:
        await self.writable.flush()

    def _close_aborts_writable(self) -> None:
        self.writable.abort(type_error(WRITABLE_CLOSING))

    def _close_releases_connection(self) -> None:
        # after startTls() the connection belongs to the new socket, unless it never got it
        if not self._tls_started or self._tls_refused is not None:
            self._wire.close()

    def _close_resolves_closed(self) -> None:
        settle(self.closed, UNDEFINED)

    def _close_resolves_its_promise(self) -> None:
        assert self._close_promise is not None
        settle(self._close_promise, UNDEFINED)

    def startTls(self, options: Any = None) -> Socket:
        """The TLS_CHECKS in workerd's order, then a new socket over the same connection."""
        for check in self.TLS_CHECKS:
            getattr(self, check)()
        self._tls_started = True
        expected = options.get("expectedServerHostname") if isinstance(options, dict) else None
        tls_options = dataclasses.replace(self._options, secure_transport="on")
        return type(self)(self._address, tls_options, self._context, upgrade_from=self,
                          tls_hostname=expected if isinstance(expected, str) else None)

    def _refuse_tls_socket(self) -> None:
        if self._options.secure_transport == "on":
            raise type_error(TLS_ON_TLS)

    def _refuse_closed_socket(self) -> None:
        if self._upgraded or self._close_promise is not None or self.state in (
                State.CLOSING, State.CLOSED, State.FAILED):
            raise type_error(TLS_AFTER_CLOSE)

    def _require_starttls_option(self) -> None:
        if self._options.secure_transport != "starttls":
            raise type_error(TLS_NEEDS_OPTION)

    def _refuse_second_start_tls(self) -> None:
        if self._tls_started:
            raise type_error(TLS_TWICE)

    def aclose_now(self) -> None:
        """Harness cleanup at the end of a case: drop everything without ceremony."""
        for task in list(self._tasks):
            task.cancel()
        # Not once connection_lost has run: a transport closed while its write buffer was
        # still draining has let go of its loop (CPython 3.11 never counts that loss in
        # _conn_lost), and abort() would then fail with AttributeError on None.call_soon.
        if self._wire.transport is not None and not self._wire.lost:
            self._wire.transport.abort()


class _SinkView:
    """Gives WritableStream the Sink protocol without clashing with Socket.close()."""

    def __init__(self, socket: Socket) -> None:
        self._socket = socket

    async def write(self, data: bytes) -> None:
        await self._socket.write(data)

    async def close(self) -> None:
        await self._socket.close_write()

    def abort(self) -> None:
        self._socket.abort()


def connect(address: Any, options: Any = None, *, context: Any = None,
            socket_class: type[Socket] = Socket) -> Socket:
    parsed = addr.parse(address)
    opts = Options.parse(options)
    return socket_class(parsed, opts, context)


