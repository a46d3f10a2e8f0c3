"""The workerd bridge's stdin: protocol lines, a long one handed over in pieces as it arrives.

asyncio's StreamReader.readline holds a line whole before returning it, and copies it twice
on the way out: for a 32 MiB write, a 44 MB line, that is three fresh 44 MB buffers, each
above glibc's largest mmap threshold, so each is mapped, faulted in page by page and unmapped
again (most of the bridge's system time). Here the bytes stay in the chunks the pipe gave,
and a piece is joined once, at most `limit` bytes, when it is sent on.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Lines(asyncio.Protocol):
    """Newline-delimited input from a read pipe (loop.connect_read_pipe(lambda: lines, ...)).

    `piece(limit)` gives the next at most `limit` bytes of the current line and says whether
    they end it; at the end of input, a last line without its newline still counts as a line
    (as readline has it). Reading pauses while more than `backlog` bytes wait to be taken."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        self.transport: asyncio.ReadTransport | None = None
        self.chunks: deque[bytes] = deque()
        self.size = 0            # bytes in chunks
        self.clean = 0           # how many leading chunks were searched and hold no newline
        self.clean_size = 0      # their bytes
        self.eof = False
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.wanted = 0          # the waiter's limit: wake it when this many bytes are here

    # asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.ReadTransport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)
        self.size += len(data)
        if self.size > self.backlog and not self.paused and self.transport is not None:
            self.transport.pause_reading()
            self.paused = True
        if self.size >= self.wanted or b"\n" in data:
            self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    # reading -------------------------------------------------------------------------------
    async def piece(self, limit: int) -> tuple[list[bytes], bool] | None:
        """(the next at most `limit` bytes of the line as a list of chunks, whether they end
        the line: its newline is taken too, not returned), or None at the end of input."""
        while True:
            newline = self._find_newline()
            if 0 <= newline <= limit:
                return self._take(newline, 1), True
            if self.size >= limit:
                return self._take(limit, 0), False
            if self.eof:
                return (self._take(self.size, 0), True) if self.size else None
            if self.paused and self.transport is not None:   # a limit above the backlog
                self.paused = False
                self.transport.resume_reading()
            self.wanted = limit
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    async def rest(self) -> list[bytes]:
        """The rest of the current line (after a piece that did not end it), whole."""
        chunks: list[bytes] = []
        while True:
            got = await self.piece(self.backlog)
            if got is None:
                return chunks
            chunks += got[0]
            if got[1]:
                return chunks

    def _find_newline(self) -> int:
        """Where the first newline is, counted from the first byte waiting; -1 if none is.
        Chunks already searched are not searched again while they wait."""
        at = self.clean_size
        for i in range(self.clean, len(self.chunks)):
            chunk = self.chunks[i]
            found = chunk.find(b"\n")
            if found >= 0:
                return at + found
            at += len(chunk)
            self.clean, self.clean_size = i + 1, at
        return -1

    def _take(self, count: int, skip: int) -> list[bytes]:
        """Take `count` bytes as chunks, then drop `skip` more (the newline)."""
        taken: list[bytes] = []
        need = count
        while need:
            chunk = self.chunks.popleft()
            if len(chunk) > need:
                self.chunks.appendleft(chunk[need:])
                chunk = chunk[:need]
            taken.append(chunk)
            need -= len(chunk)
        if skip:
            chunk = self.chunks.popleft()
            if len(chunk) > skip:
                self.chunks.appendleft(chunk[skip:])
        self.size -= count + skip
        self.clean = self.clean_size = 0
        if self.paused and self.size <= self.backlog // 2 and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return taken
