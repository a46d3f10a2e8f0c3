"""Mutants for the behaviours workerd's own tests and issues show (issue 15): a failed
startTls() handshake, both directions of a half-open socket ended, close() racing the
automatic close, the old streams after startTls(), a starttls socket before it opens, a
peer that closes while the client never reads. (One large write in a single call is caught by
streams.py's large-write-truncated.)"""

from __future__ import annotations

from sockets_conformance.adapters.reference.js import JSError, settle, type_error
from sockets_conformance.adapters.reference.socket import (
    READABLE_CLOSING,
    WRITABLE_CLOSING,
    Socket,
    State,
)
from sockets_conformance.gates.mutants.base import socket_mutant
from sockets_conformance.model.values import UNDEFINED


@socket_mutant("failed-handshake-ends-readable",
               "a failed startTls() handshake is treated as a refused connection: the new "
               "socket's readable reports the end of the stream instead of an error",
               breaks=("starttls/failed-handshake-read-rejects",),
               requirements=("starttls.failed-handshake.read-rejects",))
class FailedHandshakeEndsReadable(Socket):
    def _fail_handshake(self, error: JSError) -> None:
        self._fail_connect(error.message)


@socket_mutant("failed-handshake-strands-writes",
               "a failed startTls() handshake rejects opened and closed and errors the "
               "readable, but writes keep waiting for a secured connection that never comes",
               breaks=("starttls/failed-handshake-write-rejects",),
               requirements=("starttls.failed-handshake.write-rejects",))
class FailedHandshakeStrandsWrites(Socket):
    def _fail_handshake(self, error: JSError) -> None:
        if not self._is_upgrade:
            super()._fail_handshake(error)
            return
        failure = JSError("Error", error.message)
        settle(self.opened, error=failure)
        settle(self.closed, error=failure)
        self.readable.fail(failure)


@socket_mutant("half-open-both-ends-resolve-closed",
               "with allowHalfOpen true, closing the writer after the readable has ended "
               "resolves closed, as a Node.js socket emits 'close' once both sides are done",
               breaks=("half-open/allow-true-both-ends-closed",),
               requirements=("half-open.allow-true.both-ends-closed-pending",))
class BothEndsResolveClosed(Socket):
    async def close_write(self) -> None:
        await super().close_write()
        if self.readable.state == "closed":
            settle(self.closed, UNDEFINED)


@socket_mutant("close-skips-flush-after-eof",
               "close() during the automatic close after the peer's FIN skips the flush "
               "(the writable is already closing) and tears the connection down: queued "
               "bytes are lost",
               breaks=("close/racing-automatic-close",),
               requirements=("close.after-eof-resolves", "close.flushes-writes"))
class CloseSkipsFlushAfterEof(Socket):
    async def _close_flushes_writes(self) -> None:
        if self.writable.state == "writable":
            await super()._close_flushes_writes()
        elif self._wire.transport is not None:
            self._wire.transport.abort()


@socket_mutant("starttls-old-readable-unlocked",
               "startTls() errors the old readable but does not lock it: a new reader can "
               "still be taken on it",
               breaks=("starttls/old-readable-locked-before-handshake",),
               requirements=("starttls.old.locked-before-handshake",
                             "starttls.old.reader-dead"))
class OldReadableUnlocked(Socket):
    def _detach_readable(self) -> None:
        self.readable.fail(type_error(READABLE_CLOSING))


@socket_mutant("starttls-old-writable-unlocked",
               "startTls() errors the old writable but does not lock it: a new writer can "
               "still be taken on it",
               breaks=("starttls/old-writable-locked-before-handshake",),
               requirements=("starttls.old.locked-before-handshake",
                             "starttls.old.writer-dead"))
class OldWritableUnlocked(Socket):
    def _detach_writable(self) -> None:
        self.writable.fail(type_error(WRITABLE_CLOSING))


@socket_mutant("secure-transport-follows-connection",
               "secureTransport reports the connection's state, not the option: a starttls "
               "socket says \"off\" until it has opened",
               breaks=("starttls/properties-before-opened",),
               requirements=("starttls.properties-before-opened",))
class SecureTransportFollowsConnection(Socket):
    @property
    def secureTransport(self) -> str:
        if self.state is State.CONNECTING and self._options.secure_transport == "starttls":
            return "off"
        return self._options.secure_transport


@socket_mutant("closed-waits-for-read",
               "closed follows only the readable: a connection that is gone leaves closed "
               "pending until someone reads the readable to its end",
               breaks=("half-open/allow-false-peer-close-unread",
                       "half-open/allow-false-peer-close-data-unread"),
               requirements=("half-open.allow-false.closed-without-read",
                             "errors.peer-reset.closed-settles"))
class ClosedWaitsForRead(Socket):
    def _on_lost(self, exc: BaseException | None) -> None:
        if self.readable.state == "readable":
            return
        super()._on_lost(exc)
