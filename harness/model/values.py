"""The values that cross between the harness and an implementation, and the replies to ops.

These mirror JavaScript: undefined is distinct from null, byte arrays are bytes, promises and
other objects stay on the implementation's side and are named by reference. The JSON form used
by drivers (spec/adapter-protocol.md) is a direct encoding of these.
"""

from __future__ import annotations

import base64
import codecs
from dataclasses import dataclass
from typing import Any


class _Undefined:
    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED = _Undefined()


@dataclass(frozen=True)
class PromiseRef:
    """A promise held by the implementation; the harness awaits it by id."""

    id: str


# The binary chunk kinds a case may hand to write(): an ArrayBuffer, a SharedArrayBuffer or an
# ArrayBuffer view other than Uint8Array (a Uint8Array is plain `bytes`).
BUFFER_TYPES = ("ArrayBuffer", "SharedArrayBuffer", "DataView", "Uint16Array")


@dataclass(frozen=True)
class TypedBytes:
    """Bytes that cross as a specific JavaScript binary type (`type` in BUFFER_TYPES), for the
    cases about which chunk types a writable accepts. A Uint16Array needs an even length."""

    type: str
    data: bytes


@dataclass(frozen=True)
class ObjectRef:
    """Any other object (a stream, a socket): only its class name crosses."""

    cls: str


@dataclass(frozen=True)
class JSErrorInfo:
    name: str
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


@dataclass(frozen=True)
class Returned:
    value: Any


@dataclass(frozen=True)
class Threw:
    error: JSErrorInfo


@dataclass(frozen=True)
class Fulfilled:
    value: Any


@dataclass(frozen=True)
class Rejected:
    error: JSErrorInfo


@dataclass(frozen=True)
class Pending:
    """The promise did not settle within the await's timeout."""


CallReply = Returned | Threw
AwaitReply = Fulfilled | Rejected | Pending


def to_json(value: Any) -> Any:
    """Encode a value for the driver protocol."""
    if value is UNDEFINED:
        return {"$undefined": True}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, PromiseRef):
        return {"$promise": value.id}
    if isinstance(value, ObjectRef):
        return {"$object": value.cls}
    if isinstance(value, TypedBytes):
        return {"$buffer": {"type": value.type, "bytes": base64.b64encode(value.data).decode()}}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


def from_json(value: Any) -> Any:
    """Decode a value from the driver protocol (inverse of to_json)."""
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key == "$undefined":
                return UNDEFINED
            if key == "$bytes":
                return base64.b64decode(inner, validate=True)
            if key == "$promise":
                return PromiseRef(str(inner))
            if key == "$object":
                return ObjectRef(str(inner))
            if key == "$buffer" and isinstance(inner, dict):
                return TypedBytes(str(inner["type"]),
                                  base64.b64decode(inner["bytes"], validate=True))
        return {k: from_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json(v) for v in value]
    return value


def show(value: Any, limit: int = 80) -> str:
    """A short human rendering of a value for transcripts."""
    if isinstance(value, bytes | bytearray):
        # Only the head is decoded (4 bytes per character at most): a failed case's report
        # shows a 32 MiB wire transcript in a line, and decoding all of it cost more than
        # the case. An incremental decoder leaves a character cut at the edge for later.
        head = bytes(value[:limit * 4])
        try:
            text = codecs.getincrementaldecoder("utf-8")().decode(
                head, final=len(head) == len(value))
            cut = len(text) > limit or len(head) < len(value)
            body = repr(text[:limit] + "…" if cut else text)
        except UnicodeDecodeError:
            body = head[:limit // 2].hex() + ("…" if len(value) > limit // 2 else "")
        return f"bytes[{len(value)}] {body}"
    if isinstance(value, TypedBytes):
        return f"{value.type} {show(value.data, limit)}"
    if isinstance(value, PromiseRef):
        return "Promise"
    if isinstance(value, ObjectRef):
        return value.cls
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {show(v, limit)}" for k, v in value.items()) + "}"
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit] + "…")
    return repr(value)
