"""Mutants of the production egress policy (adapters/reference/egress.py).

Each is the reference policy with one hole, reached through the seam the reference keeps for
it (Socket._egress_refusal). What gets through is then dialled for real, and the harness
guard (installed by every MutantScope, as by the reference's) refuses it before the system
call and fails the case: an egress mutant never sends a packet beyond loopback.

The policy is re-expressed here with named knobs instead of patched in place: the reference
module's tables are shared by every mutant in a worker process, and must stay intact.
"""

from __future__ import annotations

import ipaddress
from typing import Any, ClassVar

from sockets_conformance.adapters.reference import egress
from sockets_conformance.adapters.reference.address import Address
from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.gates.mutants.base import socket_mutant
from sockets_conformance.model.ranges import cloudflare


def _plain_ip(host: str) -> egress.IPAddress | None:
    """Only canonical literals: no IPv4-mapped unwrapping, no legacy IPv4 forms."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class _Policy(Socket):
    """The reference policy with its checks switchable. HOLES names what is not checked:
    port-25, loop, localhost-name, cloudflare, exact-port (the case's own endpoints match by
    host alone), mapped / shorthand (ways of writing an address), and any `why` of
    egress.DISALLOWED by its first word (loopback, private, link-local, unspecified)."""

    HOLES: ClassVar[frozenset[str]] = frozenset()

    def _ip(self, host: str) -> egress.IPAddress | None:
        ip = egress.host_ip(host)
        plain = _plain_ip(host)
        if "mapped" in self.HOLES and plain is not None and plain.version == 6 and \
                getattr(plain, "ipv4_mapped", None) is not None:
            return plain
        if "shorthand" in self.HOLES and plain is None:
            return None
        return ip

    def _same_host(self, a: str, b: str) -> bool:
        ip_a, ip_b = self._ip(a), self._ip(b)
        if ip_a is not None or ip_b is not None:
            return ip_a == ip_b
        return a.strip("[]").rstrip(".").lower() == b.strip("[]").rstrip(".").lower()

    def _host_refusal(self, host: str) -> str | None:
        name = host.strip("[]").rstrip(".").lower()
        if "localhost-name" not in self.HOLES and (name == "localhost"
                                                   or name.endswith(".localhost")):
            return "localhost"
        ip = self._ip(host)
        if ip is None:
            return None
        for net, why in egress.DISALLOWED:
            if why.split(" ", 1)[0] in self.HOLES:
                continue
            if ip.version == net.version and ip in net:
                return f"{why} {net}"
        if "cloudflare" not in self.HOLES and cloudflare().contains(ip):
            return "Cloudflare's published ranges"
        return None

    def _egress_refusal(self) -> egress.Refusal | None:
        if self._context is None:
            return None
        address: Address = self._address
        host, port = address.connect_host, address.port
        allowed: Any = getattr(self._context, "allowed_endpoints", ())
        if any((port == p or "exact-port" in self.HOLES) and self._same_host(host, h)
               for h, p in allowed):
            return None
        self_address = getattr(self._context, "self_address", None)
        if self_address and "loop" not in self.HOLES:
            own_host, own_port = egress.split_host_port(self_address)
            if port == own_port and self._same_host(host, own_host):
                return egress.Refusal("the Worker's own address", egress.LOOP)
        if port == 25 and "port-25" not in self.HOLES:
            return egress.Refusal("port 25", egress.PORT_25)
        why = self._host_refusal(host)
        return egress.Refusal(why) if why else None


@socket_mutant("egress-port-25-allowed", "connections to port 25 are not refused",
               requirements=("egress.port-25",))
class EgressPort25Allowed(_Policy):
    HOLES = frozenset({"port-25"})


@socket_mutant("egress-private-allowed",
               "private networks (RFC 1918, fc00::/7) are not refused",
               requirements=("egress.private", "egress.localhost-aliases"))
class EgressPrivateAllowed(_Policy):
    HOLES = frozenset({"private"})


@socket_mutant("egress-loopback-allowed",
               "loopback addresses (127.0.0.0/8, ::1) other than the case's own are not "
               "refused",
               requirements=("egress.localhost", "egress.localhost-aliases"))
class EgressLoopbackAllowed(_Policy):
    HOLES = frozenset({"loopback"})


@socket_mutant("egress-localhost-name-allowed",
               "the name localhost is not refused (only IP literals are checked)",
               requirements=("egress.localhost",))
class EgressLocalhostNameAllowed(_Policy):
    HOLES = frozenset({"localhost-name"})


@socket_mutant("egress-link-local-allowed",
               "link-local addresses (169.254.0.0/16, fe80::/10) are not refused",
               requirements=("egress.link-local",))
class EgressLinkLocalAllowed(_Policy):
    HOLES = frozenset({"link-local"})


@socket_mutant("egress-unspecified-allowed",
               "the unspecified addresses 0.0.0.0 and :: (which reach the local host) are "
               "not refused",
               requirements=("egress.localhost-aliases",))
class EgressUnspecifiedAllowed(_Policy):
    HOLES = frozenset({"unspecified"})


@socket_mutant("egress-cloudflare-allowed",
               "Cloudflare's own published ranges are not refused",
               requirements=("egress.cloudflare",))
class EgressCloudflareAllowed(_Policy):
    HOLES = frozenset({"cloudflare"})


@socket_mutant("egress-tcp-loop-allowed",
               "a connection to the Worker's own address is not detected as a TCP loop",
               requirements=("egress.tcp-loop",))
class EgressTcpLoopAllowed(_Policy):
    HOLES = frozenset({"loop"})


@socket_mutant("egress-mapped-allowed",
               "an IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as IPv6, so the "
               "private IPv4 inside it passes",
               requirements=("egress.localhost-aliases",))
class EgressMappedAllowed(_Policy):
    HOLES = frozenset({"mapped"})


@socket_mutant("egress-shorthand-allowed",
               "legacy IPv4 spellings (127.1, 0x7f.0.0.1) are taken for names and pass",
               requirements=("egress.localhost-aliases",))
class EgressShorthandAllowed(_Policy):
    HOLES = frozenset({"shorthand"})


@socket_mutant("egress-exception-any-port",
               "the case's own endpoints are matched by host alone, so every port on the "
               "peer's host is let through",
               requirements=("egress.localhost", "egress.localhost-aliases"))
class EgressExceptionAnyPort(_Policy):
    HOLES = frozenset({"exact-port"})
