"""The mutation gate's output: the kill matrix and each mutant's precision (or, with --case,
each selected case's kills), the flaky runs and problems, and the verdict, as text for the
terminal and as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sockets_conformance.gates.mutation_matrix import EXEMPTIONS, GateReport
from sockets_conformance.gates.mutation_precision import overall, percent, precisions
from sockets_conformance.model.results import Status


def render(report: GateReport) -> str:
    out: list[str] = []
    s = report.settings
    out.append(f"mutation gate: {len(report.mutants)} mutants x {len(report.cases)} cases, "
               f"{report.jobs} worker(s), timeout multiplier "
               f"{s.timeout_multiplier if s else '?'}")
    passed = sum(1 for o in report.baseline.values() if o.status == Status.PASS.value)
    out.append(f"reference: {passed}/{len(report.baseline)} PASS"
               + (f", {len(report.not_applicable)} NOT-APPLICABLE (not in the matrix)"
                  if report.not_applicable else ""))
    if report.outcomes:
        out += _case_view(report) if report.case_mode else \
            _matrix(report) + _precision(report)
    for case_id, why in report.not_applicable.items():
        out.append(f"  not run: {case_id}: {why}")
    if report.notes:
        out.append("")
        out.append(f"flaky runs ({len(report.notes)})")
        out += [f"  {n}" for n in report.notes]
    if report.problems:
        out.append("")
        out.append(f"problems ({len(report.problems)})")
        out += [f"  {p}" for p in report.problems]
    out.append("")
    out.append(_verdict(report))
    return "\n".join(out)


def _matrix(report: GateReport) -> list[str]:
    """The whole gate, or some mutants over every case: both directions of the matrix."""
    out = ["", "mutant -> cases that caught it"]
    for m in report.mutants:
        killed = report.killed_by(m)
        out.append(f"  {m.id} ({len(killed)}): {', '.join(killed) or 'SURVIVED'}")
        seen = report.noticed_by(m)
        if seen:
            out.append(f"      message differs only (not a kill): {', '.join(seen)}")
    out += ["", "case -> mutants it caught"]
    for c in report.cases:
        caught = report.caught(c)
        out.append(f"  {c} ({len(caught)}): {', '.join(caught) or '-'}")
    out += ["", f"survivors ({len(report.survivors)})"]
    out += [f"  {m.id}: {m.description}" for m in report.survivors]
    out += ["", f"cases that catch nothing ({len(report.idle_cases)})"]
    for c in report.idle_cases:
        reason = report.exemptions.get(c)
        if reason:
            out.append(f"  {c}: {reason}")
        elif report.full:
            out.append(f"  {c}: NO REASON (add a mutant it catches, or an entry in "
                       f"spec/{EXEMPTIONS.name})")
        else:
            out.append(f"  {c}: (partial run: not judged)")
    return out


def _precision(report: GateReport) -> list[str]:
    """Per mutant, worst first: its share, the requirements it declares, and the failing
    cases outside them with what those cite, so the reason for a low share is on the page."""
    items = sorted(precisions(report), key=lambda p: 2.0 if p.share is None else p.share)
    out = ["", f"precision: mutant -> share of its failing cases that cite a requirement it "
               f"breaks (overall {percent(overall(items))}, pooled over all failing cases)"]
    for p in items:
        out.append(f"  {percent(p.share):>4}  {p.mutant.id} ({len(p.cited)}/{p.failing}) "
                   f"[{', '.join(p.mutant.requirements) or 'no requirements declared'}]")
        for case_id in p.outside:
            cites = ", ".join(report.requirements.get(case_id, ())) or "?"
            out.append(f"          outside: {case_id} [{cites}]")
        reason = report.precision_exemptions.get(p.mutant.id)
        if reason:
            out.append(f"          exempt: {reason}")
    return out


def _case_view(report: GateReport) -> list[str]:
    """--case: which mutants each selected case kills, and why a case that kills none
    fails. Mutants these cases leave alive are not listed: other cases kill them."""
    out = ["", "case -> mutants it kills"]
    for c in report.cases:
        caught = report.caught(c)
        out.append(f"  {c} ({len(caught)}): {', '.join(caught) or '-'}")
        seen = report.noticed(c)
        if seen:
            out.append(f"      message differs only (not a kill): {', '.join(seen)}")
    if not report.idle_cases:
        return out
    ran = f"the {len(report.mutants)} mutant(s) run"
    if not report.all_mutants:
        ran += " (--mutant; without it the whole catalogue is tried)"
    out += ["", f"cases that kill no mutant ({len(report.idle_cases)})"]
    for c in report.idle_cases:
        reason = report.exemptions.get(c)
        if reason:
            out.append(f"  {c}: exempt: {reason}")
        else:
            out.append(f"  {c}: catches none of {ran}, so nothing shows it can fail. Add a "
                       f"mutant that breaks the behaviour it checks (harness/gates/mutants/), or, "
                       f"if no plausible bug of the reference can break it, an exemption with "
                       f"the reason in spec/{EXEMPTIONS.name}")
    return out


def _verdict(report: GateReport) -> str:
    verdict = "PASS" if report.ok else "FAIL"
    if report.problems and not report.outcomes:
        # a broken control, case file or catalogue: the mutants never ran, so there are
        # no kills to count
        return (f"mutation gate FAIL: stopped before any mutant ran, {len(report.problems)} "
                f"problem(s); {report.seconds:.1f} s")
    if not report.case_mode:
        return (f"mutation gate {verdict}: {len(report.mutants) - len(report.survivors)}/"
                f"{len(report.mutants)} mutants killed, {len(report.survivors)} survived, "
                f"{len(report.unexplained)} case(s) catch nothing without a reason, "
                f"precision {percent(overall(precisions(report)))}; {report.seconds:.1f} s")
    killers = len(report.cases) - len(report.idle_cases)
    exempt = len(report.idle_cases) - len(report.unexplained)
    return (f"mutation gate {verdict} (selected cases): {killers}/{len(report.cases)} case(s) "
            f"kill a mutant" + (f", {exempt} exempt" if exempt else "")
            + (f", {len(report.unexplained)} kill none" if report.unexplained else "")
            + f"; {len(report.survivors)} of {len(report.mutants)} mutants left to other "
            f"cases (the full gate judges them); {report.seconds:.1f} s")


def write_json(report: GateReport, path: Path) -> None:
    shares = {p.mutant.id: p for p in precisions(report)}
    data: dict[str, Any] = {
        "mutants": [{"id": m.id, "description": m.description, "area": m.area,
                     "kind": m.kind, "requirements": list(m.requirements),
                     "killed_by": report.killed_by(m), "precision": shares[m.id].share,
                     "outside": list(shares[m.id].outside),
                     "precision_exemption": report.precision_exemptions.get(m.id)}
                    for m in report.mutants],
        "precision": overall(shares.values()),
        "cases": {c: report.caught(c) for c in report.cases},
        "survivors": [m.id for m in report.survivors],
        "idle_cases": {c: report.exemptions.get(c) for c in report.idle_cases},
        "baseline": [asdict(o) for o in report.baseline.values()],
        "outcomes": [asdict(o) for o in report.outcomes.values()],
        "problems": report.problems,
        "notes": report.notes,
        "seconds": report.seconds,
        "case_mode": report.case_mode,
        "ok": report.ok,
    }
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
