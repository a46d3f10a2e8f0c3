"""The driver protocol's messages (spec/adapter-protocol.md): what a reply may look like and
how values travel as JSON, for both ends of the pipe.

Pure: no processes, no asyncio. The harness's client (driver.py) validates every reply with
`reply_error` before believing it; a driver written in Python (adapters/reference/
stdio_driver.py) needs only the codec, so jsonschema is imported only when a reply has to be
checked against the schema.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from sockets_conformance.model.values import JSErrorInfo, from_json, to_json
from sockets_conformance.paths import SPEC

if TYPE_CHECKING:
    import jsonschema

PROTOCOL_VERSION = 1
PROTOCOL_SCHEMA = SPEC / "adapter-protocol.schema.json"
# A read of 64 MiB (the benchmark's transfer) travels as one line of about 90 MB of base64.
LINE_LIMIT = 256 * 1024 * 1024
MAX_NESTING = 64                  # a reply nested deeper is a protocol break (spec section 6)
BIG_STRING = 4096                 # $bytes longer than this are checked without jsonschema
SHOWN_LINE = 500                  # characters of an offending line quoted in an error

# What each reply must look like, for the error message (the schema says it precisely).
_SHAPES = {
    "start": '{"id", "protocol", "implementation": {...}}',
    "open_scope": '{"id", "ok": true}',
    "call": '{"id", "returned": VALUE} or {"id", "threw": {"name", "message"}}',
    "batch": '{"id", "replies": [{"returned": VALUE} or {"threw": {"name", "message"}}, ...]}',
    "await": '{"id", "fulfilled": VALUE}, {"id", "rejected": {"name", "message"}} '
             'or {"id", "pending": true}',
    "violations": '{"id", "violations": [...]}',
    "close_scope": '{"id", "ok": true}',
    "stop": '{"id", "ok": true}',
}


# --- schema ---------------------------------------------------------------------------------
@cache
def _schema() -> dict[str, Any]:
    return json.loads(PROTOCOL_SCHEMA.read_text())


@cache
def validator(pointer: str) -> jsonschema.Draft202012Validator:
    """A validator for one definition of the protocol schema, e.g. '#/$defs/reply/$defs/call'.
    The whole schema is kept around it so its internal $refs resolve."""
    schema = dict(_schema())
    schema.pop("oneOf", None)
    schema["$ref"] = pointer
    import jsonschema  # here, not at the top: a driver importing the codec never needs it

    return jsonschema.Draft202012Validator(schema)


# The schema's $bytes pattern,
#   ^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$(?!\n)
# is the same set of strings as this pattern (fullmatch) plus "length divisible by 4"
# (tests/test_performance.py checks it); this one runs in one pass, where the schema's
# repeated group took 2.8 s on the 44 MB of a 32 MiB read.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*+={0,2}")  # possessive: no backtracking


def nesting(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (iterative: a hostile reply must not
    exhaust the stack of the function that measures it)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _light(value: Any) -> Any:
    """`value` with each long, well-formed $bytes string replaced by an empty one, for the
    schema validator: the pattern check is done here in one pass instead. A malformed long
    string becomes a short one that is just as malformed (its head and its length), so the
    validator still reports it, in its own words, without backtracking through megabytes."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$bytes"), str) \
                and len(value["$bytes"]) > BIG_STRING:
            text = value["$bytes"]
            if len(text) % 4 == 0 and _BASE64.fullmatch(text):
                return {"$bytes": ""}
            return {"$bytes": f"{text[:32]}…({len(text)} characters)"}
        return {k: _light(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_light(v) for v in value]
    return value


# --- the common replies, checked without jsonschema ---------------------------------------
# jsonschema took about half a millisecond a reply: over a run of the suite through a driver
# that was a third of the harness's own work. The shapes almost every reply has are checked
# here by hand; a reply this check does not recognise goes to jsonschema, which has the last
# word and the words for the error (tests/test_performance.py checks that everything this
# check accepts, the schema accepts too).
_SIMPLE = (str, int, float, type(None))


def _is_id(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_error(value: Any) -> bool:
    return (type(value) is dict and len(value) == 2 and type(value.get("name")) is str
            and type(value.get("message")) is str)


def _is_value(value: Any) -> bool:
    kind = type(value)
    if kind in _SIMPLE or kind is bool:
        return True
    if kind is list:
        return all(_is_value(v) for v in value)
    if kind is not dict:
        return False
    if not any(type(k) is str and k.startswith("$") for k in value):
        return all(type(k) is str and _is_value(v) for k, v in value.items())
    if len(value) != 1:
        return False
    (tag, inner), = value.items()
    if tag == "$bytes":
        return (type(inner) is str and len(inner) % 4 == 0
                and _BASE64.fullmatch(inner) is not None)
    if tag in ("$promise", "$object"):
        return type(inner) is str and (tag == "$object" or inner != "")
    if tag == "$undefined":
        return inner is True
    if tag == "$number":
        return inner in ("NaN", "Infinity", "-Infinity") and type(inner) is str
    return False  # $buffer and anything unknown: the schema decides


def surely_valid(cmd: str, reply: Any) -> bool:
    """True only for replies the schema accepts (False: not known here)."""
    if type(reply) is not dict or not _is_id(reply.get("id")) or len(reply) != 2:
        return False
    (key, body), = ((k, v) for k, v in reply.items() if k != "id")
    if key == "error":
        return type(body) is dict and len(body) == 1 and type(body.get("message")) is str \
            and body["message"] != ""
    if cmd == "call":
        return (key == "returned" and _is_value(body)) or (key == "threw" and _is_error(body))
    if cmd == "await":
        return ((key == "fulfilled" and _is_value(body)) or
                (key == "rejected" and _is_error(body)) or (key == "pending" and body is True))
    if cmd == "batch":
        return key == "replies" and type(body) is list and all(
            type(r) is dict and len(r) == 1 and (
                ("returned" in r and _is_value(r["returned"])) or
                ("threw" in r and _is_error(r["threw"]))) for r in body)
    if cmd in ("open_scope", "close_scope", "stop"):
        return key == "ok" and body is True
    if cmd == "violations":
        return key == "violations" and type(body) is list and all(
            type(v) is str and v != "" for v in body)
    return False


def reply_error(cmd: str, reply: Any) -> str | None:
    """Why `reply` is not a valid answer to `cmd`, or None when it is."""
    if nesting(reply) > MAX_NESTING:
        return f"the reply nests arrays and objects more than {MAX_NESTING} levels deep"
    if surely_valid(cmd, reply):
        return None
    errors = list(validator(f"#/$defs/reply/$defs/{cmd}").iter_errors(_light(reply)))
    if not errors:
        return None
    import jsonschema  # loaded already: validator() imported it

    best = jsonschema.exceptions.best_match(errors)
    where = "/".join(str(p) for p in best.absolute_path)
    detail = best.message if len(best.message) <= 200 else best.message[:200] + "…"
    return f"{detail}{f' (at {where})' if where else ''}; a {cmd} reply is {_SHAPES[cmd]}"


# --- values ---------------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """harness value -> protocol JSON. Adds what to_json leaves to JSON (which cannot write
    NaN or infinities: a case may pass port NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"$number": "NaN" if math.isnan(value) else
                ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return to_json(value)


def decode(value: Any) -> Any:
    """protocol JSON -> harness value (inverse of encode)."""
    if isinstance(value, dict):
        if len(value) == 1 and "$number" in value:
            return float(value["$number"].lower().replace("infinity", "inf"))
        if len(value) == 1 and next(iter(value)).startswith("$"):
            return from_json(value)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return from_json(value)


def request_line(message: dict[str, Any]) -> bytes:
    """One request as the line sent to the driver. Long $bytes strings (base64: nothing in
    them needs escaping) are spliced into the JSON text instead of passing through
    json.dumps, which scanned a 32 MiB write's 44 MB character by character for 0.2 s."""
    blobs: list[str] = []

    def stash(value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and isinstance(value.get("$bytes"), str) \
                    and len(value["$bytes"]) > BIG_STRING:
                blobs.append(value["$bytes"])
                return {"$bytes": f"{BLOB}{len(blobs) - 1}{BLOB}"}
            return {k: stash(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stash(v) for v in value]
        return value

    skeleton = json.dumps(stash(message), allow_nan=False, separators=(",", ":"))
    if not blobs:
        return skeleton.encode() + b"\n"
    parts: list[bytes] = []
    rest = skeleton
    for i, blob in enumerate(blobs):
        token = json.dumps(f"{BLOB}{i}{BLOB}")
        head, found, rest = rest.partition(token)
        if not found or token in rest:  # a string of the case's own looks like a token
            return json.dumps(message, allow_nan=False, separators=(",", ":")).encode() + b"\n"
        parts += [head.encode(), b'"', blob.encode("ascii"), b'"']
    parts.append(rest.encode() + b"\n")
    return b"".join(parts)


BLOB = "\ue000blob\ue000"   # a private-use character around the index: a placeholder


def printable(value: Any) -> Any:
    """`value` with every lone surrogate in its strings written as an escape (\\ud800).

    JSON may carry them ("\\ud800" is valid JSON, and a JavaScript string can hold one),
    but they are not Unicode text: the first file that gets one (Allure's results, a
    report) raises UnicodeEncodeError. An implementation's message with a lone surrogate
    never equals a documented one, so escaping it changes no verdict."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {printable(k): printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [printable(v) for v in value]
    return value


def js_error(raw: Mapping[str, Any]) -> JSErrorInfo:
    """The error of a validated threw/rejected body (the schema made sure both are strings)."""
    return JSErrorInfo(str(raw["name"]), str(raw["message"]))


def show_line(line: str | bytes) -> str:
    """An offending line as quoted in an error: a broken reply may be megabytes long."""
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    text = text.rstrip("\n")
    return text if len(text) <= SHOWN_LINE else text[:SHOWN_LINE] + f"… ({len(text)} chars)"
