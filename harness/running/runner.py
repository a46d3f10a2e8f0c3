"""Runs one case's timeline: interprets each step against the adapter scope and the peers.

Steps run strictly in order. A step that starts a promise under a name (`as`) does not wait
for it; `await` does, bounded by the step timeout. The first wrong outcome ends the case
(later steps would only report consequences); a message that differs from the documented
one is recorded as NON-STRICT and the case goes on.

The fixtures and templates are the environment's (environment.py), the bounded calls the
session's (session.py), the final status the verdict's (verdict.py); this module interprets
the steps.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable
from typing import Any

from sockets_conformance.model.case import Case, Step
from sockets_conformance.model.checks import DEFAULT_SOCKET
from sockets_conformance.model.data import to_bytes
from sockets_conformance.model.requirements import strongest_level
from sockets_conformance.model.results import CaseResult, Status, StepRecord
from sockets_conformance.model.values import (
    AwaitReply,
    CallReply,
    Fulfilled,
    Pending,
    PromiseRef,
    Rejected,
    Returned,
    TypedBytes,
    show,
)
from sockets_conformance.running import judge
from sockets_conformance.running.adapter import Adapter, AdapterError
from sockets_conformance.running.environment import CaseEnvironment, CaseInvalid, Unavailable
from sockets_conformance.running.pipes import PipeSteps
from sockets_conformance.running.session import CaseSession, OpTimeout, Planned
from sockets_conformance.running.settings import Settings
from sockets_conformance.running.verdict import verdict
from sockets_conformance.servers.network import split
from sockets_conformance.servers.puppet import PeerFailure, PuppetPeer

# Settings is re-exported: the plugin, the gates and the tests import it from here.
__all__ = ["Runner", "Settings", "run_case"]


class GuardRefused(Exception):
    """A peer step stopped waiting: the guard already refused a destination, so the case
    fails whatever the wire does next (verdict.py)."""


class CaseEnds(Exception):
    """`orThrows`: the call threw the error the case allows instead of returning. The steps
    after it are about what it would have returned, so the case ends there, passed."""


class Runner(PipeSteps, CaseSession):
    """A session that interprets the case's steps, one `_do_<kind>` per client step (those
    of protocol 1.1's pipes, transforms and iteration in pipes.py)."""

    def __init__(self, case: Case, adapter: Adapter, settings: Settings,
                 repetition: int = 1) -> None:
        super().__init__(case, CaseEnvironment(case, adapter, settings, repetition), settings)
        self.adapter = adapter
        self.leftover: dict[str, bytes] = {}   # reader -> bytes read beyond an expectation
        self._read_bytes_op = True             # until a driver says it lacks readBytes
        self.notes: list[str] = []
        self.step: Step | None = None

    # entry ---------------------------------------------------------------------------------
    async def run(self) -> CaseResult:
        case = self.case
        result = CaseResult(case.id, Status.PASS, implementation=self.adapter.info.name,
                            steps=[StepRecord(i + 1, s.line, s.source) for i, s in
                                   enumerate(case.steps)])
        missing = sorted(set(case.features) - set(self.adapter.info.features))
        if missing:
            result.status = Status.NOT_APPLICABLE
            result.message = (f"{self.adapter.info.name} does not support "
                              f"{', '.join(missing)}")
            return result
        started = time.perf_counter()
        blocked: list[str] = []
        try:
            await self.env.setup()
            await self._run_steps(result)
            blocked = await self.env.violations()
        except Unavailable as exc:
            result.status, result.message = Status.NOT_APPLICABLE, f"cannot run here: {exc}"
        except AdapterError as exc:
            result.status, result.message = Status.ERROR, f"adapter error: {exc}"
            result.diagnostics = exc.stderr
        finally:
            result.cleanup = "; ".join(await self.env.teardown())
            result.seconds = time.perf_counter() - started
            result.wire = self.env.wire()
            result.diagnostics = result.diagnostics or self.adapter.diagnostics()
        result.status, result.message = verdict(
            result.status, result.message, notes=self.notes, blocked=blocked,
            level=strongest_level(case.requirements))
        return result

    async def _run_steps(self, result: CaseResult) -> None:
        for record, step in zip(result.steps, self.case.steps, strict=True):
            self.step = step
            t0 = time.perf_counter()
            status: Status | None = None
            try:
                if step.kind == "peer":
                    await self._peer_step(step)
                else:
                    await getattr(self, f"_do_{step.kind}")(step, step.args)
                record.outcome = "ok"
            except CaseEnds:
                record.outcome = "ok"
                return
            except judge.MessageMismatch as exc:
                record.outcome = "NON-STRICT"
                record.expected, record.actual = exc.expected, exc.actual
                self.notes.append(f"line {step.line}: message differs: {exc}")
            except judge.Mismatch as exc:
                status, record.expected, record.actual = Status.FAIL, exc.expected, exc.actual
            except PeerFailure as exc:
                status, record.expected, record.actual = Status.FAIL, step.source, str(exc)
            except GuardRefused:
                status, record.expected = Status.FAIL, step.source
                record.actual = "not waited for: the harness already blocked the implementation"
            except OpTimeout as exc:
                status, record.expected, record.actual = Status.TIMEOUT, "an answer", str(exc)
            except CaseInvalid as exc:
                status, record.actual = Status.ERROR, f"invalid case: {exc}"
            except AdapterError as exc:
                status, record.actual = Status.ERROR, f"adapter error: {exc}"
                result.diagnostics = exc.stderr
            except Exception:  # a harness bug must not hide as a FAIL of the implementation
                status, record.actual = Status.ERROR, traceback.format_exc(limit=6)
            record.seconds = time.perf_counter() - t0
            if status is not None:
                record.outcome = status.value
                result.status = status
                result.message = f"step {record.index} (line {step.line}) {step.label}: " + (
                    f"expected {record.expected}; got {record.actual}" if record.expected
                    else record.actual)
                return

    def default_peer(self, args: dict[str, Any]) -> PuppetPeer:
        name = args.get("peer", next(iter(self.env.peers)))
        if name not in self.env.peers:
            raise CaseInvalid(f"no peer named {name!r}")
        return self.env.peers[name]

    # client steps ----------------------------------------------------------------------------
    async def _do_connect(self, step: Step, a: dict[str, Any]) -> None:
        peer = self.default_peer(a)
        host = f"[{peer.host}]" if ":" in peer.host else peer.host  # IPv6 needs brackets
        address = self.env.render(a["address"]) if "address" in a else \
            {"hostname": host, "port": peer.port}
        args: dict[str, Any] = {"socket": a.get("socket", DEFAULT_SOCKET), "address": address}
        if "options" in a:
            args["options"] = self.env.render(a["options"])
        reply = await self.call("connect", **args)
        expect = a.get("expect") or {}
        if "throwsOrRejects" in expect:
            await self._refused(args["socket"], reply, expect)
            return
        judge.judge_call(reply, expect)

    async def _refused(self, socket: str, reply: CallReply, expect: dict[str, Any]) -> None:
        """`throwsOrRejects`: the sources leave open whether a refused destination throws
        from connect() or rejects opened (spec/requirements.yaml, egress.*), so either passes;
        a socket whose opened fulfils or stays pending fails."""
        opened: AwaitReply | None = None
        if isinstance(reply, Returned):
            got = await self.call("get", target=socket, path=["opened"])
            if isinstance(got, Returned) and isinstance(got.value, PromiseRef):
                opened = await self.wait(got.value.id, self.timeout())
        judge.judge_refusal(reply, opened, expect)

    async def _do_get(self, step: Step, a: dict[str, Any]) -> None:
        head, *path = a["target"].split(".")
        if head in self.promises and not path:
            raise CaseInvalid(f"{head!r} is a promise: use await")
        reply = await self.call("get", target=head, path=path)
        if "as" in a:
            await self.started(reply, a, a["target"])
            return
        judge.judge_call(reply, self.env.render(a.get("expect") or {}))

    async def _do_getReader(self, step: Step, a: dict[str, Any]) -> None:
        await self._acquire("reader", a)

    async def _do_getWriter(self, step: Step, a: dict[str, Any]) -> None:
        await self._acquire("writer", a)

    async def _acquire(self, kind: str, a: dict[str, Any]) -> None:
        """getReader / getWriter; an unnamed one becomes the socket's default lock holder."""
        socket = a.get("socket", DEFAULT_SOCKET)
        name = a.get("as", f"{socket}#{kind}")
        reply = await self.call(f"get{kind.capitalize()}", socket=socket, **{kind: name})
        judge.judge_call(reply, a.get("expect") or {})
        if isinstance(reply, Returned) and "as" not in a:
            self.locks.add(name)

    async def _do_read(self, step: Step, a: dict[str, Any]) -> None:
        reader = await self.reader(a)
        expect = a.get("expect") or {}
        if "value" in expect:
            await self._read_bytes(reader, to_bytes(self.env.render(expect["value"])), a)
            return
        if "done" in expect and self.leftover.get(reader):
            raise judge.Mismatch("done: true", f"unread bytes {show(self.leftover[reader])}")
        pid = await self.started(await self.call("read", reader=reader), a, "read()")
        if pid is None:
            return
        if "done" in expect:
            reply = await self.wait(pid, self.timeout(a))
            if not (isinstance(reply, Fulfilled) and isinstance(reply.value, dict)
                    and reply.value.get("done") is True):
                raise judge.Mismatch("fulfils {done: true}", judge.describe_await(reply))
            return
        await self.settle(pid, a)

    async def _read_bytes(self, reader: str, want: bytes, a: dict[str, Any]) -> None:
        got = self.leftover.pop(reader, b"")
        if len(got) < len(want) and self._read_bytes_op:
            try:
                got = await self._read_bytes_at_once(reader, want, got, a)
            except AdapterError as exc:
                if "unknown op" not in str(exc):
                    raise
                self._read_bytes_op = False  # an older driver: one read() per round trip
        reads = 0
        while len(got) < len(want):
            reply = await self.call("read", reader=reader)
            pid = await self.started(reply, {}, "read()")
            assert pid is not None
            answer = await self.wait(pid, self.timeout(a))
            reads += 1
            so_far = f" after {len(got)} of {len(want)} bytes ({reads} reads)"
            if isinstance(answer, Pending):
                raise judge.Mismatch(f"bytes {show(want)}", f"read still pending{so_far}")
            if isinstance(answer, Rejected):
                raise judge.Mismatch(f"bytes {show(want)}", f"read rejected with {answer.error}"
                                     f"{so_far}")
            value = answer.value if isinstance(answer.value, dict) else {}
            if value.get("done") is True:
                raise judge.Mismatch(f"bytes {show(want)}", f"end of stream{so_far}")
            chunk = value.get("value")
            if not isinstance(chunk, bytes):
                raise judge.Mismatch("a Uint8Array chunk", f"{show(answer.value)}{so_far}")
            got += chunk
            if not want.startswith(got[: len(want)]):
                break
        if got[: len(want)] != want:
            at = next(i for i, (x, y) in enumerate(zip(got, want, strict=False)) if x != y)
            raise judge.Mismatch(f"bytes {show(want)}",
                                 f"{show(got)} (first difference at byte {at})")
        if len(got) > len(want):
            self.leftover[reader] = got[len(want):]

    async def _read_bytes_at_once(self, reader: str, want: bytes, got: bytes,
                                  a: dict[str, Any]) -> bytes:
        """The readBytes op: the same sequence of read() calls, looped inside the driver, so
        a large transfer costs one round trip instead of one per chunk."""
        need = len(want) - len(got)
        pid = await self.started(await self.call("readBytes", reader=reader, count=need), {},
                                 "readBytes")
        assert pid is not None
        answer = await self.wait(pid, self.timeout(a))
        if isinstance(answer, Pending):
            raise judge.Mismatch(f"bytes {show(want)}", f"reads still pending after "
                                 f"{self.timeout(a):.2f} s (before {len(want)} bytes arrived)")
        if isinstance(answer, Rejected):
            raise judge.Mismatch(f"bytes {show(want)}",
                                 f"a read rejected with {answer.error} before {len(want)} "
                                 f"bytes arrived")
        value = answer.value if isinstance(answer.value, dict) else {}
        chunk = value.get("value")
        if not isinstance(chunk, bytes):
            raise judge.Mismatch("Uint8Array chunks", show(answer.value))
        got += chunk
        if value.get("done") is True and len(got) < len(want):
            raise judge.Mismatch(f"bytes {show(want)}", f"end of stream after {len(got)} of "
                                 f"{len(want)} bytes ({value.get('reads')} reads)")
        return got

    async def _do_write(self, step: Step, a: dict[str, Any]) -> None:
        writer = await self.writer(a)
        data = to_bytes(self.env.render(a["data"]))
        size = a.get("chunk") or len(data) or 1
        chunks = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        if "as" in a and len(chunks) > 1:
            raise CaseInvalid("a chunked write cannot be started with 'as'")
        for chunk in chunks:
            pid = await self.started(await self.call("write", writer=writer,
                                                     chunk=_chunk(chunk, a.get("type"))),
                                     a, "write()")
            if pid is None:
                return
            await self.settle(pid, a)

    async def _promise_step(self, op: str, a: dict[str, Any], **args: Any) -> None:
        pid = await self.started(await self.call(op, **args), a, f"{op}()")
        if pid is not None:
            await self.settle(pid, a)

    async def _do_closeWriter(self, step: Step, a: dict[str, Any]) -> None:
        await self._promise_step("closeWriter", a, writer=await self.writer(a))

    async def _do_abortWriter(self, step: Step, a: dict[str, Any]) -> None:
        extra = {"reason": a["reason"]} if "reason" in a else {}
        await self._promise_step("abortWriter", a, writer=await self.writer(a), **extra)

    async def _do_cancel(self, step: Step, a: dict[str, Any]) -> None:
        extra = {"reason": a["reason"]} if "reason" in a else {}
        await self._promise_step("cancel", a, reader=await self.reader(a), **extra)

    async def _do_close(self, step: Step, a: dict[str, Any]) -> None:
        extra = {"reason": a["reason"]} if "reason" in a else {}
        await self._promise_step("close", a, socket=a.get("socket", DEFAULT_SOCKET), **extra)

    async def _do_unhandledRejections(self, step: Step, a: dict[str, Any]) -> None:
        judge.judge_call(await self.call("unhandledRejections"), a.get("expect") or {})

    async def _do_releaseLock(self, step: Step, a: dict[str, Any]) -> None:
        target = a.get("reader") or a.get("writer")
        judge.judge_call(await self.call("releaseLock", target=target), a.get("expect") or {})

    async def _do_startTls(self, step: Step, a: dict[str, Any]) -> None:
        args: dict[str, Any] = {"socket": a.get("socket", DEFAULT_SOCKET),
                                "newSocket": a.get("as", "tls")}
        if "options" in a:
            args["options"] = self.env.render(a["options"])
        reply = await self.call("startTls", **args)
        if judge.threw_allowed(reply, a.get("expect") or {}, self.notes):
            raise CaseEnds

    async def _do_sameTurn(self, step: Step, a: dict[str, Any]) -> None:
        """Plan each inner step's call, send them as one batch, then judge each reply with
        the inner step's own handler (replayed with the reply instead of a new call)."""
        inner: list[Step] = a["steps"]
        replies = await self.call_batch(await self._plan(inner))
        wording: judge.MessageMismatch | None = None
        for s, reply in zip(inner, replies, strict=True):
            with self.turn("replay", [reply]):
                try:
                    await getattr(self, f"_do_{s.kind}")(s, s.args)
                except judge.MessageMismatch as exc:
                    wording = wording or type(exc)(f"{exc.expected} (line {s.line})",
                                                   exc.actual)
                except judge.Mismatch as exc:
                    raise judge.Mismatch(f"{exc.expected} (line {s.line}: {s.source})",
                                         exc.actual) from None
        if wording is not None:
            raise wording

    async def _plan(self, inner: list[Step]) -> list[tuple[str, dict[str, Any]]]:
        """The op each inner step would call, collected without calling anything."""
        ops: list[tuple[str, dict[str, Any]]] = []
        for s in inner:
            with self.turn("plan", ops):
                try:
                    await getattr(self, f"_do_{s.kind}")(s, s.args)
                except Planned:
                    continue
            raise CaseInvalid(f"line {s.line}: {s.kind} made no call inside sameTurn")
        return ops

    async def _do_await(self, step: Step, a: dict[str, Any]) -> None:
        target = a["promise"]
        if target in self.promises:
            pid = self.promises[target]
        else:
            head, *path = target.split(".")
            reply = await self.call("get", target=head, path=path)
            if not (isinstance(reply, Returned) and isinstance(reply.value, PromiseRef)):
                raise judge.Mismatch(f"{target} to be a Promise", judge.describe_call(reply))
            pid = reply.value.id
        await self.settle(pid, self.env.render(a))

    # peer steps ------------------------------------------------------------------------------
    async def _peer_step(self, step: Step) -> None:
        peer = self.env.peers[step.peer or ""]
        a, t = step.args, self.timeout(step.args)
        action = step.action
        if action == "accept":
            (await self._peer_wait(peer.accept(t))).pace = a.get("pace", 0.0)
        elif action == "send":
            peer.conn().send(to_bytes(self.env.render(a["data"])), cut := split(a))
            if cut is not None:  # the step ends once its last segment (and FIN, RST) left
                await peer.conn().flushed()
        elif action == "expect_sni":
            await self._peer_wait(peer.conn().expect_sni(a.get("name"), t))
        elif action in ("shutdown", "close"):
            getattr(peer.conn(), action)(close_notify=a.get("close_notify", True))
            # queued behind sends still going out in segments: the step ends once it has left
            await peer.conn().flushed()
        elif action == "expect":
            await self._peer_wait(peer.conn().expect(to_bytes(self.env.render(a["data"])), t))
        elif action == "expect_eof":
            await self._peer_wait(peer.conn().expect_eof(t))
        elif action in ("reset", "pause_reading", "resume_reading"):
            getattr(peer.conn(), action)()
        elif action == "start_tls":
            peer.start_tls()
        else:
            raise CaseInvalid(f"peer action {action!r} is not supported yet")

    async def _peer_wait(self, waiting: Awaitable[Any]) -> Any:
        """A peer step that waits for the implementation (a connection, bytes, a FIN). One
        that outlasts the pending window asks the guard, once, whether it already refused a
        destination: a refusal fails the case whatever comes next (a connection the guard
        stopped never arrives), so the step ends then instead of waiting out its timeout."""
        task = asyncio.ensure_future(waiting)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.settings.pending)
            if not done and await self.env.violations():
                raise GuardRefused
            return await task
        finally:
            if not task.done():
                task.cancel()


def _chunk(data: bytes, kind: str | None) -> Any:
    """The value write() is given: bytes (a Uint8Array) unless the step names another type."""
    if kind in (None, "Uint8Array"):
        return data
    if kind == "string":
        return data.decode()
    if kind == "number":
        return int(data.decode())
    return TypedBytes(kind, data)


async def run_case(case: Case, adapter: Adapter, settings: Settings,
                   repetition: int = 1) -> CaseResult:
    """`repetition`: which run of the case this is under --repeat (1 for the first)."""
    return await Runner(case, adapter, settings, repetition).run()
