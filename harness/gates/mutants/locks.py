"""Mutants of stream locking: getReader()/getWriter(), releaseLock(), `locked`."""

from __future__ import annotations

from typing import Any

from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.adapters.reference.streams import (
    ReadableStream,
    Reader,
    WritableStream,
    Writer,
)
from sockets_conformance.gates.mutants.base import retype, socket_mutant


class _UnlockedReadable(ReadableStream):
    def getReader(self) -> Reader:
        self.reader = Reader(self)  # no "already locked" check
        return self.reader


class _UnlockedWritable(WritableStream):
    def getWriter(self) -> Writer:
        self.writer = Writer(self)
        return self.writer


@socket_mutant("reader-lock-missing",
               "getReader() on a locked readable hands out a second reader instead of "
               "throwing",
               breaks=("locks/reader-exclusive",),
               requirements=("locks.reader-exclusive", "starttls.old.reader-dead",
                             "examples.close", "starttls.old.locked-before-handshake"))
class ReaderLockMissing(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _UnlockedReadable)


@socket_mutant("writer-lock-missing",
               "getWriter() on a locked writable hands out a second writer instead of "
               "throwing",
               breaks=("locks/writer-exclusive",),
               requirements=("locks.writer-exclusive", "starttls.old.writer-dead",
                             "starttls.old.locked-before-handshake"))
class WriterLockMissing(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _UnlockedWritable)


class _StickyReader(Reader):
    def releaseLock(self) -> None:
        self._stream = None  # forgets its stream, but the stream still names this reader


class _StickyReadable(ReadableStream):
    def getReader(self) -> Reader:
        super().getReader()  # the lock check
        self.reader = _StickyReader(self)
        return self.reader


class _StickyWriter(Writer):
    def releaseLock(self) -> None:
        self._stream = None


class _StickyWritable(WritableStream):
    def getWriter(self) -> Writer:
        super().getWriter()  # the lock check
        self.writer = _StickyWriter(self)
        return self.writer


@socket_mutant("reader-release-keeps-lock",
               "reader.releaseLock() detaches the reader but leaves the readable locked",
               breaks=("locks/release-reader", "locks/locked-flag"),
               requirements=("locks.release-reader", "locks.locked-flag",
                             "starttls.flow.postgres"))
class ReaderReleaseKeepsLock(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _StickyReadable)


@socket_mutant("writer-release-keeps-lock",
               "writer.releaseLock() detaches the writer but leaves the writable locked",
               breaks=("locks/release-writer", "locks/locked-flag"),
               requirements=("locks.release-writer", "locks.locked-flag",
                             "starttls.flow.postgres"))
class WriterReleaseKeepsLock(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _StickyWritable)


class _NeverLockedReadable(ReadableStream):
    @property
    def locked(self) -> bool:
        return False  # reads a flag nothing sets


@socket_mutant("locked-flag-false",
               "readable.locked stays false while a reader holds the lock",
               requirements=("locks.locked-flag", "starttls.old.reader-dead",
                             "streams.pipe-through", "starttls.old.locked-before-handshake"))
class LockedFlagFalse(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _NeverLockedReadable)
