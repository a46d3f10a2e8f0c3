"""Mutants of TLS (secureTransport "on") and of the STARTTLS upgrade (startTls())."""

from __future__ import annotations

import dataclasses
import ssl
from typing import Any, ClassVar

from sockets_conformance.adapters.reference.js import type_error
from sockets_conformance.adapters.reference.socket import TLS_NEEDS_OPTION, Socket
from sockets_conformance.adapters.reference.streams import Reader, Writer
from sockets_conformance.adapters.reference.wire import Wire
from sockets_conformance.gates.mutants.base import socket_mutant

TLS_RECORD = 16 * 1024   # the most plaintext one TLS record carries

# ----------------------------------------------------------------------------------------
# startTls()'s synchronous checks (Socket.TLS_CHECKS), one dropped, changed or reordered


@socket_mutant("starttls-twice",
               "startTls() may be called again on the same socket (no already-called check)",
               breaks=("starttls/twice-in-a-row",),
               requirements=("starttls.once",))
class StartTlsTwice(Socket):
    TLS_CHECKS = ("_refuse_tls_socket", "_refuse_closed_socket", "_require_starttls_option")


@socket_mutant("starttls-without-option",
               "startTls() works on a socket opened without secureTransport \"starttls\"",
               breaks=("starttls/requires-option-off", "starttls/requires-option-default"),
               requirements=("starttls.requires-option",))
class StartTlsWithoutOption(Socket):
    TLS_CHECKS = ("_refuse_tls_socket", "_refuse_closed_socket", "_refuse_second_start_tls")


@socket_mutant("starttls-on-tls-socket",
               "startTls() on a TLS socket (secureTransport \"on\", or one startTls() "
               "returned) starts a second handshake: only \"off\" is refused",
               breaks=("starttls/on-tls-socket", "starttls/on-upgraded-socket"),
               requirements=("starttls.on-tls-socket", "starttls.check-order"))
class StartTlsOnTlsSocket(Socket):
    TLS_CHECKS = ("_refuse_closed_socket", "_refuse_plain_socket", "_refuse_second_start_tls")

    def _refuse_plain_socket(self) -> None:
        """The option check written as "refuse 'off'" instead of "require 'starttls'"."""
        if self._options.secure_transport == "off":
            raise type_error(TLS_NEEDS_OPTION)


@socket_mutant("starttls-check-order",
               "startTls() checks the option before whether the socket is closed, so a "
               "closed plain socket gets the wrong TypeError", kind="message",
               requirements=("starttls.check-order",))
class StartTlsCheckOrder(Socket):
    TLS_CHECKS = ("_refuse_tls_socket", "_require_starttls_option", "_refuse_closed_socket",
                  "_refuse_second_start_tls")


@socket_mutant("starttls-after-close",
               "startTls() on a closed socket returns a new socket instead of throwing (no "
               "closed check)", breaks=("starttls/after-close",),
               requirements=("starttls.after-close", "starttls.after-upgrade",
                             "starttls.check-order"))
class StartTlsAfterClose(Socket):
    TLS_CHECKS = ("_refuse_tls_socket", "_require_starttls_option", "_refuse_second_start_tls")


@socket_mutant("starttls-once-message",
               "startTls() called again, or after its upgrade, throws older workerd's "
               "\"startTls can only be called once.\"", kind="message",
               breaks=("starttls/twice-in-a-row", "starttls/after-upgrade-finished"),
               requirements=("starttls.once", "starttls.after-upgrade"))
class StartTlsOnceMessage(Socket):
    TLS_CHECKS = ("_only_once", "_refuse_tls_socket", "_refuse_closed_socket",
                  "_require_starttls_option")

    def _only_once(self) -> None:
        """Older workerd's single check for every repeated call, ahead of the others."""
        if self._tls_started:
            raise type_error("startTls can only be called once.")


# ----------------------------------------------------------------------------------------
# what the upgrade does to the old socket and what the new one reports


