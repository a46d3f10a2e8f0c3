"""Mutants of what programs do with the streams beyond read() and write() (protocol 1.1):
pipeTo, pipeThrough, async iteration, and the closed promises of readers and writers."""

from __future__ import annotations

import asyncio
from typing import Any

from sockets_conformance.adapters.reference import pipes
from sockets_conformance.adapters.reference.js import JSError, settle
from sockets_conformance.adapters.reference.socket import Socket, State
from sockets_conformance.adapters.reference.streams import (
    ReadableStream,
    Reader,
    WritableStream,
    Writer,
)
from sockets_conformance.gates.mutants.base import retype, socket_mutant
from sockets_conformance.model.values import UNDEFINED


class _PipeKeepsDestinationOpen(ReadableStream):
    def pipeTo(self, dest: Any, options: Any = UNDEFINED) -> asyncio.Future[Any]:
        return pipes.pipe_to(self, dest, {"preventClose": True})  # the end is never passed on


@socket_mutant("pipe-leaves-destination-open",
               "readable.pipeTo() ends without closing the destination when the readable ends",
               breaks=("streams/pipe-to-sink", "streams/pipe-between-sockets"),
               requirements=("streams.pipe-to.into-sink", "streams.pipe-to.between-sockets"))
class PipeLeavesDestinationOpen(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _PipeKeepsDestinationOpen)


class _ErrorEndsPipe(ReadableStream):
    def fail(self, error: JSError) -> None:
        if self.reader is not None and self.reader is getattr(self, "_piped", None):
            self._close()  # a pipe's source error taken for the end of the stream
            return
        super().fail(error)

    def pipeTo(self, dest: Any, options: Any = UNDEFINED) -> asyncio.Future[Any]:
        piping = super().pipeTo(dest, options)
        self._piped = self.reader
        return piping


@socket_mutant("pipe-closes-on-error",
               "a connection failure under readable.pipeTo() ends the pipe as if the stream had "
               "ended: the destination is closed, not aborted, and the pipe fulfils",
               breaks=("streams/pipe-abort-reason",),
               requirements=("streams.pipe-to.abort-reason",))
class PipeClosesOnError(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _ErrorEndsPipe)


class _WritableOutlivesRefusal(WritableStream):
    def fail(self, error: JSError, *, closes_fulfil: bool = False) -> None:
        if not closes_fulfil:  # the refused connection's fail() is the one that passes it
            super().fail(error)


@socket_mutant("refused-writes-dropped",
               "on a connection that could not be made, bytes written are dropped and the "
               "write fulfils instead of rejecting",
               breaks=("streams/pipe-cancel-reason",),
               requirements=("streams.pipe-to.cancel-reason",
                             "errors.connect-failed.writes-reject",
                             "errors.connect-failed.writer-close-fulfils"))
class RefusedWritesDropped(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _WritableOutlivesRefusal)

    async def write(self, data: bytes) -> None:
        try:
            await super().write(data)
        except JSError:
            if self.state is not State.FAILED:
                raise


class _ReleaseAfterCloseThrows(Writer):
    def releaseLock(self) -> None:
        if self._stream is not None and self._stream.state == "closed":
            raise JSError("TypeError", "This WritableStream has been closed.")
        super().releaseLock()


class _WritableReleaseThrows(WritableStream):
    def getWriter(self) -> Writer:
        super().getWriter()  # the lock check
        self.writer = _ReleaseAfterCloseThrows(self)
        return self.writer


@socket_mutant("writer-release-after-close-throws",
               "writer.releaseLock() on a closed writable throws TypeError instead of "
               "releasing the lock, so a pipe into the writable rejects after closing it",
               breaks=("streams/pipe-from-source",),
               requirements=("streams.pipe-to.from-source", "streams.pipe-to.between-sockets"))
class WriterReleaseAfterCloseThrows(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _WritableReleaseThrows)


