"""Byte streams with the WHATWG locking and promise rules the socket API exposes.

Only what a Socket needs: a ReadableStream over a pull source and a WritableStream over a
sink, each with one lock holder (reader / writer). Operations are queued and run one at a
time by a pump task so that promises settle in call order, as in JavaScript.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sockets_conformance.model.values import UNDEFINED, TypedBytes

from . import pipes
from .js import JSError, promise, rejected, resolved, settle, type_error

LOCKED_READER = "This ReadableStream is currently locked to a reader."
LOCKED_WRITER = "This WritableStream is currently locked to a writer."
READER_RELEASED = "This ReadableStream reader has been released."
WRITER_RELEASED = "This WritableStream writer has been released."
WRITABLE_CLOSED = "This WritableStream has been closed."
NOT_BYTES = ("This TransformStream is being used as a byte stream, but received an object of "
             "non-ArrayBuffer/ArrayBufferView type on its writable side.")


class Source(Protocol):
    async def pull(self) -> bytes | None:
        """Next chunk, or None at end of stream; raises JSError on failure."""
        ...

    def cancel(self) -> None: ...


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...

    def abort(self) -> None: ...


class ReadableStream:
    def __init__(self, source: Source, on_eof: Callable[[], None] | None = None) -> None:
        self._source = source
        self._on_eof = on_eof
        self.state = "readable"          # readable | closed | errored
        self.error: JSError | None = None
        self.reader: Reader | None = None
        self._pending: deque[asyncio.Future[Any]] = deque()
        self._pump: asyncio.Task[None] | None = None

    @property
    def locked(self) -> bool:
        return self.reader is not None

    def getReader(self) -> Reader:
        if self.reader is not None:
            raise type_error(LOCKED_READER)
        self.reader = Reader(self)
        return self.reader

    def cancel(self) -> asyncio.Future[Any]:
        if self.locked:
            return rejected(type_error(LOCKED_READER))
        self._cancel()
        return resolved(UNDEFINED)

    # Protocol 1.1: what programs do with a readable beyond read() (pipes.py). Seams too:
    # a mutant overrides one of these to break piping, transforms or iteration.
    def pipeTo(self, dest: Any, options: Any = UNDEFINED) -> asyncio.Future[Any]:
        return pipes.pipe_to(self, dest, options)

    def pipeThrough(self, transform: str) -> pipes.PullStream:
        return pipes.pipe_through(self, transform)

    def values(self) -> asyncio.Future[Any]:
        """`for await (const chunk of readable)` to the end, as one promise."""
        return pipes.iterate(self)

    # internals used by Reader and Socket -------------------------------------------------
    def _read(self) -> asyncio.Future[Any]:
        fut = promise()
        if self.state == "errored":
            assert self.error is not None
            fut.set_exception(self.error)
        elif self.state == "closed" and not self._pending:
            fut.set_result({"value": UNDEFINED, "done": True})
        else:
            self._pending.append(fut)
            if self._pump is None or self._pump.done():
                self._pump = asyncio.get_running_loop().create_task(self._run())
        return fut

    async def _run(self) -> None:
        while self._pending and self.state == "readable":
            try:
                chunk = await self._source.pull()
            except JSError as exc:
                self.fail(exc)
                return
            if not self._pending:
                return
            fut = self._pending.popleft()
            if chunk is None:
                self._close()
                settle(fut, {"value": UNDEFINED, "done": True})
                if self._on_eof is not None:
                    self._on_eof()
                return
            settle(fut, {"value": chunk, "done": False})

    def _close(self) -> None:
        self.state = "closed"
        while self._pending:
            settle(self._pending.popleft(), {"value": UNDEFINED, "done": True})
        if self.reader is not None:
            settle(self.reader.closed, UNDEFINED)

    def _cancel(self) -> None:
        if self.state != "readable":
            return
        if self._pump is not None:
            self._pump.cancel()
        self._source.cancel()
        self._close()

    def cancel_with(self, error: JSError) -> None:
        """Cancel the stream from the source's side: reads already waiting reject with
        `error`, later reads end (done), the reader's closed fulfils."""
        if self.state != "readable":
            return
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        while self._pending:
            settle(self._pending.popleft(), error=error)
        self._close()

    def fail(self, error: JSError) -> None:
        """Error the stream: pending and later reads reject with `error`."""
        if self.state == "errored":
            return
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        self.state, self.error = "errored", error
        while self._pending:
            settle(self._pending.popleft(), error=error)
        if self.reader is not None:
            settle(self.reader.closed, error=error)


