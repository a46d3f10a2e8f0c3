"""Peer network conditions (servers/network.py): segments really leave one by one, in order,
with the FIN or RST behind them, the seeded cuts are reproducible, and the report says what
the peer saw."""

from __future__ import annotations

import asyncio
import itertools
import random
import socket

import pytest
from sockets_conformance.servers.fragmentation import case_rng, run_seed
from sockets_conformance.servers.network import Split, chaos_cut
from sockets_conformance.servers.puppet import PuppetPeer


def test_split_cuts_by_count_and_by_size() -> None:
    data = bytes(range(10))
    assert Split(segments=3).cut(data) == [data[:3], data[3:6], data[6:]]
    assert Split(size=4).cut(data) == [data[:4], data[4:8], data[8:]]
    assert b"".join(Split(segments=99).cut(data)) == data


def test_seeded_cuts_are_reproducible_and_lossless() -> None:
    data = bytes(range(200))
    first = chaos_cut(data, case_rng(1, "a/case", "peer"))
    assert first == chaos_cut(data, case_rng(1, "a/case", "peer"))
    assert b"".join(piece for piece, _ in first) == data
    seeds = {run_seed(1, "a/case", k) for k in range(1, 21)}
    assert run_seed(1, "a/case", 1) == 1 and len(seeds) == 20


async def _client(peer: PuppetPeer) -> socket.socket:
    sock = socket.create_connection((peer.host, peer.port))
    sock.setblocking(False)
    await peer.accept(1.0)
    return sock


async def _recv_all(sock: socket.socket) -> tuple[list[bytes], Exception | None]:
    """Every recv() until the end, one entry per recv, and the error that ended it if any."""
    loop, chunks = asyncio.get_running_loop(), []
    try:
        while chunk := await loop.sock_recv(sock, 4096):
            chunks.append(chunk)
    except ConnectionResetError as exc:
        return chunks, exc
    return chunks, None


def test_segments_with_pauses_arrive_one_by_one_then_fin() -> None:
    async def main() -> None:
        peer = PuppetPeer("peer")
        await peer.start()
        sock = await _client(peer)
        reading = asyncio.ensure_future(_recv_all(sock))
        peer.conn().send(b"abcdefgh", Split(segments=4, delay=0.02, end="fin"))
        await peer.conn().flushed()
        chunks, error = await reading
        assert b"".join(chunks) == b"abcdefgh" and error is None
        sent = peer.conn().log.sent
        assert [n for _, n, _ in sent] == [2, 2, 2, 2]
        # each write waited for its pause (a lower bound: a sleep never ends early)
        assert all(b[0] - a[0] >= 0.015 for a, b in itertools.pairwise(sent))
        assert "2 B with FIN" in peer.conn().log.describe(tls=False)
        sock.close()
        await peer.stop()

    asyncio.run(main())


def test_reset_follows_the_data() -> None:
    async def main() -> None:
        peer = PuppetPeer("peer")
        await peer.start()
        sock = await _client(peer)
        peer.conn().send(b"before the reset", Split(segments=2, delay=0.01, end="reset"))
        await peer.conn().flushed()
        chunks, error = await _recv_all(sock)
        assert b"".join(chunks) == b"before the reset"
        assert isinstance(error, ConnectionResetError)
        sock.close()
        await peer.stop()

    asyncio.run(main())


def test_seeded_fragmentation_splits_every_send_in_order() -> None:
    async def main() -> None:
        peer = PuppetPeer("peer", rng=random.Random(3))
        await peer.start()
        sock = await _client(peer)
        data = bytes(range(256)) * 4
        peer.conn().send(data)
        peer.conn().shutdown()
        chunks, _ = await _recv_all(sock)
        assert b"".join(chunks) == data
        assert len(peer.conn().log.sent) > 2   # more than one segment, then the FIN
        sock.close()
        await peer.stop()

    asyncio.run(main())


@pytest.mark.parametrize("close_notify", [True, False])
def test_tls_shutdown_with_or_without_close_notify(close_notify: bool) -> None:
    import ssl

    from sockets_conformance.servers import certs

    def client(port: int) -> tuple[bytes, str]:
        raw = socket.create_connection(("127.0.0.1", port))
        with certs.client_context().wrap_socket(raw, server_hostname="localhost",
                                                suppress_ragged_eofs=False) as tls:
            data = b""
            try:
                while chunk := tls.recv(4096):
                    data += chunk
            except ssl.SSLEOFError:
                return data, "no close_notify"
            return data, "close_notify"

    async def main() -> None:
        peer = PuppetPeer("peer", tls=True)
        await peer.start()
        ending = asyncio.ensure_future(asyncio.to_thread(client, peer.port))
        await peer.accept(1.0)
        await peer.conn().expect_sni("localhost", 1.0)
        peer.conn().send(b"last")
        peer.conn().shutdown(close_notify=close_notify)
        assert await ending == (b"last", "close_notify" if close_notify else "no close_notify")
        await peer.stop()

    asyncio.run(main())


def test_the_option_cuts_every_send_and_the_report_names_the_seed(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """--peer-fragmentation reaches the peers of a real run: a failing case shows its run's
    seed and more than one segment for a 16-byte send; without the option, one segment."""
    from tests.test_usage import inprocess_run

    case = pytester.path / "cases" / "x" / "cut.yaml"
    case.parent.mkdir(parents=True)
    case.write_text("id: x/cut\ntitle: A failing case to look at its network report\n"
                    "requirements: [streams.read-delivers]\nfeatures: [tcp]\nsteps:\n"
                    "  - connect: {}\n  - peer.accept\n  - peer.send: \"sixteen bytes...\"\n"
                    "  - read: {expect: {value: \"sixteen bytes...!\"}}\n")
    cut = inprocess_run(pytester, monkeypatch, "-q", str(case), "--cases-dir",
                        str(case.parent.parent), "--peer-fragmentation=5")
    assert "peer fragmentation seed 5 (rerun: --peer-fragmentation=5)" in cut.stdout
    assert "connection 1: sent 1 segment(s)" not in cut.stdout, cut.stdout
    whole = inprocess_run(pytester, monkeypatch, "-q", str(case), "--cases-dir",
                          str(case.parent.parent))
    assert "connection 1: sent 1 segment(s): 16 B" in whole.stdout, whole.stdout
    assert "fragmentation seed" not in whole.stdout