@socket_mutant("starttls-old-readable",
               "after the upgrade the old socket's readable is still usable (neither "
               "locked nor errored)",
               breaks=("starttls/old-reader-dead",),
               requirements=("starttls.old.reader-dead", "starttls.old.locked-before-handshake"))
class StartTlsOldReadable(Socket):
    def _detach_readable(self) -> None:
        pass


@socket_mutant("starttls-old-writable",
               "after the upgrade the old socket's writable is still usable (neither "
               "locked nor errored)",
               breaks=("starttls/old-writer-dead",),
               requirements=("starttls.old.writer-dead", "starttls.old.locked-before-handshake"))
class StartTlsOldWritable(Socket):
    def _detach_writable(self) -> None:
        pass


@socket_mutant("starttls-upgraded-never",
               "the old socket's upgraded stays false after the upgrade",
               breaks=("starttls/upgraded-flag",),
               requirements=("starttls.old.upgraded",))
class StartTlsUpgradedNever(Socket):
    def _mark_upgraded(self) -> None:
        pass


@socket_mutant("starttls-upgraded-early",
               "upgraded turns true in the same turn as startTls(), before the old "
               "socket has flushed and let go",
               requirements=("starttls.old.upgraded", "starttls.locks-held"))
class StartTlsUpgradedEarly(Socket):
    def startTls(self, options: Any = None) -> Socket:
        new = super().startTls(options)
        self._upgraded = True
        return new


@socket_mutant("starttls-old-closed-pending",
               "the old socket's closed never resolves after startTls() (the signal "
               "postgres waits for)",
               breaks=("starttls/old-closed-resolves", "starttls/upgraded-flag",
                       "starttls/postgres"),
               requirements=("starttls.old.closed-resolves", "starttls.old.upgraded",
                             "starttls.flow.postgres"))
class StartTlsOldClosedPending(Socket):
    def _upgrade_resolves_closed(self) -> None:
        pass


@socket_mutant("starttls-new-secure-transport",
               "the socket startTls() returns reports secureTransport \"starttls\" (its "
               "options copied unchanged) instead of \"on\"",
               breaks=("starttls/new-socket-properties", "starttls/on-upgraded-socket"),
               requirements=("starttls.new.properties", "starttls.on-tls-socket"))
class StartTlsNewSecureTransport(Socket):
    def startTls(self, options: Any = None) -> Socket:
        new = super().startTls(options)
        new._options = dataclasses.replace(new._options,
                                           secure_transport=self._options.secure_transport)
        return new


@socket_mutant("starttls-ignores-locks",
               "startTls() takes the connection over while the caller still holds the old "
               "reader or writer, instead of leaving the socket as it was",
               breaks=("starttls/held-reader-blocks-upgrade",
                       "starttls/held-writer-blocks-upgrade"),
               requirements=("starttls.locks-held",))
class StartTlsIgnoresLocks(Socket):
    def _held_lock_blocks_upgrade(self, holder: Reader | Writer | None, message: str) -> bool:
        return False


@socket_mutant("starttls-old-close-tears-down",
               "close() on the old socket after the upgrade closes the connection the new "
               "socket now uses", breaks=("starttls/old-close-harmless",),
               requirements=("starttls.old.close-harmless",))
class StartTlsOldCloseTearsDown(Socket):
    def _close_releases_connection(self) -> None:
        self._wire.close()


@socket_mutant("starttls-old-secure-transport-on",
               "after the upgrade the old socket reports secureTransport \"on\" (the "
               "connection's transport, not its own option)",
               breaks=("starttls/old-secure-transport",),
               requirements=("starttls.old.secure-transport",))
class StartTlsOldSecureTransportOn(Socket):
    @property
    def secureTransport(self) -> str:
        return "on" if self._upgraded else super().secureTransport


@socket_mutant("starttls-forgets-half-open",
               "the socket startTls() returns has allowHalfOpen false whatever connect() "
               "was told", breaks=("starttls/inherits-allow-half-open",),
               requirements=("starttls.new.allow-half-open",))
