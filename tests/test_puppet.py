"""The puppet peer does what the timeline says and reports wire surprises clearly."""

from __future__ import annotations

import asyncio

import pytest
from sockets_conformance.servers.puppet import ClosedPort, PeerFailure, PeerTimeout, PuppetPeer


async def _pair() -> tuple[PuppetPeer, asyncio.StreamReader, asyncio.StreamWriter]:
    peer = PuppetPeer("peer")
    await peer.start()
    reader, writer = await asyncio.open_connection(peer.host, peer.port)
    await peer.accept(1.0)
    return peer, reader, writer


def test_round_trip_and_byte_log() -> None:
    async def main() -> None:
        peer, reader, writer = await _pair()
        writer.write(b"hello")
        await peer.conn().expect(b"hello", 1.0)
        peer.conn().send(b"world")
        assert await reader.readexactly(5) == b"world"
        assert peer.received == b"hello" and peer.sent == b"world"
        writer.close()
        await peer.stop()

    asyncio.run(main())


def test_expect_names_the_first_difference() -> None:
    async def main() -> None:
        peer, _, writer = await _pair()
        writer.write(b"hallo")
        with pytest.raises(PeerFailure, match="first difference at byte 1"):
            await peer.conn().expect(b"hello", 1.0)
        writer.close()
        await peer.stop()

    asyncio.run(main())


def test_expect_times_out_with_what_arrived() -> None:
    async def main() -> None:
        peer, _, writer = await _pair()
        writer.write(b"he")
        with pytest.raises(PeerTimeout, match="unread so far b'he'"):
            await peer.conn().expect(b"hello", 0.05)
        writer.close()
        await peer.stop()

    asyncio.run(main())


def test_half_close_both_ways() -> None:
    async def main() -> None:
        peer, reader, writer = await _pair()
        writer.write_eof()
        await peer.conn().expect_eof(1.0)
        peer.conn().send(b"after your FIN")
        peer.conn().shutdown()
        assert await reader.read() == b"after your FIN"
        writer.close()
        await peer.stop()

    asyncio.run(main())


def test_expect_eof_rejects_extra_data() -> None:
    async def main() -> None:
        peer, _, writer = await _pair()
        writer.write(b"surplus")
        writer.write_eof()
        with pytest.raises(PeerFailure, match="expected EOF, got more data: b'surplus'"):
            await peer.conn().expect_eof(1.0)
        writer.close()
        await peer.stop()

    asyncio.run(main())


def test_reset_is_seen_as_reset_by_the_client() -> None:
    async def main() -> None:
        peer, reader, writer = await _pair()
        peer.conn().reset()
        with pytest.raises(ConnectionResetError):
            await reader.read(10)
        writer.close()
        await peer.stop()

    asyncio.run(main())


def test_accept_times_out_without_a_client() -> None:
    async def main() -> None:
        peer = PuppetPeer("peer")
        await peer.start()
        with pytest.raises(PeerTimeout, match="no connection arrived"):
            await peer.accept(0.05)
        await peer.stop()

    asyncio.run(main())


def test_closed_port_refuses() -> None:
    async def main() -> None:
        port = ClosedPort()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(port.host, port.port)
        port.close()

    asyncio.run(main())
