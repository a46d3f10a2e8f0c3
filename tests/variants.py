"""Broken variants of the reference implementation: one realistic bug each.

Every conformance case must be able to fail. Each class below breaks one behaviour the way a
real implementation might (several are divergences seen in @arrowood.dev/socket, or bugs
reported against clients such as node-postgres), and its factory function makes it usable as
an adapter:

    pytest cases --adapter python:tests.variants:ignores_allow_half_open

tests/test_variants.py runs the cases each variant should break and checks that they do not
pass, and that the same cases pass against the unbroken reference.

The variants reach into the reference's internals on purpose: they are mutants of this one
implementation, not implementations of their own. The bugs about calls made before the
socket is open are caught by cases that make those calls in the same turn as connect()
(`sameTurn`), so no variant needs a slowed-down connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

from sockets_conformance.adapters.reference.adapter import ReferenceAdapter
from sockets_conformance.adapters.reference.js import JSError, promise, rejected, settle, type_error
from sockets_conformance.adapters.reference.socket import (
    READ_HIGH_WATER,
    WRITABLE_CLOSING,
    Socket,
    State,
    Wire,
)
from sockets_conformance.adapters.reference.streams import (
    LOCKED_READER,
    LOCKED_WRITER,
    ReadableStream,
    Reader,
    WritableStream,
    Writer,
)
from sockets_conformance.values import UNDEFINED

# ----------------------------------------------------------------------------------------
# half-open


class IgnoresAllowHalfOpen(Socket):
    """Closes its side at the readable's end whatever allowHalfOpen says."""

    def _on_eof(self) -> None:
        if self.state is State.OPEN:
            self._spawn(self._finish_after_eof())


class NeverClosesOnEof(Socket):
    """Treats every socket as half-open: the readable's end never closes the writable."""

    def _on_eof(self) -> None:
        return None


class DefaultHalfOpenTrue(Socket):
    """allowHalfOpen defaults to true, as in @arrowood.dev/socket 0.2.0."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "allowHalfOpen" not in self._options.extra:
            self._options.allow_half_open = True


class _EagerEofWire(Wire):
    """Tells its socket about the peer's FIN as soon as it arrives."""

    def __init__(self, on_eof: Any) -> None:
        super().__init__()
        self._socket_eof = on_eof

    def eof_received(self) -> bool:
        keep = super().eof_received()
        self._socket_eof()
        return keep


class EofClosesEagerly(Socket):
    """Closes (and resolves closed) on the peer's FIN, before the readable is read to its end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wire = _EagerEofWire(self._on_eof)
        self._wire.on_lost = self._on_lost


# ----------------------------------------------------------------------------------------
# close()


class CloseLeavesReaders(Socket):
    """close() ends the connection but does not error the readable: a held reader just sees
    the end of the stream."""

    def close(self) -> asyncio.Future[Any]:
        if self._close_promise is not None:
            return self.closed
        self._close_promise = promise()
        self._to("close")
        self.writable.reject_writes_with = type_error(WRITABLE_CLOSING)
        self._spawn(self._close())
        return self._close_promise


class CloseLeavesWriters(Socket):
    """close() errors the readable but leaves the writable as it was: a held writer's write
    goes to the dead connection and fails with a network error instead."""

    def close(self) -> asyncio.Future[Any]:
        writable = self.writable
        result = super().close()
        writable.reject_writes_with = None
        return result

    async def _close(self) -> None:
        with contextlib.suppress(JSError):
            await asyncio.shield(self.opened)
        await self.writable.flush()
        self._wire.close()
        self._to("closed")
        settle(self.closed, UNDEFINED)
        assert self._close_promise is not None
        settle(self._close_promise, UNDEFINED)


class _NeverSettles(asyncio.Future):  # type: ignore[type-arg]
    """A future that ignores every attempt to settle it."""

    def set_result(self, result: Any) -> None:
        return None

    def set_exception(self, exception: Any) -> None:
        return None


class ClosedNeverResolves(Socket):
    """closed is a promise nothing ever settles (a lost resolver)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = _NeverSettles(loop=asyncio.get_running_loop())


class CloseReplacesClosedPromise(Socket):
    """close() installs a fresh closed promise (`this.closed = new Promise(...)`), so a
    closed promise taken earlier never settles."""

    def close(self) -> asyncio.Future[Any]:
        if self._close_promise is None:
            self.closed = promise()
        return super().close()


class SecondCloseRejects(Socket):
    """A second close() rejects instead of being harmless."""

    def close(self) -> asyncio.Future[Any]:
        if self._close_promise is not None:
            return rejected(type_error("close() has already been called."))
        return super().close()


class CloseSkipsFlush(Socket):
    """close() drops queued writes instead of flushing them first."""

    async def _close(self) -> None:
        with contextlib.suppress(JSError):
            await asyncio.shield(self.opened)
        self.writable.abort(type_error(WRITABLE_CLOSING))
        self._wire.close()
        self._to("closed")
        settle(self.closed, UNDEFINED)
        assert self._close_promise is not None
        settle(self._close_promise, UNDEFINED)