class StartTlsForgetsHalfOpen(Socket):
    def startTls(self, options: Any = None) -> Socket:
        new = super().startTls(options)
        new._options.allow_half_open = False  # a fresh Options: the old socket keeps its own
        return new


@socket_mutant("starttls-new-socket-info-ip-only",
               "the socket startTls() returns reports the peer's IP without the port in "
               "opened (Node's tls.TLSSocket.remoteAddress)",
               breaks=("starttls/new-socket-opened",),
               requirements=("starttls.new.opened",))
class StartTlsNewSocketInfoIpOnly(Socket):
    async def _upgrade(self, old: Socket) -> None:
        await super()._upgrade(old)
        if self.opened.done() and self.opened.exception() is None:
            self.opened.result()["remoteAddress"] = self._address.connect_host


@socket_mutant("starttls-ignores-expected-hostname",
               "startTls({expectedServerHostname}) is ignored: the certificate is checked "
               "against the address's hostname", breaks=("starttls/expected-server-hostname",),
               requirements=("starttls.expected-server-hostname",))
class StartTlsIgnoresExpectedHostname(Socket):
    def startTls(self, options: Any = None) -> Socket:
        return super().startTls(None)


# ----------------------------------------------------------------------------------------
# TLS itself


@socket_mutant("tls-ignored",
               "secureTransport \"on\" is accepted but the connection stays plain text",
               breaks=("tls/round-trip", "tls/peer-speaks-first", "tls/large-transfer",
                       "tls/peer-end-allow-half-open-true", "tls/peer-end-allow-half-open-false",
                       "tls/opened-after-handshake"),
               requirements=("tls.on.round-trip", "tls.on.opened",
                             "tls.on.writes-before-handshake", "tls.large-transfer",
                             "tls.half-open.writer-close", "tls.half-open.allow-true",
                             "tls.half-open.allow-false", "tls.verify.untrusted",
                             "tls.verify.hostname", "tls.verify.expired"))
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
               "expired certificates pass",
               breaks=("tls/untrusted-certificate", "tls/hostname-mismatch",
                       "tls/expired-certificate", "starttls/untrusted-certificate",
                       "starttls/hostname-mismatch", "starttls/expired-certificate"),
               requirements=("tls.verify.untrusted", "tls.verify.hostname", "tls.verify.expired",
                             "starttls.expected-server-hostname"))
class TlsNoVerify(_OwnContext):
    VERIFY = False
    CHECK_HOSTNAME = False


@socket_mutant("tls-no-hostname-check",
               "TLS verifies the certificate chain but not that it names the host "
               "(check_hostname off)",
               requirements=("tls.verify.hostname", "starttls.expected-server-hostname"))
class TlsNoHostnameCheck(_OwnContext):
    CHECK_HOSTNAME = False


class _NoTlsHalfCloseWire(Wire):
    def write_eof(self) -> None:
        super().write_eof()
        if self.tls is not None:
            self.close()  # as asyncio's own TLS transport, which cannot half-close


@socket_mutant("tls-writer-close-ends-all",
               "over TLS, writer.close() sends close_notify and then closes the whole "
               "connection, so nothing more can be read",
               breaks=("tls/writer-close-keeps-reading",),
               requirements=("tls.half-open.writer-close",))
class TlsWriterCloseEndsAll(Socket):
    WIRE = _NoTlsHalfCloseWire


class _PartialTlsWriteWire(Wire):
    def _send(self, data: bytes) -> None:
        super()._send(data[:TLS_RECORD] if self.tls is not None else data)


@socket_mutant("tls-partial-writes",
               "each write over TLS sends only its first 16 KiB (one record) and fulfils: "
               "a partial SSL_write taken for a whole one",
               breaks=("tls/large-transfer", "starttls/large-transfer"),
               requirements=("tls.large-transfer", "streams.single-large-write"))
class TlsPartialWrites(Socket):
    WIRE = _PartialTlsWriteWire