class Reader:
    def __init__(self, stream: ReadableStream) -> None:
        self._stream: ReadableStream | None = stream
        self.closed = promise()
        if stream.state == "closed":
            settle(self.closed, UNDEFINED)
        elif stream.state == "errored":
            settle(self.closed, error=stream.error)

    def read(self) -> asyncio.Future[Any]:
        if self._stream is None:
            return rejected(type_error(READER_RELEASED))
        return self._stream._read()

    def releaseLock(self) -> None:
        stream = self._stream
        if stream is None:
            return
        error = type_error(READER_RELEASED)
        while stream._pending:
            settle(stream._pending.popleft(), error=error)
        settle(self.closed, error=error)
        stream.reader, self._stream = None, None

    def cancel(self, reason: Any = None) -> asyncio.Future[Any]:
        if self._stream is None:
            return rejected(type_error(READER_RELEASED))
        self._stream._cancel()
        return resolved(UNDEFINED)


class WritableStream:
    """`high_water_mark` (the socket's highWaterMark option, in bytes) makes desiredSize
    highWaterMark minus the bytes of writes not yet done, and `ready` wait while that is not
    positive; without it desiredSize stays 1 whatever is queued (workerd 1.20261117.1)."""

    def __init__(self, sink: Sink, high_water_mark: int | None = None) -> None:
        self._sink = sink
        self.high_water_mark = high_water_mark
        self.queued_bytes = 0            # bytes of writes accepted and not yet done
        self.state = "writable"          # writable | closing | closed | errored
        self.error: JSError | None = None
        self.writer: Writer | None = None
        self._queue: deque[tuple[asyncio.Future[Any], Callable[[], Awaitable[None]]]] = deque()
        self._pump: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.reject_writes_with: JSError | None = None  # set by Socket.close()

    @property
    def locked(self) -> bool:
        return self.writer is not None

    def getWriter(self) -> Writer:
        if self.writer is not None:
            raise type_error(LOCKED_WRITER)
        self.writer = Writer(self)
        return self.writer

    # internals ---------------------------------------------------------------------------
    def desired_size(self) -> Any:
        if self.state == "errored":
            return None
        if self.state != "writable":
            return 0
        return 1 if self.high_water_mark is None else self.high_water_mark - self.queued_bytes

    def _queued(self, delta: int) -> None:
        self.queued_bytes += delta
        if self.writer is not None:
            self.writer._update_ready()

    def _enqueue(self, op: Callable[[], Awaitable[None]]) -> asyncio.Future[Any]:
        fut = promise()
        self._queue.append((fut, op))
        self._idle.clear()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run())
        return fut

    async def _run(self) -> None:
        while self._queue:
            fut, op = self._queue[0]
            try:
                await op()
            except JSError as exc:
                self.fail(exc)
                return
            self._queue.popleft()
            settle(fut, UNDEFINED)
        self._idle.set()

    def write(self, chunk: Any) -> asyncio.Future[Any]:
        if self.reject_writes_with is not None:
            return rejected(self.reject_writes_with)
        if self.state == "errored":
            assert self.error is not None
            return rejected(self.error)
        if self.state != "writable":
            return rejected(type_error(WRITABLE_CLOSED))
        # Like workerd: strings (as UTF-8), ArrayBuffer, SharedArrayBuffer and every view;
        # anything else rejects that write only (the stream stays usable).
        if isinstance(chunk, str):
            data = chunk.encode()
        elif isinstance(chunk, bytes | bytearray | memoryview):
            data = bytes(chunk)
        elif isinstance(chunk, TypedBytes):
            data = chunk.data
        else:
            return rejected(type_error(NOT_BYTES))
        if not data:
            return self._enqueue(_nothing)
        self._queued(len(data))

        async def write() -> None:
            try:
                await self._sink.write(data)
            finally:
                if self.state != "errored":  # fail() already emptied the count
                    self._queued(-len(data))

        return self._enqueue(write)

    def close(self) -> asyncio.Future[Any]:
        if self.state == "errored":
            assert self.error is not None
            return rejected(self.error)
        if self.state != "writable":
            return rejected(type_error(WRITABLE_CLOSED))
        self.state = "closing"

        async def close_sink() -> None:
            await self._sink.close()
            self.state = "closed"
            if self.writer is not None:
                settle(self.writer.closed, UNDEFINED)

        return self._enqueue(close_sink)

    async def flush(self) -> None:
        """Wait until every queued write has run (or the stream errored)."""
        await self._idle.wait()

    def fail(self, error: JSError, *, closes_fulfil: bool = False) -> None:
        """Error the stream: queued writes reject with `error`. `closes_fulfil`: a queued
        writer.close() fulfils instead (workerd, when the connection could not be made)."""
        if self.state == "errored":
            return
        if self._pump is not None and self._pump is not asyncio.current_task():
            self._pump.cancel()
        closing = self.state == "closing"
        self.state, self.error = "errored", error
        self.queued_bytes = 0
        while self._queue:
            fut = self._queue.popleft()[0]
            if closes_fulfil and closing and not self._queue:
                settle(fut, UNDEFINED)  # the close is always the last queued operation
            else:
                settle(fut, error=error)
        self._idle.set()
        if self.writer is not None:
            settle(self.writer.closed, error=error)
            self.writer._update_ready()

    def abort(self, error: JSError) -> None:
        self._sink.abort()
        self.fail(error)


