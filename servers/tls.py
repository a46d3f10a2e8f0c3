"""Server-side TLS for the puppet peer, as a state machine with no I/O: wire bytes go in,
application bytes come out, and `outgoing()` says what to put on the wire next.

Why not asyncio's own TLS (create_server(ssl=...) or loop.start_tls): its transport cannot
half-close (write_eof raises NotImplementedError), and on the client's close_notify it shuts
the whole connection down, dropping later writes. A peer that must send after the client's
close_notify, or keep reading after its own, needs the TLS records in its own hands. And for
STARTTLS the upgrade point must be exact: bytes that arrived in plaintext are never handed
to TLS; only bytes that arrive after the upgrade are (see Connection.start_tls).
"""

from __future__ import annotations

import enum
import re
import ssl

_CLIENT_HELLO_START = b"\x16\x03"   # TLS handshake record, legacy version 3.x
_SSL_LOCATION = re.compile(r"\s*\(_ssl\.c:\d+\)$")


class TlsState(enum.Enum):
    HANDSHAKING = "handshaking"
    OPEN = "open"
    FAILED = "failed"


class ServerTls:
    """One server-side TLS session over a pair of memory BIOs.

    Plaintext written before the handshake completes is queued and sent right after it, so a
    peer step never has to wait for the client to finish its handshake. Reading continues
    after our close_notify, and writing continues after the client's: TLS half-close.
    """

    def __init__(self, context: ssl.SSLContext) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._ssl = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self.state = TlsState.HANDSHAKING
        self.error: str | None = None
        self.close_notify_received = False
        self.close_notify_sent = False
        self.first_bytes = b""          # what the client sent first, to explain a failure
        self._queued = bytearray()
        self._close_notify_queued = False

    @property
    def version(self) -> str | None:
        return self._ssl.version()

    def owns(self, sslobj: ssl.SSLObject) -> bool:
        return sslobj is self._ssl

    @property
    def can_send(self) -> bool:
        return (self.state is not TlsState.FAILED and not self.close_notify_sent
                and not self._close_notify_queued)

    # input ---------------------------------------------------------------------------------
    def receive(self, data: bytes) -> bytes:
        """Feed bytes from the wire; return the application bytes they completed."""
        if len(self.first_bytes) < 16:
            self.first_bytes += data[: 16 - len(self.first_bytes)]
        if self.state is TlsState.FAILED:
            return b""  # after a fatal alert nothing on this stream can be trusted
        self._incoming.write(data)
        if self.state is TlsState.HANDSHAKING and not self._handshake():
            return b""
        # Not "return early": TLS 1.3 application data may sit right behind the client's
        # Finished in the same segment, and must come out now, not with the next segment.
        return self._read()

    def receive_eof(self) -> None:
        """The client's TCP stream ended (FIN), with or without a close_notify before it."""
        self._incoming.write_eof()
        if self.state is TlsState.HANDSHAKING:
            self._fail("the client closed the connection before the handshake completed")

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.state is TlsState.HANDSHAKING:
            how = f"was lost ({exc!r})" if exc else "was closed"
            self._fail(f"the connection {how} before the handshake completed")

    # output --------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Encrypt application bytes now, or queue them until the handshake completes."""
        if not self.can_send:
            raise ValueError("TLS session cannot send")
        if self.state is TlsState.HANDSHAKING:
            self._queued += data
        elif data:
            self._ssl.write(data)

    def close_notify(self) -> None:
        """Send close_notify (after anything queued); reading goes on."""
        if self.state is TlsState.HANDSHAKING:
            self._close_notify_queued = True
            return
        if self.state is TlsState.OPEN and not self.close_notify_sent:
            self.close_notify_sent = True
            try:
                self._ssl.unwrap()
            except ssl.SSLWantReadError:
                pass  # ours went out; the client's may come later, or never
            except ssl.SSLError as exc:
                self._fail(f"close_notify could not be sent: {_describe(exc)}", handshake=False)

    def outgoing(self) -> bytes:
        """Bytes that must go on the wire now (handshake flights, records, alerts)."""
        return self._outgoing.read()

    # inside --------------------------------------------------------------------------------
    def _handshake(self) -> bool:
        try:
            self._ssl.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLError as exc:
            self._fail(_describe(exc))
            return False
        self.state = TlsState.OPEN
        if self._queued:
            self._ssl.write(bytes(self._queued))
            self._queued.clear()
        if self._close_notify_queued:
            self._close_notify_queued = False
            self.close_notify()
        return True

    def _read(self) -> bytes:
        out = bytearray()
        while not self.close_notify_received and self.state is TlsState.OPEN:
            try:
                chunk = self._ssl.read(65536)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.close_notify_received = True
                break
            except ssl.SSLError as exc:
                self._fail(_describe(exc), handshake=False)
                break
            if not chunk:  # SSLObject.read returns b"" on a close_notify
                self.close_notify_received = True
                break
            out += chunk
        return bytes(out)

    def _fail(self, reason: str, handshake: bool = True) -> None:
        if self.state is TlsState.FAILED:
            return
        if handshake:
            self.error = f"TLS handshake failed: {reason}"
            if self.first_bytes and not self.first_bytes.startswith(_CLIENT_HELLO_START):
                self.error += (f"; the client's first bytes after the upgrade point were "
                               f"{self.first_bytes!r}, which is not a TLS ClientHello")
        else:
            self.error = f"TLS error after the handshake: {reason}"
        self.state = TlsState.FAILED
        self._queued.clear()


def looks_like_client_hello(data: bytes) -> bool:
    return data.startswith(_CLIENT_HELLO_START)


def _describe(exc: ssl.SSLError) -> str:
    return _SSL_LOCATION.sub("", str(exc.args[1] if len(exc.args) > 1 else exc))
