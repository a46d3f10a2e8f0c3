"""`check`'s rule that a case asserts on `opened`, `closed` and `close()` only where it cites them.

Why: these three are what implementations most often lack or get wrong (@arrowood.dev/socket
0.2.0 has no `opened`; a close() may never resolve). A case that awaits `opened` only to know
the connection is up, or ends with `close` + `peer.expect_eof` only to tidy up, fails for that
fault instead of for the requirement it cites, and its verdict sends the reader to the wrong
behaviour. Such a case synchronises on the peer (`peer.accept`, `peer.expect`) or on the
outcome its requirement is about, and leaves the closing to the harness, which closes every
socket of the case when it ends.

A requirement is about a member when its text or its id names it: the word `opened` or
`closed` (so the `opened.*` group counts), or `close(` for close(), whose group is `close.*`.
An assertion on a member is an `await` of a socket's `opened` / `closed` (directly, or a
promise a `get ... as` took from it), a `close` step without `as` (the step awaits its
promise), or an `await` of a close() promise a `close` step started with `as`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from sockets_conformance.model.case import Case, Step
from sockets_conformance.model.checks import DEFAULT_SOCKET
from sockets_conformance.model.loader import display
from sockets_conformance.model.requirements import Requirement

MENTIONS = {"opened": re.compile(r"\bopened\b"), "closed": re.compile(r"\bclosed\b"),
            "close()": re.compile(r"\bclose\(")}
ADVICE = {
    "opened": "synchronise on the peer (peer.accept / peer.expect) instead",
    "closed": "synchronise on the peer (peer.expect_eof / peer.expect) instead",
    "close()": ("leave the closing to the harness, which closes every socket when the case "
                "ends (to end a connection mid-case, start close() with 'as' and wait for "
                "the peer's expect_eof)"),
}


def uncited_assertions(case: Case, requirements: Mapping[str, Requirement]) -> list[str]:
    """One `<file>:<line>: ...` problem per step of `case` that asserts on a member none of
    its requirements is about."""
    about = {member for member in MENTIONS if _cited(member, case.requirements, requirements)}
    cited = ", ".join(case.requirements)
    return [f"{display(case.path)}:{line}: awaits {what}, but none of its requirements "
            f"({cited}) is about {member}; {ADVICE[member]}"
            for line, what, member in _assertions(case) if member not in about]


def _cited(member: str, ids: tuple[str, ...], requirements: Mapping[str, Requirement]) -> bool:
    if member == "close()" and any(rid.startswith("close.") for rid in ids):
        return True
    return any(MENTIONS[member].search(f"{requirements[rid].text} {rid}")
               for rid in ids if rid in requirements)


def _steps(case: Case) -> Iterator[Step]:
    for step in case.steps:
        if step.kind == "sameTurn":
            yield from step.args["steps"]
        else:
            yield step


def _assertions(case: Case) -> Iterator[tuple[int, str, str]]:
    """(line, what is awaited as the message names it, member) for each assertion."""
    sockets: set[str] = set()
    taken: dict[str, tuple[str, str]] = {}  # a promise's name -> (what it is, member)
    for step in _steps(case):
        args = step.args
        if step.kind == "connect":
            sockets.add(args.get("socket", DEFAULT_SOCKET))
        elif step.kind == "startTls" and "as" in args:
            sockets.add(args["as"])
        elif step.kind == "get" and "as" in args:
            member = _member(args.get("target", ""), sockets)
            if member:
                taken[args["as"]] = (args["target"], member)
        elif step.kind == "close":
            what = f"{args.get('socket', DEFAULT_SOCKET)}.close()"
            if "as" in args:
                taken[args["as"]] = (what, "close()")
            else:
                yield step.line, what, "close()"
        elif step.kind == "await":
            name = args.get("promise", "")
            member = _member(name, sockets)
            if member:
                yield step.line, name, member
            elif name in taken:
                what, member = taken[name]
                yield step.line, f"{what} (as {name})", member


def _member(path: str, sockets: set[str]) -> str | None:
    """"opened" / "closed" for `<socket>.opened` / `<socket>.closed`; a writer's or a
    reader's own `closed` is not the socket's."""
    head, _, tail = path.partition(".")
    return tail if head in sockets and tail in ("opened", "closed") else None
