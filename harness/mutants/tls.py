"""Mutants of TLS (secureTransport "on") and of the STARTTLS upgrade (startTls())."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
from typing import Any, ClassVar

from adapters.reference.js import JSError, settle, type_error
from adapters.reference.socket import (
    READABLE_CLOSING,
    TLS_AFTER_CLOSE,
    TLS_NEEDS_OPTION,
    TLS_ON_TLS,
    TLS_TWICE,
    WRITABLE_CLOSING,
    Socket,
    State,
)
from adapters.reference.streams import Reader, Writer
from adapters.reference.tls import client_context
from harness.mutants.base import socket_mutant
from harness.values import UNDEFINED

# ----------------------------------------------------------------------------------------
# startTls() preconditions: the reference's four checks, named, so that a mutant can drop
# one or reorder them.


class _Checked(Socket):
    """startTls() as the reference has it, its synchronous checks run in CHECKS order."""

    CHECKS: ClassVar[tuple[str, ...]] = ("tls-socket", "closed", "option", "twice")

    def _check(self, name: str) -> None:
        st = self._options.secure_transport
        if name == "tls-socket" and st == "on":
            raise type_error(TLS_ON_TLS)
        if name == "closed" and (self._upgraded or self._close_promise is not None
                                 or self.state in (State.CLOSING, State.CLOSED, State.FAILED)):
            raise type_error(TLS_AFTER_CLOSE)
        if name == "option" and st != "starttls":
            raise type_error(TLS_NEEDS_OPTION)
        if name == "option-not-off" and st == "off":
            raise type_error(TLS_NEEDS_OPTION)
        if name == "twice" and self._tls_started:
            raise type_error(TLS_TWICE)

    def startTls(self, options: Any = None) -> Socket:
        for name in self.CHECKS:
            self._check(name)
        self._tls_started = True
        expected = options.get("expectedServerHostname") if isinstance(options, dict) else None
        tls_options = dataclasses.replace(self._options, secure_transport="on")
        return type(self)(self._address, tls_options, self._context, upgrade_from=self,
                          tls_hostname=expected if isinstance(expected, str) else None)


@socket_mutant("starttls-twice",
               "startTls() may be called again on the same socket (no already-called check)")
class StartTlsTwice(_Checked):
    CHECKS = ("tls-socket", "closed", "option")


@socket_mutant("starttls-without-option",
               "startTls() works on a socket opened without secureTransport \"starttls\"")
class StartTlsWithoutOption(_Checked):
    CHECKS = ("tls-socket", "closed", "twice")


@socket_mutant("starttls-on-tls-socket",
               "startTls() on a TLS socket (secureTransport \"on\", or one startTls() "
               "returned) starts a second handshake: only \"off\" is refused")
class StartTlsOnTlsSocket(_Checked):
    CHECKS = ("closed", "option-not-off", "twice")


@socket_mutant("starttls-check-order",
               "startTls() checks the option before whether the socket is closed, so a "
               "closed plain socket gets the wrong TypeError", kind="message")
class StartTlsCheckOrder(_Checked):
    CHECKS = ("tls-socket", "option", "closed", "twice")


# ----------------------------------------------------------------------------------------
# what the upgrade does to the old socket and what the new one reports


async def _detach(sock: Socket, *, readable: bool = True, writable: bool = True,
                  upgraded: bool = True, closed: bool = True) -> bool:
    """The reference's Socket._detach_for_tls, each of its effects optional."""
    try:
        await asyncio.shield(sock._connected)
    except JSError:
        return False
    await sock.writable.flush()
    if readable:
        if sock.readable.reader is None:
            sock.readable.reader = Reader(sock.readable)
        sock.readable.fail(type_error(READABLE_CLOSING))
    if writable:
        if sock.writable.writer is None:
            sock.writable.writer = Writer(sock.writable)
        sock.writable.fail(type_error(WRITABLE_CLOSING))
    if upgraded:
        sock._upgraded = True
    sock._to("upgraded")
    if closed:
        settle(sock.closed, UNDEFINED)
    return True


