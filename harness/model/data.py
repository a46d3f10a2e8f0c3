"""Byte payloads as cases write them: text, base64, hex, or generated (big, reproducible)."""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


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
    """Deterministic, non-repeating-looking bytes, so a reordered or dropped chunk anywhere
    in a large transfer is caught by a plain comparison: the AES-128-CTR keystream of a key
    derived from the seed. SHAKE-256 did the same job three times slower, which made data
    generation the largest single cost of the 32 MiB cases (cryptography comes with
    trustme, so this adds no dependency)."""
    key = hashlib.sha256(f"sockets-conformance/{seed}".encode()).digest()[:16]
    keystream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return keystream.update(bytes(size)) + keystream.finalize()