async def _nothing() -> None:
    return None


class Writer:
    def __init__(self, stream: WritableStream) -> None:
        self._stream: WritableStream | None = stream
        self.closed = promise()
        self.ready = resolved(UNDEFINED)
        if stream.state == "closed":
            settle(self.closed, UNDEFINED)
        elif stream.state == "errored":
            settle(self.closed, error=stream.error)
        self._update_ready()

    @property
    def desiredSize(self) -> Any:
        if self._stream is None:
            raise type_error(WRITER_RELEASED)
        return self._stream.desired_size()

    def _update_ready(self) -> None:
        """ready waits while the stream is over its high-water mark (WHATWG backpressure)."""
        stream = self._stream
        if stream is None:
            return
        size = stream.desired_size()
        if stream.state == "errored":
            if not self.ready.done():
                settle(self.ready, error=stream.error)
        elif size is not None and size <= 0 and stream.state == "writable":
            if self.ready.done():
                self.ready = promise()
        elif not self.ready.done():
            settle(self.ready, UNDEFINED)

    def write(self, chunk: Any) -> asyncio.Future[Any]:
        if self._stream is None:
            return rejected(type_error(WRITER_RELEASED))
        return self._stream.write(chunk)

    def close(self) -> asyncio.Future[Any]:
        if self._stream is None:
            return rejected(type_error(WRITER_RELEASED))
        return self._stream.close()

    def abort(self, reason: Any = None) -> asyncio.Future[Any]:
        if self._stream is None:
            return rejected(type_error(WRITER_RELEASED))
        self._stream.abort(JSError("Error", str(reason)) if reason else type_error("aborted"))
        return resolved(UNDEFINED)

    def releaseLock(self) -> None:
        stream = self._stream
        if stream is None:
            return
        settle(self.closed, error=type_error(WRITER_RELEASED))
        stream.writer, self._stream = None, None
