"""The reference implementation as a driver: spec/adapter-protocol.md over stdin/stdout.

    pytest --adapter "driver:python -m sockets_conformance.adapters.reference.stdio_driver"

runs the suite exactly as `--adapter reference` does, but through the protocol: it is the
proof that the protocol carries everything a case needs, and the smallest complete driver
to copy (Bowtie style: one `cmd_<name>` method per command, given the request).
tests/drivers/ builds broken drivers on top of it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import IO, Any

from sockets_conformance.adapters.reference.adapter import ReferenceAdapter, ReferenceScope
from sockets_conformance.model.values import Fulfilled, Pending, Rejected, Returned
from sockets_conformance.running.adapter import CaseContext
from sockets_conformance.running.protocol import LINE_LIMIT, PROTOCOL_VERSION, decode, encode


class ProtocolFailure(Exception):
    """The request cannot be carried out: becomes an {"error": ...} reply (case ERROR)."""


class StdioDriver:
    def __init__(self, adapter: ReferenceAdapter | None = None) -> None:
        self.adapter = adapter or ReferenceAdapter()
        self.scope: ReferenceScope | None = None
        self.stopping = False

    # commands ------------------------------------------------------------------------------
    async def cmd_start(self, request: dict[str, Any]) -> dict[str, Any]:
        protocol = request["protocol"]
        if protocol != PROTOCOL_VERSION:
            raise ProtocolFailure(f"this driver speaks protocol {PROTOCOL_VERSION}, "
                                  f"not {protocol}")
        await self.adapter.start()
        info = self.adapter.info
        return {"protocol": PROTOCOL_VERSION, "implementation": {
            "name": info.name, "version": info.version, "language": info.language,
            "homepage": info.homepage, "features": sorted(info.features)}}

    async def cmd_open_scope(self, request: dict[str, Any]) -> dict[str, Any]:
        await self._close_scope()
        self.scope = await self.adapter.open_scope(CaseContext(
            case_id=request["case"],
            allowed_endpoints=[(str(h), int(p)) for h, p in request["allowed"]],
            ca_pem=request.get("ca_pem"), self_address=request.get("self")))
        return {"ok": True}

    async def cmd_call(self, request: dict[str, Any]) -> dict[str, Any]:
        op, args = request["op"], request["args"]
        scope = self._scope()
        try:
            reply = await scope.call(op, decode(args))
        except (KeyError, ValueError, TypeError) as exc:  # unknown op/handle, bad arguments
            raise ProtocolFailure(f"{op}: {exc}") from None
        if isinstance(reply, Returned):
            return {"returned": encode(reply.value)}
        return {"threw": {"name": reply.error.name, "message": reply.error.message}}

    async def cmd_batch(self, request: dict[str, Any]) -> dict[str, Any]:
        scope = self._scope()
        ops = [(c["op"], decode(c["args"])) for c in request["calls"]]
        try:
            replies = await scope.call_batch(ops)
        except (KeyError, ValueError, TypeError) as exc:
            raise ProtocolFailure(f"batch: {exc}") from None
        return {"replies": [
            {"returned": encode(r.value)} if isinstance(r, Returned)
            else {"threw": {"name": r.error.name, "message": r.error.message}}
            for r in replies]}

    async def cmd_await(self, request: dict[str, Any]) -> dict[str, Any]:
        promise, timeout = request["promise"], request["timeout"]
        scope = self._scope()
        if promise not in scope.promises:
            raise ProtocolFailure(f"no promise with id {promise!r} in this scope")
        reply = await scope.await_promise(promise, timeout)
        if isinstance(reply, Fulfilled):
            return {"fulfilled": encode(reply.value)}
        if isinstance(reply, Rejected):
            return {"rejected": {"name": reply.error.name, "message": reply.error.message}}
        assert isinstance(reply, Pending)
        return {"pending": True}

    async def cmd_violations(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"violations": list(await self._scope().violations())}

    async def cmd_close_scope(self, request: dict[str, Any]) -> dict[str, Any]:
        await self._close_scope()
        return {"ok": True}

    async def cmd_stop(self, request: dict[str, Any]) -> dict[str, Any]:
        await self._close_scope()
        await self.adapter.stop()
        self.stopping = True
        return {"ok": True}

    # plumbing ------------------------------------------------------------------------------
    def _scope(self) -> ReferenceScope:
        if self.scope is None:
            raise ProtocolFailure("no scope is open")
        return self.scope

    async def _close_scope(self) -> None:
        if self.scope is not None:
            scope, self.scope = self.scope, None
            await scope.close()

    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        """One request -> its reply (with the request's id)."""
        rid = message.get("id")
        method = getattr(self, f"cmd_{message.get('cmd')}", None)
        try:
            if method is None:
                raise ProtocolFailure(f"unknown command {message.get('cmd')!r}")
            body = await method(message)
        except ProtocolFailure as exc:
            body = {"error": {"message": str(exc)}}
        except Exception as exc:  # a bug here must reach the harness, not kill the driver
            body = {"error": {"message": f"driver bug: {type(exc).__name__}: {exc}"}}
        return {"id": rid, **body}

    async def serve(self, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None) \
            -> None:
        """Answer requests until `stop` or until stdin closes (the harness went away).

        The next line is always being read, even while a request is handled: the harness
        sends nothing more until it has the reply, so what arrives meanwhile can only be
        end-of-file, and then the driver must go at once, even from an op that hangs."""
        out = stdout or sys.stdout.buffer
        # stdout carries protocol lines only; anything else printed goes to stderr.
        sys.stdout = sys.stderr
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                     stdin or sys.stdin)
        next_line = asyncio.ensure_future(reader.readline())
        try:
            while not self.stopping:
                line = await next_line
                if not line:
                    break
                next_line = asyncio.ensure_future(reader.readline())
                try:
                    message = json.loads(line)
                except ValueError as exc:
                    message = {"id": None, "cmd": f"<unreadable: {exc}>"}
                handling = asyncio.ensure_future(self.handle(message))
                await asyncio.wait({handling, next_line}, return_when=asyncio.FIRST_COMPLETED)
                if not handling.done() and next_line.done() and not next_line.result():
                    handling.cancel()
                    break
                reply = await handling
                out.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
                out.flush()
        finally:
            next_line.cancel()
            await self._close_scope()


def main() -> None:
    asyncio.run(StdioDriver().serve())


if __name__ == "__main__":
    main()
