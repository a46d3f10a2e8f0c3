"""The egress policy, the safety guard, and the proof that together they keep the suite on
loopback.

Nothing here sends a packet beyond loopback, even if the guard were broken:
  - decisions are tested as pure functions, or by raising audit events with `sys.audit`
    (which runs the hooks and makes no system call at all);
  - the one real socket call that must be refused goes to a loopback port, so a guard that
    failed to refuse it would meet ECONNREFUSED on the local host, not the network;
  - the run of the egress cases against a reference that does not enforce the policy happens
    inside a fresh network namespace that has only loopback, under strace, and the one control
    connect to a TEST-NET address happens only there too.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sockets_conformance.adapters.reference import egress
from sockets_conformance.adapters.reference.address import parse
from sockets_conformance.model.checks import check_case
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.ranges import CLOUDFLARE_RANGES, cloudflare
from sockets_conformance.model.values import (
    Fulfilled,
    JSErrorInfo,
    Pending,
    PromiseRef,
    Rejected,
    Returned,
    Threw,
)
from sockets_conformance.paths import CASES, ROOT
from sockets_conformance.running import guard as guard_mod
from sockets_conformance.running import judge
from sockets_conformance.running.environment import DEFAULT_SELF_ADDRESS, CaseEnvironment
from sockets_conformance.running.guard import (
    NAME_LOOKUP,
    NOT_ENDPOINT,
    NOT_LOOPBACK,
    BlockedByHarness,
    decide,
)
from sockets_conformance.running.settings import Settings

from tests.needs import needs_netns, needs_strace, netns_prefix

PROXY = "proxy request failed, cannot connect to the specified address"
VARIANT = "python:tests.egress_variants:factory"
V4 = SimpleNamespace(family=socket.AF_INET)
V6 = SimpleNamespace(family=socket.AF_INET6)
UNIX = SimpleNamespace(family=socket.AF_UNIX)


# --- the policy ------------------------------------------------------------------------------

def refused(text: str, allowed: tuple[tuple[str, int], ...] = (),
            self_address: str | None = None) -> egress.Refusal | None:
    return egress.refusal(parse(text), allowed=allowed, self_address=self_address)


@pytest.mark.parametrize(("net", "inside", "outside"), [
    ("10.0.0.0/8", ["10.0.0.0", "10.255.255.255"], ["9.255.255.255", "11.0.0.0"]),
    ("172.16.0.0/12", ["172.16.0.0", "172.31.255.255"], ["172.15.255.255", "172.32.0.0"]),
    ("192.168.0.0/16", ["192.168.0.0", "192.168.255.255"], ["192.167.255.255", "192.169.0.0"]),
    ("169.254.0.0/16", ["169.254.0.0", "169.254.255.255"], ["169.253.255.255", "169.255.0.0"]),
    ("127.0.0.0/8", ["127.0.0.1", "127.255.255.254"], ["126.255.255.255", "128.0.0.0"]),
    ("fe80::/10", ["[fe80::]", "[febf:ffff::1]"], ["[fe7f:ffff::1]", "[fec0::1]"]),
    ("fc00::/7", ["[fc00::1]", "[fdff::1]"], ["[fbff::1]", "[fe00::1]"]),
])
def test_policy_refuses_each_range_to_its_edges(net: str, inside: list[str],
                                                 outside: list[str]) -> None:
    for host in inside:
        r = refused(f"{host}:5432")
        assert r is not None and net in r.why and r.message is None, (host, r)
    for host in outside:
        assert refused(f"{host}:5432") is None, host


def test_policy_refuses_localhost_and_its_aliases() -> None:
    for text in ("localhost:5432", "LOCALHOST.:5432", "db.localhost:5432", "[::1]:5432",
                 "0.0.0.0:5432", "[::]:5432", "127.1:5432", "2130706433:5432",
                 "0x7f.0.0.1:5432", "[::ffff:127.0.0.1]:5432", "[::ffff:10.0.0.1]:5432"):
        assert refused(text) is not None, text


def test_policy_refuses_every_cloudflare_range_and_lets_public_addresses_through() -> None:
    for net in cloudflare().all:
        for ip in (net.network_address + 1, net.broadcast_address - 1):
            host = f"[{ip}]" if ip.version == 6 else str(ip)
            r = refused(f"{host}:5432")
            assert r is not None and "Cloudflare" in r.why, ip
    for text in ("192.0.2.1:5432", "[2001:db8::1]:5432", "db.example.com:5432"):
        assert refused(text) is None, text   # public (documentation ranges) and names


def test_port_25_is_refused_on_any_host_with_its_own_message() -> None:
    for text in ("192.0.2.25:25", "mail.example.invalid:25", "[2001:db8::25]:25"):
        assert refused(text) == egress.Refusal("port 25", egress.PORT_25), text
    assert refused("192.0.2.25:587") is None


def test_tcp_loop_is_the_exact_self_address() -> None:
    own = "Worker.Example.invalid:8787"
    assert refused("worker.example.invalid:8787", self_address=own) == \
        egress.Refusal("the Worker's own address", egress.LOOP)
    assert refused("worker.example.invalid:8788", self_address=own) is None
    assert refused("[::1]:8787", self_address="[::1]:8787").message == egress.LOOP


def test_allowed_endpoints_are_exact_host_and_port() -> None:
    peer = (("127.0.0.1", 40001), ("::1", 40002))
    assert refused("127.0.0.1:40001", peer) is None
    assert refused("[::1]:40002", peer) is None
    assert refused("127.0.0.1:40002", peer) is not None     # another port of a peer's host
    assert refused("127.0.0.2:40001", peer) is not None     # another loopback address
    assert refused("localhost:40001", peer) is not None     # the same place by another name
    assert refused("[::1]:40001", peer) is not None


def test_no_context_means_no_policy() -> None:
    """connect() called outside any case (unit tests on loopback) has no endpoints to exempt."""
    assert egress.refusal_for(parse("127.0.0.1:1"), None) is None


def test_disallowed_address_rejects_opened_and_closed_with_the_http_hint_on_443() -> None:
    """A refused address fails like an unreachable one, hint included, and never dials."""
    from sockets_conformance.adapters.reference.js import JSError
    from sockets_conformance.adapters.reference.socket import connect

    guard_mod.install()   # belt and braces: the policy refuses first, the guard would anyway
    context = SimpleNamespace(allowed_endpoints=[], self_address=None)

    async def failure(port: int) -> tuple[str, str]:
        sock = connect(f"10.0.0.1:{port}", None, context=context)
        with pytest.raises(JSError) as opened:
            await sock.opened
        with pytest.raises(JSError) as closed:
            await sock.closed
        return opened.value.message, closed.value.message

    hint = ". It looks like you might be trying to connect to a HTTP-based service — " \
        "consider using fetch instead"
    assert asyncio.run(failure(5432)) == (PROXY, PROXY)
    assert asyncio.run(failure(443)) == (PROXY + hint, PROXY + hint)


# --- the guard's decisions -------------------------------------------------------------------

def endpoints(*pairs: tuple[str, int]) -> frozenset[Any]:
    return guard_mod.endpoint_set(pairs)


@pytest.mark.parametrize(("event", "args", "why"), [
    ("socket.connect", (V4, ("10.0.0.1", 5432)), NOT_LOOPBACK),
    ("socket.connect", (V4, ("192.0.2.1", 9)), NOT_LOOPBACK),
    ("socket.connect", (V4, ("0.0.0.0", 80)), NOT_LOOPBACK),
    ("socket.connect", (V4, ("", 80)), NAME_LOOKUP),
    ("socket.connect", (V4, ("example.com", 80)), NAME_LOOKUP),
    ("socket.connect", (V6, ("fe80::1%1", 22, 0, 1)), NOT_LOOPBACK),
    ("socket.connect", (V6, ("::ffff:10.0.0.1", 5432, 0, 0)), NOT_LOOPBACK),
    ("socket.connect", (V6, ("2606:4700::1", 443, 0, 0)), NOT_LOOPBACK),
    ("socket.sendto", (V4, ("8.8.8.8", 53)), NOT_LOOPBACK),
    ("socket.sendmsg", (V6, ("2001:db8::53", 53, 0, 0)), NOT_LOOPBACK),
    ("socket.getaddrinfo", ("example.com", 443, 0, 1, 0), NAME_LOOKUP),
    ("socket.getaddrinfo", (b"mail.example.invalid", "25", 0, 1, 0), NAME_LOOKUP),
    ("socket.getaddrinfo", ("10.0.0.1", 5432, 0, 1, 0), NOT_LOOPBACK),
    ("socket.gethostbyname", ("example.com",), NAME_LOOKUP),
    ("socket.gethostbyaddr", ("10.0.0.1",), NAME_LOOKUP),
    ("socket.getnameinfo", (("192.0.2.1", 80),), NAME_LOOKUP),
])
def test_guard_refuses_anything_beyond_loopback(event: str, args: tuple[Any, ...],
                                                why: str) -> None:
    verdict = decide(event, args, None)
    assert verdict is not None and verdict[1] == why, verdict


@pytest.mark.parametrize(("event", "args"), [
    ("socket.connect", (V4, ("127.0.0.1", 5432))),
    ("socket.connect", (V4, ("127.9.9.9", 5432))),
    ("socket.connect", (V6, ("::1", 5432, 0, 0))),
    ("socket.connect", (V4, ("localhost", 5432))),
    ("socket.getaddrinfo", ("localhost", 8080, 0, 1, 0)),
    ("socket.getaddrinfo", ("127.0.0.1", None, 0, 1, 0)),
    ("socket.getaddrinfo", (None, 0, 0, 1, 0)),
    ("socket.gethostbyaddr", ("127.0.0.1",)),
])
def test_guard_lets_loopback_through_when_no_case_is_armed(event: str,
                                                           args: tuple[Any, ...]) -> None:
    verdict = decide(event, args, None)
    assert verdict is None or verdict[1] is None, verdict


def test_guard_refuses_link_layer_sockets_and_nothing_else_at_creation() -> None:
    if not hasattr(socket, "AF_PACKET"):
        pytest.skip("no AF_PACKET on this platform")
    verdict = decide("socket.__new__", (None, socket.AF_PACKET, socket.SOCK_RAW, 0), None)
    assert verdict is not None and verdict[1] == guard_mod.RAW_LINK
    assert decide("socket.__new__", (None, socket.AF_INET, socket.SOCK_STREAM, 0), None) is None


def test_guard_ignores_what_names_no_network_destination() -> None:
    assert decide("socket.connect", (UNIX, "/run/x.sock"), None) is None
    assert decide("socket.sendmsg", (V4, None), None) is None   # on a connected socket
    assert decide("open", ("/etc/hosts", "r", 0), None) is None


def test_armed_guard_limits_loopback_to_the_case_endpoints() -> None:
    own = endpoints(("127.0.0.1", 40001), ("::1", 40002))
    assert decide("socket.connect", (V4, ("127.0.0.1", 40001)), own)[1] is None
    assert decide("socket.connect", (V6, ("::1", 40002, 0, 0)), own)[1] is None
    assert decide("socket.connect", (V4, ("127.0.0.1", 5432)), own)[1] == NOT_ENDPOINT
    assert decide("socket.connect", (V4, ("127.0.0.2", 40001)), own)[1] == NOT_ENDPOINT
    assert decide("socket.connect", (V4, ("localhost", 40001)), own)[1] is None
    assert decide("socket.connect", (V4, ("localhost", 5432)), own)[1] == NOT_ENDPOINT
    assert decide("socket.getaddrinfo", ("127.0.0.1", 0, 0, 1, 0), own)[1] is None  # binding


def test_the_message_says_who_tried_what() -> None:
    attempt = guard_mod.Attempt("socket.connect", "10.0.0.1:5432", True, NOT_LOOPBACK)
    assert attempt.message == "implementation tried to reach 10.0.0.1:5432; blocked by the harness"
    lookup = guard_mod.Attempt("socket.getaddrinfo", "db.example.com:5432", True, NAME_LOOKUP)
    assert lookup.message == ("implementation tried to reach db.example.com:5432 (a DNS look-up "
                              "of a name other than localhost); blocked by the harness")
    assert guard_mod.show("fe80::1", 22) == "[fe80::1]:22"


# --- the installed hook --------------------------------------------------------------------

@pytest.fixture
def watch() -> Iterator[guard_mod.Watch]:
    guard = guard_mod.install()
    w = guard.arm("tests/guard", [("127.0.0.1", 1)])
    try:
        yield w
    finally:
        guard.disarm(w)


def test_hook_refuses_network_events_and_records_them(watch: guard_mod.Watch) -> None:
    """sys.audit runs the hooks with the given arguments and does nothing else: no socket,
    no system call, so even a broken guard could not leak here."""
    with pytest.raises(BlockedByHarness) as info:
        sys.audit("socket.connect", V4, ("192.0.2.1", 5432))
    assert isinstance(info.value, OSError)
    with pytest.raises(BlockedByHarness):
        sys.audit("socket.getaddrinfo", "db.example.invalid", 5432, 0, 1, 0)
    sys.audit("socket.getaddrinfo", "localhost", 1, 0, 1, 0)   # allowed: nothing raised
    assert watch.violations() == [
        "implementation tried to reach 192.0.2.1:5432; blocked by the harness",
        "implementation tried to reach db.example.invalid:5432 (a DNS look-up of a name "
        "other than localhost); blocked by the harness",
    ]


def test_hook_stops_a_real_connect_before_the_system_call(watch: guard_mod.Watch) -> None:
    """A real connect to a loopback port nothing listens on: had the call reached the kernel
    it would fail with ECONNREFUSED; BlockedByHarness proves the hook ran first. Loopback,
    so a failure of the guard could not leave the machine."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))           # bound, never listening: refuses connections
        port = closed.getsockname()[1]
        with socket.socket() as s, pytest.raises(BlockedByHarness):
            s.connect(("127.0.0.1", port))
    assert watch.violations() == [
        f"implementation tried to reach 127.0.0.1:{port} (loopback, but not one of the case's "
        "own peers); blocked by the harness"]


