"""The case's verdict: its final status and message, from what its steps and its guard found.

A pure function, kept apart from the step interpreters so the rules that turn outcomes into a
status (a guard refusal always fails, a wording difference is NON-STRICT, a broken SHOULD is
not a FAIL) read in one place.
"""

from __future__ import annotations

from sockets_conformance.model.results import Status


def verdict(status: Status, message: str, *, notes: list[str], blocked: list[str],
            level: str) -> tuple[Status, str]:
    """`status`/`message` as the steps left them; `notes`: the NON-STRICT wording differences
    met on the way; `blocked`: the destinations the guard refused; `level`: the strongest
    requirement level the case cites."""
    # A refused destination fails the case even if every step looked right: an
    # implementation that dials a disallowed address is wrong whatever it reports. A guard
    # refusal is a safety failure, not a conformance level: never downgraded.
    if blocked:
        return Status.FAIL, "; ".join(blocked) + (f" (steps: {message})" if message else "")
    if status is Status.PASS and notes:
        return Status.NON_STRICT, "; ".join(notes)
    if status is Status.FAIL and level != "MUST":
        return Status.NON_STRICT, f"a {level} requirement is broken: {message}"
    return status, message
