"""Mutants of the byte streams: what a read returns, what a write sends, in what order, and
writer.close()."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sockets_conformance.adapters.reference.js import promise
from sockets_conformance.adapters.reference.socket import Socket, _js_string
from sockets_conformance.adapters.reference.streams import WritableStream
from sockets_conformance.adapters.reference.wire import READ_HIGH_WATER, Wire
from sockets_conformance.gates.mutants.base import retype, socket_mutant
from sockets_conformance.model.values import TypedBytes

READ_CHUNK = 64 * 1024
SEND_CAP = 1024 * 1024


class _ShortReadWire(Wire):
    def _take_chunk(self) -> bytes:
        chunk = bytes(self.buffer[:READ_CHUNK])
        self.buffer.clear()
        self._resume_reading()
        return chunk


@socket_mutant("read-drops-bytes",
               "a read returns at most 64 KiB but empties the whole receive buffer, "
               "dropping the rest",
               requirements=("streams.read-delivers", "streams.large-transfer",
                             "tls.large-transfer", "tls.on.round-trip"))
class ReadDropsBytes(Socket):
    WIRE = _ShortReadWire


class _OverflowingWire(Wire):
    def _plain(self, data: bytes) -> None:
        # what does not fit under the high-water mark is cut off, so the buffer never
        # grows past it and the kernel socket is never paused
        super()._plain(data[:max(READ_HIGH_WATER - len(self.buffer), 0)])


@socket_mutant("read-overflow-dropped",
               "bytes that arrive while the receive buffer is full are discarded instead "
               "of pausing the peer (no read backpressure)",
               breaks=("streams/large-transfer",),
               requirements=("streams.read-delivers", "streams.large-transfer",
                             "tls.large-transfer"))
class ReadOverflowDropped(Socket):
    WIRE = _OverflowingWire


class _RepeatAfterPauseWire(Wire):
    def _take_chunk(self) -> bytes:
        if not self._paused:
            return super()._take_chunk()
        self._resume_reading()
        return bytes(self.buffer)  # the bug: the chunk stays in the buffer


@socket_mutant("read-duplicates-chunk",
               "the read that resumes a paused connection returns its chunk without "
               "consuming it, so the next read delivers it again",
               requirements=("streams.read-delivers", "streams.large-transfer",
                             "tls.large-transfer"))
class ReadDuplicatesChunk(Socket):
    WIRE = _RepeatAfterPauseWire


class _TruncatingWire(Wire):
    def _send(self, data: bytes) -> None:
        super()._send(data[:SEND_CAP])


@socket_mutant("large-write-truncated",
               "a write sends only the first 1 MiB of its chunk (one send()'s worth) and "
               "fulfils as if all went",
               breaks=("streams/single-large-write", "tls/single-large-write"),
               requirements=("streams.write-delivers", "streams.large-transfer",
                             "tls.large-transfer", "streams.single-large-write"))
class LargeWriteTruncated(Socket):
    WIRE = _TruncatingWire


@socket_mutant("write-binary-string",
               "a write passes its bytes through String.fromCharCode(...chunk) and "
               "TextEncoder, so each byte from 0x80 up goes out as two bytes",
               breaks=("streams/write-reaches-peer", "streams/write-strings-and-buffers"),
               requirements=("streams.write-delivers", "streams.large-transfer",
                             "streams.write-strings-and-buffers", "tls.large-transfer",
                             "streams.single-large-write"))
class WriteBinaryString(Socket):
    async def write(self, data: bytes) -> None:
        await super().write(data.decode("latin-1").encode("utf-8"))


class _ElementCountWritable(WritableStream):
    def write(self, chunk: Any) -> asyncio.Future[Any]:
        if isinstance(chunk, TypedBytes) and chunk.type == "Uint16Array":
            # new Uint8Array(view.buffer, view.byteOffset, view.length): length counts
            # elements, two bytes each
            chunk = TypedBytes(chunk.type, chunk.data[:len(chunk.data) // 2])
        return super().write(chunk)


@socket_mutant("write-view-element-count",
               "a typed array is sent as its first `length` bytes, its element count rather "
               "than its byteLength, so a Uint16Array loses the second half of its bytes",
               breaks=("streams/write-views",),
               requirements=("streams.write-views",))
class WriteViewElementCount(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _ElementCountWritable)


class _EagerWire(Wire):
    async def _drained(self) -> None:
        pass


@socket_mutant("no-backpressure",
               "a write fulfils as soon as it is handed to the transport, however full "
               "the send buffer is",
               breaks=("streams/backpressure",),
               requirements=("streams.write-backpressure", "streams.high-water-mark"))
class NoBackpressure(Socket):
    WIRE = _EagerWire


@socket_mutant("early-writes-dropped",
               "a write made before the connection is open fulfils but its bytes go nowhere",
               breaks=("streams/write-before-opened-queued", "streams/writes-in-order",
                       "tls/writes-before-handshake", "starttls/writes-before-handshake"),
               requirements=("streams.writes-before-open", "tls.on.writes-before-handshake",
                             "starttls.new.writes-before-handshake",
                             "errors.connect-failed.writes-reject", "connection-limit.six-open"))
class EarlyWritesDropped(Socket):
    async def write(self, data: bytes) -> None:
        if not self._connected.done():
            return
        await super().write(data)


class _StackWritable(WritableStream):
    """Queues an operation behind the one in flight at the front, so waiting writes run
    newest first (a stack where a queue belongs)."""

    def _enqueue(self, op: Callable[[], Awaitable[None]]) -> asyncio.Future[Any]:
        fut = promise()
        if self._queue:
            self._queue.insert(1, (fut, op))
        else:
            self._queue.append((fut, op))
        self._idle.clear()
        if self._pump is None or self._pump.done():
            self._pump = asyncio.get_running_loop().create_task(self._run())
        return fut


@socket_mutant("writes-reordered",
               "writes queued while one is in flight are sent newest first",
               breaks=("streams/writes-in-order",),
               requirements=("streams.write-order", "close.flushes-writes",
                             "tls.on.writes-before-handshake"))
class WritesReordered(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _StackWritable)


class _StringifyAnything(WritableStream):
    def write(self, chunk: Any) -> asyncio.Future[Any]:
        if not isinstance(chunk, bytes | bytearray | memoryview | str | TypedBytes):
            chunk = _js_string(chunk)  # `new TextEncoder().encode(String(chunk))`
        return super().write(chunk)


@socket_mutant("write-non-bytes-stringified",
               "a write of something that is neither text nor binary (a number) sends "
               "String(chunk) and fulfils instead of rejecting with TypeError",
               breaks=("streams/write-non-bytes-rejects",),
               requirements=("streams.write-non-bytes-rejects",))
class WriteNonBytesStringified(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _StringifyAnything)


class _HangOnEmpty(WritableStream):
    def write(self, chunk: Any) -> asyncio.Future[Any]:
        if isinstance(chunk, bytes | bytearray | memoryview | str) and len(chunk) == 0 \
                and self.state == "writable" and self.reject_writes_with is None:
            return promise()  # nothing to send, so nothing ever completes it
        return super().write(chunk)


@socket_mutant("empty-write-hangs",
               "writing an empty chunk sends nothing, as it should, but its promise never "
               "settles",
               requirements=("streams.empty-write",))
class EmptyWriteHangs(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _HangOnEmpty)


@socket_mutant("writer-close-no-fin",
               "writer.close() fulfils without sending FIN to the peer",
               requirements=("streams.writer-close-fin", "streams.writes-before-open",
                             "tls.half-open.writer-close", "streams.pipe-to.from-source",
                             "streams.pipe-to.between-sockets"))
class WriterCloseNoFin(Socket):
    async def close_write(self) -> None:
        await self._wire_ready()


@socket_mutant("writer-close-destroys",
               "writer.close() closes the whole connection instead of half-closing it, so "
               "nothing more can be read",
               breaks=("streams/writer-close-sends-fin",),
               requirements=("streams.writer-close-fin", "tls.half-open.writer-close",
                             "examples.gopher", "examples.http-get"))
class WriterCloseDestroys(Socket):
    async def close_write(self) -> None:
        wire = await self._wire_ready()
        wire.close()


@socket_mutant("read-text-round-trip",
               "each chunk read goes through TextDecoder and TextEncoder, so bytes that are "
               "not valid UTF-8 come out as U+FFFD (EF BF BD); text is untouched",
               breaks=("streams/read-from-peer",),
               requirements=("streams.read-delivers", "streams.large-transfer",
                             "tls.large-transfer", "tls.on.round-trip"))
class ReadTextRoundTrip(Socket):
    async def pull(self) -> bytes | None:
        chunk = await super().pull()
        return chunk.decode("utf-8", "replace").encode("utf-8") if chunk is not None else None
