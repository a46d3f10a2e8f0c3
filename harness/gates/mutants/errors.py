"""Mutants of failure handling: a refused connection, a reset by the peer."""

from __future__ import annotations

import asyncio
from typing import Any

from sockets_conformance.adapters.reference.js import JSError, promise, settle, type_error
from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.adapters.reference.wire import Wire
from sockets_conformance.gates.mutants.base import socket_mutant

# An egress refusal and a failed TLS handshake end the socket through the same step as a
# refused connection (Socket._fail_connect), so a bug there breaks what these requirements
# say about opened, closed and the error too.
EGRESS = ("egress.localhost", "egress.private", "egress.link-local", "egress.cloudflare",
          "egress.port-25", "egress.tcp-loop", "egress.localhost-aliases")
TLS_VERIFY = ("tls.verify.untrusted", "tls.verify.hostname", "tls.verify.expired")


@socket_mutant("refused-closed-pending",
               "a refused connection rejects opened but never settles closed "
               "(node-postgres #3152: end() then hangs)",
               breaks=("errors/refused-closed-rejects", "errors/refused-close-resolves"),
               requirements=("errors.connect-failed.closed-rejects",
                             "errors.connect-failed.close-resolves",
                             "errors.connect-failed.http-hint", *TLS_VERIFY))
class RefusedClosedPending(Socket):
    def _fail_connect(self, message: str | None = None) -> None:
        real, self.closed = self.closed, promise()  # the rejection goes to a throwaway
        super()._fail_connect(message)
        self.closed = real


@socket_mutant("refused-opened-resolves",
               "a refused connection resolves opened with its SocketInfo (settled in a "
               "`finally`) and only rejects closed",
               requirements=("errors.connect-failed.opened-rejects",
                             "errors.connect-failed.closed-rejects",
                             "errors.connect-failed.http-hint", "errors.error-classes",
                             *EGRESS, *TLS_VERIFY))
class RefusedOpenedResolves(Socket):
    def _fail_connect(self, message: str | None = None) -> None:
        settle(self.opened, {"remoteAddress": self._address.text})
        super()._fail_connect(message)


@socket_mutant("refused-type-error",
               "a refused connection rejects with TypeError (Node's SocketError) instead "
               "of Error",
               breaks=("errors/refused-opened-rejects", "errors/refused-closed-rejects"),
               requirements=("errors.connect-failed.opened-rejects",
                             "errors.connect-failed.closed-rejects",
                             "errors.connect-failed.http-hint", "errors.error-classes",
                             *EGRESS, *TLS_VERIFY))
class RefusedTypeError(Socket):
    def _fail_connect(self, message: str | None = None) -> None:
        error = type_error(f"SocketError: connect ECONNREFUSED {self._address.text}")
        settle(self.opened, error=error)
        settle(self.closed, error=error)
        super()._fail_connect(message)  # the rest as the reference (settle ignores repeats)


@socket_mutant("refused-message",
               "a refused connection rejects with the OS's words (\"connect ECONNREFUSED\") "
               "instead of the proxy's message", kind="message",
               # not egress.port-25 or egress.tcp-loop: their refusals carry messages of their
               # own, which it keeps
               requirements=("errors.connect-failed.opened-rejects",
                             "errors.connect-failed.closed-rejects",
                             "errors.connect-failed.http-hint", "errors.error-classes",
                             "egress.localhost", "egress.private", "egress.link-local",
                             "egress.cloudflare", "egress.localhost-aliases"))
class RefusedMessage(Socket):
    def _fail_connect(self, message: str | None = None) -> None:
        super()._fail_connect(message or f"connect ECONNREFUSED {self._address.text}")


@socket_mutant("refused-close-hangs",
               "close() on a socket whose connection failed awaits opened unguarded, so "
               "its promise never settles",
               requirements=("errors.connect-failed.close-resolves",))
class RefusedCloseHangs(Socket):
    async def _close(self) -> None:
        try:
            await asyncio.shield(self.opened)
        except JSError:
            return  # the bug: an early return that forgets the close promise
        await super()._close()


@socket_mutant("refused-rejections-unhandled",
               "opened and closed are plain promises, not marked handled, so a refused "
               "connection nobody awaits them for raises two unhandled rejections",
               breaks=("errors/refused-no-unhandled-rejection",),
               requirements=("errors.unhandled-rejection",))
class RefusedRejectionsUnhandled(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # in place before the connect task, spawned above, first runs
        self.opened = promise(handled=False)
        self.closed = promise(handled=False)


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
               "pending",
               requirements=("errors.peer-reset.read-rejects", "errors.peer-reset.closed-settles",
                             "half-open.allow-false.closed-without-read",
                             "streams.reader-closed.reset", "streams.pipe-to.abort-reason"))
class ResetNeverSurfaces(Socket):
    WIRE = _ResetUnheardWire


class _ResetAsEofWire(Wire):
    def connection_lost(self, exc: BaseException | None) -> None:
        super().connection_lost(None)


@socket_mutant("reset-looks-like-eof",
               "a reset by the peer is reported as an ordinary end of stream (read "
               "fulfils done)",
               breaks=("errors/peer-reset-read-rejects",),
               requirements=("errors.peer-reset.read-rejects",
                             "half-open.allow-false.closed-without-read",
                             "streams.reader-closed.reset", "streams.pipe-to.abort-reason"))
class ResetLooksLikeEof(Socket):
    WIRE = _ResetAsEofWire


@socket_mutant("reset-closed-pending",
               "a reset by the peer errors the streams but never settles closed",
               breaks=("errors/peer-reset-closed-settles",),
               requirements=("errors.peer-reset.closed-settles",
                             "half-open.allow-false.closed-without-read"))
class ResetClosedPending(Socket):
    def _on_lost(self, exc: BaseException | None) -> None:
        return None
