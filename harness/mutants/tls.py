"""Mutants of TLS (secureTransport "on") and of the STARTTLS upgrade (startTls())."""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any, ClassVar

from sockets_conformance.adapters.reference.js import type_error
from sockets_conformance.adapters.reference.socket import TLS_NEEDS_OPTION, Socket
from sockets_conformance.mutants.base import socket_mutant

# ----------------------------------------------------------------------------------------
# startTls()'s synchronous checks (Socket.TLS_CHECKS), one dropped, changed or reordered


@socket_mutant("starttls-twice",
               "startTls() may be called again on the same socket (no already-called check)")
class StartTlsTwice(Socket):
    TLS_CHECKS = ("_refuse_tls_socket", "_refuse_closed_socket", "_require_starttls_option")


@socket_mutant("starttls-without-option",
               "startTls() works on a socket opened without secureTransport \"starttls\"")
class StartTlsWithoutOption(Socket):
    TLS_CHECKS = ("_refuse_tls_socket", "_refuse_closed_socket", "_refuse_second_start_tls")


@socket_mutant("starttls-on-tls-socket",
               "startTls() on a TLS socket (secureTransport \"on\", or one startTls() "
               "returned) starts a second handshake: only \"off\" is refused")
class StartTlsOnTlsSocket(Socket):
    TLS_CHECKS = ("_refuse_closed_socket", "_refuse_plain_socket", "_refuse_second_start_tls")

    def _refuse_plain_socket(self) -> None:
        """The option check written as "refuse 'off'" instead of "require 'starttls'"."""
        if self._options.secure_transport == "off":
            raise type_error(TLS_NEEDS_OPTION)


@socket_mutant("starttls-check-order",
               "startTls() checks the option before whether the socket is closed, so a "
               "closed plain socket gets the wrong TypeError", kind="message")
class StartTlsCheckOrder(Socket):
    TLS_CHECKS = ("_refuse_tls_socket", "_require_starttls_option", "_refuse_closed_socket",
                  "_refuse_second_start_tls")


# ----------------------------------------------------------------------------------------
# what the upgrade does to the old socket and what the new one reports


@socket_mutant("starttls-old-readable",
               "after the upgrade the old socket's readable is still usable (neither "
               "locked nor errored)")
class StartTlsOldReadable(Socket):
    def _detach_readable(self) -> None:
        pass


@socket_mutant("starttls-old-writable",
               "after the upgrade the old socket's writable is still usable (neither "
               "locked nor errored)")
class StartTlsOldWritable(Socket):
    def _detach_writable(self) -> None:
        pass


@socket_mutant("starttls-upgraded-never",
               "the old socket's upgraded stays false after the upgrade")
class StartTlsUpgradedNever(Socket):
    def _mark_upgraded(self) -> None:
        pass


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
    def _upgrade_resolves_closed(self) -> None:
        pass


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

    def _tls_context(self) -> ssl.SSLContext:
        context = super()._tls_context()
        context.check_hostname = self.CHECK_HOSTNAME
        if not self.VERIFY:
            context.verify_mode = ssl.CERT_NONE
        return context


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
