"""Faithful copies of the reference's larger methods, each step behind a keyword.

Why: many bugs are "the reference's method with one step left out" (close() that never
resolves closed, startTls() that forgets to detach the readable, a connect that never
settles opened). Subclass-and-call-super cannot express a missing step in the middle of a
method, so those mutants call these mirrors with one keyword turned off, instead of each
carrying its own stale copy of the method.

The mirrors must stay what the reference does with every keyword at its default. `Mirror`
is the reference with all of them in place; the mutation gate runs every case against it
next to the reference and reports any difference as drift ("mirror.py no longer matches the
reference"), so a change in adapters/reference/socket.py shows up here at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
from typing import Any, ClassVar

from sockets_conformance.adapters.reference import limits
from sockets_conformance.adapters.reference.js import JSError, promise, settle, type_error
from sockets_conformance.adapters.reference.socket import (
    DETACH_LOCKED_READER,
    LOST,
    READABLE_CLOSING,
    TLS_AFTER_CLOSE,
    TLS_NEEDS_OPTION,
    TLS_ON_TLS,
    TLS_TWICE,
    WRITABLE_CLOSING,
    Socket,
    State,
    Wire,
)
from sockets_conformance.adapters.reference.streams import LOCKED_WRITER, Reader, Writer
from sockets_conformance.adapters.reference.tls import client_context
from sockets_conformance.values import UNDEFINED

# startTls()'s synchronous checks, in the reference's (workerd's) order.
START_TLS_CHECKS = ("tls-socket", "closed", "option", "twice")


async def connect_steps(sock: Socket, *, settle_opened: bool = True) -> None:
    """Socket._connect."""
    refused = sock._egress_refusal()
    if refused is not None:
        sock._fail_connect(refused.message)
        return
    limit = limits.for_context(sock._context)
    if limit is not None:
        await limit.acquire()
    loop = asyncio.get_running_loop()
    try:
        await loop.create_connection(lambda: sock._wire, sock._address.connect_host,
                                     sock._address.port)
    except OSError:
        if limit is not None:
            limit.release()
        sock._fail_connect()
        return
    if limit is not None:
        if sock._wire.lost:
            limit.release()
        else:
            sock._wire.release_slot = limit.release
    if sock._options.secure_transport == "on" and not await sock._handshake():
        return
    sock._to("connected")
    settle(sock._connected, True)
    if settle_opened:
        settle(sock.opened, {"remoteAddress": sock._address.text})


async def handshake_steps(sock: Socket, context: ssl.SSLContext) -> bool:
    """Socket._handshake, with the SSLContext given."""
    try:
        await sock._wire.start_tls(context, sock._tls_hostname)
    except JSError as exc:
        sock._wire.close()
        sock._fail_connect(exc.message)
        return False
    return True


def close_call(sock: Socket, *, fail_readable: bool = True,
               reject_writes: bool = True) -> asyncio.Future[Any]:
    """Socket.close."""
    if sock._close_promise is not None:
        return sock.closed
    sock._close_promise = promise()
    sock._to("close")
    if fail_readable:
        sock.readable.fail(type_error(READABLE_CLOSING))
    if reject_writes:
        sock.writable.reject_writes_with = type_error(WRITABLE_CLOSING)
    sock._spawn(sock._close())
    return sock._close_promise


async def close_steps(sock: Socket, *, wait_opened: bool = True, flush: bool = True,
                      abort_writable: bool = True, close_connection: bool = True,
                      settle_closed: bool = True, settle_promise: bool = True) -> None:
    """Socket._close."""
    if wait_opened:
        with contextlib.suppress(JSError):
            await asyncio.shield(sock.opened)
    if flush:
        await sock.writable.flush()
    if abort_writable:
        sock.writable.abort(type_error(WRITABLE_CLOSING))
    if close_connection and (not sock._tls_started or sock._tls_refused is not None):
        sock._wire.close()
    sock._to("closed")
    if settle_closed:
        settle(sock.closed, UNDEFINED)
    assert sock._close_promise is not None
    if settle_promise:
        settle(sock._close_promise, UNDEFINED)


async def finish_after_eof_steps(sock: Socket, *, close_writable: bool = True,
                                 close_connection: bool = True,
                                 settle_closed: bool = True) -> None:
    """Socket._finish_after_eof."""
    if close_writable and sock.writable.state == "writable":
        done = sock.writable.close()
        with contextlib.suppress(JSError):
            await done
    else:
        await sock.writable.flush()
    sock._to("finished")
    if close_connection:
        sock._wire.close()
    if settle_closed:
        settle(sock.closed, UNDEFINED)


async def detach_steps(sock: Socket, *, detach_writable: bool = True,
                       detach_readable: bool = True, mark_upgraded: bool = True,
                       settle_closed: bool = True) -> bool:
    """Socket._detach_for_tls."""
    try:
        await asyncio.shield(sock._connected)
    except JSError:
        return False
    await sock.writable.flush()
    if sock.writable.writer is not None:
        sock._tls_refused = type_error(LOCKED_WRITER)
        return False
    if detach_writable:
        sock.writable.writer = Writer(sock.writable)
        sock.writable.fail(type_error(WRITABLE_CLOSING))
    if sock.readable.reader is not None:
        sock._tls_refused = type_error(DETACH_LOCKED_READER)
        return False
    if detach_readable:
        sock.readable.reader = Reader(sock.readable)
        sock.readable.fail(type_error(READABLE_CLOSING))
    if mark_upgraded:
        sock._upgraded = True
    sock._to("upgraded")
    if settle_closed:
        settle(sock.closed, UNDEFINED)
    return True


def start_tls_check(sock: Socket, check: str) -> None:
    """One of startTls()'s synchronous checks (START_TLS_CHECKS), plus "option-not-off":
    the option check written as "refuse 'off'" instead of "require 'starttls'"."""
    st = sock._options.secure_transport
    if check == "tls-socket" and st == "on":
        raise type_error(TLS_ON_TLS)
    if check == "closed" and (sock._upgraded or sock._close_promise is not None or sock.state in (
            State.CLOSING, State.CLOSED, State.FAILED)):
        raise type_error(TLS_AFTER_CLOSE)
    if check == "option" and st != "starttls":
        raise type_error(TLS_NEEDS_OPTION)
    if check == "option-not-off" and st == "off":
        raise type_error(TLS_NEEDS_OPTION)
    if check == "twice" and sock._tls_started:
        raise type_error(TLS_TWICE)


def start_tls_call(sock: Socket, options: Any, *,
                   checks: tuple[str, ...] = START_TLS_CHECKS) -> Socket:
    """Socket.startTls, its checks run in `checks` order."""
    for check in checks:
        start_tls_check(sock, check)
    sock._tls_started = True
    expected = options.get("expectedServerHostname") if isinstance(options, dict) else None
    tls_options = dataclasses.replace(sock._options, secure_transport="on")
    return type(sock)(sock._address, tls_options, sock._context, upgrade_from=sock,
                      tls_hostname=expected if isinstance(expected, str) else None)


class MirrorWire(Wire):
    """Wire.next_chunk and Wire.write, with the steps their mutants leave out.

    READ_LIMIT: a read returns at most this many bytes (None: all that is buffered);
    DROP_REST: the buffer is emptied even when a read returned less of it;
    CONSUME_ON_RESUME: the read that resumes a paused transport consumes what it returns;
    SEND_CAP: a write sends at most this many bytes of plain text (None: all);
    WAIT_DRAIN: a write waits for the transport's buffer to drain."""

    READ_LIMIT: ClassVar[int | None] = None
    DROP_REST: ClassVar[bool] = False
    CONSUME_ON_RESUME: ClassVar[bool] = True
    SEND_CAP: ClassVar[int | None] = None
    WAIT_DRAIN: ClassVar[bool] = True

    async def next_chunk(self) -> bytes | None:
        while not self.buffer and not self.eof:
            self._changed.clear()
            await self._changed.wait()
        if self.buffer:
            chunk = bytes(self.buffer[:self.READ_LIMIT])
            resumed = self._paused and self.transport is not None and not self.lost
            if self.CONSUME_ON_RESUME or not resumed:
                del self.buffer[:None if self.DROP_REST else len(chunk)]
            if resumed and self.transport is not None:
                self._paused = False
                self.transport.resume_reading()
            return chunk
        if isinstance(self.error, Exception):
            raise JSError("Error", LOST)
        return None

    async def write(self, data: bytes) -> None:
        if self.lost or self.transport is None or self.transport.is_closing():
            raise JSError("Error", LOST)
        if self.tls is not None:
            self.tls.write(data)
        else:
            self.transport.write(data[:self.SEND_CAP])
        if self.WAIT_DRAIN:
            await self._can_write.wait()
        if isinstance(self.error, Exception):
            raise JSError("Error", LOST)


class WireMutant(Socket):
    """A Socket whose connection is a `WIRE` (a MirrorWire with some steps left out)."""

    WIRE: ClassVar[type[Wire]] = MirrorWire

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if kwargs.get("upgrade_from") is None:  # a startTls() socket shares the old wire
            self._wire = self.WIRE()
            self._wire.on_lost = self._on_lost


class Mirror(WireMutant):
    """The reference, every method above going through its mirror with nothing left out:
    the gate's control that the mirrors have not drifted."""

    async def _connect(self) -> None:
        await connect_steps(self)

    async def _handshake(self) -> bool:
        return await handshake_steps(self, client_context(getattr(self._context, "ca_pem",
                                                                  None)))

    def close(self) -> asyncio.Future[Any]:
        return close_call(self)

    async def _close(self) -> None:
        await close_steps(self)

    async def _finish_after_eof(self) -> None:
        await finish_after_eof_steps(self)

    async def _detach_for_tls(self) -> bool:
        return await detach_steps(self)

    def startTls(self, options: Any = None) -> Socket:
        return start_tls_call(self, options)

