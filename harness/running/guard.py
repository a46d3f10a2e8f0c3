"""The safety guard: no packet leaves loopback, whatever the implementation under test does.

Why it exists (README, "Safety: nothing leaves loopback"): the egress cases ask an
implementation to dial private, link-local and Cloudflare addresses and expect a refusal. An
implementation that does not refuse would really dial them, from whatever machine runs the
suite. The guard makes that impossible for in-process implementations (the reference and its
variants) and turns the attempt into the case's FAIL with a sentence a reader understands at
once: "implementation tried to reach 10.0.0.1:5432; blocked by the harness".

How: a Python audit hook (PEP 578, `sys.addaudithook`). CPython raises "socket.connect",
"socket.sendto", "socket.getaddrinfo", ... *before* it makes the system call, and an
exception raised by a hook aborts the call, so a refused destination never reaches the
kernel. The guard raises `BlockedByHarness`, an OSError, which a well-behaved implementation
handles like any network failure; the case then fails on the recorded attempt, whatever its
steps said.

What is refused, always, once installed:
  - connecting or sending to any address that is not loopback (127.0.0.0/8, ::1), including
    0.0.0.0 and IPv4-mapped forms of non-loopback addresses;
  - any name look-up (forward or reverse) other than of "localhost" or a loopback literal,
    because a DNS query is itself a packet to a resolver beyond loopback.
What is refused while a case is armed (`Guard.arm`): loopback endpoints other than the case's
own (its peers and its closed port). Those do not leak, but a wrong implementation must not
touch whatever else listens on the machine (a developer's Postgres on 127.0.0.1:5432), and a
loopback policy failure then reads as plainly as a network one.

Audit hooks cannot be removed, so there is one guard per process (`install`), armed and
disarmed per case. The guard is process-wide on purpose: asyncio resolves names in executor
threads, where a context variable would not follow. Attempts are recorded on the watch of
every armed case (cases run one at a time per process; if two ever overlapped, both would
fail rather than one going unnoticed).

What it cannot see: an implementation that opens sockets outside Python's socket module (a
C extension, ctypes, a child process). Out-of-process implementations (Node, workerd) need
their own guard in their own form; CI's network namespace (.ci/run) is the second line for
everything.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import json
import os
import socket
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Set to a file path to get one JSON line per network operation the guard saw (allowed or
# blocked): tests/test_egress.py counts them to show what the guard stopped.
LOG_ENV = "SOCKETS_CONFORMANCE_GUARD_LOG"

LOCAL_NAMES = frozenset({"localhost", "localhost."})
# Events whose arguments name a network destination (see the audit events table in the
# Python docs). socket.bind is absent on purpose: binding sends nothing.
CONNECT_EVENTS = frozenset({"socket.connect", "socket.sendto", "socket.sendmsg"})
LOOKUP_EVENTS = frozenset({"socket.getaddrinfo", "socket.gethostbyname"})
REVERSE_EVENTS = frozenset({"socket.gethostbyaddr", "socket.getnameinfo"})
# A link-layer socket sends frames on an interface with no IP destination to judge (and, once
# bound, without any further audit event), so it is refused when created.
NEW_SOCKET = "socket.__new__"
EVENTS = CONNECT_EVENTS | LOOKUP_EVENTS | REVERSE_EVENTS | {NEW_SOCKET}
PACKET_FAMILY = getattr(socket, "AF_PACKET", None)

Endpoint = tuple[str, int]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedByHarness(PermissionError):
    """Raised inside the refused call, before its system call. An OSError, so an
    implementation sees an ordinary network failure; the case fails on the record."""


@dataclass(frozen=True)
class Attempt:
    """One network operation the guard judged."""

    event: str                 # the audit event, e.g. "socket.connect"
    destination: str           # "10.0.0.1:5432", "[fe80::1]:22", "mail.example.invalid:25"
    blocked: bool
    why: str = ""              # for blocked attempts: what made it refusable
    case: str | None = None    # the armed case, if any

    @property
    def message(self) -> str:
        detail = f" ({self.why})" if self.why and self.why != NOT_LOOPBACK else ""
        return f"implementation tried to reach {self.destination}{detail}; blocked by the harness"

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "destination": self.destination, "blocked": self.blocked,
                "why": self.why, "case": self.case, "pid": os.getpid()}


NOT_LOOPBACK = "not a loopback address"
NAME_LOOKUP = "a DNS look-up of a name other than localhost"
NOT_ENDPOINT = "loopback, but not one of the case's own peers"
RAW_LINK = "a link-layer socket can reach any network"


@dataclass
class Watch:
    """One armed case: the loopback endpoints the harness set up for it, and what the
    guard refused while it ran."""

    case_id: str
    endpoints: frozenset[tuple[IPAddress, int]]
    attempts: list[Attempt] = field(default_factory=list)

    def violations(self) -> list[str]:
        """The refused attempts as sentences, each once, in the order they happened."""
        return list(dict.fromkeys(a.message for a in self.attempts if a.blocked))


# decisions (pure: no I/O, no state) ---------------------------------------------------------

def _text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("ascii", "replace")
    return value if isinstance(value, str) else None


def parse_ip(host: str) -> IPAddress | None:
    """An IP literal (an IPv4-mapped IPv6 address counts as its IPv4 address), else None."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _port(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _text(value)
    return int(text) if text is not None and text.isdigit() else None


