"""The in-memory form of a case: plain dataclasses, no I/O.

The loader builds these from validated YAML; the runner only reads them. Each step keeps the
line it came from so a failure can point at the case file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLIENT_STEPS = (
    "connect", "get", "getReader", "getWriter", "read", "write", "closeWriter", "abortWriter",
    "releaseLock", "cancel", "close", "startTls", "await", "sameTurn", "unhandledRejections",
    "sink", "source", "pipeTo", "pipeThrough", "iterate", "collected",
)
PEER_ACTIONS = (
    "accept", "send", "expect", "expect_eof", "shutdown", "close", "reset",
    "pause_reading", "resume_reading", "start_tls", "expect_sni",
)


@dataclass(frozen=True)
class Step:
    """One line of the timeline: a client call or a peer action."""

    kind: str                 # a CLIENT_STEPS name, or "peer" for peer actions
    args: dict[str, Any]
    line: int                 # 1-based line in the case file
    source: str               # the step as written, for transcripts
    peer: str | None = None   # for peer actions: which peer
    action: str | None = None  # for peer actions: what it does

    @property
    def label(self) -> str:
        return f"{self.peer}.{self.action}" if self.peer else self.kind


@dataclass(frozen=True)
class PeerSpec:
    """A case's fake peer. `tls`: TLS from the first byte. `cert`: the certificate it
    presents then or at `start_tls` (servers/certs.py CERT_KINDS: valid, wrong-host,
    untrusted, expired)."""

    name: str
    tls: bool = False
    cert: str = "valid"
    host: str = "127.0.0.1"   # or "::1": where it listens
    allowed: bool = True      # False: not an allowed endpoint; an egress policy must refuse it
    receive_buffer: int | None = None   # SO_RCVBUF of its listener: a small window


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    requirements: tuple[str, ...]
    features: tuple[str, ...]
    steps: tuple[Step, ...]
    peers: tuple[PeerSpec, ...]
    path: Path
    description: str = ""
    timeout: float | None = None
    closed_port: int | None = None   # a fixed port number for {closed_port} (closedPort)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def area(self) -> str:
        return self.id.split("/", 1)[0]
