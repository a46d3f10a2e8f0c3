"""Mutants of how the client copes with the network as it behaves: segments and pauses, data
with the FIN, an RST right behind data, a slow reader, TLS records cut across segments, a
TLS stream ended without close_notify, and the server name in the ClientHello."""

from __future__ import annotations

import asyncio
from typing import Any

from sockets_conformance.adapters.reference.egress import host_ip
from sockets_conformance.adapters.reference.js import JSError
from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.adapters.reference.wire import LOST, Wire
from sockets_conformance.gates.mutants.base import socket_mutant

WRITE_PATIENCE = 0.3   # seconds a write waits for the send buffer before giving up
BATCH = 0.005          # seconds the batching reader holds what arrived


class _LatestSegmentWire(Wire):
    def _plain(self, data: bytes) -> None:
        self.buffer.clear()  # the bug: the newest segment replaces what is still unread
        super()._plain(data)


@socket_mutant("read-keeps-latest-segment",
               "each segment that arrives replaces the bytes still unread instead of being "
               "appended to them, so a message cut into segments loses all but its last",
               breaks=("streams/fragmented-read-reassembles",),
               requirements=("network.fragments-reassembled", "network.data-with-fin",
                             "streams.read-delivers", "streams.large-transfer",
                             "tls.large-transfer", "tls.on.round-trip"))
class ReadKeepsLatestSegment(Socket):
    WIRE = _LatestSegmentWire


def _whole_records(data: bytes) -> bool:
    """Whether `data` is a run of complete TLS records (5-byte header, then its length)."""
    at = 0
    while at + 5 <= len(data):
        at += 5 + int.from_bytes(data[at + 3:at + 5], "big")
    return at == len(data)


class _WholeRecordsWire(Wire):
    def data_received(self, data: bytes) -> None:
        if self.tls is not None and self.tls.handshake.done() and not _whole_records(data):
            return  # the bug: a read that does not hold whole records is thrown away
        super().data_received(data)


@socket_mutant("tls-partial-record-dropped",
               "after the handshake each TCP read is taken to hold whole TLS records: a read "
               "that ends inside a record is thrown away",
               breaks=("tls/records-split-across-segments",),
               requirements=("network.tls-records-split", "tls.large-transfer",
                             "tls.on.round-trip"))
class TlsPartialRecordDropped(Socket):
    WIRE = _WholeRecordsWire


class _FinKeepsFirstSegmentWire(Wire):
    _sizes: list[int] | None = None   # the unread segments, as they arrived

    def _plain(self, data: bytes) -> None:
        self._sizes = [*(self._sizes or []), len(data)]
        super()._plain(data)

    def _take_chunk(self) -> bytes:
        self._sizes = None
        return super()._take_chunk()

    def eof_received(self) -> bool:
        if self.tls is None and self._sizes and len(self._sizes) > 1:
            del self.buffer[self._sizes[0]:]  # the bug: one slot survives the end, not all
        return super().eof_received()


@socket_mutant("fin-drops-unread",
               "when the peer's FIN arrives, only the first of the segments not yet read "
               "survives: the later ones, the one carrying the FIN among them, are dropped",
               breaks=("half-open/data-with-fin",),
               requirements=("network.data-with-fin", "network.fragments-reassembled"))
class FinDropsUnread(Socket):
    WIRE = _FinKeepsFirstSegmentWire


class _BatchingWire(Wire):
    """Over plain TCP, hands what arrives to the readable in batches, BATCH seconds after
    the first byte (EOF and a clean close wait for the batch too)."""

    _batch: list[bytes] | None = None

    def _plain(self, data: bytes) -> None:
        if self.tls is not None:
            super()._plain(data)  # plain TCP only: TLS hands over record by record
            return
        if self._batch is None:
            self._batch = []
            asyncio.get_running_loop().call_later(BATCH, self._hand_over)
        self._batch.append(data)

    def eof_received(self) -> bool:
        if self._batch is None:
            return super().eof_received()
        asyncio.get_running_loop().call_later(BATCH, super().eof_received)  # after the batch
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._batch is None or exc is not None:
            super().connection_lost(exc)
        else:
            asyncio.get_running_loop().call_later(BATCH, super().connection_lost, exc)

    def _hand_over(self) -> None:
        batch, self._batch = self._batch or [], None
        if self.lost and isinstance(self.error, Exception):
            return  # the bug: a reset in the meantime discards the batch
        for data in batch:
            super()._plain(data)


@socket_mutant("reset-drops-unread",
               "bytes are handed to the readable in batches a moment after they arrive, and "
               "a reset in between discards the batch: data right before an RST is lost",
               breaks=("errors/peer-reset-after-data",),
               requirements=("network.reset-after-data",))
class ResetDropsUnread(Socket):
    WIRE = _BatchingWire


class _ImpatientWire(Wire):
    async def _drained(self) -> None:
        try:
            await asyncio.wait_for(super()._drained(), WRITE_PATIENCE)
        except TimeoutError:
            raise JSError("Error", LOST) from None


@socket_mutant("write-gives-up-on-slow-reader",
               "a write that waits more than 300 ms for the send buffer to drain rejects with "
               "\"Network connection lost.\": a slow reader is taken for a dead one",
               breaks=("streams/slow-reader-backpressure",),
               requirements=("network.slow-reader", "streams.write-backpressure"))
class WriteGivesUpOnSlowReader(Socket):
    WIRE = _ImpatientWire


class _TruncationIsEndWire(Wire):
    def _tls_eof(self) -> None:
        if self.tls is not None:
            self.tls.truncated = False  # the bug: a bare FIN counts as a clean close_notify
        super()._tls_eof()


@socket_mutant("tls-truncation-is-end",
               "over TLS, a FIN without close_notify ends the readable like a close_notify "
               "instead of failing the read",
               breaks=("tls/peer-end-without-close-notify",),
               requirements=("network.tls-no-close-notify",))
class TlsTruncationIsEnd(Socket):
    WIRE = _TruncationIsEndWire


@socket_mutant("sni-for-ip-address",
               "for an address given as a loopback IP, the ClientHello names the server by "
               "the IP's name (localhost) in SNI instead of sending none",
               breaks=("tls/sni-ip-address-none", "starttls/sni-ip-address-none"),
               requirements=("tls.sni",))
class SniForIpAddress(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ip = host_ip(self._tls_hostname)
        if ip is not None and ip.is_loopback:
            self._tls_hostname = "localhost"  # the bug: a name made up for SNI