@socket_mutant("starttls-old-readable",
               "after the upgrade the old socket's readable is still usable (neither "
               "locked nor errored)")
class StartTlsOldReadable(Socket):
    async def _detach_for_tls(self) -> bool:
        return await _detach(self, readable=False)


@socket_mutant("starttls-old-writable",
               "after the upgrade the old socket's writable is still usable (neither "
               "locked nor errored)")
class StartTlsOldWritable(Socket):
    async def _detach_for_tls(self) -> bool:
        return await _detach(self, writable=False)


@socket_mutant("starttls-upgraded-never",
               "the old socket's upgraded stays false after the upgrade")
class StartTlsUpgradedNever(Socket):
    async def _detach_for_tls(self) -> bool:
        return await _detach(self, upgraded=False)


@socket_mutant("starttls-upgraded-early",
               "upgraded turns true in the same turn as startTls(), before the old "
               "socket has flushed and let go")
class StartTlsUpgradedEarly(Socket):
    def startTls(self, options: Any = None) -> Socket:
        new = super().startTls(options)
        self._upgraded = True
        return new


@socket_mutant("starttls-old-closed-pending",
               "the old socket's closed never resolves after startTls() (the signal "
               "postgres waits for)")
class StartTlsOldClosedPending(Socket):
    async def _detach_for_tls(self) -> bool:
        return await _detach(self, closed=False)


@socket_mutant("starttls-new-secure-transport",
               "the socket startTls() returns reports secureTransport \"starttls\" (its "
               "options copied unchanged) instead of \"on\"")
class StartTlsNewSecureTransport(Socket):
    def startTls(self, options: Any = None) -> Socket:
        new = super().startTls(options)
        new._options = dataclasses.replace(new._options,
                                           secure_transport=self._options.secure_transport)
        return new


# ----------------------------------------------------------------------------------------
# TLS itself


@socket_mutant("tls-ignored",
               "secureTransport \"on\" is accepted but the connection stays plain text")
class TlsIgnored(Socket):
    def __init__(self, *args: Any, upgrade_from: Socket | None = None, **kwargs: Any) -> None:
        self._from_the_start = upgrade_from is None  # set before the connect task runs
        super().__init__(*args, upgrade_from=upgrade_from, **kwargs)

    async def _handshake(self) -> bool:
        if self._from_the_start:
            return True
        return await super()._handshake()


def _context_without(ca_pem: str | None, *, verify: bool, hostname: bool) -> ssl.SSLContext:
    ctx = client_context(ca_pem)
    ctx.check_hostname = hostname
    if not verify:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _OwnContext(Socket):
    """_handshake() as the reference has it, with the SSLContext from `_tls_context`."""

    def _tls_context(self, ca_pem: str | None) -> ssl.SSLContext:
        return client_context(ca_pem)

    async def _handshake(self) -> bool:
        ca_pem = getattr(self._context, "ca_pem", None)
        try:
            await self._wire.start_tls(self._tls_context(ca_pem), self._tls_hostname)
        except JSError as exc:
            self._wire.close()
            self._fail_connect(exc.message)
            return False
        return True


@socket_mutant("tls-no-verify",
               "TLS accepts any certificate (verify_mode CERT_NONE): untrusted and "
               "expired certificates pass")
class TlsNoVerify(_OwnContext):
    def _tls_context(self, ca_pem: str | None) -> ssl.SSLContext:
        return _context_without(ca_pem, verify=False, hostname=False)


@socket_mutant("tls-no-hostname-check",
               "TLS verifies the certificate chain but not that it names the host "
               "(check_hostname off)")
class TlsNoHostnameCheck(_OwnContext):
    def _tls_context(self, ca_pem: str | None) -> ssl.SSLContext:
        return _context_without(ca_pem, verify=True, hostname=False)
