"""Cloudflare's production egress policy, as the reference implementation enforces it.

A Worker may not open a socket to Cloudflare's own ranges, localhost or private networks
("proxy request failed, cannot connect to the specified address"), to itself ("TCP Loop
detected") or to port 25 on any host ("Connections to port 25 are prohibited"); see the
troubleshooting section of developers.cloudflare.com/workers/runtime-apis/tcp-sockets/. The
suite treats that policy as part of the implementation under test, so the reference enforces
it, with exactly one exception the harness passes in: the case's own endpoints
(CaseContext.allowed_endpoints: its peers and closed port, exact host and port), so fake
peers on loopback stay reachable while every other loopback address is refused as in
production.

Pure decisions, no I/O: `refusal()` looks at the address as written. Names other than
localhost are not resolved here: production resolves them in its proxy, and under the
harness guard the reference could not resolve them anyway (a look-up is refused), so a
case never relies on one.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sockets_conformance.model.ranges import cloudflare

from .address import Address

LOOP = "TCP Loop detected"
PORT_25 = "Connections to port 25 are prohibited"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# (network, why) in the order they are checked. "Private network IPs" in the docs: RFC 1918
# and its IPv6 counterpart; link-local covers cloud metadata services (169.254.169.254);
# 0.0.0.0 and :: reach the local host on Linux, so they are localhost by another name.
DISALLOWED: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), why) for net, why in (
        ("127.0.0.0/8", "loopback"),
        ("::1/128", "loopback"),
        ("0.0.0.0/8", "unspecified (reaches the local host)"),
        ("::/128", "unspecified (reaches the local host)"),
        ("10.0.0.0/8", "private network (RFC 1918)"),
        ("172.16.0.0/12", "private network (RFC 1918)"),
        ("192.168.0.0/16", "private network (RFC 1918)"),
        ("fc00::/7", "private network (unique local, RFC 4193)"),
        ("169.254.0.0/16", "link-local"),
        ("fe80::/10", "link-local"),
    ))
_LEGACY_IPV4 = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.I)


@dataclass(frozen=True)
class Refusal:
    """Why the policy refuses a destination. `message` None means the ordinary connection
    failure message (with its HTTP hint on ports 80/443): production's proxy answers a
    disallowed address exactly as an unreachable one."""

    why: str
    message: str | None = None


def host_ip(host: str) -> IPAddress | None:
    """The IP address a host names, if it is a literal: IPv6 with or without brackets, an
    IPv4-mapped IPv6 address as its IPv4 address, and the legacy IPv4 forms an OS resolver
    accepts without DNS ("127.1", "0x7f.0.0.1", "2130706433"), which would otherwise be
    loopback wearing a disguise."""
    bare = host.strip("[]").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        if not _LEGACY_IPV4.match(bare):
            return None
        try:
            ip = ipaddress.IPv4Address(socket.inet_aton(bare))
        except OSError:
            return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _same_host(a: str, b: str) -> bool:
    ip_a, ip_b = host_ip(a), host_ip(b)
    if ip_a is not None or ip_b is not None:
        return ip_a == ip_b
    return a.strip("[]").rstrip(".").lower() == b.strip("[]").rstrip(".").lower()


def split_host_port(text: str) -> tuple[str, int]:
    """"host:port" or "[v6]:port" into its parts (the form CaseContext.self_address has)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def host_refusal(host: str) -> str | None:
    """Why a host is never reachable from a Worker, whatever the port; None if it may be."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "localhost"
    ip = host_ip(host)
    if ip is None:
        return None
    for net, why in DISALLOWED:
        if ip.version == net.version and ip in net:
            return f"{why} {net}"
    if cloudflare().contains(ip):
        return f"Cloudflare's published ranges ({cloudflare().source})"
    return None


def refusal(address: Address, *, allowed: Iterable[tuple[str, int]] = (),
            self_address: str | None = None) -> Refusal | None:
    """The policy's answer for one connect(): None to let it through, else why not."""
    host, port = address.connect_host, address.port
    if any(port == p and _same_host(host, h) for h, p in allowed):
        return None
    if self_address:
        own_host, own_port = split_host_port(self_address)
        if port == own_port and _same_host(host, own_host):
            return Refusal("the Worker's own address", LOOP)
    if port == 25:
        return Refusal("port 25", PORT_25)
    why = host_refusal(host)
    return Refusal(why) if why else None


def refusal_for(address: Address, context: Any) -> Refusal | None:
    """`refusal` with the exception and self address of a case (a harness CaseContext).

    Without a context (connect() called directly, outside any case) nothing is refused:
    there is no harness to say which loopback endpoints are its own, and no guard either, so
    such callers are the project's own unit tests on loopback."""
    if context is None:
        return None
    return refusal(address, allowed=getattr(context, "allowed_endpoints", ()),
                   self_address=getattr(context, "self_address", None))
