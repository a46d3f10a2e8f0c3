"""Byte payloads as cases write them: text, base64, hex, or generated (big, reproducible)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any


def to_bytes(spec: Any) -> bytes:
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if "base64" in spec:
        return base64.b64decode(spec["base64"])
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    gen = spec["generated"]
    return generated(gen["size"], gen.get("seed", 0))


@lru_cache(maxsize=8)
def generated(size: int, seed: int) -> bytes:
    """Deterministic, non-repeating-looking bytes (SHAKE-256), so a reordered or dropped
    chunk anywhere in a large transfer is caught by a plain comparison."""
    return hashlib.shake_256(f"sockets-conformance/{seed}".encode()).digest(size)
