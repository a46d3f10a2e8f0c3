"""The peer's unread bytes, kept as the chunks they arrived in (see ChunkBuffer)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator


class ChunkBuffer:
    """Bytes that arrived and no `expect` consumed yet, kept as the chunks they came in.

    A bytearray grown to the size of a 64 MiB transfer cost a copy of every byte and a
    page fault for every page, a third of the time the transfer itself took; chunks are
    only referenced (the `received` log holds the same objects), compared in place and
    dropped when consumed."""

    def __init__(self) -> None:
        self._chunks: deque[bytes] = deque()
        self._skip = 0          # bytes of the first chunk already consumed
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def __bool__(self) -> bool:
        return self._length > 0

    def __bytes__(self) -> bytes:
        return self.peek(self._length)

    def append(self, data: bytes) -> None:
        if data:
            self._chunks.append(data)
            self._length += len(data)

    def _views(self) -> Iterator[memoryview]:
        for i, chunk in enumerate(self._chunks):
            yield memoryview(chunk)[self._skip:] if i == 0 else memoryview(chunk)

    def peek(self, n: int) -> bytes:
        """The first `n` bytes (fewer if fewer arrived), left in place."""
        parts, want = [], min(n, self._length)
        for view in self._views():
            if want <= 0:
                break
            parts.append(view[:want])
            want -= len(parts[-1])
        return b"".join(parts)

    def startswith(self, data: bytes) -> bool:
        if len(data) > self._length:
            return False
        at = 0
        for view in self._views():
            if at >= len(data):
                break
            piece = view[:len(data) - at]
            # bytes.startswith with an offset and a buffer: a memcmp, no copy (comparing
            # memoryviews with == goes byte by byte in Python's struct machinery).
            if not data.startswith(piece, at):
                return False
            at += len(piece)
        return True

    def drop(self, n: int) -> None:
        """Consume the first `n` bytes."""
        n = min(n, self._length)
        self._length -= n
        while n > 0:
            left = len(self._chunks[0]) - self._skip
            if n < left:
                self._skip += n
                return
            n -= left
            self._chunks.popleft()
            self._skip = 0
