"""Broken variants of the reference for TLS and startTls(): one realistic bug each.

Every TLS and STARTTLS case must be able to fail. Each class below breaks one behaviour the
way a real implementation does or might (@arrowood.dev/socket lets the old socket live on and
never resolves its closed; lobu's emulator handed back a socket whose closed never settled;
a client that skips certificate checks is the classic TLS bug), and each has a factory that
makes it an adapter:

    pytest cases/starttls --adapter python:tests.tls_variants:starttls_twice

tests/test_tls_variants.py runs the cases each variant must break, plus the rest of the same
case files, and checks that exactly the named ones fail.

Like tests/variants.py these are mutants of the reference, reaching into its internals on
purpose. Where a variant undoes part of the reference's work it does so in the same
synchronous step, so no case can observe the reference's right behaviour in between.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from typing import Any

from sockets_conformance.adapters.reference.js import JSError, type_error
from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.adapters.reference.tls import TlsLayer, client_context

from tests.variants import _factory

# ----------------------------------------------------------------------------------------
# the four synchronous checks of startTls()


class StartTlsTwice(Socket):
    """startTls() has no already-called check: a second call makes a second upgrade."""

    def startTls(self, options: Any = None) -> Socket:
        self._tls_started = False
        return super().startTls(options)


class StartTlsWithoutOption(Socket):
    """startTls() works on any plain socket, as if secureTransport "starttls" were implied."""

    def startTls(self, options: Any = None) -> Socket:
        real = self._options
        if real.secure_transport == "off":
            self._options = dataclasses.replace(real, secure_transport="starttls")
        try:
            return super().startTls(options)
        finally:
            self._options = real


class StartTlsOnTlsSocket(Socket):
    """startTls() on a TLS socket starts a second handshake instead of throwing."""

    def startTls(self, options: Any = None) -> Socket:
        real = self._options
        if real.secure_transport == "on":
            self._options = dataclasses.replace(real, secure_transport="starttls")
        try:
            return super().startTls(options)
        finally:
            self._options = real


class StartTlsOnceMessage(Socket):
    """Older workerd: one check, "startTls can only be called once.", for a second call and
    for a call after the upgrade (the right TypeError, another message)."""

    def startTls(self, options: Any = None) -> Socket:
        if self._tls_started and self._close_promise is None:
            raise type_error("startTls can only be called once.")
        return super().startTls(options)


class StartTlsAfterClose(Socket):
    """startTls() on a closed socket returns a socket instead of throwing."""

    def startTls(self, options: Any = None) -> Socket:
        close_promise, self._close_promise = self._close_promise, None
        state, self.state = self.state, type(self.state).OPEN
        try:
            return super().startTls(options)
        finally:
            self._close_promise, self.state = close_promise, state


# ----------------------------------------------------------------------------------------
# what the upgrade does to the old socket


class OldSocketStillReadable(Socket):
    """After the upgrade the old readable is neither locked nor errored (the old socket
    lives on, as in @arrowood.dev/socket 0.2.0)."""

    async def _detach_for_tls(self) -> bool:
        done = await super()._detach_for_tls()
        if done:
            self.readable.reader = None
            self.readable.state, self.readable.error = "readable", None
        return done


class OldSocketStillWritable(Socket):
    """After the upgrade the old writable is neither locked nor errored."""

    async def _detach_for_tls(self) -> bool:
        done = await super()._detach_for_tls()
        if done:
            self.writable.writer = None
            self.writable.state, self.writable.error = "writable", None
        return done


class _HeldClosed(asyncio.Future):  # type: ignore[type-arg]
    """closed that ignores being settled once `held` is set (its resolver lost)."""

    held = False

    def set_result(self, result: Any) -> None:
        if not self.held:
            super().set_result(result)


class OldClosedNeverResolves(Socket):
    """The old socket's closed never resolves after startTls() (postgres then never learns
    that the upgrade started; lobu's emulator had this bug)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.closed = _HeldClosed(loop=asyncio.get_running_loop())

    async def _detach_for_tls(self) -> bool:
        if isinstance(self.closed, _HeldClosed):
            self.closed.held = True
        return await super()._detach_for_tls()


class UpgradedNeverSet(Socket):
    """The old socket's upgraded stays false after the upgrade."""

    async def _detach_for_tls(self) -> bool:
        done = await super()._detach_for_tls()
        self._upgraded = False
        return done


class UpgradeIgnoresLocks(Socket):
    """startTls() takes the connection over even while the caller still holds the old
    reader or writer (what the reference did before it followed workerd)."""

    async def _detach_for_tls(self) -> bool:
        held = self.readable.reader, self.writable.writer
        self.readable.reader = self.writable.writer = None  # hidden from the lock check
        done = await super()._detach_for_tls()
        if not done and self._tls_refused is None:
            self.readable.reader, self.writable.writer = held
        return done


class OldCloseTearsDown(Socket):
    """close() on the old socket after the upgrade closes the connection the new socket
    now uses."""

    async def _close(self) -> None:
        self._tls_started = False
        await super()._close()