class CloseStrandsPendingRead(Socket):
    """close() forgets reads already waiting: their promises never settle."""

    def close(self) -> asyncio.Future[Any]:
        readable = self.readable
        readable._pending.clear()
        if readable._pump is not None:
            readable._pump.cancel()
        return super().close()


class CloseBeforeOpenLeaks(Socket):
    """close() before the connection is open resolves at once and never closes the
    connection that opens afterwards."""

    async def _close(self) -> None:
        if not self._connected.done():
            self.writable.abort(type_error(WRITABLE_CLOSING))
            settle(self.closed, UNDEFINED)
            assert self._close_promise is not None
            settle(self._close_promise, UNDEFINED)
            return
        await super()._close()


# ----------------------------------------------------------------------------------------
# streams


class DropsEarlyWrites(Socket):
    """A write made while connecting 'succeeds' but its bytes go nowhere."""

    async def write(self, data: bytes) -> None:
        if not self._connected.done():
            return
        await super().write(data)


class ReversesEarlyWrites(Socket):
    """Writes made while connecting are kept on a stack and sent in reverse once open."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._early: list[bytes] = []
        super().__init__(*args, **kwargs)

    async def write(self, data: bytes) -> None:
        if not self._connected.done():
            self._early.append(data)
            return
        await super().write(data)

    async def _connect(self) -> None:
        await super()._connect()
        if self._wire.transport is not None:
            while self._early:
                self._wire.transport.write(self._early.pop())


class WriterCloseDestroys(Socket):
    """writer.close() closes the whole connection instead of sending FIN, so nothing more
    can be read."""

    async def close_write(self) -> None:
        wire = await self._wire_ready()
        wire.close()


class StringifiesChunks(Socket):
    """Sends String(chunk) (comma-separated byte values) instead of the bytes."""

    async def write(self, data: bytes) -> None:
        await super().write(",".join(str(b) for b in data).encode())


class TextReadable(Socket):
    """The readable yields strings instead of Uint8Array chunks."""

    async def pull(self) -> Any:
        chunk = await super().pull()
        return chunk.decode("latin-1") if chunk is not None else None


class _TruncatingWire(Wire):
    """Never pauses the kernel socket; what does not fit under the high-water mark is lost."""

    def data_received(self, data: bytes) -> None:
        room = max(READ_HIGH_WATER - len(self.buffer), 0)
        self.buffer += data[:room]
        self._changed.set()


class DropsReadOverflow(Socket):
    """Discards incoming bytes when its read buffer is full instead of applying
    backpressure to the peer."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wire = _TruncatingWire()
        self._wire.on_lost = self._on_lost


class _NoWaitWire(Wire):
    async def write(self, data: bytes) -> None:
        if self.lost or self.transport is None or self.transport.is_closing():
            raise JSError("Error", "Network connection lost.")
        self.transport.write(data)


class NoBackpressure(Socket):
    """A write fulfils as soon as it is handed to the transport, however full it is."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wire = _NoWaitWire()
        self._wire.on_lost = self._on_lost


# ----------------------------------------------------------------------------------------
# connect() and opened


class SingletonConnection(Socket):
    """Keeps one connection per module: a new connect() closes the previous socket."""

    current: ClassVar[Socket | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        previous, SingletonConnection.current = SingletonConnection.current, self
        # Only a socket of the same case: earlier cases' sockets are already torn down.
        if previous is not None and previous._context is self._context:
            previous.close()


class NodeStyleSocketInfo(Socket):
    """opened reports the peer's IP without the port and adds localAddress, as
    @arrowood.dev/socket 0.2.0 does."""

    async def _connect(self) -> None:
        await super()._connect()
        if self.opened.done() and self.opened.exception() is None:
            info = self.opened.result()
            info["remoteAddress"] = self._address.connect_host
            info["localAddress"] = "127.0.0.1"


class SecureTransportUndefined(Socket):
    """secureTransport echoes the option as given: undefined when it was left out."""

    @property
    def secureTransport(self) -> Any:
        return self._options.extra.get("secureTransport", UNDEFINED)


class UpgradedUndefined(Socket):
    """Has no upgraded property (reads as undefined), as @arrowood.dev/socket 0.2.0."""

    @property
    def upgraded(self) -> Any:
        return UNDEFINED


# ----------------------------------------------------------------------------------------
# errors


class FailedConnectNodeError(Socket):
    """A refused connection rejects with a Node-style TypeError "SocketError: connect
    ECONNREFUSED ...", as @arrowood.dev/socket 0.2.0 does."""

    def _fail_connect(self, message: str | None = None) -> None:
        error = JSError("TypeError", f"SocketError: connect ECONNREFUSED {self._address.text}")
        self._to("connect_failed")
        settle(self._connected, error=error)
        settle(self.opened, error=error)
        settle(self.closed, error=error)
        self.readable.fail(error)
        self.writable.fail(error)


