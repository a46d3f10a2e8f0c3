"""A case's environment: its peers, its closed port and its scope, and the templates that name them.

Set up before the first step and torn down after the last, whatever happened in between, so
no peer or port outlives its case. The teardown is the end-of-case cleanup: cases do not close
their sockets unless that is what they test, so closing the scope is what closes them. Each
part of it is bounded, and what went wrong is returned to be reported beside the verdict,
never in it. Templates ({peer.host}, {closed_port}, {self},
{cloudflare.v4} ...) are filled here because only the environment knows where its fixtures
ended up listening.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable
from types import TracebackType
from typing import Any

from sockets_conformance.model.case import Case
from sockets_conformance.model.ranges import cloudflare
from sockets_conformance.running.adapter import Adapter, AdapterError, CaseContext, Scope
from sockets_conformance.running.settings import Settings
from sockets_conformance.servers import certs
from sockets_conformance.servers.fragmentation import case_rng, run_seed
from sockets_conformance.servers.puppet import ClosedPort, PuppetPeer

_TEMPLATE = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)?)\}")
# Where the harness tells an implementation it is served at, for {self} (the TCP-loop cases).
# An adapter that really is served somewhere (workerd) sets `self_address` to override it.
# A reserved name (RFC 2606 .invalid) on the wrangler dev port: dialling it can reach nothing.
DEFAULT_SELF_ADDRESS = "reference-worker.invalid:8787"


class CaseInvalid(Exception):
    """The case asks for something the runner cannot do (a bad template, a missing handle)."""


class Unavailable(Exception):
    """This machine cannot set the case up (e.g. no privilege to hold port 80 closed): the
    case is NOT-APPLICABLE here, whatever the implementation."""


class CaseEnvironment:
    """The fixtures of one case. Use `async with`, or setup() and teardown() in a finally:
    teardown also cleans up after a setup that failed half-way."""

    def __init__(self, case: Case, adapter: Adapter, settings: Settings,
                 repetition: int = 1) -> None:
        self.case, self.adapter, self.settings = case, adapter, settings
        self.peers: dict[str, PuppetPeer] = {}
        self.closed_port: ClosedPort | None = None
        self.scope: Scope | None = None
        self.context: CaseContext | None = None
        self.refused: list[str] = []   # the guard's refusals reported so far, each once
        seed = settings.peer_fragmentation   # this run's own seed (--repeat: per repetition)
        self.seed = None if seed is None else run_seed(seed, case.id, repetition)

    async def __aenter__(self) -> CaseEnvironment:
        try:
            await self.setup()
        except BaseException:
            await self.teardown()
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.teardown()

    # lifecycle -------------------------------------------------------------------------------
    async def setup(self) -> None:
        for spec in self.case.peers:
            peer = PuppetPeer(spec.name, spec.host, tls=spec.tls, cert=spec.cert,
                              receive_buffer=spec.receive_buffer,
                              rng=None if self.seed is None else
                              case_rng(self.seed, self.case.id, spec.name))
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
        self.context = CaseContext(self.case.id, self.endpoints(), ca_pem=certs.ca_pem(),
                                   self_address=self.self_address)
        self.scope = await self.adapter.open_scope(self.context)

    async def teardown(self) -> list[str]:
        """Close the scope (the implementation drops every connection of the case), stop
        the peers and free the closed port: each part bounded by one step timeout and run
        whatever the others did, so the next case starts clean. Returns what went wrong, one
        sentence each ([] when clean)."""
        problems: list[str] = []
        bound = self.settings.timeout(None)
        if self.scope is not None:
            scope, self.scope = self.scope, None
            problems += await _bounded(scope.close(), bound, "closing the scope")
        for name, peer in self.peers.items():
            problems += await _bounded(peer.stop(), bound, f"stopping peer {name!r}")
        if self.closed_port is not None:
            try:
                self.closed_port.close()
            except OSError as exc:
                problems.append(f"releasing the closed port: {exc}")
        return problems

    async def violations(self) -> list[str]:
        """The destinations the scope's guard refused, for the verdict: every one reported
        so far, each once, whether the scope answers with all of them or only the new ones."""
        assert self.scope is not None
        self.refused = list(dict.fromkeys([*self.refused, *await self.scope.violations()]))
        return self.refused

    def wire(self) -> dict[str, dict[str, Any]]:
        """What each peer received and sent, for the result (reports show the bytes), and
        under "network" its SNI, segments and their timing, connection by connection."""
        seed = [] if self.seed is None else [
            f"peer fragmentation seed {self.seed} (rerun: --peer-fragmentation={self.seed})"]
        return {name: {"received": p.received, "sent": p.sent, "network": "\n".join(seed + [
                    f"connection {i}: {c.log.describe(tls=c.tls is not None)}"
                    for i, c in enumerate(p.connections, 1)])}
                for name, p in self.peers.items()}

    def endpoints(self) -> list[tuple[str, int]]:
        """The case's own endpoints, the only loopback destinations an egress policy lets
        through (and the harness guard allows): its peers, and its closed port, which the
        connection-failure cases dial. A bystander peer (allowed: false) is left out."""
        allowed = {spec.name for spec in self.case.peers if spec.allowed}
        own = [(p.host, p.port) for name, p in self.peers.items() if name in allowed]
        if self.closed_port is not None:
            own.append((self.closed_port.host, self.closed_port.port))
        return own

    @property
    def self_address(self) -> str:
        """{self}: the "host:port" the implementation under test is served at."""
        return getattr(self.adapter, "self_address", None) or DEFAULT_SELF_ADDRESS

    # templates -------------------------------------------------------------------------------
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


async def _bounded(work: Awaitable[None], bound: float, what: str) -> list[str]:
    """`work` given at most `bound` seconds; what went wrong, as a sentence. Not wait_for:
    it waits for a cancelled task to finish, and a close that ignores cancellation would
    then hold the run for ever. Here the task is cancelled and left behind."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=bound)
    finally:
        if not task.done():
            task.cancel()
            # Whatever it ends with later is no one's business any more: no warning for it.
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
    if not done:
        return [f"{what} did not finish within {bound:.2f} s"]
    if task.cancelled():
        return [f"{what} was cancelled"]
    exc = task.exception()
    if exc is None:
        return []
    if isinstance(exc, AdapterError):
        return [f"{what} failed: {exc}"]
    # An adapter or harness bug in the cleanup: reported, and the next case still runs.
    return [f"{what} failed: {type(exc).__name__}: {exc}"]