class OldSecureTransportOn(Socket):
    """After the upgrade the old socket reports secureTransport "on"."""

    async def _detach_for_tls(self) -> bool:
        done = await super()._detach_for_tls()
        if done:
            self._options = dataclasses.replace(self._options, secure_transport="on")
        return done


# ----------------------------------------------------------------------------------------
# the new socket and TLS itself


class NewSocketKeepsOption(Socket):
    """The socket startTls() returns reports secureTransport "starttls" (the options copied
    unchanged)."""

    def startTls(self, options: Any = None) -> Socket:
        new = super().startTls(options)
        new._options = dataclasses.replace(new._options, secure_transport="starttls")
        return new


class NewSocketForgetsHalfOpen(Socket):
    """The socket startTls() returns has allowHalfOpen false whatever connect() was told."""

    def startTls(self, options: Any = None) -> Socket:
        new = super().startTls(options)
        new._options = dataclasses.replace(new._options, allow_half_open=False)
        return new


class DropsWritesBeforeHandshake(Socket):
    """Writes made before the TLS handshake has completed are dropped (resolved, not sent)."""

    async def write(self, data: bytes) -> None:
        if not self._connected.done():
            return
        await super().write(data)


class NoCertificateVerification(Socket):
    """TLS accepts any certificate for any name (CERT_NONE, no hostname check)."""

    async def _handshake(self) -> bool:
        context = client_context(getattr(self._context, "ca_pem", None))
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            await self._wire.start_tls(context, self._tls_hostname)
        except JSError as exc:
            self._wire.close()
            self._fail_connect(exc.message)
            return False
        return True


class IgnoresExpectedServerHostname(Socket):
    """startTls({expectedServerHostname}) is ignored: the address's hostname is verified."""

    def startTls(self, options: Any = None) -> Socket:
        return super().startTls(None)


class TlsCloseWriterEndsAll(Socket):
    """writer.close() over TLS closes the whole connection instead of sending close_notify
    and reading on (asyncio's own TLS transport cannot half-close)."""

    async def close_write(self) -> None:
        wire = await self._wire_ready()
        if wire.tls is not None:
            wire.tls.write_eof()
            wire.close()
            return
        await super().close_write()


class TlsIgnored(Socket):
    """secureTransport "on" is accepted but the connection stays plain text."""

    def __init__(self, *args: Any, upgrade_from: Socket | None = None, **kwargs: Any) -> None:
        self._from_the_start = upgrade_from is None  # read by the connect task, later
        super().__init__(*args, upgrade_from=upgrade_from, **kwargs)

    async def _handshake(self) -> bool:
        return True if self._from_the_start else await super()._handshake()


class _PartialWriteTls(TlsLayer):
    def write(self, data: bytes) -> None:
        super().write(data[:16384])  # one record's worth; the rest of the chunk is lost


class TlsPartialWrites(Socket):
    """Each write over TLS sends only its first 16 KiB, the classic mistake of ignoring a
    partial SSL_write."""

    async def _handshake(self) -> bool:
        done = await super()._handshake()
        if done and self._wire.tls is not None:
            self._wire.tls.__class__ = _PartialWriteTls
        return done


class NewSocketNodeStyleInfo(Socket):
    """The new socket's opened reports the peer's IP without the port, as Node's
    tls.TLSSocket.remoteAddress would, instead of the original SocketInfo."""

    async def _upgrade(self, old: Socket) -> None:
        await super()._upgrade(old)
        if self.opened.done() and self.opened.exception() is None:
            self.opened.result()["remoteAddress"] = self._address.connect_host


VARIANTS: dict[str, type[Socket]] = {
    "starttls_twice": StartTlsTwice,
    "starttls_without_option": StartTlsWithoutOption,
    "starttls_on_tls_socket": StartTlsOnTlsSocket,
    "starttls_after_close": StartTlsAfterClose,
    "starttls_once_message": StartTlsOnceMessage,
    "old_socket_still_readable": OldSocketStillReadable,
    "old_socket_still_writable": OldSocketStillWritable,
    "old_closed_never_resolves": OldClosedNeverResolves,
    "upgraded_never_set": UpgradedNeverSet,
    "upgrade_ignores_locks": UpgradeIgnoresLocks,
    "old_close_tears_down": OldCloseTearsDown,
    "old_secure_transport_on": OldSecureTransportOn,
    "new_socket_keeps_option": NewSocketKeepsOption,
    "new_socket_forgets_half_open": NewSocketForgetsHalfOpen,
    "drops_writes_before_handshake": DropsWritesBeforeHandshake,
    "no_certificate_verification": NoCertificateVerification,
    "ignores_expected_server_hostname": IgnoresExpectedServerHostname,
    "tls_close_writer_ends_all": TlsCloseWriterEndsAll,
    "tls_ignored": TlsIgnored,
    "tls_partial_writes": TlsPartialWrites,
    "new_socket_node_style_info": NewSocketNodeStyleInfo,
}


for _name, _cls in VARIANTS.items():
    globals()[_name] = _factory(_name, _cls)
