"""Protocol 1.1 (spec/adapter-protocol.md, sections 5.1 and 10): the optional ops are
negotiated as features, so a driver that does not announce them gets NOT-APPLICABLE for the
cases that need them, never ERROR; and the requests for them are what the schema says."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

from sockets_conformance.adapters.reference.adapter import FEATURES, ReferenceAdapter
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.results import Status
from sockets_conformance.paths import CASES
from sockets_conformance.running import driver as drv
from sockets_conformance.running import protocol
from sockets_conformance.running.runner import Settings, run_case

OPS_11 = {"pipe", "transform", "async-iteration"}
PIPE_CASE = CASES / "streams" / "pipe-to-sink.yaml"


def test_a_driver_without_the_ops_makes_their_cases_not_applicable() -> None:
    case = load_case(PIPE_CASE)
    older = ReferenceAdapter()
    older.info = dataclasses.replace(older.info, features=FEATURES)  # a 1.0 driver's list

    async def both() -> tuple[Status, str, Status]:
        without = await run_case(case, older, Settings())
        with_ops = await run_case(case, ReferenceAdapter(), Settings())
        return without.status, without.message, with_ops.status

    without, message, with_ops = asyncio.run(both())
    assert (without, with_ops) == (Status.NOT_APPLICABLE, Status.PASS)
    assert "pipe" in message


def test_the_reference_stdio_driver_announces_the_ops() -> None:
    adapter = drv.DriverAdapter(
        [sys.executable, "-m", "sockets_conformance.adapters.reference.stdio_driver"],
        label="reference over stdio")

    async def start() -> frozenset[str]:
        await adapter.start()
        try:
            return adapter.info.features
        finally:
            await adapter.stop()

    assert asyncio.run(start()) >= OPS_11


def test_requests_for_the_new_ops_are_valid() -> None:
    request = protocol.validator("#/$defs/request")
    calls = [
        ("sink", {"sink": "k"}),
        ("source", {"source": "body", "chunks": [b"a", b"b"], "close": False}),
        ("pipeTo", {"source": "s", "dest": "k", "options": {"preventClose": True}}),
        ("pipeThrough", {"source": "s", "transform": "TextDecoderStream", "stream": "text"}),
        ("iterate", {"source": "text"}),
        ("collected", {"target": "k", "count": 11}),
    ]
    for i, (op, args) in enumerate(calls):
        message = {"id": i, "cmd": "call", "op": op, "args": protocol.encode(args)}
        assert list(request.iter_errors(message)) == [], message
    wrong = {"id": 9, "cmd": "call", "op": "pipeThrough",
             "args": {"source": "s", "transform": "CompressionStream", "stream": "z"}}
    assert list(request.iter_errors(wrong))