def test_hook_leaves_the_case_endpoints_alone(watch: guard_mod.Watch) -> None:
    guard = guard_mod.install()
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        own = guard.arm("tests/guard-own", [("127.0.0.1", server.getsockname()[1])])
        try:
            # While several cases are armed, the union of their endpoints is allowed.
            with socket.create_connection(server.getsockname(), timeout=2):
                pass
        finally:
            guard.disarm(own)
    assert own.violations() == [] and watch.violations() == []


def test_refusals_outside_a_case_are_kept_apart() -> None:
    guard = guard_mod.install()
    before = len(guard.unattributed)
    with pytest.raises(BlockedByHarness):
        sys.audit("socket.connect", V4, ("198.51.100.7", 9))
    assert guard.unattributed[before:][0].destination == "198.51.100.7:9"


# --- throwsOrRejects: the expectation for "thrown or rejected, the sources do not say" ------

def test_throws_or_rejects_accepts_either_surface_and_nothing_else() -> None:
    expect = {"throwsOrRejects": "Error", "message": PROXY}
    error = JSErrorInfo("Error", PROXY)
    sock = Returned(PromiseRef("p1"))
    judge.judge_refusal(Threw(error), None, expect)                 # thrown
    judge.judge_refusal(sock, Rejected(error), expect)              # opened rejects
    for reply, opened in ((sock, Fulfilled({"remoteAddress": "x"})), (sock, Pending()),
                          (Threw(JSErrorInfo("TypeError", PROXY)), None),
                          (sock, Rejected(JSErrorInfo("TypeError", PROXY)))):
        with pytest.raises(judge.Mismatch) as info:
            judge.judge_refusal(reply, opened, expect)
        assert not isinstance(info.value, judge.MessageMismatch)
        assert "throws Error or returns a socket whose opened rejects with Error" in str(info.value)
    with pytest.raises(judge.MessageMismatch):
        judge.judge_refusal(sock, Rejected(JSErrorInfo("Error", "other")), expect)


