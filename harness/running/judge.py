"""Compares what a step expected with what the implementation did.

A wrong outcome raises Mismatch (FAIL). The right error class with a different message
raises MessageMismatch, which the runner records as NON-STRICT and goes on: the behaviour is
right, only the wording differs.
"""

from __future__ import annotations

from typing import Any

from sockets_conformance.model.values import (
    UNDEFINED,
    AwaitReply,
    CallReply,
    Fulfilled,
    Pending,
    Rejected,
    Threw,
    show,
)


class Mismatch(Exception):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"expected {expected}; got {actual}")
        self.expected, self.actual = expected, actual


class MessageMismatch(Mismatch):
    """Right error class, different message."""


def describe_call(reply: CallReply) -> str:
    if isinstance(reply, Threw):
        return f"threw {reply.error}"
    return f"returned {show(reply.value)}"


def describe_await(reply: AwaitReply) -> str:
    if isinstance(reply, Fulfilled):
        return f"fulfilled with {show(reply.value)}"
    if isinstance(reply, Rejected):
        return f"rejected with {reply.error}"
    return "still pending"


def expected_text(expect: dict[str, Any], sync: bool) -> str:
    if "throwsOrRejects" in expect:
        name = expect["throwsOrRejects"]
        return f"throws {name} or returns a socket whose opened rejects with {name}" + \
            _msg(expect)
    if "throws" in expect:
        return f"throws {expect['throws']}" + _msg(expect)
    if "rejects" in expect:
        what = "any error" if expect["rejects"] is True else expect["rejects"]
        return f"rejects with {what}" + _msg(expect)
    if "orThrows" in expect:
        return f"returns, or throws {expect['orThrows']}" + _msg(expect)
    if "pending" in expect:
        return "stays pending"
    if "settles" in expect:
        return "settles (fulfils or rejects)"
    verb = "returns" if sync else "fulfils"
    if "value" in expect:
        return f"{verb} {show(expect['value'])}"
    return verb


def _msg(expect: dict[str, Any]) -> str:
    return f" {expect['message']!r}" if "message" in expect else ""


def judge_call(reply: CallReply, expect: dict[str, Any]) -> None:
    want = expected_text(expect, sync=True)
    if "throws" in expect:
        if not isinstance(reply, Threw) or reply.error.name != expect["throws"]:
            raise Mismatch(want, describe_call(reply))
        _check_message(expect, reply.error.message, want, describe_call(reply))
        return
    if isinstance(reply, Threw):
        raise Mismatch(want, describe_call(reply))
    if "value" in expect:
        check_value(expect["value"], reply.value, want, describe_call(reply))
    if "absent" in expect:
        _check_absent(expect["absent"], reply.value, want, describe_call(reply))


def threw_allowed(reply: CallReply, expect: dict[str, Any], notes: list[str]) -> bool:
    """`orThrows: Name` (startTls): the call returns, or throws that error; True when it
    threw it, so the steps about what it returned do not apply. Only the error's wording
    differing is noted (NON-STRICT): the case ends either way."""
    if not (isinstance(reply, Threw) and "orThrows" in expect):
        judge_call(reply, expect)
        return False
    want = expected_text(expect, sync=True)
    if reply.error.name != expect["orThrows"]:
        raise Mismatch(want, describe_call(reply))
    try:
        _check_message(expect, reply.error.message, want, describe_call(reply))
    except MessageMismatch as exc:
        notes.append(f"message differs: {exc}")
    return True


def judge_refusal(reply: CallReply, opened: AwaitReply | None, expect: dict[str, Any]) -> None:
    """`throwsOrRejects: Name` on connect: either a synchronous throw or a rejected opened
    passes, each with the same error name and message. `opened` is how the socket's opened
    settled when connect() returned one (None when it threw, or opened was not a promise)."""
    want = expected_text(expect, sync=True)
    name = expect["throwsOrRejects"]
    if isinstance(reply, Threw):
        if reply.error.name != name:
            raise Mismatch(want, describe_call(reply))
        _check_message(expect, reply.error.message, want, describe_call(reply))
        return
    got = describe_call(reply) if opened is None else \
        f"returned a socket whose opened {describe_await(opened).replace('still ', 'stayed ')}"
    if not isinstance(opened, Rejected) or opened.error.name != name:
        raise Mismatch(want, got)
    _check_message(expect, opened.error.message, want, got)


def judge_await(reply: AwaitReply, expect: dict[str, Any]) -> None:
    want = expected_text(expect, sync=False)
    got = describe_await(reply)
    if "pending" in expect:
        if not isinstance(reply, Pending):
            raise Mismatch(want, got)
    elif "settles" in expect:
        if isinstance(reply, Pending):
            raise Mismatch(want, got)
    elif "rejects" in expect:
        if not isinstance(reply, Rejected):
            raise Mismatch(want, got)
        if expect["rejects"] is not True and reply.error.name != expect["rejects"]:
            raise Mismatch(want, got)
        _check_message(expect, reply.error.message, want, got)
    else:
        if not isinstance(reply, Fulfilled):
            raise Mismatch(want, got)
        if "value" in expect:
            check_value(expect["value"], reply.value, want, got)
        if "absent" in expect:
            _check_absent(expect["absent"], reply.value, want, got)


def _check_message(expect: dict[str, Any], message: str, want: str, got: str) -> None:
    if "message" in expect and message != expect["message"]:
        raise MessageMismatch(want, got)


def _check_absent(keys: list[str], value: Any, want: str, got: str) -> None:
    if not isinstance(value, dict):
        raise Mismatch(want + f" without {', '.join(keys)}", got)
    present = [k for k in keys if value.get(k, UNDEFINED) is not UNDEFINED]
    if present:
        raise Mismatch(f"{want} without {', '.join(keys)}", f"{got} ({', '.join(present)} present)")


def matches(expected: Any, actual: Any) -> bool:
    """Deep comparison; an expected mapping checks only the keys it names."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(expected) == len(actual)
                and all(matches(e, a) for e, a in zip(expected, actual, strict=True)))
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return expected == actual and actual is not UNDEFINED


def check_value(expected: Any, actual: Any, want: str, got: str) -> None:
    if not matches(expected, actual):
        raise Mismatch(want, got)
