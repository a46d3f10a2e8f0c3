"""Plain-text rendering of a case result: what a person reads when a case fails."""

from __future__ import annotations

from sockets_conformance.model import Case
from sockets_conformance.requirements import catalogue
from sockets_conformance.results import CaseResult, Status
from sockets_conformance.values import show

MARKS = {"ok": "✓", "not run": "·", "NON-STRICT": "~"}


def rerun_command(case: Case, adapter: str) -> str:
    path = case.path.as_posix()
    extra = "" if adapter == "reference" else f" --adapter '{adapter}'"
    return f"pytest {path}{extra}"


def render(case: Case, result: CaseResult, adapter: str) -> str:
    reqs = catalogue()
    lines = [f"{result.status.value}  {case.id} — {case.title}"]
    for rid in case.requirements:
        req = reqs.get(rid)
        lines.append(f"  requirement {rid}" + (f" ({req.level}): {req.text}" if req else ""))
    lines.append(f"  implementation: {result.implementation}")
    if result.message:
        lines.append(f"  {result.message}")
    lines.append(f"  timeline ({case.path.as_posix()}):")
    for rec in result.steps:
        mark = MARKS.get(rec.outcome, "✗")
        lines.append(f"   {mark} {rec.line:>4}  {rec.source}")
        if rec.outcome not in ("ok", "not run"):
            if rec.expected:
                lines.append(f"{'':>13}expected: {rec.expected}")
            for i, part in enumerate(rec.actual.splitlines() or [""]):
                lines.append(f"{'':>13}{'actual:   ' if i == 0 else '          '}{part}")
    for name, wire in result.wire.items():
        lines.append(f"  wire {name}: received {show(wire['received'])}; "
                     f"sent {show(wire['sent'])}")
    if result.diagnostics:
        lines.append("  implementation stderr:")
        lines.extend(f"    {line}" for line in result.diagnostics.splitlines()[-40:])
    if result.status is not Status.PASS:
        lines.append(f"  rerun: {rerun_command(case, adapter)}")
    return "\n".join(lines)
