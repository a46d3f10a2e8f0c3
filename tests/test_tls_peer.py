"""The TLS side of the puppet peer, driven by Python's own ssl module on loopback.

The peer runs on the test's event loop; the client is blocking and runs in a worker thread
(`asyncio.to_thread`), so each side waits on the other through real sockets, never sleeps.
Two clients: ssl.SSLSocket where a plain client will do, and `BioClient` (TLS over memory
BIOs on a plain socket) where the test needs what SSLSocket cannot do: send close_notify and
keep going, pipeline a ClientHello behind plaintext, or put its Finished and first record in
one segment.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sockets_conformance.model.loader import load_case
from sockets_conformance.running.adapter import CaseContext
from sockets_conformance.running.runner import Runner
from sockets_conformance.running.settings import Settings
from sockets_conformance.servers import certs
from sockets_conformance.servers.puppet import Connection, PeerFailure, PuppetPeer
from sockets_conformance.servers.tls import TlsState

T = 5.0  # an upper bound for waits that normally end in milliseconds


def run(scenario: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(scenario, 4 * T))


class BioClient:
    """A blocking client: plaintext on a socket, then TLS over memory BIOs on the same one."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=T)
        self._in, self._out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls: ssl.SSLObject | None = None

    def close(self) -> None:
        self.sock.close()

    # plaintext -------------------------------------------------------------------------------
    def send_plain(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv_plain(self, n: int) -> bytes:
        got = b""
        while len(got) < n:
            chunk = self.sock.recv(n - len(got))  # never more than asked: TLS may follow
            if not chunk:
                raise EOFError(f"EOF after {got!r}")
            got += chunk
        return got

    # TLS -------------------------------------------------------------------------------------
    def start_tls(self, context: ssl.SSLContext | None = None,
                  hostname: str = "localhost") -> None:
        context = context or certs.client_context()
        self._tls = context.wrap_bio(self._in, self._out, server_hostname=hostname)

    def client_hello(self) -> bytes:
        """The first flight, taken instead of sent."""
        assert self._tls is not None
        with contextlib.suppress(ssl.SSLWantReadError):
            self._tls.do_handshake()
        return self._out.read()

    def handshake(self, flush_finished: bool = True) -> None:
        assert self._tls is not None
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                if not self._fill():
                    raise ConnectionError("EOF during the handshake") from None
            except ssl.SSLError:
                self._flush()  # our alert goes out, as a real client's would
                raise
        if flush_finished:
            self._flush()

    def send(self, data: bytes) -> None:
        assert self._tls is not None
        self._tls.write(data)
        self._flush()

    def recv(self, n: int) -> bytes:
        assert self._tls is not None
        got = b""
        while len(got) < n:
            try:
                chunk = self._tls.read(n - len(got))
            except ssl.SSLWantReadError:
                if not self._fill():
                    raise EOFError(f"FIN after {got!r}") from None
                continue
            except ssl.SSLZeroReturnError:
                chunk = b""
            if not chunk:
                raise EOFError(f"close_notify after {got!r}")
            got += chunk
        return got

    def read_eof(self) -> str:
        """How the stream ended: 'close_notify' or 'fin' (a bare FIN)."""
        assert self._tls is not None
        while True:
            try:
                data = self._tls.read(65536)
            except ssl.SSLWantReadError:
                if not self._fill():
                    return "fin"
                continue
            except ssl.SSLZeroReturnError:
                return "close_notify"
            if not data:
                return "close_notify"
            raise AssertionError(f"expected EOF, got {data!r}")

    def close_notify(self) -> None:
        assert self._tls is not None
        with contextlib.suppress(ssl.SSLWantReadError):
            self._tls.unwrap()
        self._flush()

    def _flush(self) -> None:
        data = self._out.read()
        if data:
            self.sock.sendall(data)

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            self._in.write_eof()
            return False
        self._in.write(data)
        return True


@contextlib.asynccontextmanager
async def running(tls: bool = False, cert: str = "valid") -> AsyncIterator[PuppetPeer]:
    peer = PuppetPeer("peer", tls=tls, cert=cert)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


@contextlib.asynccontextmanager
async def client_of(peer: PuppetPeer) -> AsyncIterator[BioClient]:
    client = await asyncio.to_thread(BioClient, peer.port)
    try:
        yield client
    finally:
        client.close()


async def arrived(conn: Connection, total: int) -> None:
    """Wait until `total` bytes in all reached the peer, so a test knows what is buffered."""
    await conn._wait(lambda: len(conn.received) >= total, T, f"{total} bytes")


# The go-ahead exchanges of real protocols, as plain puppet steps: (greeting, command, go-ahead).
UPGRADES = {
    "smtp": (b"220 ready\r\n", b"STARTTLS\r\n", b"220 go ahead\r\n"),
    "postgres": (b"", bytes.fromhex("0000000804d2162f"), b"S"),
}


async def upgrade(peer: PuppetPeer, client: BioClient, flow: str = "smtp") -> Connection:
    """Plaintext exchange, then peer.start_tls at the go-ahead, then the client's handshake."""
    greeting, command, go_ahead = UPGRADES[flow]
    conn = await peer.accept(T)
    if greeting:
        conn.send(greeting)
        assert await asyncio.to_thread(client.recv_plain, len(greeting)) == greeting
    await asyncio.to_thread(client.send_plain, command)
    await conn.expect(command, T)
    conn.send(go_ahead)
    peer.start_tls()
    assert await asyncio.to_thread(client.recv_plain, len(go_ahead)) == go_ahead
    client.start_tls()
    await asyncio.to_thread(client.handshake)
    return conn


async def tls_connection(peer: PuppetPeer, client: BioClient, mode: str) -> Connection:
    if mode == "starttls":
        return await upgrade(peer, client)
    client.start_tls()
    await asyncio.to_thread(client.handshake)
    return await peer.accept(T)


MODES = ["first-byte", "starttls"]


# certificates --------------------------------------------------------------------------------
def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def _names(kind: str) -> tuple[set[str], set[str]]:
    san = _cert(certs.certificate_pem(kind)).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    return (set(san.get_values_for_type(x509.DNSName)),
            {str(ip) for ip in san.get_values_for_type(x509.IPAddress)})


def test_certificates_have_the_right_names_and_issuers() -> None:
    ca = _cert(certs.ca_pem())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _names("valid") == ({"localhost"}, {"127.0.0.1", "::1"})
    assert _names("expired") == ({"localhost"}, {"127.0.0.1", "::1"})
    assert _names("untrusted") == ({"localhost"}, {"127.0.0.1", "::1"})
    assert _names("wrong-host") == ({"wrong.example"}, set())
    for kind in ("valid", "wrong-host", "expired"):
        assert _cert(certs.certificate_pem(kind)).issuer == ca.subject
    assert _cert(certs.certificate_pem("untrusted")).issuer != ca.subject
    assert _cert(certs.certificate_pem("expired")).not_valid_after_utc < dt.datetime.now(dt.UTC)
    assert certs.ca_pem_path().read_text() == certs.ca_pem()
    assert certs.ca_pem() == certs.ca_pem()  # one CA per process
    with pytest.raises(ValueError, match="unknown certificate kind"):
        certs.server_context("selfsigned")


# TLS from the first byte ---------------------------------------------------------------------
@pytest.mark.parametrize("hostname", ["localhost", "127.0.0.1"])
def test_tls_from_first_byte_round_trip_with_stdlib_client(hostname: str) -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer:
            raw = await asyncio.to_thread(socket.create_connection, ("127.0.0.1", peer.port), T)
            with raw, await asyncio.to_thread(certs.client_context().wrap_socket, raw,
                                              server_hostname=hostname) as tls:
                conn = await peer.accept(T)
                await asyncio.to_thread(tls.sendall, b"hello")
                await conn.expect(b"hello", T)
                conn.send(b"world")
                assert await asyncio.to_thread(tls.recv, 5) == b"world"
                assert conn.tls is not None and conn.tls.version == "TLSv1.3"
                assert (bytes(conn.received), bytes(conn.sent)) == (b"hello", b"world")

    run(scenario())


def test_tls13_data_in_the_same_segment_as_finished_is_not_lost() -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer, client_of(peer) as client:
            client.start_tls()
            await asyncio.to_thread(client.handshake, False)
            await asyncio.to_thread(client.send, b"right behind Finished")  # one sendall
            conn = await peer.accept(T)
            await conn.expect(b"right behind Finished", T)

    run(scenario())


def test_send_before_the_handshake_completes_is_queued() -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer, client_of(peer) as client:
            conn = await peer.accept(T)
            conn.send(b"early")
            conn.shutdown()  # close_notify and FIN wait behind the handshake too
            client.start_tls()
            await asyncio.to_thread(client.handshake)
            assert await asyncio.to_thread(client.recv, 5) == b"early"
            assert await asyncio.to_thread(client.read_eof) == "close_notify"

    run(scenario())


# STARTTLS ------------------------------------------------------------------------------------
@pytest.mark.parametrize("flow", list(UPGRADES))
def test_start_tls_mid_stream_round_trip(flow: str) -> None:
    async def scenario() -> None:
        async with running() as peer, client_of(peer) as client:
            conn = await upgrade(peer, client, flow)
            await asyncio.to_thread(client.send, b"EHLO over tls\r\n")
            await conn.expect(b"EHLO over tls\r\n", T)
            conn.send(b"250 secret\r\n")
            assert await asyncio.to_thread(client.recv, 12) == b"250 secret\r\n"
            greeting, command, go_ahead = UPGRADES[flow]
            assert bytes(conn.received) == command + b"EHLO over tls\r\n"
            assert bytes(conn.sent) == greeting + go_ahead + b"250 secret\r\n"

    run(scenario())


def test_pipelined_plaintext_fails_start_tls_and_stays_plaintext() -> None:
    async def scenario() -> None:
        async with running() as peer, client_of(peer) as client:
            conn = await peer.accept(T)
            pipelined = b"STARTTLS\r\nMAIL FROM:<evil>\r\n"
            await asyncio.to_thread(client.send_plain, pipelined)
            await conn.expect(b"STARTTLS\r\n", T)
            await arrived(conn, len(pipelined))
            with pytest.raises(PeerFailure, match=r"^plaintext pipelined behind the STARTTLS "
                                                  r"upgrade: b'MAIL FROM:<evil>\\r\\n'"):
                peer.start_tls()
            assert conn.tls is None
            assert bytes(conn.unread) == b"MAIL FROM:<evil>\r\n"

    run(scenario())


def test_pipelined_client_hello_is_never_fed_to_tls() -> None:
    async def scenario() -> None:
        async with running() as peer, client_of(peer) as client:
            conn = await peer.accept(T)
            client.start_tls()
            hello = client.client_hello()
            await asyncio.to_thread(client.send_plain, b"STARTTLS\r\n" + hello)
            await conn.expect(b"STARTTLS\r\n", T)
            await arrived(conn, 10 + len(hello))
            with pytest.raises(PeerFailure, match="looks like a TLS ClientHello"):
                peer.start_tls()
            assert conn.tls is None and bytes(conn.unread) == hello

    run(scenario())


def test_plaintext_arriving_after_the_upgrade_point_fails_the_handshake() -> None:
    async def scenario() -> None:
        async with running() as peer, client_of(peer) as client:
            conn = await peer.accept(T)
            peer.start_tls()
            await asyncio.to_thread(client.send_plain, b"EHLO in the clear\r\n")
            with pytest.raises(PeerFailure, match=r"^TLS handshake failed: .*first bytes after "
                                                  r"the upgrade point were b'EHLO in the cl"):
                await conn.expect(b"EHLO", T)
            assert bytes(conn.received) == b""  # never taken for application data

    run(scenario())


def test_start_tls_twice_fails() -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer, client_of(peer):
            await peer.accept(T)
            with pytest.raises(PeerFailure, match="already speaks TLS"):
                peer.start_tls()

    run(scenario())


# half-close, close, reset over TLS -----------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_client_close_notify_is_eof_and_the_peer_can_still_send(mode: str) -> None:
    async def scenario() -> None:
        async with running(tls=mode == "first-byte") as peer, client_of(peer) as client:
            conn = await tls_connection(peer, client, mode)
            await asyncio.to_thread(client.send, b"last words")
            await asyncio.to_thread(client.close_notify)  # TCP stays open both ways
            await conn.expect(b"last words", T)
            await conn.expect_eof(T)
            assert conn.tls is not None and conn.tls.close_notify_received and not conn.closed
            conn.send(b"reply after your close_notify")
            assert await asyncio.to_thread(client.recv, 29) == b"reply after your close_notify"
            conn.shutdown()
            assert await asyncio.to_thread(client.read_eof) == "close_notify"

    run(scenario())


@pytest.mark.parametrize("mode", MODES)
def test_peer_shutdown_sends_close_notify_and_keeps_reading(mode: str) -> None:
    async def scenario() -> None:
        async with running(tls=mode == "first-byte") as peer, client_of(peer) as client:
            conn = await tls_connection(peer, client, mode)
            conn.send(b"bye")
            conn.shutdown()
            assert await asyncio.to_thread(client.recv, 3) == b"bye"
            assert await asyncio.to_thread(client.read_eof) == "close_notify"
            await asyncio.to_thread(client.send, b"still here")
            await conn.expect(b"still here", T)
            await asyncio.to_thread(client.close_notify)
            await conn.expect_eof(T)
            with pytest.raises(PeerFailure, match="already shut down"):
                conn.send(b"too late")

    run(scenario())


def test_client_fin_without_close_notify_is_eof() -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer, client_of(peer) as client:
            conn = await tls_connection(peer, client, "first-byte")
            await asyncio.to_thread(client.sock.shutdown, socket.SHUT_WR)
            await conn.expect_eof(T)
            assert conn.tls is not None and not conn.tls.close_notify_received

    run(scenario())


def test_close_sends_close_notify_then_fin() -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer, client_of(peer) as client:
            conn = await tls_connection(peer, client, "first-byte")
            conn.send(b"done")
            conn.close()
            assert await asyncio.to_thread(client.recv, 4) == b"done"
            assert await asyncio.to_thread(client.read_eof) == "close_notify"
            assert await asyncio.to_thread(client.sock.recv, 1) == b""

    run(scenario())


def test_reset_over_tls_is_a_tcp_reset() -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer, client_of(peer) as client:
            conn = await tls_connection(peer, client, "first-byte")
            conn.reset()
            with pytest.raises(ConnectionResetError):
                await asyncio.to_thread(client.recv, 1)

    run(scenario())


# handshake failures --------------------------------------------------------------------------
@pytest.mark.parametrize(("cert", "client_error"), [
    ("untrusted", "unable to get local issuer certificate"),
    ("wrong-host", "Hostname mismatch"),
    ("expired", "certificate has expired"),
])
@pytest.mark.parametrize("mode", MODES)
def test_client_rejecting_the_certificate_is_recorded_and_fails_later_steps(
        cert: str, client_error: str, mode: str) -> None:
    async def scenario() -> None:
        async with running(tls=mode == "first-byte", cert=cert) as peer, \
                client_of(peer) as client:
            with pytest.raises(ssl.SSLCertVerificationError, match=client_error):
                await tls_connection(peer, client, mode)
            conn = peer.current or await peer.accept(T)
            with pytest.raises(PeerFailure, match=r"^TLS handshake failed: \S"):
                await conn.expect(b"anything", T)
            assert conn.tls is not None and conn.tls.state is TlsState.FAILED
            for step in (lambda: conn.send(b"x"), conn.shutdown):
                with pytest.raises(PeerFailure, match=r"^TLS handshake failed"):
                    step()
            with pytest.raises(PeerFailure, match=r"^TLS handshake failed"):
                await conn.expect_eof(T)

    run(scenario())


def test_handshake_abandoned_by_the_client_is_reported() -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer, client_of(peer) as client:
            conn = await peer.accept(T)
            await asyncio.to_thread(client.sock.shutdown, socket.SHUT_WR)
            with pytest.raises(PeerFailure, match="closed the connection before the handshake"):
                await conn.expect_eof(T)

    run(scenario())


def test_expect_timeout_mentions_an_unfinished_handshake() -> None:
    async def scenario() -> None:
        async with running(tls=True) as peer, client_of(peer):
            conn = await peer.accept(T)
            with pytest.raises(PeerFailure, match="TLS handshake has not completed"):
                await conn.expect(b"x", 0.05)

    run(scenario())


# runner plumbing -----------------------------------------------------------------------------
class _Scope:
    async def violations(self) -> list[str]:
        return []

    async def close(self) -> None:
        pass


class _Adapter:
    def __init__(self) -> None:
        self.context: CaseContext | None = None

    async def open_scope(self, context: CaseContext) -> _Scope:
        self.context = context
        return _Scope()


CASE = """\
id: starttls/plumbing
title: The runner builds TLS peers and hands the CA over
requirements: [connect.object-form]
features: [tls, starttls]
peers:
  secure: {tls: true, cert: wrong-host}
  plain:
steps:
  - plain.accept
  - plain.expect: "STARTTLS\\r\\n"
  - plain.send: "220 go ahead\\r\\n"
  - plain.start_tls
  - plain.expect: "EHLO\\r\\n"
"""


def test_runner_creates_tls_peers_passes_the_ca_and_runs_start_tls(tmp_path: Path) -> None:
    path = tmp_path / "starttls" / "plumbing.yaml"
    path.parent.mkdir()
    path.write_text(CASE)
    case = load_case(path, cases_root=tmp_path)
    assert [(p.name, p.tls, p.cert) for p in case.peers] == [
        ("secure", True, "wrong-host"), ("plain", False, "valid")]

    async def scenario() -> None:
        adapter = _Adapter()
        runner = Runner(case, adapter, Settings())  # type: ignore[arg-type]
        async with runner.env as env:
            assert adapter.context is not None and adapter.context.ca_pem == certs.ca_pem()
            assert env.peers["secure"].tls and env.peers["secure"].cert == "wrong-host"
            async with client_of(env.peers["plain"]) as client:
                await asyncio.to_thread(client.send_plain, b"STARTTLS\r\n")
                for step in case.steps[:4]:
                    await runner._peer_step(step)
                assert await asyncio.to_thread(client.recv_plain, 14) == b"220 go ahead\r\n"
                client.start_tls()
                await asyncio.to_thread(client.handshake)
                await asyncio.to_thread(client.send, b"EHLO\r\n")
                await runner._peer_step(case.steps[4])

    run(scenario())
