"""The workerd bridge's stdin reader (adapters/workerd/lines.py): whatever way the pipe splits
the input, each line comes out whole and in order, in pieces no longer than asked for, and a
reader that is far ahead stops reading until the bridge catches up."""

from __future__ import annotations

import asyncio
import random

from sockets_conformance.adapters.workerd.lines import Lines


class FakePipe(asyncio.ReadTransport):
    def __init__(self) -> None:
        super().__init__()
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


async def read_all(lines: Lines, limit: int) -> list[list[bytes]]:
    """Every line as the pieces it was handed over in."""
    out: list[list[bytes]] = []
    current: list[bytes] = []
    while (got := await lines.piece(limit)) is not None:
        chunks, ended = got
        piece = b"".join(chunks)
        assert len(piece) <= limit
        current.append(piece)
        if ended:
            out.append(current)
            current = []
    assert not current, "a piece that did not end its line was the last"
    return out


def feed(data: bytes, cuts: list[int], eof: bool = True, backlog: int = 1 << 30) -> Lines:
    lines = Lines(backlog)
    lines.connection_made(FakePipe())
    at = 0
    for cut in [*cuts, len(data)]:
        if cut > at:
            lines.data_received(data[at:cut])
            at = cut
    if eof:
        lines.eof_received()
    return lines


def test_lines_survive_any_split_of_the_input() -> None:
    rng = random.Random(7)
    for _ in range(200):
        lines_in = [rng.randbytes(rng.choice([0, 1, 5, 63, 64, 65, 200])).replace(b"\n", b"x")
                    for _ in range(rng.randint(1, 6))]
        data = b"".join(line + b"\n" for line in lines_in)
        cuts = sorted(rng.sample(range(len(data) + 1), min(len(data) + 1, rng.randint(0, 12))))
        limit = rng.choice([1, 7, 64, 1000])
        got = asyncio.run(read_all(feed(data, cuts), limit))
        assert [b"".join(pieces) for pieces in got] == lines_in
        for pieces in got:   # every piece but the last is full
            assert all(len(piece) == limit for piece in pieces[:-1])


def test_a_line_of_exactly_the_limit_is_one_piece() -> None:
    got = asyncio.run(read_all(feed(b"a" * 8 + b"\n" + b"b" * 9 + b"\n", [3]), 8))
    assert got == [[b"a" * 8], [b"b" * 8, b"b"]]


def test_the_last_line_needs_no_newline_and_the_end_is_none() -> None:
    got = asyncio.run(read_all(feed(b'{"id":0}\n{"id":1}', [4, 12]), 100))
    assert got == [[b'{"id":0}'], [b'{"id":1}']]


def test_a_piece_waits_for_its_bytes() -> None:
    async def run() -> tuple[list[bytes], bool] | None:
        lines = feed(b"abc", [], eof=False)
        waiting = asyncio.ensure_future(lines.piece(10))
        await asyncio.sleep(0)
        assert not waiting.done()
        lines.data_received(b"de\nrest")
        return await waiting

    assert asyncio.run(run()) == ([b"abc", b"de"], True)


def test_reading_pauses_ahead_of_the_bridge_and_resumes() -> None:
    async def run() -> None:
        lines = feed(b"x" * 50 + b"\n", [10, 20, 30, 40], eof=False, backlog=25)
        pipe = lines.transport
        assert isinstance(pipe, FakePipe) and pipe.paused
        assert await lines.piece(25) == ([b"x" * 10, b"x" * 10, b"x" * 5], False)
        assert pipe.paused   # 26 bytes still wait: more than half the backlog
        assert await lines.piece(25) == ([b"x" * 5, b"x" * 10, b"x" * 10], True)
        assert not pipe.paused

    asyncio.run(run())
