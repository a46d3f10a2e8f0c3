"""The machine the numbers are taken on: its load, waiting for it to idle, tool versions.

Numbers from a busy machine measure the others using it, so the report says how busy it was
before and after, and which Python, Node and workerd ran.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from pathlib import Path

from sockets_conformance.adapters.registry import resolve


def load_average() -> tuple[float, float, float]:
    """The 1-, 5- and 15-minute load averages, as the kernel reports them."""
    one, five, fifteen = Path("/proc/loadavg").read_text().split()[:3]
    return float(one), float(five), float(fifteen)


def wait_until_idle(limit: float, patience: float) -> None:
    """Wait (up to `patience` seconds) for the 1-minute load average to drop below
    `limit`: numbers taken while others use the cores measure them, not the suite."""
    deadline = time.monotonic() + patience
    while load_average()[0] >= limit and time.monotonic() < deadline:
        time.sleep(5)


def versions() -> dict[str, str]:
    """Python's version, and Node's and workerd's where their adapters resolve."""
    out = {"python": sys.version.split()[0]}
    for impl in ("node", "workerd"):
        with contextlib.suppress(Exception):
            adapter = resolve(impl)
            if impl == "node":
                node = getattr(adapter, "command", ["node"])[0]
                out["node"] = subprocess.run([node, "--version"], capture_output=True,
                                             text=True, timeout=30).stdout.strip()
            else:
                from sockets_conformance.adapters.workerd.launch import version

                out["workerd"] = version()
    return out
