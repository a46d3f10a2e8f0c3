"""The speed-ups keep meaning what the slow code meant, and the benchmark keeps working.

Each fast path found by profiling (README, "Performance") is checked here against the plain
definition it replaced, on seeded random inputs: the peer's chunked buffer against a
bytearray, the spliced request line against json.dumps, the one-pass base64 check against
the schema's pattern, the bounded byte preview against the whole-payload one. Then a small
run of each part of `python -m sockets_conformance bench`.

No test here reads a clock: how fast a fast path is belongs to the benchmark, where a busy
machine shows as a slower figure, not as a failed test. What a fast path does, and does not
do, is checked deterministically instead: the bytes it allocates (tracemalloc), and what it
never looks at.
"""

from __future__ import annotations

import base64
import json
import random
import re
import tracemalloc
from collections.abc import Callable

from sockets_conformance.gates import bench
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.results import Status
from sockets_conformance.model.values import show
from sockets_conformance.paths import CASES
from sockets_conformance.running import protocol
from sockets_conformance.servers.puppet import ChunkBuffer

MiB = 1024 * 1024


def _peak_allocation(action: Callable[[], object]) -> int:
    """The most memory `action` held at once beyond what was allocated before it, in bytes.
    Copying or decoding a payload allocates its size again: this shows whether it did."""
    tracing = tracemalloc.is_tracing()   # e.g. under python -X tracemalloc
    if not tracing:
        tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        action()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        if not tracing:
            tracemalloc.stop()


def test_chunk_buffer_behaves_as_a_bytearray() -> None:
    rng = random.Random("chunk buffer")
    for _ in range(2000):
        model, buffer = bytearray(), ChunkBuffer()
        for _ in range(20):
            op = rng.random()
            if op < 0.5:
                data = rng.randbytes(rng.randrange(0, 7))
                model += data
                buffer.append(data)
            elif op < 0.7:
                n = rng.randrange(0, 10)
                del model[:n]
                buffer.drop(n)
            elif op < 0.85:
                k = rng.randrange(0, 10)
                probe = bytes(model[:k]) if rng.random() < 0.6 else rng.randbytes(k)
                assert buffer.startswith(probe) == model.startswith(probe)
            else:
                n = rng.randrange(0, 12)
                assert buffer.peek(n) == bytes(model[:n])
            assert (len(buffer), bytes(buffer), bool(buffer)) == \
                (len(model), bytes(model), bool(model))


def test_chunk_buffer_compares_a_large_transfer_in_place() -> None:
    data = random.Random("big").randbytes(32 * MiB)
    buffer = ChunkBuffer()
    for at in range(0, len(data), 256 * 1024):
        buffer.append(data[at:at + 256 * 1024])
    changed = data[:-1] + bytes([data[-1] ^ 1])
    assert buffer.startswith(data)
    assert not buffer.startswith(changed)
    # In place: compared chunk by chunk against views of `data`, never joined into a copy
    # of the 32 MiB (the control shows the measure sees such a copy). Its speed is in the
    # benchmark's 64 MiB transfers.
    assert _peak_allocation(lambda: buffer.startswith(data)) < MiB
    assert _peak_allocation(lambda: bytes(buffer).startswith(data)) >= len(data)


def test_request_line_is_the_json_of_the_request() -> None:
    rng = random.Random("request line")
    big = rng.randbytes(protocol.BIG_STRING)   # base64 of it is longer than BIG_STRING
    token = f"{protocol.BLOB}0{protocol.BLOB}"
    messages = [
        {"id": 1, "cmd": "call", "op": "write", "args": {"writer": "w", "chunk": big}},
        {"id": 2, "cmd": "call", "op": "write", "args": {"writer": "w", "chunk": b"small"}},
        {"id": 3, "cmd": "batch", "calls": [
            {"op": "write", "args": {"writer": token, "chunk": big}},   # looks like a token
            {"op": "write", "args": {"writer": "w", "chunk": big[:100] * 60}}]},
        {"id": 4, "cmd": "call", "op": "x", "args": {"a": "é\u2028\"\\", "n": float("nan"),
                                                      "b": [big, big]}},
        {"id": 5, "cmd": "open_scope", "case": "a/b", "allowed": [["127.0.0.1", 1]],
         "ca_pem": None, "self": None},
    ]
    for message in messages:
        encoded = {**message, "args": protocol.encode(message["args"])} if "args" in message \
            else protocol.encode(message)
        expected = json.dumps(encoded, allow_nan=False, separators=(",", ":")).encode()
        assert protocol.request_line(encoded) == expected + b"\n"


def test_fast_base64_check_is_the_schema_pattern() -> None:
    """Long $bytes strings skip jsonschema's (slow) pattern; the verdict must not change."""
    schema = json.loads(protocol.PROTOCOL_SCHEMA.read_text())
    pattern = schema["$defs"]["tagged"]["oneOf"][1]["properties"]["$bytes"]["pattern"]
    rng = random.Random("base64")
    head = base64.b64encode(rng.randbytes(3 * protocol.BIG_STRING // 4 + 3)).decode()
    # Every tail of up to 2 characters, and 200 random ones of 3 to 8, each before and after
    # a valid head. (Each mistake tried in the fast check's pattern or its length rule, such
    # as a "/" left out, "=" allowed anywhere, a "\n" or a "!" let through, showed within
    # the first 50 random tails.)
    alphabet = "AZaz09+/=!\n"
    short = ["", *alphabet, *(a + b for a in alphabet for b in alphabet)]
    longer = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(3, 9)))
              for _ in range(200)]
    for tail in short + longer:
        for text in (head + tail, tail + head):
            reply = {"id": 1, "returned": {"$bytes": text}}
            fast = protocol.reply_error("call", reply) is None
            assert fast == (re.search(pattern, text) is not None), repr(text[-12:])


