"""The step interpreters of protocol 1.1's ops: sinks, sources, pipeTo, pipeThrough, async
iteration and what reached a sink or a source (spec/adapter-protocol.md, section 5.1).

A separate module so runner.py stays within the size limit; the Runner inherits these
`_do_<kind>` methods. A case that uses them names the feature (`pipe`, `transform`,
`async-iteration`) so a driver that does not announce it makes the case NOT-APPLICABLE
before any step runs (runner.py), never ERROR.
"""

from __future__ import annotations

from typing import Any

from sockets_conformance.model.case import Step
from sockets_conformance.model.data import to_bytes
from sockets_conformance.model.values import Fulfilled, show
from sockets_conformance.running import judge
from sockets_conformance.running.session import CaseSession


class PipeSteps(CaseSession):
    """Client steps over the readable and writable as wholes, not chunk by chunk."""

    async def _do_sink(self, step: Step, a: dict[str, Any]) -> None:
        judge.judge_call(await self.call("sink", sink=a["as"]), {})

    async def _do_source(self, step: Step, a: dict[str, Any]) -> None:
        chunks = [to_bytes(self.env.render(c)) for c in a.get("chunks", [])]
        judge.judge_call(await self.call("source", source=a["as"], chunks=chunks,
                                         close=a.get("close", True)), {})

    async def _do_pipeTo(self, step: Step, a: dict[str, Any]) -> None:
        args: dict[str, Any] = {"source": a["from"], "dest": a["to"]}
        if "options" in a:
            args["options"] = a["options"]
        pid = await self.started(await self.call("pipeTo", **args), a, "pipeTo()")
        if pid is not None:
            await self.settle(pid, a)

    async def _do_pipeThrough(self, step: Step, a: dict[str, Any]) -> None:
        reply = await self.call("pipeThrough", source=a["from"], transform=a["transform"],
                                stream=a["as"])
        judge.judge_call(reply, a.get("expect") or {})

    async def _do_iterate(self, step: Step, a: dict[str, Any]) -> None:
        """`for await (const chunk of from)` to the end; `data` / `text`: what the chunks
        joined must be."""
        pid = await self.started(await self.call("iterate", source=a["from"]), a,
                                 "for await")
        if pid is None:
            return
        if "data" not in a and "text" not in a:
            await self.settle(pid, a)
            return
        reply = await self.wait(pid, self.timeout(a))
        if not isinstance(reply, Fulfilled) or not isinstance(reply.value, dict):
            raise judge.Mismatch("the loop to end normally", judge.describe_await(reply))
        _check_joined(self, a, reply.value.get("value"), f"{reply.value.get('chunks')} chunks")

    async def _do_collected(self, step: Step, a: dict[str, Any]) -> None:
        """What reached a sink (bytes or text, closed, aborted with which reason) or a source
        (cancelled with which reason). For a sink the driver answers once as many bytes or
        characters as expected arrived, or the sink was closed or aborted: an event, so
        the step waits for it rather than polling."""
        count = len(_wanted(self, a) or b"")
        reply = await self.call("collected", target=a["target"], count=count)
        pid = await self.started(reply, {}, "collected")
        assert pid is not None
        answer = await self.wait(pid, self.timeout(a))
        if not isinstance(answer, Fulfilled) or not isinstance(answer.value, dict):
            raise judge.Mismatch(f"what reached {a['target']}", judge.describe_await(answer))
        got = answer.value
        if "data" in a or "text" in a:
            _check_joined(self, a, got.get("value"), f"{got.get('chunks')} chunks, closed "
                          f"{got.get('closed')}, aborted {got.get('aborted')}")
        if "closed" in a and got.get("closed") is not a["closed"]:
            raise judge.Mismatch(f"{a['target']} closed: {a['closed']}", show(got))
        for key in ("aborted", "cancelled"):
            if key in a:
                _check_reason(key, a[key], got.get(key), show(got))


def _wanted(session: CaseSession, a: dict[str, Any]) -> bytes | str | None:
    if "text" in a:
        return str(a["text"])
    if "data" in a:
        return to_bytes(session.env.render(a["data"]))
    return None


def _check_joined(session: CaseSession, a: dict[str, Any], value: Any, detail: str) -> None:
    """The chunks joined against `text` (strings: a decoder's output) or `data` (bytes)."""
    if "text" in a:
        want_text = str(a["text"])
        if not (value == want_text or (want_text == "" and value == b"")):
            raise judge.Mismatch(f"text {want_text!r}", f"{show(value)} ({detail})")
        return
    want = to_bytes(session.env.render(a["data"]))
    if not (value == want or (want == b"" and value == "")):
        raise judge.Mismatch(f"bytes {show(want)}", f"{show(value)} ({detail})")


def _check_reason(key: str, expected: Any, got: Any, shown: str) -> None:
    """`aborted` / `cancelled`: false (no reason delivered), true (one was), or the error
    name the delivered reason must have."""
    if expected is False:
        if got is not None:
            raise judge.Mismatch(f"not {key}", shown)
        return
    if not isinstance(got, dict):
        raise judge.Mismatch(f"{key} with a reason", shown)
    if expected is not True and got.get("name") != expected:
        raise judge.Mismatch(f"{key} with a {expected}", shown)