def show(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _endpoint_ok(ip: IPAddress, port: int | None,
                 endpoints: frozenset[tuple[IPAddress, int]] | None) -> bool:
    """Loopback is fine unless a case is armed; then only its own endpoints are (a look-up
    without a port, or with port 0 for binding, names no endpoint: a connect is judged
    when it comes)."""
    return endpoints is None or not port or (ip, port) in endpoints


def judge_destination(host: str, port: int | None,
                      endpoints: frozenset[tuple[IPAddress, int]] | None) -> str | None:
    """Why (host, port) must be refused, or None when it may proceed. The same rule serves
    look-ups and connects: Python resolves a name passed to connect() itself, without a
    separate getaddrinfo event, so a name there is a look-up too."""
    ip = parse_ip(host.split("%", 1)[0]) if host else None
    if host.lower() in LOCAL_NAMES:
        if endpoints is None or not port:
            return None
        local = any(p == port and e.is_loopback for e, p in endpoints)
        return None if local else NOT_ENDPOINT
    if ip is None:
        return NAME_LOOKUP
    if not ip.is_loopback:
        return NOT_LOOPBACK
    return None if _endpoint_ok(ip, port, endpoints) else NOT_ENDPOINT


def decide(event: str, args: tuple[Any, ...],
           endpoints: frozenset[tuple[IPAddress, int]] | None) -> tuple[str, str | None] | None:
    """(destination, why-refused-or-None) for a network event, None for events that name no
    network destination (AF_UNIX connects, sends on a connected socket, other events)."""
    if event == NEW_SOCKET:
        family = args[1] if len(args) > 1 else None
        if PACKET_FAMILY is not None and family == PACKET_FAMILY:
            return "the network through an AF_PACKET socket", RAW_LINK
        return None
    if event in CONNECT_EVENTS:
        sock, address = args[0], args[1]
        if address is None or getattr(sock, "family", None) not in (socket.AF_INET,
                                                                    socket.AF_INET6):
            return None
        if not isinstance(address, tuple) or not address:
            return repr(address), NOT_LOOPBACK
        host = _text(address[0]) or ""
        port = _port(address[1]) if len(address) > 1 else None
        return show(host, port), judge_destination(host, port, endpoints)
    if event in LOOKUP_EVENTS:
        host = _text(args[0]) if args else None
        port = _port(args[1]) if event == "socket.getaddrinfo" and len(args) > 1 else None
        if host is None or host == "":
            return None  # a passive look-up (binding): names nothing remote
        return show(host, port), judge_destination(host, port, endpoints)
    if event in REVERSE_EVENTS:
        target = args[0] if args else None
        if isinstance(target, tuple) and target:
            target = target[0]
        host = _text(target) or ""
        ip = parse_ip(host.split("%", 1)[0])
        why = None if (ip is not None and ip.is_loopback) or host.lower() in LOCAL_NAMES \
            else NAME_LOOKUP
        return show(host, None), why
    return None


def endpoint_set(endpoints: Iterable[Endpoint]) -> frozenset[tuple[IPAddress, int]]:
    out = set()
    for host, port in endpoints:
        ip = parse_ip(host.strip("[]"))
        if ip is None and host.lower() in LOCAL_NAMES:
            ip = ipaddress.ip_address("127.0.0.1")
        if ip is not None:
            out.add((ip, int(port)))
    return frozenset(out)


# the hook -----------------------------------------------------------------------------------

class Guard:
    """The process's guard. Use `install()`; create one directly only to test decisions."""

    def __init__(self, log_path: str | None = None) -> None:
        self.log_path = log_path
        self.unattributed: list[Attempt] = []   # refused while no case was armed
        self._watches: list[Watch] = []
        self._lock = threading.Lock()

    def arm(self, case_id: str, endpoints: Iterable[Endpoint]) -> Watch:
        """Start a case: from now on loopback is limited to `endpoints` (its peers and its
        closed port) and refusals are recorded on the returned watch."""
        watch = Watch(case_id, endpoint_set(endpoints))
        with self._lock:
            self._watches.append(watch)
        return watch

    def disarm(self, watch: Watch) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._watches.remove(watch)

    def _endpoints(self) -> frozenset[tuple[IPAddress, int]] | None:
        if not self._watches:
            return None
        return frozenset().union(*(w.endpoints for w in self._watches))

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        """The audit hook. Cheap for the thousands of unrelated events; for network events
        it records and raises before the system call."""
        if event not in EVENTS:
            return
        with self._lock:
            try:
                verdict = decide(event, args, self._endpoints())
            except Exception as exc:  # a guard bug must fail closed, and say so
                verdict = (repr(args[:2]), f"the guard could not judge it: {exc!r}")
            if verdict is None:
                return
            destination, why = verdict
            watches = list(self._watches)
            attempt = Attempt(event, destination, why is not None, why or "",
                              watches[0].case_id if watches else None)
            for watch in watches:
                watch.attempts.append(attempt)
            if attempt.blocked and not watches:
                self.unattributed.append(attempt)
            self._log(attempt)
        if attempt.blocked:
            raise BlockedByHarness(errno.EACCES, attempt.message)

    def _log(self, attempt: Attempt) -> None:
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as log:
                log.write(json.dumps(attempt.as_json()) + "\n")


_GUARD: Guard | None = None
_INSTALL_LOCK = threading.Lock()


def install() -> Guard:
    """The process's guard, its audit hook added on first call (hooks stay for the life of
    the process, so this is idempotent rather than stackable)."""
    global _GUARD
    with _INSTALL_LOCK:
        if _GUARD is None:
            guard = Guard(os.environ.get(LOG_ENV) or None)
            sys.addaudithook(guard.hook)
            _GUARD = guard
        return _GUARD


def installed() -> Guard | None:
    return _GUARD


def read_log(path: str | Path) -> list[dict[str, Any]]:
    """The attempts a run's guards logged (all processes append to one file)."""
    p = Path(path)
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text(encoding="utf-8").splitlines() if line]
