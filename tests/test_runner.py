"""Judgement: the runner turns what an implementation did into the right status."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sockets_conformance.model.case import Case
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.requirements import catalogue
from sockets_conformance.model.results import Status
from sockets_conformance.model.values import (
    UNDEFINED,
    AwaitReply,
    CallReply,
    Fulfilled,
    JSErrorInfo,
    Pending,
    PromiseRef,
    Rejected,
    Returned,
    Threw,
)
from sockets_conformance.running.adapter import AdapterError, CaseContext, ImplementationInfo
from sockets_conformance.running.runner import Settings, run_case

HEADER = """id: x/{name}
title: a case written by the runner tests
requirements: [{req}]
features: [tcp]
"""


def case(tmp_path: Path, steps: str, req: str = "connect.object-form", name: str = "t") -> Case:
    path = tmp_path / f"{name}.yaml"
    path.write_text(HEADER.format(name=name, req=req) + "steps:\n" + steps)
    return load_case(path, cases_root=tmp_path / "nowhere")


class ScriptedScope:
    """Answers every op from a table; 'hang' never answers."""

    def __init__(self, script: dict[str, Any]) -> None:
        self.script = script
        self.calls: list[str] = []

    async def call(self, op: str, args: dict[str, Any]) -> CallReply:
        self.calls.append(op)
        answer = self.script.get(op, Returned(UNDEFINED))
        if answer == "hang":
            await asyncio.Event().wait()
        if isinstance(answer, AdapterError):
            raise answer
        return answer

    async def await_promise(self, promise_id: str, timeout: float) -> AwaitReply:
        answer = self.script.get(f"await {promise_id}", Fulfilled(UNDEFINED))
        if isinstance(answer, Pending):
            await asyncio.sleep(timeout)  # a real adapter waits the window too
        return answer

    async def violations(self) -> list[str]:
        return self.script.get("violations", [])

    async def close(self) -> None:
        return None


class ScriptedAdapter:
    def __init__(self, script: dict[str, Any], features: frozenset[str] = frozenset({"tcp"})):
        self.info = ImplementationInfo("scripted", "0", "python", features=features)
        self.scope = ScriptedScope(script)

    async def start(self) -> None: ...

    async def open_scope(self, context: CaseContext) -> ScriptedScope:
        return self.scope

    async def stop(self) -> None: ...

    def diagnostics(self) -> str:
        return "scripted stderr"


FAST = Settings(step_timeout=0.2, pending_window=0.01)


def run(c: Case, adapter: ScriptedAdapter) -> Any:
    return asyncio.run(run_case(c, adapter, FAST))


def test_pass(tmp_path: Path) -> None:
    c = case(tmp_path,
             "  - connect\n  - get: {target: s.secureTransport, expect: {value: 'off'}}\n")
    result = run(c, ScriptedAdapter({"get": Returned("off")}))
    assert result.status is Status.PASS, result.message


def test_wrong_value_fails_and_stops(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n  - get: {target: s.upgraded, expect: {value: false}}\n"
                       "  - close\n")
    adapter = ScriptedAdapter({"get": Returned(True)})
    result = run(c, adapter)
    assert result.status is Status.FAIL
    assert "expected returns False; got returned True" in result.message
    assert [s.outcome for s in result.steps] == ["ok", "FAIL", "not run"]
    assert "close" not in adapter.scope.calls


def test_other_message_is_non_strict_and_goes_on(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect: {expect: {throws: TypeError, message: exact words}}\n"
                       "  - get: {target: s, expect: {value: 1}}\n")
    result = run(c, ScriptedAdapter({"connect": Threw(JSErrorInfo("TypeError", "other")),
                                     "get": Returned(1)}))
    assert result.status is Status.NON_STRICT
    assert [s.outcome for s in result.steps] == ["NON-STRICT", "ok"]


def test_wrong_error_class_fails(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect: {expect: {throws: TypeError, message: exact words}}\n")
    result = run(c, ScriptedAdapter({"connect": Threw(JSErrorInfo("RangeError", "exact words"))}))
    assert result.status is Status.FAIL


def test_broken_should_is_non_strict(tmp_path: Path) -> None:
    should = [r.id for r in catalogue().values() if r.level == "SHOULD"]
    if not should:
        pytest.skip("no SHOULD requirement in the catalogue yet")
    c = case(tmp_path, "  - connect: {expect: {throws: TypeError}}\n", req=should[0])
    result = run(c, ScriptedAdapter({}))
    assert result.status is Status.NON_STRICT
    assert "SHOULD requirement is broken" in result.message


def test_pending_promise_when_it_should_settle_fails(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n  - await: s.closed\n")
    result = run(c, ScriptedAdapter({"get": Returned(PromiseRef("p1")),
                                     "await p1": Pending()}))
    assert result.status is Status.FAIL
    assert "still pending" in result.message


def test_rejection_matches_any_error_with_true(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n  - await: {promise: s.opened, expect: {rejects: true}}\n")
    result = run(c, ScriptedAdapter({"get": Returned(PromiseRef("p1")),
                                     "await p1": Rejected(JSErrorInfo("Error", "x"))}))
    assert result.status is Status.PASS


def test_op_that_never_answers_is_timeout(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n  - close\n")
    result = run(c, ScriptedAdapter({"connect": "hang"}))
    assert result.status is Status.TIMEOUT
    assert "connect did not return within 0.20 s" in result.message


def test_adapter_error_is_error_with_stderr(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n")
    result = run(c, ScriptedAdapter({"connect": AdapterError("driver died", "segfault here")}))
    assert result.status is Status.ERROR
    assert result.diagnostics == "segfault here"


def test_missing_feature_is_not_applicable(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n")
    result = run(c, ScriptedAdapter({}, features=frozenset()))
    assert result.status is Status.NOT_APPLICABLE
    assert "does not support tcp" in result.message


def test_guard_violation_fails_a_passing_case(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n")
    msg = "implementation tried to reach 10.0.0.1:5432; blocked by the harness"
    result = run(c, ScriptedAdapter({"violations": [msg]}))
    assert result.status is Status.FAIL
    assert result.message.startswith(msg)


def test_read_collects_chunks_until_expected_bytes(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n  - read: {expect: {value: hello}}\n")
    answers = iter([{"value": b"he", "done": False}, {"value": b"llo", "done": False}])

    class Chunked(ScriptedScope):
        async def call(self, op: str, args: dict[str, Any]) -> CallReply:
            if op == "readBytes":  # an older driver: the runner falls back to read()
                raise AdapterError('unknown op "readBytes"')
            return Returned(PromiseRef("r") if op == "read" else UNDEFINED)

        async def await_promise(self, promise_id: str, timeout: float) -> AwaitReply:
            return Fulfilled(next(answers))

    adapter = ScriptedAdapter({})
    adapter.scope = Chunked({})
    assert run(c, adapter).status is Status.PASS


def test_read_reports_end_of_stream_before_expected_bytes(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n  - read: {expect: {value: hello}}\n")

    class Eof(ScriptedScope):
        async def call(self, op: str, args: dict[str, Any]) -> CallReply:
            if op == "readBytes":  # an older driver: the runner falls back to read()
                raise AdapterError('unknown op "readBytes"')
            return Returned(PromiseRef("r") if op == "read" else UNDEFINED)

        async def await_promise(self, promise_id: str, timeout: float) -> AwaitReply:
            return Fulfilled({"value": UNDEFINED, "done": True})

    adapter = ScriptedAdapter({})
    adapter.scope = Eof({})
    result = run(c, adapter)
    assert result.status is Status.FAIL
    assert "end of stream after 0 of 5 bytes" in result.message


def test_read_bytes_in_one_round_trip(tmp_path: Path) -> None:
    c = case(tmp_path, "  - connect\n  - read: {expect: {value: hello}}\n")
    calls: list[str] = []

    class Bulk(ScriptedScope):
        async def call(self, op: str, args: dict[str, Any]) -> CallReply:
            calls.append(op)
            return Returned(PromiseRef("r") if op in ("read", "readBytes") else UNDEFINED)

        async def await_promise(self, promise_id: str, timeout: float) -> AwaitReply:
            return Fulfilled({"value": b"hello", "done": False, "reads": 2})

    adapter = ScriptedAdapter({})
    adapter.scope = Bulk({})
    assert run(c, adapter).status is Status.PASS
    assert calls.count("readBytes") == 1 and "read" not in calls
