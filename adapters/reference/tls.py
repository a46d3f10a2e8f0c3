"""TLS for the reference socket, over ssl.MemoryBIO so that it can start mid-connection
(STARTTLS) and half-close (close_notify while still reading), neither of which asyncio's
own SSL transport can do.

TlsLayer sits between the TCP transport and the socket's plaintext buffer: ciphertext in
from `feed`, plaintext out through `on_plain`; plaintext in from `write`, ciphertext out
through `send`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Callable

from .js import JSError

HANDSHAKE_FAILED = "TLS handshake failed"


def client_context(ca_pem: str | None) -> ssl.SSLContext:
    """Trust exactly the run's test CA when one is given (nothing outside the run trusts it),
    else the system store; verify the peer's certificate and name."""
    ctx = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class TlsLayer:
    def __init__(self, context: ssl.SSLContext, server_hostname: str,
                 send: Callable[[bytes], None], on_plain: Callable[[bytes], None],
                 on_close_notify: Callable[[], None]) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._obj = context.wrap_bio(self._in, self._out, server_side=False,
                                     server_hostname=server_hostname)
        self._send, self._on_plain, self._on_close_notify = send, on_plain, on_close_notify
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.handshake.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._pending: list[bytes] = []   # plaintext written before the handshake finished
        self._shut = False
        self.truncated = False            # the TCP stream ended without close_notify

    def start(self) -> None:
        self._step()

    def feed(self, ciphertext: bytes) -> None:
        self._in.write(ciphertext)
        self._step()

    def feed_eof(self) -> None:
        self._in.write_eof()
        self._step()

    def _step(self) -> None:
        if not self.handshake.done():
            try:
                self._obj.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                return
            except (ssl.SSLError, ssl.CertificateError) as exc:
                self._flush()
                self.handshake.set_exception(JSError("Error", f"{HANDSHAKE_FAILED}: {exc}"))
                return
            self.handshake.set_result(None)
            for data in self._pending:
                self._obj.write(data)
            self._pending.clear()
        self._read_all()
        self._flush()

    def _read_all(self) -> None:
        while True:
            try:
                chunk = self._obj.read(65536)
            except ssl.SSLWantReadError:
                return
            except ssl.SSLZeroReturnError:
                self._on_close_notify()
                return
            except ssl.SSLEOFError:
                # A bare FIN: the stream may have been cut short (RFC 8446 6.1); workerd
                # fails the read ("Network connection lost.") rather than reporting an end.
                self.truncated = True
                self._on_close_notify()
                return
            except ssl.SSLError:
                self._on_close_notify()
                return
            if not chunk:
                self._on_close_notify()
                return
            self._on_plain(chunk)

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self._send(data)

    def connection_lost(self, error: JSError) -> None:
        """The TCP connection is gone (the peer reset it, or it closed under us): a
        handshake still running can never finish. It fails with `error`, so opened and
        closed reject instead of staying pending for ever."""
        if not self.handshake.done():
            self.handshake.set_exception(error)

    def write(self, data: bytes) -> None:
        if not self.handshake.done():
            self._pending.append(data)
            return
        self._obj.write(data)
        self._flush()

    def write_eof(self) -> None:
        """Send close_notify and keep reading: TLS half-close."""
        if self._shut or not self.handshake.done():
            return
        self._shut = True
        with contextlib.suppress(ssl.SSLWantReadError, ssl.SSLError):
            self._obj.unwrap()
        self._flush()
