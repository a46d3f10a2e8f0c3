"""Mutants of TLS (secureTransport "on") and of the STARTTLS upgrade (startTls())."""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any, ClassVar

from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.adapters.reference.tls import client_context
from sockets_conformance.mutants.base import socket_mutant
from sockets_conformance.mutants.mirror import (
    START_TLS_CHECKS,
    detach_steps,
    handshake_steps,
    start_tls_call,
)

# ----------------------------------------------------------------------------------------
# startTls()'s synchronous checks (mirror.START_TLS_CHECKS), one dropped or reordered


class _Checked(Socket):
    CHECKS: ClassVar[tuple[str, ...]] = START_TLS_CHECKS

    def startTls(self, options: Any = None) -> Socket:
        return start_tls_call(self, options, checks=self.CHECKS)


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


@socket_mutant("starttls-old-readable",
               "after the upgrade the old socket's readable is still usable (neither "
               "locked nor errored)")
class StartTlsOldReadable(Socket):
    async def _detach_for_tls(self) -> bool:
        return await detach_steps(self, detach_readable=False)


@socket_mutant("starttls-old-writable",
               "after the upgrade the old socket's writable is still usable (neither "
               "locked nor errored)")
class StartTlsOldWritable(Socket):
    async def _detach_for_tls(self) -> bool:
        return await detach_steps(self, detach_writable=False)


@socket_mutant("starttls-upgraded-never",
               "the old socket's upgraded stays false after the upgrade")
class StartTlsUpgradedNever(Socket):
    async def _detach_for_tls(self) -> bool:
        return await detach_steps(self, mark_upgraded=False)


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
        return await detach_steps(self, settle_closed=False)


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


class _OwnContext(Socket):
    """The reference's handshake with a loosened SSLContext."""

    VERIFY: ClassVar[bool] = True
    CHECK_HOSTNAME: ClassVar[bool] = True

    async def _handshake(self) -> bool:
        context = client_context(getattr(self._context, "ca_pem", None))
        context.check_hostname = self.CHECK_HOSTNAME
        if not self.VERIFY:
            context.verify_mode = ssl.CERT_NONE
        return await handshake_steps(self, context)


@socket_mutant("tls-no-verify",
               "TLS accepts any certificate (verify_mode CERT_NONE): untrusted and "
               "expired certificates pass")
class TlsNoVerify(_OwnContext):
    VERIFY = False
    CHECK_HOSTNAME = False


@socket_mutant("tls-no-hostname-check",
               "TLS verifies the certificate chain but not that it names the host "
               "(check_hostname off)")
class TlsNoHostnameCheck(_OwnContext):
    CHECK_HOSTNAME = False
