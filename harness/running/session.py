"""Op and timeout plumbing: how a case's steps call its scope, each wait bounded.

Every call and await is bounded by the step timeout, so a hung implementation ends as a
TIMEOUT rather than a hung suite. A sameTurn step first plans its ops here (recorded instead
of sent), then replays the batch's replies to the same step interpreters.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from sockets_conformance.model.case import Case
from sockets_conformance.model.checks import DEFAULT_SOCKET
from sockets_conformance.model.values import (
    AwaitReply,
    CallReply,
    PromiseRef,
    Returned,
    Threw,
    show,
)
from sockets_conformance.running import judge
from sockets_conformance.running.environment import CaseEnvironment, CaseInvalid
from sockets_conformance.running.settings import Settings


class OpTimeout(Exception):
    pass


class Planned(Exception):
    """Raised by call() while a sameTurn step collects its ops: the op is recorded instead."""


class CaseSession:
    """The calls one case makes, in order, and the names (promises, locks) they leave."""

    def __init__(self, case: Case, env: CaseEnvironment, settings: Settings) -> None:
        self.case, self.env, self.settings = case, env, settings
        self.promises: dict[str, str] = {}     # case name -> promise id
        self.locks: set[str] = set()           # default readers/writers already acquired
        # sameTurn: ("plan", ops recorded) or ("replay", replies to hand out), else None
        self._turn: tuple[str, list[Any]] | None = None

    def timeout(self, args: dict[str, Any] | None = None) -> float:
        own = (args or {}).get("timeout")
        return self.settings.timeout(own or self.case.timeout)

    @contextlib.contextmanager
    def turn(self, mode: str, box: list[Any]) -> Iterator[None]:
        """Within: call() records its op in `box` ("plan") or hands out `box`'s reply
        ("replay") instead of calling the scope."""
        self._turn = (mode, box)
        try:
            yield
        finally:
            self._turn = None

    async def call(self, op: str, **args: Any) -> CallReply:
        assert self.env.scope is not None
        if self._turn is not None:
            mode, box = self._turn
            if mode == "plan":
                box.append((op, args))
                raise Planned
            if not box:
                raise CaseInvalid("inside sameTurn a step may make one call only: acquire "
                                  "readers and writers before the turn")
            return box.pop(0)
        try:
            return await asyncio.wait_for(self.env.scope.call(op, args), self.timeout())
        except TimeoutError:
            raise OpTimeout(f"{op} did not return within {self.timeout():.2f} s") from None

    async def call_batch(self, ops: list[tuple[str, dict[str, Any]]]) -> list[CallReply]:
        """A sameTurn's planned ops, sent together so they run in one turn of the loop."""
        assert self.env.scope is not None
        try:
            return await asyncio.wait_for(self.env.scope.call_batch(ops), self.timeout())
        except TimeoutError:
            raise OpTimeout(f"a batch of {len(ops)} ops did not return within "
                            f"{self.timeout():.2f} s") from None

    async def wait(self, promise_id: str, timeout: float) -> AwaitReply:
        assert self.env.scope is not None
        try:
            return await asyncio.wait_for(self.env.scope.await_promise(promise_id, timeout),
                                          timeout + self.timeout())
        except TimeoutError:
            raise OpTimeout(f"await did not answer within {timeout + self.timeout():.2f} s") \
                from None

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

    # default readers and writers, acquired on first use ------------------------------------
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
