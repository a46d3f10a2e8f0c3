"""Runs one case's timeline against an adapter scope and the case's peers.

Steps run strictly in order. A step that starts a promise under a name (`as`) does not wait
for it; `await` does, bounded by the step timeout. The first wrong outcome ends the case
(later steps would only report consequences); a message that differs from the documented
one is recorded as NON-STRICT and the case goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import traceback
from dataclasses import dataclass
from typing import Any

from sockets_conformance.model.case import Case, Step
from sockets_conformance.model.checks import DEFAULT_SOCKET
from sockets_conformance.model.data import to_bytes
from sockets_conformance.model.ranges import cloudflare
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
    Threw,
    TypedBytes,
    show,
)
from sockets_conformance.running import judge
from sockets_conformance.running.adapter import Adapter, AdapterError, CaseContext, Scope
from sockets_conformance.servers import certs
from sockets_conformance.servers.puppet import ClosedPort, PeerFailure, PuppetPeer

_TEMPLATE = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\}")
# Where the harness tells an implementation it is served at, for {self} (the TCP-loop cases).
# An adapter that really is served somewhere (workerd) sets `self_address` to override it.
# A reserved name (RFC 2606 .invalid) on the wrangler dev port: dialling it can reach nothing.
DEFAULT_SELF_ADDRESS = "reference-worker.invalid:8787"


@dataclass(frozen=True)
class Settings:
    step_timeout: float = 2.0
    timeout_multiplier: float = 1.0
    pending_window: float = 0.1

    def timeout(self, seconds: float | None) -> float:
        return (seconds or self.step_timeout) * self.timeout_multiplier

    @property
    def pending(self) -> float:
        return self.pending_window * self.timeout_multiplier


class CaseInvalid(Exception):
    """The case asks for something the runner cannot do (a bad template, a missing handle)."""


class OpTimeout(Exception):
    pass


class Unavailable(Exception):
    """This machine cannot set the case up (e.g. no privilege to hold port 80 closed): the
    case is NOT-APPLICABLE here, whatever the implementation."""


class _Planned(Exception):
    """Raised by call() while a sameTurn step collects its ops: the op is recorded instead."""


class Runner:
    def __init__(self, case: Case, adapter: Adapter, settings: Settings) -> None:
        self.case, self.adapter, self.settings = case, adapter, settings
        self.peers: dict[str, PuppetPeer] = {}
        self.closed_port: ClosedPort | None = None
        self.scope: Scope | None = None
        self.promises: dict[str, str] = {}     # case name -> promise id
        self.leftover: dict[str, bytes] = {}   # reader -> bytes read beyond an expectation
        self.locks: set[str] = set()           # default readers/writers already acquired
        self._read_bytes_op = True             # until a driver says it lacks readBytes
        self.notes: list[str] = []
        # sameTurn: ("plan", ops recorded) or ("replay", replies to hand out), else None
        self._turn: tuple[str, list[Any]] | None = None
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
        tripped = False
        try:
            await self._setup()
            await self._run_steps(result)
            tripped = await self._check_guard(result)
        except Unavailable as exc:
            result.status, result.message = Status.NOT_APPLICABLE, f"cannot run here: {exc}"
        except AdapterError as exc:
            result.status, result.message = Status.ERROR, f"adapter error: {exc}"
            result.diagnostics = exc.stderr
        finally:
            await self._teardown()
            result.seconds = time.perf_counter() - started
            result.wire = {name: {"received": p.received, "sent": p.sent}
                           for name, p in self.peers.items()}
            result.diagnostics = result.diagnostics or self.adapter.diagnostics()
        if result.status is Status.PASS and self.notes:
            result.status, result.message = Status.NON_STRICT, "; ".join(self.notes)
        # A guard refusal is a safety failure, not a conformance level: never downgraded.
        if result.status is Status.FAIL and strongest_level(case.requirements) != "MUST" \
                and not tripped:
            result.status = Status.NON_STRICT
            result.message = f"a {strongest_level(case.requirements)} requirement is broken: " \
                             f"{result.message}"
        return result

    async def _setup(self) -> None:
        for spec in self.case.peers:
            peer = PuppetPeer(spec.name, spec.host, tls=spec.tls, cert=spec.cert)
            await peer.start()
            self.peers[spec.name] = peer
        if self.case.closed_port is None:
            self.closed_port = ClosedPort()
        else:
            try:
                self.closed_port = ClosedPort.fixed(self.case.closed_port)
            except OSError as exc:
                raise Unavailable(f"cannot hold loopback port {self.case.closed_port} closed "
                                  f"({exc.strerror or exc})") from None
        # Every case gets the CA, TLS or not: it is the same text for the whole process, so
        # an implementation can configure its trust once.
        context = CaseContext(self.case.id, self._endpoints(), ca_pem=certs.ca_pem(),
                              self_address=self.self_address)
        self.scope = await self.adapter.open_scope(context)

    async def _check_guard(self, result: CaseResult) -> bool:
        """A refused destination fails the case even if every step looked right: an
        implementation that dials a disallowed address is wrong whatever it reports."""
        assert self.scope is not None
        blocked = await self.scope.violations()
        if blocked:
            result.status = Status.FAIL
            result.message = "; ".join(blocked) + (f" (steps: {result.message})"
                                                   if result.message else "")
        return bool(blocked)

    async def _teardown(self) -> None:
        if self.scope is not None:
            with contextlib.suppress(TimeoutError, AdapterError):
                await asyncio.wait_for(self.scope.close(), self.settings.timeout(None))
        for peer in self.peers.values():
            await peer.stop()
        if self.closed_port is not None:
            self.closed_port.close()

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
            except judge.MessageMismatch as exc:
                record.outcome = "NON-STRICT"
                record.expected, record.actual = exc.expected, exc.actual
                self.notes.append(f"line {step.line}: message differs: {exc}")
            except judge.Mismatch as exc:
                status, record.expected, record.actual = Status.FAIL, exc.expected, exc.actual
            except PeerFailure as exc:
                status, record.expected, record.actual = Status.FAIL, step.source, str(exc)
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

    # plumbing ----------------------------------------------------------------------------
    def timeout(self, args: dict[str, Any] | None = None) -> float:
        own = (args or {}).get("timeout")
        return self.settings.timeout(own or self.case.timeout)

    async def call(self, op: str, **args: Any) -> CallReply:
        assert self.scope is not None
        if self._turn is not None:
            mode, box = self._turn
            if mode == "plan":
                box.append((op, args))
                raise _Planned
            if not box:
                raise CaseInvalid("inside sameTurn a step may make one call only: acquire "
                                  "readers and writers before the turn")
            return box.pop(0)
        try:
            return await asyncio.wait_for(self.scope.call(op, args), self.timeout())
        except TimeoutError:
            raise OpTimeout(f"{op} did not return within {self.timeout():.2f} s") from None

    async def wait(self, promise_id: str, timeout: float) -> AwaitReply:
        assert self.scope is not None
        try:
            return await asyncio.wait_for(self.scope.await_promise(promise_id, timeout),
                                          timeout + self.timeout())
        except TimeoutError:
            raise OpTimeout(f"await did not answer within {timeout + self.timeout():.2f} s") \
                from None

    def render(self, value: Any) -> Any:
        """Fill {peer.host}, {peer.port}, {closed_port} ... in strings, recursively."""
        if isinstance(value, dict):
            return {k: self.render(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v) for v in value]
        if not isinstance(value, str):
            return value
        whole = _TEMPLATE.fullmatch(value)
        if whole:
            return self._template(whole.group(1))
        return _TEMPLATE.sub(lambda m: str(self._template(m.group(1))), value)

    def _template(self, name: str) -> Any:
        if name in ("closed_port", "closed_host"):
            assert self.closed_port is not None
            return self.closed_port.port if name == "closed_port" else self.closed_port.host
        head, _, attr = name.partition(".")
        if head in self.peers and attr in ("host", "port"):
            return getattr(self.peers[head], attr)
        if head == "self" and attr in ("", "host", "port"):
            host, _, port = self.self_address.rpartition(":")
            return {"": self.self_address, "host": host, "port": int(port)}[attr]
        if head == "cloudflare" and attr in ("v4", "v6"):
            # An address inside Cloudflare's published ranges (spec/cloudflare-ranges.yaml),
            # chosen by the case id: stable per case, spread over the ranges across cases.
            return cloudflare().pick(4 if attr == "v4" else 6, self.case.id)
        raise CaseInvalid(f"unknown template {{{name}}}")

    @property
    def self_address(self) -> str:
        """{self}: the "host:port" the implementation under test is served at."""
        return getattr(self.adapter, "self_address", None) or DEFAULT_SELF_ADDRESS

    def _endpoints(self) -> list[tuple[str, int]]:
        """The case's own endpoints, the only loopback destinations an egress policy lets
        through (and the harness guard allows): its peers, and its closed port, which the
        connection-failure cases dial. A bystander peer (allowed: false) is left out."""
        allowed = {spec.name for spec in self.case.peers if spec.allowed}
        own = [(p.host, p.port) for name, p in self.peers.items() if name in allowed]
        if self.closed_port is not None:
            own.append((self.closed_port.host, self.closed_port.port))
        return own

    async def started(self, reply: CallReply, args: dict[str, Any], what: str) -> str | None:
        """Handle a call that returns a promise: name it (`as`) or return its id to await."""
        expect = args.get("expect") or {}
        if "throws" in expect or isinstance(reply, Threw):
            judge.judge_call(reply, expect if "throws" in expect else {})
            return None
        assert isinstance(reply, Returned)
        if not isinstance(reply.value, PromiseRef):
            raise judge.Mismatch(f"{what} returns a Promise", f"returned {show(reply.value)}")
        if "as" in args:
            self.promises[args["as"]] = reply.value.id
            return None
        return reply.value.id

    async def settle(self, promise_id: str, args: dict[str, Any]) -> AwaitReply:
        expect = args.get("expect") or {}
        window = self.settings.pending if "pending" in expect else self.timeout(args)
        reply = await self.wait(promise_id, window)
        judge.judge_await(reply, expect)
        return reply

    def default_peer(self, args: dict[str, Any]) -> PuppetPeer:
        name = args.get("peer", next(iter(self.peers)))
        if name not in self.peers:
            raise CaseInvalid(f"no peer named {name!r}")
        return self.peers[name]

    async def reader(self, args: dict[str, Any]) -> str:
        if "reader" in args:
            return str(args["reader"])
        return await self._default_lock(args.get("socket", DEFAULT_SOCKET), "getReader", "reader")

    async def writer(self, args: dict[str, Any]) -> str:
        if "writer" in args:
            return str(args["writer"])
        return await self._default_lock(args.get("socket", DEFAULT_SOCKET), "getWriter", "writer")

    async def _default_lock(self, socket: str, op: str, role: str) -> str:
        name = f"{socket}#{role}"
        if name not in self.locks:
            reply = await self.call(op, socket=socket, **{role: name})
            if not isinstance(reply, Returned):
                raise judge.Mismatch(f"{socket}.{'readable' if role == 'reader' else 'writable'}"
                                     f".{op}() to succeed", judge.describe_call(reply))
            self.locks.add(name)
        return name

    # client steps ----------------------------------------------------------------------------
    async def _do_connect(self, step: Step, a: dict[str, Any]) -> None:
        peer = self.default_peer(a)
        host = f"[{peer.host}]" if ":" in peer.host else peer.host  # IPv6 needs brackets
        address = self.render(a["address"]) if "address" in a else \
            {"hostname": host, "port": peer.port}
        args: dict[str, Any] = {"socket": a.get("socket", DEFAULT_SOCKET), "address": address}
        if "options" in a:
            args["options"] = self.render(a["options"])
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
        judge.judge_call(reply, self.render(a.get("expect") or {}))

    async def _do_getReader(self, step: Step, a: dict[str, Any]) -> None:
        socket = a.get("socket", DEFAULT_SOCKET)
        name = a.get("as", f"{socket}#reader")
        reply = await self.call("getReader", socket=socket, reader=name)
        judge.judge_call(reply, a.get("expect") or {})
        if isinstance(reply, Returned) and "as" not in a:
            self.locks.add(name)

    async def _do_getWriter(self, step: Step, a: dict[str, Any]) -> None:
        socket = a.get("socket", DEFAULT_SOCKET)
        name = a.get("as", f"{socket}#writer")
        reply = await self.call("getWriter", socket=socket, writer=name)
        judge.judge_call(reply, a.get("expect") or {})
        if isinstance(reply, Returned) and "as" not in a:
            self.locks.add(name)

    async def _do_read(self, step: Step, a: dict[str, Any]) -> None:
        reader = await self.reader(a)
        expect = a.get("expect") or {}
        if "value" in expect:
            await self._read_bytes(reader, to_bytes(self.render(expect["value"])), a)
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
        data = to_bytes(self.render(a["data"]))
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
            args["options"] = self.render(a["options"])
        judge.judge_call(await self.call("startTls", **args), a.get("expect") or {})

    async def _do_sameTurn(self, step: Step, a: dict[str, Any]) -> None:
        """Plan each inner step's call, send them as one batch, then judge each reply with
        the inner step's own handler (replayed with the reply instead of a new call)."""
        assert self.scope is not None
        inner: list[Step] = a["steps"]
        ops: list[tuple[str, dict[str, Any]]] = []
        try:
            for s in inner:
                self._turn = ("plan", ops)
                try:
                    await getattr(self, f"_do_{s.kind}")(s, s.args)
                except _Planned:
                    continue
                raise CaseInvalid(f"line {s.line}: {s.kind} made no call inside sameTurn")
        finally:
            self._turn = None
        try:
            replies = await asyncio.wait_for(self.scope.call_batch(ops), self.timeout())
        except TimeoutError:
            raise OpTimeout(f"a batch of {len(ops)} ops did not return within "
                            f"{self.timeout():.2f} s") from None
        wording: judge.MessageMismatch | None = None
        for s, reply in zip(inner, replies, strict=True):
            self._turn = ("replay", [reply])
            try:
                await getattr(self, f"_do_{s.kind}")(s, s.args)
            except judge.MessageMismatch as exc:
                wording = wording or type(exc)(f"{exc.expected} (line {s.line})", exc.actual)
            except judge.Mismatch as exc:
                raise judge.Mismatch(f"{exc.expected} (line {s.line}: {s.source})",
                                     exc.actual) from None
            finally:
                self._turn = None
        if wording is not None:
            raise wording

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
        await self.settle(pid, self.render(a))

    # peer steps ------------------------------------------------------------------------------
    async def _peer_step(self, step: Step) -> None:
        peer = self.peers[step.peer or ""]
        a, t = step.args, self.timeout(step.args)
        action = step.action
        if action == "accept":
            await peer.accept(t)
        elif action == "send":
            peer.conn().send(to_bytes(self.render(a["data"])))
        elif action == "expect":
            await peer.conn().expect(to_bytes(self.render(a["data"])), t)
        elif action == "expect_eof":
            await peer.conn().expect_eof(t)
        elif action in ("shutdown", "close", "reset", "pause_reading", "resume_reading"):
            getattr(peer.conn(), action)()
        elif action == "start_tls":
            peer.start_tls()
        else:
            raise CaseInvalid(f"peer action {action!r} is not supported yet")


def _chunk(data: bytes, kind: str | None) -> Any:
    """The value write() is given: bytes (a Uint8Array) unless the step names another type."""
    if kind in (None, "Uint8Array"):
        return data
    if kind == "string":
        return data.decode()
    if kind == "number":
        return int(data.decode())
    return TypedBytes(kind, data)


async def run_case(case: Case, adapter: Adapter, settings: Settings) -> CaseResult:
    return await Runner(case, adapter, settings).run()

