"""Piping, transforms and async iteration over the reference's streams (protocol 1.1).

What a JavaScript program does with a socket's streams beyond read() and write():
`readable.pipeTo(writable)`, `readable.pipeThrough(new TextDecoderStream())` and
`for await (const chunk of readable)`, as the WHATWG Streams standard defines them on top of
a reader and a writer (https://streams.spec.whatwg.org/#readable-stream-pipe-to). The
algorithms use only the public reader/writer API of whatever they are given, so the same
code pipes a socket's streams, a collecting sink, a source of fixed chunks and a
TextDecoderStream's readable; a faulty socket stream (a mutant) shows through them exactly as
it would through a JavaScript pipe.

The sink and the source stand for the `new WritableStream({...})` and `new ReadableStream({...})`
a test writes in JavaScript; they record what reached them (chunks, close, abort or cancel
reasons) for the `collected` op. Nothing here imports streams.py: the streams import this.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Awaitable, Callable
from typing import Any

from sockets_conformance.model.values import UNDEFINED

from .js import JSError, follow, promise, rejected, resolved, settle, type_error

PIPE_SOURCE_LOCKED = "ReadableStream.prototype.pipeTo can only be used on a unlocked stream"
PIPE_DEST_LOCKED = "ReadableStream.prototype.pipeTo can only be used on an unlocked stream"
ITERATOR_LOCKED = "This ReadableStream is currently locked to a reader."
TRANSFORMS = ("TextDecoderStream", "TransformStream")


def reason_info(reason: Any) -> dict[str, str]:
    """A cancel or abort reason as the protocol's {name, message} (spec section 5, Errors)."""
    if isinstance(reason, JSError):
        return {"name": reason.name, "message": reason.message}
    if reason is UNDEFINED or reason is None:
        return {"name": "undefined" if reason is UNDEFINED else "null", "message": ""}
    if isinstance(reason, str):
        return {"name": "string", "message": reason}
    return {"name": type(reason).__name__, "message": str(reason)}


def _spawn(run: Callable[[], Awaitable[Any]]) -> asyncio.Future[Any]:
    out = promise()
    follow(asyncio.ensure_future(run()), out)
    return out


