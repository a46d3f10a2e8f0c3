"""Plain-text rendering of a case result: what a person reads when a case fails; and the
run's `conformance` summary, which tells expected results from unexpected ones."""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sockets_conformance.model.case import Case
from sockets_conformance.model.requirements import catalogue
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.model.values import show
from sockets_conformance.paths import CASES, INSTALLED

MARKS = {"ok": "✓", "not run": "·", "NON-STRICT": "~"}
SHOWN_MESSAGE = 200   # characters of a message in the summary's list of unexpected results


def shown_path(path: Path, cwd: Path | None = None) -> str:
    """`path` as a person at `cwd` would type it: relative when it is below, else absolute."""
    here = (cwd or Path.cwd()).resolve()
    where = path.resolve()
    return where.relative_to(here).as_posix() if where.is_relative_to(here) else str(where)


def rerun_command(case: Case, options: Sequence[str] = (), cwd: Path | None = None) -> str:
    """The command that runs this one case again with the options that decide its verdict.
    A case bundled in an installed package has no path worth typing: it is named by id."""
    extra = "".join(f" {shlex.quote(o)}" for o in options)
    if INSTALLED and case.path.resolve().is_relative_to(CASES.resolve()):
        return f"sockets-conformance -k {shlex.quote(case.id)}{extra}"
    return f"pytest {shlex.quote(shown_path(case.path, cwd))}{extra}"


def adapter_options(adapter: str) -> list[str]:
    """The rerun options when only the adapter is known (the reference needs none)."""
    return [] if adapter == "reference" else ["--adapter", adapter]


def render(case: Case, result: CaseResult, adapter: str,
           options: Sequence[str] | None = None) -> str:
    """`options`: the command-line options that decide the verdict, for the rerun line
    (default: just --adapter)."""
    reqs = catalogue()
    lines = [f"{result.status.value}  {case.id} — {case.title}"]
    for rid in case.requirements:
        req = reqs.get(rid)
        lines.append(f"  requirement {rid}" + (f" ({req.level}): {req.text}" if req else ""))
    lines.append(f"  implementation: {result.implementation}")
    if result.message:
        lines.append(f"  {result.message}")
    if result.cleanup:
        lines.append(f"  cleanup failed (the verdict stands): {result.cleanup}")
    lines.append(f"  timeline ({shown_path(case.path)}):")
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
        lines.extend(f"    {line}" for line in wire.get("network", "").splitlines())
    if result.diagnostics:
        lines.append("  implementation stderr:")
        lines.extend(f"    {line}" for line in result.diagnostics.splitlines()[-40:])
    if result.status is not Status.PASS:
        shown = adapter_options(adapter) if options is None else options
        lines.append(f"  rerun: {rerun_command(case, shown)}")
    return "\n".join(lines)


# --- the run's summary -----------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """One case as the summary sees it. `status` is the conformance status ("" when the
    harness itself failed on the case), `expected` the status its expectations entry names,
    `pytest` what pytest counted: passed, failed, skipped, xfailed, xpassed or error."""

    case: str
    status: str
    expected: str | None
    message: str
    pytest: str


def _counts(statuses: Sequence[str]) -> str:
    """'96 FAIL, 33 NON-STRICT', in the order of Status."""
    counts = Counter(statuses)
    order = [s.value for s in Status] + sorted(set(counts) - {s.value for s in Status})
    return ", ".join(f"{counts[s]} {s or 'harness error'}" for s in order if counts[s])


def _unexpected_line(o: Outcome, expectations: str) -> str:
    message = (o.message.splitlines() or [""])[0]
    if len(message) > SHOWN_MESSAGE:
        message = message[:SHOWN_MESSAGE] + "…"
    if not o.status:
        return f"ERROR {o.case}: the harness failed on this case (see its failure above)"
    if o.expected is not None and o.status == Status.PASS.value:
        return f"PASS {o.case}: expected {o.expected} per {expectations}; delete its entry"
    line = f"{o.status} {o.case}: {message}"
    if o.expected is not None:
        line += f" (expected {o.expected} per {expectations})"
    if o.pytest == "passed":  # a NON-STRICT without an entry, tolerated without --strict
        line += " (counted as passed; --strict-conformance fails it)"
    return line


def summary_lines(adapter: str, outcomes: Sequence[Outcome], expectations: str = "",
                  implementation: str = "") -> list[str]:
    """The `conformance` section: PASS, then the expected results by status, then every
    unexpected one on a line of its own; NOT-APPLICABLE apart. Its counts add up to
    pytest's: passed = PASS + tolerated NON-STRICT (expected or not), xfailed = expected,
    skipped = NOT-APPLICABLE, failed (and errors) = the other unexpected ones."""
    where = expectations or "the expectations file"
    passed = [o for o in outcomes if o.pytest == "passed" and o.status == Status.PASS.value]
    reworded = [o for o in outcomes if o.pytest == "passed" and o.expected == o.status
                == Status.NON_STRICT.value]
    expected = [o for o in outcomes if o.pytest == "xfailed"]
    not_applicable = [o for o in outcomes if o.pytest == "skipped"]
    counted = {id(o) for o in (*passed, *reworded, *expected, *not_applicable)}
    unexpected = sorted((o for o in outcomes if id(o) not in counted), key=lambda o: o.case)
    name = f"adapter {adapter}" + (f" ({implementation})" if implementation else "")
    lines = [f"{name}: {len(outcomes)} case(s)", f"  {len(passed)} PASS"]
    if reworded:
        lines.append(f"  {len(reworded)} passed with a different error message (NON-STRICT, "
                     f"as expected per {where})")
    if expected:
        lines.append(f"  {len(expected)} expected ({_counts([o.status for o in expected])}) "
                     f"per {where}")
    if not_applicable:
        lines.append(f"  {len(not_applicable)} NOT-APPLICABLE (features the implementation "
                     f"does not claim)")
    if not unexpected:
        lines.append("  0 unexpected")
        return lines
    lines.append(f"  {len(unexpected)} unexpected "
                 f"({_counts([o.status for o in unexpected])}):")
    lines.extend(f"    {_unexpected_line(o, where)}" for o in unexpected)
    return lines
