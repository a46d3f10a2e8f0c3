"""What the runner needs from an implementation: the object-model operations of
spec/adapter-protocol.md, scoped per case. The reference adapter implements it in-process;
driver adapters forward each call as one JSON line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sockets_conformance.model.values import AwaitReply, CallReply


@dataclass(frozen=True)
class ImplementationInfo:
    name: str
    version: str
    language: str
    homepage: str = ""
    features: frozenset[str] = field(default_factory=frozenset)
    # Besides the version, what changes behaviour (workerd: compatibility_date).
    settings: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass
class CaseContext:
    """What the harness tells the implementation about one case before it starts."""

    case_id: str
    allowed_endpoints: list[tuple[str, int]]   # the case's own peers and closed port:
                                                # reachable despite the egress policy
    ca_pem: str | None = None                   # the run's test CA, for TLS cases
    self_address: str | None = None             # "host:port" it is served at ({self})


class AdapterError(Exception):
    """The implementation broke the protocol or crashed: the case is ERROR, not FAIL."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class Scope(Protocol):
    """One case's view of the implementation. `call` runs an op that answers at once
    (Returned/Threw); `await_promise` waits up to `timeout` seconds for a promise."""

    async def call(self, op: str, args: dict[str, Any]) -> CallReply: ...

    async def await_promise(self, promise_id: str, timeout: float) -> AwaitReply: ...

    async def call_batch(self, ops: list[tuple[str, dict[str, Any]]]) -> list[CallReply]:
        """Run `ops` one after another in one synchronous turn of the implementation: no
        promise callback or I/O may run in between (a `sameTurn` step). Answers in order."""
        ...

    async def violations(self) -> list[str]:
        """Destinations the safety guard refused during this case, as sentences such as
        "implementation tried to reach 10.0.0.1:5432; blocked by the harness". Any entry
        fails the case, whatever its steps said."""
        ...

    async def close(self) -> None: ...


class Adapter(Protocol):
    info: ImplementationInfo

    async def start(self) -> None: ...

    async def open_scope(self, context: CaseContext) -> Scope: ...

    async def stop(self) -> None: ...

    def diagnostics(self) -> str:
        """stderr or logs worth attaching to a failed case ('' when none)."""
        ...
