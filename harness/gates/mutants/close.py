"""Mutants of Socket.close()."""

from __future__ import annotations

import asyncio
from typing import Any

from sockets_conformance.adapters.reference.js import promise, rejected, type_error
from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.gates.mutants.base import socket_mutant


@socket_mutant("close-leaves-readers",
               "close() does not error the readable: a held reader just sees the end of "
               "the stream",
               breaks=("close/held-reader-rejects",),
               requirements=("close.invalidates-reader", "close.new-locks-allowed",
                             "examples.close", "streams.reader-closed.close"))
class CloseLeavesReaders(Socket):
    def _close_errors_readable(self) -> None:
        pass


@socket_mutant("close-leaves-writers",
               "close() leaves the writable alone: a held writer writes into the dead "
               "connection and gets a network error",
               breaks=("close/held-writer-rejects",),
               requirements=("close.invalidates-writer", "close.new-locks-allowed",
                             "close.writer-closed-rejects"))
class CloseLeavesWriters(Socket):
    def _close_refuses_writes(self) -> None:
        pass

    def _close_aborts_writable(self) -> None:
        pass


@socket_mutant("close-skips-flush",
               "close() aborts the writable at once: writes still queued are dropped, "
               "not flushed",
               breaks=("close/flushes-pending-writes",),
               requirements=("close.flushes-writes",))
class CloseSkipsFlush(Socket):
    async def _close_flushes_writes(self) -> None:
        pass


@socket_mutant("close-twice-throws",
               "a second close() throws TypeError instead of being a harmless no-op",
               breaks=("close/second-call-harmless",),
               requirements=("close.repeat-harmless",))
class CloseTwiceThrows(Socket):
    def close(self) -> asyncio.Future[Any]:
        if self._close_promise is not None:
            raise type_error("close() has already been called on this socket.")
        return super().close()


@socket_mutant("close-twice-rejects",
               "a second close() returns a rejected promise instead of closed",
               breaks=("close/second-call-harmless",),
               requirements=("close.repeat-harmless",))
class CloseTwiceRejects(Socket):
    def close(self) -> asyncio.Future[Any]:
        if self._close_promise is None:
            return super().close()
        return rejected(type_error("close() has already been called."))


@socket_mutant("close-closed-pending",
               "close() resolves its own promise but never resolves closed",
               breaks=("close/resolves-closed", "close/second-call-harmless"),
               requirements=("close.resolves-closed", "close.repeat-harmless", "close.before-open",
                             "close.reason-ignored", "half-open.allow-true.closed-pending",
                             "half-open.allow-true.both-ends-closed-pending"))
class CloseClosedPending(Socket):
    def _close_resolves_closed(self) -> None:
        pass


@socket_mutant("close-promise-pending",
               "close() resolves closed but the promise it returned never settles",
               requirements=("close.resolves-closed", "close.repeat-harmless", "close.before-open",
                             "close.after-eof-resolves", "errors.connect-failed.close-resolves",
                             "starttls.old.close-harmless", "examples.close"))
class ClosePromisePending(Socket):
    def _close_resolves_its_promise(self) -> None:
        pass


@socket_mutant("close-keeps-connection",
               "close() settles everything but never closes the connection: the peer "
               "sees no FIN",
               requirements=("close.resolves-closed", "close.before-open", "close.flushes-writes"))
class CloseKeepsConnection(Socket):
    def _close_releases_connection(self) -> None:
        pass


@socket_mutant("close-strands-pending-read",
               "close() forgets reads already waiting: their promises never settle",
               breaks=("close/pending-read-settles",),
               requirements=("close.pending-read-settles",))
class CloseStrandsPendingRead(Socket):
    def close(self) -> asyncio.Future[Any]:
        readable = self.readable
        readable._pending.clear()
        if readable._pump is not None:
            readable._pump.cancel()
        return super().close()


@socket_mutant("close-before-open-leaks",
               "close() before the connection is open resolves at once and never closes "
               "the connection that opens afterwards",
               breaks=("close/before-opened",),
               requirements=("close.before-open", "close.reason-ignored"))
class CloseBeforeOpenLeaks(Socket):
    _before_open = False

    async def _close(self) -> None:
        self._before_open = not self._connected.done()
        await super()._close()

    async def _close_waits_for_opened(self) -> None:
        if not self._before_open:
            await super()._close_waits_for_opened()

    async def _close_flushes_writes(self) -> None:
        if not self._before_open:
            await super()._close_flushes_writes()

    def _close_releases_connection(self) -> None:
        if not self._before_open:
            super()._close_releases_connection()


@socket_mutant("close-replaces-closed",
               "close() installs a fresh closed promise, so a closed promise taken "
               "earlier never settles",
               breaks=("opened/getters-are-promises",),
               requirements=("opened.getters-are-promises", "errors.connect-failed.close-resolves"))
class CloseReplacesClosed(Socket):
    def close(self) -> asyncio.Future[Any]:
        if self._close_promise is None:
            self.closed = promise()
        return super().close()
