"""Mutants of the byte streams: what a read returns, what a write sends, in what order, and
writer.close()."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sockets_conformance.adapters.reference.js import promise
from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.adapters.reference.streams import WritableStream
from sockets_conformance.adapters.reference.wire import READ_HIGH_WATER, Wire
from sockets_conformance.gates.mutants.base import retype, socket_mutant

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
               "dropping the rest")
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
               breaks=("streams/large-transfer",))
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
               "consuming it, so the next read delivers it again")
class ReadDuplicatesChunk(Socket):
    WIRE = _RepeatAfterPauseWire


class _TruncatingWire(Wire):
    def _send(self, data: bytes) -> None:
        super()._send(data[:SEND_CAP])


@socket_mutant("large-write-truncated",
               "a write sends only the first 1 MiB of its chunk (one send()'s worth) and "
               "fulfils as if all went")
class LargeWriteTruncated(Socket):
    WIRE = _TruncatingWire


class _EagerWire(Wire):
    async def _drained(self) -> None:
        pass


class _StringifyingWire(Wire):
    def _send(self, data: bytes) -> None:
        # String(new Uint8Array([104, 105])) is "104,105"
        super()._send(",".join(str(b) for b in data).encode())


@socket_mutant("write-stringifies-chunks",
               "a write sends String(chunk), the byte values joined by commas, instead of "
               "the bytes", breaks=("streams/write-reaches-peer",))
class WriteStringifiesChunks(Socket):
    WIRE = _StringifyingWire


@socket_mutant("no-backpressure",
               "a write fulfils as soon as it is handed to the transport, however full "
               "the send buffer is",
               breaks=("streams/backpressure",))
class NoBackpressure(Socket):
    WIRE = _EagerWire


@socket_mutant("early-writes-dropped",
               "a write made before the connection is open fulfils but its bytes go nowhere",
               breaks=("streams/write-before-opened-queued", "streams/writes-in-order",
                       "tls/writes-before-handshake", "starttls/writes-before-handshake"))
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
               breaks=("streams/writes-in-order",))
class WritesReordered(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _StackWritable)


class _HangOnEmpty(WritableStream):
    def write(self, chunk: Any) -> asyncio.Future[Any]:
        if isinstance(chunk, bytes | bytearray | memoryview | str) and len(chunk) == 0 \
                and self.state == "writable" and self.reject_writes_with is None:
            return promise()  # nothing to send, so nothing ever completes it
        return super().write(chunk)


@socket_mutant("empty-write-hangs",
               "writing an empty chunk sends nothing, as it should, but its promise never "
               "settles")
class EmptyWriteHangs(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _HangOnEmpty)


@socket_mutant("writer-close-no-fin",
               "writer.close() fulfils without sending FIN to the peer")
class WriterCloseNoFin(Socket):
    async def close_write(self) -> None:
        await self._wire_ready()


@socket_mutant("writer-close-destroys",
               "writer.close() closes the whole connection instead of half-closing it, so "
               "nothing more can be read",
               breaks=("streams/writer-close-sends-fin",))
class WriterCloseDestroys(Socket):
    async def close_write(self) -> None:
        wire = await self._wire_ready()
        wire.close()


@socket_mutant("readable-yields-text",
               "the readable yields strings (latin-1 decoded) instead of Uint8Array chunks",
               breaks=("streams/read-from-peer",))
class ReadableYieldsText(Socket):
    async def pull(self) -> Any:
        chunk = await super().pull()
        return chunk.decode("latin-1") if chunk is not None else None