def _show_whole(value: bytes, limit: int = 80) -> str:
    """sockets_conformance.values.show for bytes as it was: the whole payload decoded."""
    try:
        text = value.decode()
        body = repr(text if len(text) <= limit else text[:limit] + "…")
    except UnicodeDecodeError:
        body = value[:limit // 2].hex() + ("…" if len(value) > limit // 2 else "")
    return f"bytes[{len(value)}] {body}"


def test_byte_preview_reads_only_the_head() -> None:
    rng = random.Random("show")
    pieces = [b"a", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xff", b"\n"]
    for _ in range(3000):
        # Short values, where nothing is cut: the same text as before.
        value = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 90)))
        if len(value) <= 80:
            assert show(value) == _show_whole(value)
    big = b"x" * (64 * MiB)
    assert show(big) == _show_whole(big)
    assert show(bytearray(b"y" * MiB)) == _show_whole(bytes(b"y" * MiB))
    assert show("é".encode() * 100) == _show_whole("é".encode() * 100)
    # Only the head is decoded. (1) No decode or copy of the whole: that allocates the
    # payload's size again, which the control shows the measure would see.
    assert _peak_allocation(lambda: show(big)) < MiB
    assert _peak_allocation(lambda: _show_whole(big)) >= len(big)
    # (2) The tail is never looked at, not even piece by piece: a last byte that is not
    # UTF-8 leaves the preview text, where a decode that reached it falls back to hex.
    broken_tail = big + b"\xff"
    assert show(broken_tail) == f"bytes[{len(broken_tail)}] " + repr("x" * 80 + "…")
    assert _show_whole(broken_tail) == f"bytes[{len(broken_tail)}] " + "78" * 40 + "…"


# --- the benchmark, small ---------------------------------------------------------------------
def test_bench_overhead_measures_each_part() -> None:
    names = ("connect/object-form", "streams/large-transfer",
             "half-open/allow-true-closed-pending")
    cases = [load_case(CASES / f"{c}.yaml") for c in names]
    overhead, results = bench.measure_overhead(cases)
    assert [r.status for r in results] == [Status.PASS] * 3
    assert overhead.cases == 3 and overhead.steps == sum(len(c.steps) for c in cases)
    assert overhead.adapter > 0 and overhead.peer_waits > 0 and overhead.harness > 0
    # An identity, not a speed claim: the runner does one step at a time, so the clocked
    # parts are disjoint intervals inside each case's, whatever the machine's load.
    assert overhead.adapter + overhead.peer_waits < overhead.wall


def test_bench_transfers_and_raw_baseline() -> None:
    ours = bench.measure_transfers("reference", size=MiB, runs=1, samples=3)
    raw = bench.measure_raw(size=MiB, runs=1, samples=3)
    for result in (ours, raw):
        assert result.note == ""
        assert result.upload and result.download and result.opened
    report = bench.Report(cores=2, load_before=(0.1, 0.1, 0.1), size=MiB,
                          transfers=[ours], raw=raw,
                          suite=[bench.SuiteRun("reference", "-n auto", 4.0, "142 passed"),
                                 bench.SuiteRun("workerd", "-n auto", 9.0, "142 passed"),
                                 bench.SuiteRun("node", "-n auto", 7.0, "142 passed"),
                                 bench.SuiteRun("reference", "-n auto --repeat 10", 31.0,
                                                "1420 passed")],
                          collect_seconds={"reference -n auto": 1.0})
    text = bench.render(report)
    assert "| reference | 4.00 s |" in text and "raw asyncio socket" in text
    verdicts = {target.split(" ")[0] + target.split(" ")[1]: met
                for target, _, met in bench.targets(report)}
    assert verdicts["referencesuite"] is True
    assert verdicts["workerd≤"] is False            # 9 s is 2.25× 4 s
    assert verdicts["node≤"] is True                # 7 s is 1.75×: every implementation
    assert verdicts["timelinear"] is True           # (31-1)/10 = 3.0 s a round, 1× 3.0 s


def test_replies_checked_by_hand_are_valid_by_the_schema() -> None:
    """The driver client checks the common replies by hand and leaves the rest to jsonschema:
    whatever the hand check accepts, the schema must accept too (else a broken driver
    would pass); and it must recognise the common replies (else it saves nothing)."""
    from tests.test_robustness import malformed_reply, random_reply, random_value

    rng = random.Random("hand check")
    recognised = 0
    total = 0
    # Each mistake tried in the hand check that these replies can show (an id that is a bool
    # or negative, a tag beside other keys, an unknown tag, $bytes of any text, $undefined
    # false, an empty violation, a reply with a third key, one command's shape taken for
    # another's) showed within the first 30 rounds.
    for _ in range(300):
        cmd = rng.choice(["call", "await", "batch", "open_scope", "close_scope",
                          "violations"])
        rid = rng.choice([0, 7, 2**40])
        good = random_reply(rng, cmd, rid, rng.randrange(0, 4))
        candidates = [good, {**good, "id": rng.choice([True, -1, 1.0, "7"])},
                      {**good, "extra": random_value(rng)},
                      _json_or_none(malformed_reply(rng, cmd, rid, good))]
        for reply in candidates:
            if protocol.nesting(reply) > protocol.MAX_NESTING:
                continue
            by_hand = protocol.surely_valid(cmd, reply)
            by_schema = protocol.validator(f"#/$defs/reply/$defs/{cmd}").is_valid(reply)
            assert not by_hand or by_schema, (cmd, reply)
        total += 1
        recognised += protocol.surely_valid(cmd, good)
    assert recognised / total > 0.9


def _json_or_none(line: bytes) -> object:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None
