"""Mutants of failure handling: a refused connection, a reset by the peer."""

from __future__ import annotations

import asyncio

from sockets_conformance.adapters.reference.js import JSError, promise, settle, type_error
from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.adapters.reference.wire import Wire
from sockets_conformance.gates.mutants.base import socket_mutant


@socket_mutant("refused-closed-pending",
               "a refused connection rejects opened but never settles closed "
               "(node-postgres #3152: end() then hangs)",
               breaks=("errors/refused-closed-rejects", "errors/refused-close-resolves"))
class RefusedClosedPending(Socket):
    def _fail_connect(self, message: str | None = None) -> None:
        real, self.closed = self.closed, promise()  # the rejection goes to a throwaway
        super()._fail_connect(message)
        self.closed = real


@socket_mutant("refused-opened-resolves",
               "a refused connection resolves opened with its SocketInfo (settled in a "
               "`finally`) and only rejects closed")
class RefusedOpenedResolves(Socket):
    def _fail_connect(self, message: str | None = None) -> None:
        settle(self.opened, {"remoteAddress": self._address.text})
        super()._fail_connect(message)


@socket_mutant("refused-type-error",
               "a refused connection rejects with TypeError (Node's SocketError) instead "
               "of Error",
               breaks=("errors/refused-opened-rejects", "errors/refused-closed-rejects"))
class RefusedTypeError(Socket):
    def _fail_connect(self, message: str | None = None) -> None:
        error = type_error(f"SocketError: connect ECONNREFUSED {self._address.text}")
        settle(self.opened, error=error)
        settle(self.closed, error=error)
        super()._fail_connect(message)  # the rest as the reference (settle ignores repeats)


@socket_mutant("refused-message",
               "a refused connection rejects with the OS's words (\"connect ECONNREFUSED\") "
               "instead of the proxy's message", kind="message")
class RefusedMessage(Socket):
    def _fail_connect(self, message: str | None = None) -> None:
        super()._fail_connect(message or f"connect ECONNREFUSED {self._address.text}")


@socket_mutant("refused-close-hangs",
               "close() on a socket whose connection failed awaits opened unguarded, so "
               "its promise never settles")
class RefusedCloseHangs(Socket):
    async def _close(self) -> None:
        try:
            await asyncio.shield(self.opened)
        except JSError:
            return  # the bug: an early return that forgets the close promise
        await super()._close()


class _ResetUnheardWire(Wire):
    """Notes that the connection is gone, but wakes nobody when it went with an error."""

    def connection_lost(self, exc: BaseException | None) -> None:
        if exc is None:
            super().connection_lost(exc)
            return
        on_lost, self.on_lost = self.on_lost, None
        super().connection_lost(exc)  # the bookkeeping: lost, the connection-limit slot
        self.on_lost = on_lost
        self.eof, self.error = False, None  # the bug: the error is dropped on the floor


@socket_mutant("reset-never-surfaces",
               "a reset by the peer is noticed by nobody: a pending read and closed stay "
               "pending")
class ResetNeverSurfaces(Socket):
    WIRE = _ResetUnheardWire


class _ResetAsEofWire(Wire):
    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(None)


@socket_mutant("reset-looks-like-eof",
               "a reset by the peer is reported as an ordinary end of stream (read "
               "fulfils done)",
               breaks=("errors/peer-reset-read-rejects",))
class ResetLooksLikeEof(Socket):
    WIRE = _ResetAsEofWire


@socket_mutant("reset-closed-pending",
               "a reset by the peer errors the streams but never settles closed",
               breaks=("errors/peer-reset-closed-settles",))
class ResetClosedPending(Socket):
    def _on_lost(self, exc: BaseException | None) -> None:
        return None
