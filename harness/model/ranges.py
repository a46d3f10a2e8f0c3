"""Cloudflare's published address ranges (spec/cloudflare-ranges.yaml), for cases and policy.

The ranges are data with a source and a date, not constants in code, so refreshing them is an
edit of one YAML file. Cases never name a Cloudflare address: the runner's {cloudflare.v4} and
{cloudflare.v6} templates pick one from here (`pick`), and the reference implementation's
egress policy reads the same file, so a refresh moves both together.
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

import yaml
from sockets_conformance.paths import SPEC

CLOUDFLARE_RANGES = SPEC / "cloudflare-ranges.yaml"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class CloudflareRanges:
    source: str
    recorded: date
    ipv4: tuple[ipaddress.IPv4Network, ...]
    ipv6: tuple[ipaddress.IPv6Network, ...]

    @property
    def all(self) -> tuple[Network, ...]:
        return (*self.ipv4, *self.ipv6)

    def contains(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(ip in net for net in (self.ipv4 if ip.version == 4 else self.ipv6))

    def pick(self, version: int, seed: str) -> str:
        """One host address inside one of the ranges, chosen from `seed` (the case id): the
        same on every run, and different cases land in different ranges."""
        nets: tuple[Network, ...] = self.ipv4 if version == 4 else self.ipv6
        if not nets:
            raise ValueError(f"{CLOUDFLARE_RANGES.name} lists no IPv{version} range")
        digest = zlib.crc32(seed.encode())
        net = nets[digest % len(nets)]
        span = min(net.num_addresses - 2, 1 << 16)   # skip the network address itself
        return str(net.network_address + 1 + (digest >> 8) % span)


@cache
def cloudflare(path: Path = CLOUDFLARE_RANGES) -> CloudflareRanges:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    recorded = raw["recorded"]
    if not isinstance(recorded, date):
        recorded = date.fromisoformat(str(recorded))
    return CloudflareRanges(
        source=str(raw["source"]),
        recorded=recorded,
        ipv4=tuple(ipaddress.IPv4Network(n) for n in raw["ipv4"]),
        ipv6=tuple(ipaddress.IPv6Network(n) for n in raw["ipv6"]),
    )