class _IterationRejectsAtEnd(ReadableStream):
    def values(self) -> asyncio.Future[Any]:
        loop = super().values()
        out = asyncio.get_running_loop().create_future()

        def finish(done: asyncio.Future[Any]) -> None:
            error = done.exception()
            settle(out, error=error or JSError("TypeError", "The stream has ended."))

        loop.add_done_callback(finish)
        return out


@socket_mutant("iteration-rejects-at-end",
               "for await over the readable throws at the end of the stream instead of "
               "finishing the loop",
               breaks=("streams/async-iteration",),
               requirements=("streams.async-iteration",))
class IterationRejectsAtEnd(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _IterationRejectsAtEnd)


class _TransformIgnored(ReadableStream):
    def pipeThrough(self, transform: str) -> pipes.PullStream:
        return super().pipeThrough("TransformStream")  # chunks pass through untouched


@socket_mutant("pipe-through-skips-transform",
               "readable.pipeThrough(new TextDecoderStream()) hands on the bytes undecoded",
               breaks=("streams/text-decoder-stream",),
               requirements=("streams.text-decoder",))
class PipeThroughSkipsTransform(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _TransformIgnored)


class _UnlockedPipeSource:
    """The readable as a pipe sees it, with a reader that never takes the lock."""

    def __init__(self, stream: ReadableStream) -> None:
        self._stream = stream
        self.locked = False

    def getReader(self) -> Reader:
        return Reader(self._stream)


class _PipesWithoutLock(ReadableStream):
    def pipeTo(self, dest: Any, options: Any = UNDEFINED) -> asyncio.Future[Any]:
        return pipes.pipe_to(_UnlockedPipeSource(self), dest, options)

    def pipeThrough(self, transform: str) -> pipes.PullStream:
        return pipes.pipe_through(_UnlockedPipeSource(self), transform)


@socket_mutant("pipe-leaves-readable-unlocked",
               "pipeTo() and pipeThrough() read the readable without locking it, so "
               "readable.locked stays false and startTls() does not see the pipe",
               breaks=("streams/transform-stream", "starttls/pipe-running"),
               requirements=("streams.pipe-through", "starttls.pipe-running"))
class PipeLeavesReadableUnlocked(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _PipesWithoutLock)


class _EndLeavesReaderClosedPending(ReadableStream):
    def _close(self) -> None:
        reader, self.reader = self.reader, None  # the reader is forgotten, not told
        super()._close()
        self.reader = reader


@socket_mutant("reader-closed-pending-at-eof",
               "reader.closed stays pending after the readable ended at the peer's FIN",
               breaks=("streams/reader-closed-on-eof",),
               requirements=("streams.reader-closed.eof",))
class ReaderClosedPendingAtEof(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _EndLeavesReaderClosedPending)


class _ErrorLeavesReaderClosedPending(ReadableStream):
    def fail(self, error: JSError) -> None:
        reader, self.reader = self.reader, None
        super().fail(error)
        self.reader = reader


@socket_mutant("reader-closed-pending-on-error",
               "reader.closed stays pending when the readable errors (a reset, close())",
               breaks=("streams/reader-closed-on-reset", "streams/reader-closed-on-close"),
               requirements=("streams.reader-closed.reset", "streams.reader-closed.close"))
class ReaderClosedPendingOnError(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.readable, _ErrorLeavesReaderClosedPending)


class _WriterClosedAtOnce(Writer):
    def __init__(self, stream: WritableStream) -> None:
        super().__init__(stream)
        settle(self.closed, UNDEFINED)  # fulfilled before anything was closed


class _WritableClosedAtOnce(WritableStream):
    def getWriter(self) -> Writer:
        super().getWriter()  # the lock check
        self.writer = _WriterClosedAtOnce(self)
        return self.writer


@socket_mutant("writer-closed-at-once",
               "writer.closed is fulfilled as soon as the writer is taken, while the writable "
               "is still open",
               breaks=("streams/writer-closed",),
               requirements=("streams.writer-closed", "close.writer-closed-rejects"))
class WriterClosedAtOnce(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        retype(self.writable, _WritableClosedAtOnce)
