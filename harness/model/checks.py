"""Checks a schema cannot express: names used before they exist, expectations that do not
suit the step, contradictory outcomes. Each problem comes back with its line."""

from __future__ import annotations

from collections.abc import Iterator

from sockets_conformance.model.case import Case, Step

OUTCOMES = ("returns", "throws", "fulfils", "rejects", "pending", "settles", "done",
            "throwsOrRejects", "orThrows")
SYNC = {"returns", "throws", "message"}
ASYNC = SYNC | {"fulfils", "rejects", "pending", "settles"}
ALLOWED: dict[str, set[str]] = {
    "connect": SYNC | {"throwsOrRejects"},
    "getReader": SYNC, "getWriter": SYNC, "releaseLock": SYNC,
    "startTls": SYNC | {"orThrows"},
    "get": {"value", "absent", "throws", "message", "returns"},
    "read": ASYNC | {"value", "done"},
    "write": ASYNC, "closeWriter": ASYNC, "abortWriter": ASYNC, "cancel": ASYNC, "close": ASYNC,
    "await": (ASYNC - {"returns", "throws"}) | {"value", "absent"},
    "unhandledRejections": {"value"},
    # protocol 1.1 (harness/running/pipes.py)
    "sink": set(), "source": set(), "collected": set(), "pipeThrough": SYNC,
    "pipeTo": ASYNC, "iterate": ASYNC - {"returns"},
}
# What each 1.1 step's names must hold: pipes read from a socket or a stream the case made,
# and write into a socket or a sink.
READABLES = ("socket", "source", "stream")
PIPE_NAMES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "pipeTo": (("from", READABLES), ("to", ("socket", "sink"))),
    "pipeThrough": (("from", READABLES),),
    "iterate": (("from", READABLES),),
    "collected": (("target", ("sink", "source")),),
}
MADE = {"sink": "sink", "source": "source", "pipeThrough": "stream"}
DEFAULT_SOCKET = "s"
# Calls that answer at once, and calls that may join a turn only when they just start a promise.
STARTS = {"read", "write", "closeWriter", "abortWriter", "cancel", "close"}
SAME_TURN = {"connect", "get", "getReader", "getWriter", "releaseLock", "startTls"} | STARTS


def check_case(case: Case) -> Iterator[tuple[int, str]]:
    names: dict[str, str] = {}  # name -> what it holds (socket, reader, writer, promise)
    for step in case.steps:
        if step.kind == "peer":
            continue
        if step.kind == "sameTurn":
            for inner in step.args["steps"]:
                if inner.kind not in SAME_TURN or (inner.kind in STARTS and "as" not in inner.args):
                    yield inner.line, (f"sameTurn: {inner.kind} cannot run inside a turn "
                                       "(only calls that return at once, or start a promise "
                                       "with 'as')")
                    continue
                yield from _check_expect(inner)
                yield from _check_chunk(inner)
                yield from _check_names(inner, names)
            continue
        yield from _check_expect(step)
        yield from _check_chunk(step)
        yield from _check_names(step, names)


def _check_chunk(step: Step) -> Iterator[tuple[int, str]]:
    """write's `type`: text and numbers need the data written as a string."""
    kind = step.args.get("type") if step.kind == "write" else None
    data = step.args.get("data")
    if kind in ("string", "number") and not isinstance(data, str):
        yield step.line, f"write: type {kind} needs data written as a string"
    elif kind == "number" and not (isinstance(data, str) and data.isdigit()):
        yield step.line, "write: type number needs data that spells a number (digits only)"
    elif kind == "Uint16Array" and isinstance(data, str) and len(data.encode()) % 2:
        yield step.line, "write: a Uint16Array needs an even number of bytes"
    if kind is not None and "chunk" in step.args:
        yield step.line, "write: 'chunk' splits bytes; it cannot be combined with 'type'"


def _check_expect(step: Step) -> Iterator[tuple[int, str]]:
    expect = step.args.get("expect") or {}
    wrong = set(expect) - ALLOWED[step.kind]
    if wrong:
        yield step.line, (f"{step.kind}: expect cannot use {', '.join(sorted(wrong))} "
                          f"(allowed: {', '.join(sorted(ALLOWED[step.kind]))})")
    outcomes = [k for k in OUTCOMES if k in expect]
    if len(outcomes) > 1:
        yield step.line, f"{step.kind}: expect names more than one outcome: {', '.join(outcomes)}"
    if "message" in expect and not ({"throws", "rejects", "throwsOrRejects", "orThrows"}
                                    & set(expect)):
        yield step.line, (f"{step.kind}: expect.message needs throws or rejects beside it "
                          "(or throwsOrRejects on connect)")
    if "as" in step.args and set(expect) - SYNC - {"orThrows"}:
        yield step.line, (f"{step.kind}: a step with 'as' only starts its promise; await "
                          f"{step.args['as']!r} in a later step to check how it settles")


def _check_names(step: Step, names: dict[str, str]) -> Iterator[tuple[int, str]]:
    a = step.args

    def need(name: str, kinds: tuple[str, ...]) -> Iterator[tuple[int, str]]:
        if names.get(name) not in kinds:
            have = names.get(name)
            what = f"is a {have}" if have else "is not defined by an earlier step"
            yield step.line, f"{step.kind}: {name!r} {what} (needs a {' or '.join(kinds)})"

    if step.kind in PIPE_NAMES or step.kind in MADE:
        for key, kinds in PIPE_NAMES.get(step.kind, ()):
            yield from need(a[key], kinds)
        if "as" in a:
            names[a["as"]] = MADE.get(step.kind, "promise")
        return
    if step.kind == "connect":
        # After throwsOrRejects there may be no socket at all (connect() may have thrown).
        refused = "throwsOrRejects" in (a.get("expect") or {})
        names[a.get("socket", DEFAULT_SOCKET)] = \
            "connection expected to be refused" if refused else "socket"
    elif step.kind == "startTls":
        yield from need(a.get("socket", DEFAULT_SOCKET), ("socket",))
        if "as" in a:
            names[a["as"]] = "socket"
        return
    elif step.kind in ("getReader", "getWriter", "read", "write", "closeWriter", "abortWriter",
                       "cancel", "close", "releaseLock"):
        role = {"getReader": None, "getWriter": None, "read": "reader", "cancel": "reader",
                "write": "writer", "closeWriter": "writer", "abortWriter": "writer",
                "close": None, "releaseLock": None}[step.kind]
        if step.kind == "releaseLock":
            if ("reader" in a) == ("writer" in a):
                yield step.line, "releaseLock: name exactly one of reader or writer"
                return
            role = "reader" if "reader" in a else "writer"
            yield from need(a[role], (role,))
        elif role and role in a:
            yield from need(a[role], (role,))
        else:
            yield from need(a.get("socket", DEFAULT_SOCKET), ("socket",))
        if step.kind in ("getReader", "getWriter") and "as" in a:
            names[a["as"]] = "reader" if step.kind == "getReader" else "writer"
        elif "as" in a:
            names[a["as"]] = "promise"
    elif step.kind in ("get", "await"):
        target = a.get("target") or a.get("promise")
        head = target.split(".", 1)[0]
        if head not in names:
            yield step.line, (f"{step.kind}: {head!r} in {target!r} is not defined by an "
                              "earlier step")
        if step.kind == "get" and "as" in a:
            names[a["as"]] = "promise"