def test_a_socket_expected_to_be_refused_cannot_be_used_later(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    path = tmp_path / "e" / "bad.yaml"
    path.write_text("""id: e/bad
title: A refused socket is used afterwards
requirements: [egress.private]
features: [tcp]
steps:
  - connect: {address: "10.0.0.1:5432", expect: {throwsOrRejects: Error}}
  - write: "x"
""")
    with pytest.raises(Exception, match="connection expected to be refused"):
        load_case(path, tmp_path)


# --- the data file and the templates ---------------------------------------------------------

def test_cloudflare_ranges_file_records_its_source_and_date() -> None:
    raw = yaml.safe_load(CLOUDFLARE_RANGES.read_text())
    assert raw["source"].startswith("https://www.cloudflare.com/ips")
    assert all(u.startswith("https://www.cloudflare.com/ips-v") for u in raw["lists"].values())
    ranges = cloudflare()
    assert ranges.recorded.year >= 2024
    assert len(ranges.ipv4) >= 10 and len(ranges.ipv6) >= 5
    for net in ranges.all:
        assert net.is_global, f"{net} is not a public range"


def test_pick_lands_inside_the_ranges_and_spreads_over_them() -> None:
    ranges = cloudflare()
    picked = {ranges.pick(v, f"egress/case-{i}") for v in (4, 6) for i in range(200)}
    for text in picked:
        ip = ipaddress.ip_address(text)
        assert ranges.contains(ip) and ip not in {n.network_address for n in ranges.all}, ip
    nets = {next(n for n in ranges.all if ipaddress.ip_address(t) in n) for t in picked}
    assert len(nets) > len(ranges.all) // 2


def test_no_case_hard_codes_a_cloudflare_address() -> None:
    literal = re.compile(r"\[?([0-9a-fA-F:]*:[0-9a-fA-F:]+|\d{1,3}(?:\.\d{1,3}){3})\]?")
    for path in CASES.rglob("*.yaml"):
        for match in literal.finditer(path.read_text()):
            try:
                ip = ipaddress.ip_address(match.group(1))
            except ValueError:
                continue
            assert not cloudflare().contains(ip), f"{path}: {ip} is a Cloudflare address"


def test_templates_give_cloudflare_and_self_addresses() -> None:
    case = load_case(CASES / "egress" / "cloudflare-ipv4.yaml")
    env = CaseEnvironment(case, SimpleNamespace(info=None), Settings())
    v4, v6 = env.render("{cloudflare.v4}"), env.render("{cloudflare.v6}")
    assert cloudflare().contains(ipaddress.ip_address(v4))
    assert cloudflare().contains(ipaddress.ip_address(v6))
    assert env.render("{self}") == DEFAULT_SELF_ADDRESS
    host, port = DEFAULT_SELF_ADDRESS.rsplit(":", 1)
    assert env.render({"hostname": "{self.host}", "port": "{self.port}"}) == \
        {"hostname": host, "port": int(port)}


def test_every_egress_case_is_loadable_and_checks_clean() -> None:
    cases = sorted((CASES / "egress").glob("*.yaml"))
    assert len(cases) >= 15
    for path in cases:
        case = load_case(path)
        assert "egress-policy" in case.features, path
        assert list(check_case(case)) == []


# --- the proof: a non-enforcing reference, inside a network namespace with only loopback ----

STRACE = shutil.which("strace")

_SOCKADDR = re.compile(
    r"sa_family=(?P<family>AF_INET6?|AF_UNIX)"
    r"(?:.*?sin6?_port=htons\((?P<port>\d+)\))?"
    r"(?:.*?inet_addr\(\"(?P<v4>[^\"]+)\"\)|.*?inet_pton\(AF_INET6, \"(?P<v6>[^\"]+)\")?"
    r"(?:.*?sun_path=(?P<path>\"[^\"]*\"))?")


@dataclass
class NamespaceRun:
    statuses: dict[str, str]           # case id -> conformance status
    messages: dict[str, str]           # case id -> the result's message
    links: str                         # `ip -o link` inside the namespace
    guard_log: list[dict[str, Any]]    # what the guard saw
    syscalls: list[str] | None         # strace lines (connect/sendto/...), None without strace
    output: str


def in_netns(command: list[str], trace: Path | None, workdir: Path,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `command` in a fresh network namespace with only loopback up, under strace when
    `trace` is given. Its `ip -o link` goes to workdir/links. The non-enforcing run is
    only ever done inside one: where none can be made, the tests that need it skip."""
    prefix = netns_prefix()
    assert prefix is not None
    traced = ["strace", "-f", "-qq", "-e", "signal=none",
              "-e", "trace=connect,sendto,sendmsg,sendmmsg", "-o", str(trace)] if trace else []
    script = 'ip link set lo up && ip -o link > "$LINKS" && exec "$@"'
    env = {**os.environ, **(env or {}), "LINKS": str(workdir / "links")}
    return subprocess.run([*prefix, "sh", "-c", script, "sh", *traced, *command], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def variant_run(tmp_path_factory: pytest.TempPathFactory) -> NamespaceRun:
    """Used only by tests marked needs_netns(): they skip before this runs."""
    work = tmp_path_factory.mktemp("netns")
    log, junit, trace = work / "guard.jsonl", work / "junit.xml", work / "trace.txt"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               "-o", "addopts=", "cases/egress", "cases/address", "--adapter", VARIANT,
               f"--junitxml={junit}"]
    done = in_netns(command, trace if STRACE else None, work, {guard_mod.LOG_ENV: str(log)})
    assert junit.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    statuses, messages = {}, {}
    for tc in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") or "" for p in tc.iter("property")}
        statuses[tc.get("name", "")] = props.get("conformance_status", "")
        failure = tc.find("failure")
        messages[tc.get("name", "")] = props.get("conformance_message") or \
            (failure.text or "" if failure is not None else "")
    syscalls = trace.read_text().splitlines() if STRACE and trace.exists() else None
    return NamespaceRun(statuses, messages, (work / "links").read_text(),
                        guard_mod.read_log(log), syscalls, done.stdout)


def _inet(line: str) -> tuple[str, int | None] | None:
    """The IP destination of a traced connect/sendto line, if it names one."""
    m = _SOCKADDR.search(line)
    if not m or m.group("family") == "AF_UNIX":
        return None
    ip = m.group("v4") or m.group("v6")
    return (ip, int(m.group("port")) if m.group("port") else None) if ip else None


@needs_netns()
def test_namespace_has_only_loopback(variant_run: NamespaceRun) -> None:
    names = [line.split(":")[1].strip() for line in variant_run.links.splitlines() if line]
    assert names == ["lo"], variant_run.links


@needs_netns()
def test_every_disallowed_destination_case_fails_with_the_guards_message(
        variant_run: NamespaceRun) -> None:
    egress_ids = sorted(p.relative_to(CASES).with_suffix("").as_posix()
                        for p in (CASES / "egress").glob("*.yaml"))
    assert egress_ids and set(egress_ids) <= set(variant_run.statuses), variant_run.output[-2000:]
    for cid in egress_ids:
        assert variant_run.statuses[cid] == "FAIL", (cid, variant_run.messages[cid])
        assert "blocked by the harness" in variant_run.messages[cid], \
            (cid, variant_run.messages[cid])
        assert "implementation tried to reach" in variant_run.messages[cid]


@needs_netns()
def test_the_variant_is_otherwise_conforming(variant_run: NamespaceRun) -> None:
    """Only the policy is missing: the address cases (IPv6 peers included) pass under the
    guard, so the guard does not get in the way of the case's own peers."""
    address = {cid: s for cid, s in variant_run.statuses.items() if cid.startswith("address/")}
    assert address and set(address.values()) == {"PASS"}, address


@needs_netns()
def test_the_guard_saw_and_stopped_every_attempt_beyond_loopback(
        variant_run: NamespaceRun) -> None:
    log = variant_run.guard_log
    beyond = [a for a in log if not _loopback_or_localhost(a["destination"])]
    assert beyond, "the guard saw no attempt beyond loopback: the variant did not dial"
    assert all(a["blocked"] for a in beyond), [a for a in beyond if not a["blocked"]]
    cases_with_attempts = {a["case"] for a in log if a["blocked"]}
    assert cases_with_attempts == {c for c in variant_run.statuses if c.startswith("egress/")}
    print(f"guard: {len(log)} network operations seen, {sum(a['blocked'] for a in log)} "
          f"blocked, {len(beyond)} of them beyond loopback; "
          f"{sum(not a['blocked'] for a in log)} allowed (all loopback)")


@needs_netns()
@needs_strace()
def test_no_system_call_reached_beyond_loopback(variant_run: NamespaceRun) -> None:
    """strace lists every connect/sendto the processes made. None may name an address beyond
    loopback, port 53 (DNS) anywhere, or a local resolver daemon's socket (nscd, resolved:
    those live outside the namespace and would resolve on the host's network)."""
    assert variant_run.syscalls is not None
    inet = [(line, _inet(line)) for line in variant_run.syscalls]
    dialled = [d for _, d in inet if d is not None]
    beyond = [line for line, d in inet if d and not ipaddress.ip_address(d[0]).is_loopback]
    dns = [line for line, d in inet if d and d[1] == 53]
    resolvers = [line for line in variant_run.syscalls
                 if "sun_path" in line and ("nscd" in line or "resolve" in line)]
    assert dialled, "strace saw no connect at all: the trace is not measuring anything"
    assert beyond == [] and dns == [] and resolvers == [], beyond + dns + resolvers
    print(f"strace: {len(dialled)} inet connects/sends, all to loopback; 0 beyond")


@needs_netns()
@needs_strace()
def test_control_strace_would_see_an_unguarded_connect(tmp_path: Path) -> None:
    """The positive control for the count above: the same trace, around a process without
    the guard that dials TEST-NET-1 (RFC 5737), shows the attempt. Inside the namespace the
    connect fails with ENETUNREACH: the address has no route, so nothing is sent."""
    trace = tmp_path / "control.txt"
    code = ("import socket\ns = socket.socket()\ntry:\n    s.connect(('192.0.2.1', 9))\n"
            "except OSError as e:\n    print(e.errno)\n")
    done = in_netns([sys.executable, "-c", code], trace, tmp_path)
    lines = trace.read_text().splitlines()
    beyond = [d for d in map(_inet, lines) if d and d[0] == "192.0.2.1"]
    assert beyond == [("192.0.2.1", 9)], lines
    assert done.stdout.strip() == str(errno.ENETUNREACH)


def _loopback_or_localhost(destination: str) -> bool:
    host = destination.rsplit(":", 1)[0] if not destination.startswith("[") \
        else destination[1:destination.index("]")]
    if host.lower() in ("localhost", "localhost."):
        return True
    ip = guard_mod.parse_ip(host)
    return ip is not None and ip.is_loopback
