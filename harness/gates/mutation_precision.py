"""The mutation gate's diagnostic precision: does a fault fail its own cases?

Every mutant declares the requirements it breaks (Mutant.requirements, ids of
spec/requirements.yaml). A runtime author with that fault reads the failing cases and the
requirements they cite; the failures point the right way when a failing case cites one of
the declared requirements, and the wrong way when it cites only others (a case that fails
for a close() bug because it happens to end with close(), say).

- A mutant's precision is the share of its failing cases (those whose outcome kills it,
  mutation_matrix.kills) that cite at least one of its declared requirements.
- Overall precision is pooled over every (mutant, failing case) pair of the run, not the
  mean of the mutants' shares: a mutant forty cases kill weighs forty times one that a
  single case kills, as it would in a runtime author's failure list.

The gate fails when the overall precision of a full run is below OVERALL_TARGET, and when a
mutant that ran against every case is below MUTANT_FLOOR and precision-exemptions.yaml (in
harness/gates/mutants/) gives no reason for it. A survivor has no precision (the kill check
reports it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from sockets_conformance.gates.mutants import Mutant
from sockets_conformance.gates.mutation_matrix import GateReport

PRECISION_EXEMPTIONS = Path(__file__).parent / "mutants" / "precision-exemptions.yaml"
OVERALL_TARGET = 0.90
MUTANT_FLOOR = 0.50


@dataclass(frozen=True)
class Precision:
    """One mutant's failing cases, split by whether they cite what it declares."""

    mutant: Mutant
    cited: tuple[str, ...]     # failing cases citing at least one declared requirement
    outside: tuple[str, ...]   # failing cases citing none of them

    @property
    def failing(self) -> int:
        return len(self.cited) + len(self.outside)

    @property
    def share(self) -> float | None:
        """None for a survivor: nothing failed, so there is nothing to point anywhere."""
        return len(self.cited) / self.failing if self.failing else None


def precision(report: GateReport, mutant: Mutant) -> Precision:
    declared = set(mutant.requirements)
    cited: list[str] = []
    outside: list[str] = []
    for case_id in report.killed_by(mutant):
        hit = declared.intersection(report.requirements.get(case_id, ()))
        (cited if hit else outside).append(case_id)
    return Precision(mutant, tuple(cited), tuple(outside))


def precisions(report: GateReport) -> list[Precision]:
    return [precision(report, m) for m in report.mutants]


def overall(items: Iterable[Precision]) -> float | None:
    """Pooled over all (mutant, failing case) pairs; None when nothing failed."""
    items = list(items)
    failing = sum(p.failing for p in items)
    return sum(len(p.cited) for p in items) / failing if failing else None


def percent(share: float | None) -> str:
    # Rounded down, so that 89.6% never shows as a passing "90%" (the epsilon keeps
    # 29/100, 28.999... in floating point, at 29%).
    return "-" if share is None else f"{math.floor(share * 100 + 1e-9)}%"


def requirement_problems(mutants: Iterable[Mutant], known: Iterable[str]) -> list[str]:
    """A mutant must declare what it breaks, in ids the requirement catalogue has: an id
    that is not there would make every failure look imprecise, or precise by accident."""
    known = set(known)
    problems: list[str] = []
    for m in mutants:
        if not m.requirements:
            problems.append(f"mutant {m.id} declares no requirements (requirements=(...) on "
                            f"its decorator: the ids in spec/requirements.yaml it breaks)")
        unknown = [r for r in m.requirements if r not in known]
        if unknown:
            problems.append(f"mutant {m.id} declares unknown requirement(s) "
                            f"{', '.join(unknown)}: not in spec/requirements.yaml")
        if len(set(m.requirements)) != len(m.requirements):
            problems.append(f"mutant {m.id} declares a requirement twice")
    return problems


def load_precision_exemptions(path: Path = PRECISION_EXEMPTIONS,
                              ) -> tuple[dict[str, str], list[str]]:
    """mutant id -> reason, and problems with the file itself."""
    if not path.exists():
        return {}, []
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, [f"{path.name}: expected a mapping of mutant id -> reason"]
    out: dict[str, str] = {}
    problems: list[str] = []
    for mutant_id, reason in raw.items():
        if not isinstance(reason, str) or not reason.strip():
            problems.append(f"{path.name}: {mutant_id} needs a reason")
            continue
        out[str(mutant_id)] = reason.strip()
    return out, problems


def judged(report: GateReport) -> bool:
    """A mutant's precision is judged when it ran against every case (not with --case)."""
    return not report.case_mode


def precision_problems(report: GateReport, catalogue_ids: Iterable[str],
                       path: Path = PRECISION_EXEMPTIONS) -> list[str]:
    """The floor per mutant, the overall target (a full run only), and exemptions gone
    stale: naming no mutant, or excusing one that is now at or above the floor."""
    problems = [f"{path.name}: {m} is not a mutant"
                for m in sorted(set(report.precision_exemptions) - set(catalogue_ids))]
    if not judged(report):
        return problems
    items = precisions(report)
    for p in items:
        share, exempt = p.share, p.mutant.id in report.precision_exemptions
        if share is None:
            continue
        if share < MUTANT_FLOOR and not exempt:
            problems.append(
                f"mutant {p.mutant.id}: precision {percent(share)} ({len(p.cited)} of "
                f"{p.failing} failing cases cite {', '.join(p.mutant.requirements)}), below "
                f"{percent(MUTANT_FLOOR)}: make the cases outside stop asserting what they "
                f"do not cite, declare the requirement(s) this bug really breaks, or give the "
                f"reason in harness/gates/mutants/{path.name}")
        elif share >= MUTANT_FLOOR and exempt:
            problems.append(f"{path.name}: {p.mutant.id} is at {percent(share)} now; remove "
                            f"its exemption")
    total = overall(items)
    if report.full and total is not None and total < OVERALL_TARGET:
        problems.append(f"overall precision {percent(total)} is below the target "
                        f"{percent(OVERALL_TARGET)}")
    return problems