class FailedConnectClosedPending(Socket):
    """closed never settles when the connection fails, and close() returns closed (as the
    WinterTC draft has it), so close() hangs too: node-postgres #3152."""

    def _fail_connect(self, message: str | None = None) -> None:
        real, self.closed = self.closed, promise()  # a throwaway takes the rejection
        super()._fail_connect(message)
        self.closed = real  # the socket's own closed never hears of the failure

    def close(self) -> asyncio.Future[Any]:
        if self.state is State.FAILED:
            return self.closed
        return super().close()


class ResetLooksLikeEof(Socket):
    """A reset by the peer is reported as an ordinary end of stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        wire = self._wire
        original = wire.connection_lost
        wire.connection_lost = lambda exc: original(None)  # type: ignore[method-assign]


class ResetLeavesClosedPending(Socket):
    """A reset by the peer errors the streams but never settles closed."""

    def _on_lost(self, exc: BaseException | None) -> None:
        return None


# ----------------------------------------------------------------------------------------
# locks


class _UnlockedReadable(ReadableStream):
    def getReader(self) -> Reader:
        self.reader = Reader(self)
        return self.reader


class _UnlockedWritable(WritableStream):
    def getWriter(self) -> Writer:
        self.writer = Writer(self)
        return self.writer


class NoReaderLock(Socket):
    """getReader() on a locked readable hands out a second reader instead of throwing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.readable = _UnlockedReadable(self, on_eof=self._on_eof)


class NoWriterLock(Socket):
    """getWriter() on a locked writable hands out a second writer instead of throwing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        writable = self.writable
        self.writable = _UnlockedWritable(writable._sink)


class _StickyReader(Reader):
    def releaseLock(self) -> None:
        self._stream = None  # forgets the stream, but the stream still names this reader


class _StickyWriter(Writer):
    def releaseLock(self) -> None:
        self._stream = None


class _StickyReadable(ReadableStream):
    def getReader(self) -> Reader:
        if self.reader is not None:
            raise type_error(LOCKED_READER)
        self.reader = _StickyReader(self)
        return self.reader


class _StickyWritable(WritableStream):
    def getWriter(self) -> Writer:
        if self.writer is not None:
            raise type_error(LOCKED_WRITER)
        self.writer = _StickyWriter(self)
        return self.writer


class ReleaseLockKeepsLocks(Socket):
    """releaseLock() detaches the reader or writer but leaves the stream locked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.readable = _StickyReadable(self, on_eof=self._on_eof)
        self.writable = _StickyWritable(self.writable._sink)


# ----------------------------------------------------------------------------------------
# factories: `--adapter python:tests.variants:<name>`

VARIANTS: dict[str, type[Socket]] = {
    "ignores_allow_half_open": IgnoresAllowHalfOpen,
    "never_closes_on_eof": NeverClosesOnEof,
    "default_half_open_true": DefaultHalfOpenTrue,
    "eof_closes_eagerly": EofClosesEagerly,
    "close_leaves_readers": CloseLeavesReaders,
    "close_leaves_writers": CloseLeavesWriters,
    "closed_never_resolves": ClosedNeverResolves,
    "close_replaces_closed_promise": CloseReplacesClosedPromise,
    "second_close_rejects": SecondCloseRejects,
    "close_skips_flush": CloseSkipsFlush,
    "close_strands_pending_read": CloseStrandsPendingRead,
    "close_before_open_leaks": CloseBeforeOpenLeaks,
    "drops_early_writes": DropsEarlyWrites,
    "reverses_early_writes": ReversesEarlyWrites,
    "writer_close_destroys": WriterCloseDestroys,
    "stringifies_chunks": StringifiesChunks,
    "text_readable": TextReadable,
    "drops_read_overflow": DropsReadOverflow,
    "no_backpressure": NoBackpressure,
    "singleton_connection": SingletonConnection,
    "node_style_socket_info": NodeStyleSocketInfo,
    "secure_transport_undefined": SecureTransportUndefined,
    "upgraded_undefined": UpgradedUndefined,
    "failed_connect_node_error": FailedConnectNodeError,
    "failed_connect_closed_pending": FailedConnectClosedPending,
    "reset_looks_like_eof": ResetLooksLikeEof,
    "reset_leaves_closed_pending": ResetLeavesClosedPending,
    "no_reader_lock": NoReaderLock,
    "no_writer_lock": NoWriterLock,
    "release_lock_keeps_locks": ReleaseLockKeepsLocks,
}


def _factory(name: str, cls: type[Socket]) -> Any:
    def factory() -> ReferenceAdapter:
        return ReferenceAdapter(socket_class=cls, name=name.replace("_", "-"))

    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"The reference with one bug: {(cls.__doc__ or '').strip()}"
    return factory


for _name, _cls in VARIANTS.items():
    globals()[_name] = _factory(_name, _cls)