class _DestError(Exception):
    """The destination errored while the pipe waited on the source: reject with its error,
    without aborting the destination that is already errored."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def pipe_to(source: Any, dest: Any, options: Any = UNDEFINED) -> asyncio.Future[Any]:
    """ReadableStream.prototype.pipeTo: locked ends reject at once with TypeError; then
    read, write, and at the end close the destination (source done), abort it with the
    source's error, or cancel the source with the destination's error; both locks are
    released when the pipe ends."""
    opts = options if isinstance(options, dict) else {}
    if source.locked:
        return rejected(type_error(PIPE_SOURCE_LOCKED))
    if dest.locked:
        return rejected(type_error(PIPE_DEST_LOCKED))
    reader, writer = source.getReader(), dest.getWriter()

    # The destination erroring while the pipe waits on the source also ends the pipe
    # ("errors must be propagated backward"), not only a write that fails.
    dest_closed = getattr(writer, "closed", None)

    async def next_read() -> Any:
        reading = reader.read()
        if dest_closed is None:
            return await reading
        await asyncio.wait({reading, dest_closed}, return_when=asyncio.FIRST_COMPLETED)
        if not reading.done() and dest_closed.exception() is not None:
            error = dest_closed.exception()
            if not opts.get("preventCancel"):
                reader.cancel(error)
            raise _DestError(error)
        return await reading

    async def run() -> Any:
        try:
            while True:
                try:
                    result = await next_read()
                except _DestError as failed:
                    raise failed.error from None
                except JSError as error:
                    if not opts.get("preventAbort"):
                        writer.abort(error)
                    raise
                if result["done"]:
                    if not opts.get("preventClose"):
                        await writer.close()
                    return UNDEFINED
                try:
                    await writer.write(result["value"])
                except JSError as error:
                    if not opts.get("preventCancel"):
                        reader.cancel(error)
                    raise
        finally:
            reader.releaseLock()
            writer.releaseLock()

    return _spawn(run)


def iterate(source: Any) -> asyncio.Future[Any]:
    """`for await (const chunk of readable)` to the end: the chunks joined and their count.
    A locked stream throws TypeError from the iterator's first next(), so the promise
    rejects; a read that rejects ends the loop the same way."""
    if source.locked:
        return rejected(type_error(ITERATOR_LOCKED))
    reader = source.getReader()

    async def run() -> dict[str, Any]:
        chunks: list[Any] = []
        try:
            while True:
                result = await reader.read()
                if result["done"]:
                    return {"value": join(chunks), "chunks": len(chunks)}
                chunks.append(result["value"])
        finally:
            reader.releaseLock()

    return _spawn(run)


def join(chunks: list[Any]) -> Any:
    """Chunks as one value: bytes joined, strings joined, anything else as the list."""
    if all(isinstance(c, bytes | bytearray) for c in chunks):
        return b"".join(bytes(c) for c in chunks)
    if all(isinstance(c, str) for c in chunks):
        return "".join(chunks)
    return list(chunks)


# --- readable-like objects the program makes -----------------------------------------------
class PullStream:
    """A readable built by the program: one reader at a time, reads served in call order
    from an async `pull` (None ends the stream), `cancel(reason)` passed on."""

    def __init__(self, pull: Callable[[], Awaitable[Any]],
                 cancel: Callable[[Any], None]) -> None:
        self._pull, self._on_cancel = pull, cancel
        self.reader: _PullReader | None = None
        self.done = False
        self._turn = asyncio.Lock()

    @property
    def locked(self) -> bool:
        return self.reader is not None

    def getReader(self) -> _PullReader:
        if self.reader is not None:
            raise type_error(ITERATOR_LOCKED)
        self.reader = _PullReader(self)
        return self.reader

    def pipeTo(self, dest: Any, options: Any = UNDEFINED) -> asyncio.Future[Any]:
        return pipe_to(self, dest, options)

    def pipeThrough(self, transform: str) -> PullStream:
        return pipe_through(self, transform)

    def values(self) -> asyncio.Future[Any]:
        return iterate(self)

    async def _next(self) -> dict[str, Any]:
        async with self._turn:
            if self.done:
                return {"value": UNDEFINED, "done": True}
            chunk = await self._pull()
            if chunk is None:
                self.done = True
                return {"value": UNDEFINED, "done": True}
            return {"value": chunk, "done": False}


class _PullReader:
    def __init__(self, stream: PullStream) -> None:
        self._stream: PullStream | None = stream

    def read(self) -> asyncio.Future[Any]:
        if self._stream is None:
            return rejected(type_error("This ReadableStream reader has been released."))
        return _spawn(self._stream._next)

    def cancel(self, reason: Any = UNDEFINED) -> asyncio.Future[Any]:
        if self._stream is not None and not self._stream.done:
            self._stream.done = True
            self._stream._on_cancel(reason)
        return resolved(UNDEFINED)

    def releaseLock(self) -> None:
        if self._stream is not None:
            self._stream.reader, self._stream = None, None


def chunk_source(chunks: list[Any], close: bool) -> tuple[PullStream, dict[str, Any]]:
    """`new ReadableStream({start(c) {enqueue each chunk; close if asked}, cancel(reason)})`:
    the stream and its record, whose `cancelled` is the reason a cancel delivered."""
    record: dict[str, Any] = {"cancelled": None}
    queue = list(chunks)
    stopped = asyncio.Event()

    async def pull() -> Any:
        if queue:
            return queue.pop(0)
        if close:
            return None
        await stopped.wait()  # an open source: nothing more until it is cancelled
        return None

    def cancel(reason: Any) -> None:
        record["cancelled"] = reason_info(reason)
        stopped.set()

    return PullStream(pull, cancel), record


def pipe_through(source: Any, transform: str) -> PullStream:
    """`source.pipeThrough(new TextDecoderStream())` (UTF-8, invalid bytes replaced, a
    character split across chunks kept whole, empty results not enqueued) or through an
    identity `new TransformStream()`. The source is locked at once, as pipeThrough does."""
    if transform not in TRANSFORMS:
        raise type_error(f"unknown transform {transform!r}")
    if source.locked:
        raise type_error(PIPE_SOURCE_LOCKED)
    reader = source.getReader()
    decoder = codecs.getincrementaldecoder("utf-8")("replace") \
        if transform == "TextDecoderStream" else None

    async def pull() -> Any:
        while True:
            result = await reader.read()
            if result["done"]:
                reader.releaseLock()
                tail = decoder.decode(b"", final=True) if decoder else ""
                return tail or None
            if decoder is None:
                return result["value"]
            text = decoder.decode(bytes(result["value"]))
            if text:
                return text

    def cancel(reason: Any) -> None:
        reader.cancel(reason)

    return PullStream(pull, cancel)


# --- the collecting sink --------------------------------------------------------------------
class CollectingSink:
    """`new WritableStream({write(c) {keep c}, close() {note it}, abort(r) {keep r}})`."""

    def __init__(self) -> None:
        self.chunks: list[Any] = []
        self.closed = False
        self.aborted: dict[str, str] | None = None
        self.writer: _SinkWriter | None = None
        self._waiters: list[tuple[int, asyncio.Future[Any]]] = []

    @property
    def locked(self) -> bool:
        return self.writer is not None

    def getWriter(self) -> _SinkWriter:
        if self.writer is not None:
            raise type_error("This WritableStream is currently locked to a writer.")
        self.writer = _SinkWriter(self)
        return self.writer

    def report(self) -> dict[str, Any]:
        return {"value": join(self.chunks), "chunks": len(self.chunks), "closed": self.closed,
                "aborted": self.aborted}

    def collected(self, count: int = 0) -> asyncio.Future[Any]:
        """A promise of the report once `count` bytes (or characters) arrived, or the sink
        was closed or aborted: an event to wait for, never a poll."""
        fut = promise()
        self._waiters.append((count, fut))
        self._wake()
        return fut

    def _size(self) -> int:
        return sum(len(c) for c in self.chunks if isinstance(c, bytes | bytearray | str))

    def _wake(self) -> None:
        finished = self.closed or self.aborted is not None
        for count, fut in list(self._waiters):
            if finished or self._size() >= count:
                self._waiters.remove((count, fut))
                settle(fut, self.report())


class _SinkWriter:
    def __init__(self, sink: CollectingSink) -> None:
        self._sink: CollectingSink | None = sink

    def _own(self) -> CollectingSink:
        if self._sink is None:
            raise type_error("This WritableStream writer has been released.")
        return self._sink

    def write(self, chunk: Any) -> asyncio.Future[Any]:
        sink = self._own()
        sink.chunks.append(chunk)
        sink._wake()
        return resolved(UNDEFINED)

    def close(self) -> asyncio.Future[Any]:
        sink = self._own()
        sink.closed = True
        sink._wake()
        return resolved(UNDEFINED)

    def abort(self, reason: Any = UNDEFINED) -> asyncio.Future[Any]:
        sink = self._own()
        sink.aborted = reason_info(reason)
        sink._wake()
        return resolved(UNDEFINED)

    def releaseLock(self) -> None:
        if self._sink is not None:
            self._sink.writer, self._sink = None, None
