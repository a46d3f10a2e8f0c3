"""The TCP connection under a reference Socket: an asyncio.Protocol with read backpressure.

It buffers what arrives and pauses the kernel socket past a high-water mark, lets writers
wait for the send buffer to drain, and switches to TLS in place (tls.py) for startTls().
It knows nothing of streams or promises: the Socket decides what its events mean.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from .js import JSError
from .tls import TlsLayer

LOST = "Network connection lost."
READ_HIGH_WATER = 256 * 1024


class Wire(asyncio.Protocol):
    """The TCP connection: buffers what arrives, pauses the kernel socket past a high-water
    mark, and lets writers wait for the send buffer to drain."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.lost = False
        self.on_lost: Any = None
        self._changed = asyncio.Event()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._paused = False
        self.tls: TlsLayer | None = None
        self.release_slot: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.tls is not None:
            self.tls.feed(data)
            return
        self._plain(data)

    def _plain(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > READ_HIGH_WATER and not self._paused and self.transport:
            self._paused = True
            self.transport.pause_reading()
        self._changed.set()

    def eof_received(self) -> bool:
        if self.tls is not None:
            self.tls.feed_eof()
        self.eof = True
        self._changed.set()
        return True  # keep writing after the peer's FIN; the socket decides when to close

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.release_slot is not None:  # the connection limit's slot (limits.py)
            self.release_slot, release = None, self.release_slot
            release()
        self.lost, self.error = True, exc
        self.eof = True
        if self.tls is not None:
            self.tls.connection_lost(JSError("Error", LOST))
        self._changed.set()
        self._can_write.set()
        if self.on_lost is not None:
            self.on_lost(exc)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    async def next_chunk(self) -> bytes | None:
        """What the readable pulls: the next chunk, None at the end, JSError on a reset."""
        while not self.buffer and not self.eof:
            self._changed.clear()
            await self._changed.wait()
        if self.buffer:
            return self._take_chunk()
        if isinstance(self.error, Exception):
            raise JSError("Error", LOST)
        return None

    def _take_chunk(self) -> bytes:
        """Everything buffered, as one chunk; the kernel socket reads again if it paused."""
        chunk = bytes(self.buffer)
        self.buffer.clear()
        self._resume_reading()
        return chunk

    def _resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self.lost:
            self._paused = False
            self.transport.resume_reading()

    async def write(self, data: bytes) -> None:
        """What the writable's sink does: send, then wait while the send buffer is full."""
        if self.lost or self.transport is None or self.transport.is_closing():
            raise JSError("Error", LOST)
        self._send(data)
        await self._drained()
        if isinstance(self.error, Exception):
            raise JSError("Error", LOST)

    def _send(self, data: bytes) -> None:
        assert self.transport is not None
        if self.tls is not None:
            self.tls.write(data)
        else:
            self.transport.write(data)

    async def _drained(self) -> None:
        """Backpressure: asyncio calls pause_writing past the transport's high-water mark."""
        await self._can_write.wait()

    def write_eof(self) -> None:
        if self.tls is not None:
            self.tls.write_eof()  # close_notify; TLS half-close keeps the TCP stream open
        elif self.transport is not None and not self.transport.is_closing():
            self.transport.write_eof()

    def start_tls(self, context: ssl.SSLContext, hostname: str) -> asyncio.Future[None]:
        """Switch to TLS from here on. Plaintext still unread is dropped, never decrypted:
        after the upgrade point only the handshake may arrive."""
        assert self.transport is not None
        self.buffer.clear()
        self.eof = self.lost
        self.tls = TlsLayer(context, hostname, self._send_raw, self._plain, self._tls_eof)
        self.tls.start()
        return self.tls.handshake

    def _send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _tls_eof(self) -> None:
        if self.tls is not None and self.tls.truncated and self.error is None:
            self.error = ConnectionAbortedError("TLS stream ended without close_notify")
        self.eof = True
        self._changed.set()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
