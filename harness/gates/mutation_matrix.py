"""The mutation gate's kill matrix: one outcome per (mutant, case), the kill rule, and what the
gate judges from them (survivors, idle cases, exemptions, pins).

What counts as a kill: the case ends FAIL, TIMEOUT or ERROR; or NON-STRICT because a step
failed at a SHOULD/MAY requirement (the behaviour was caught, only graded softer). A
NON-STRICT that only saw a different error message kills a mutant of kind "message" (whose
bug is that wording) and nothing else: a behavioural bug must be caught by behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sockets_conformance.gates.mutants import Mutant
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.paths import SPEC
from sockets_conformance.running.runner import Settings

EXEMPTIONS = SPEC / "mutation-exemptions.yaml"
REFERENCE = "reference"   # the id under which the control runs

FAILED = frozenset({Status.FAIL, Status.TIMEOUT, Status.ERROR})


@dataclass(frozen=True)
class Outcome:
    """One case against one implementation (a mutant, or the reference)."""

    mutant: str
    case: str
    status: str
    caught: str | None   # "fail" | "should" | "message" | None: how the case noticed
    message: str = ""
    seconds: float = 0.0


def caught_by(result: CaseResult) -> str | None:
    """How a result shows that something is wrong (None: it does not)."""
    if result.status in FAILED:
        return "fail"
    if result.status is Status.NON_STRICT:
        # A failure at a SHOULD/MAY requirement is downgraded to NON-STRICT, but its step
        # still says FAIL; a message difference leaves every step "ok" or "NON-STRICT".
        if any(step.outcome in {s.value for s in FAILED} for step in result.steps):
            return "should"
        return "message"
    return None


def kills(outcome: Outcome, mutant: Mutant) -> bool:
    if outcome.caught in ("fail", "should"):
        return True
    return outcome.caught == "message" and mutant.kind == "message"


@dataclass
class GateReport:
    mutants: list[Mutant]
    cases: list[str]                                  # case ids that took part
    baseline: dict[str, Outcome]                      # case -> the reference's outcome
    outcomes: dict[tuple[str, str], Outcome]          # (mutant, case) -> outcome
    exemptions: dict[str, str]
    full: bool                                        # the whole catalogue ran
    case_mode: bool = False     # --case: judge each selected case, not the survivors
    all_mutants: bool = True    # no --mutant: every mutant of the catalogue ran
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)                 # flaky runs seen
    not_applicable: dict[str, str] = field(default_factory=dict)   # case -> why
    seconds: float = 0.0
    jobs: int = 1
    settings: Settings | None = None
    # case -> the requirement ids it cites, and mutant -> why its precision may stay
    # below the floor (mutation_precision.py)
    requirements: dict[str, tuple[str, ...]] = field(default_factory=dict)
    precision_exemptions: dict[str, str] = field(default_factory=dict)

    def killed_by(self, mutant: Mutant) -> list[str]:
        return [c for c in self.cases if kills(self.outcomes[mutant.id, c], mutant)]

    def noticed_by(self, mutant: Mutant) -> list[str]:
        """Cases that saw only a message difference in a behavioural mutant."""
        return [c for c in self.cases if self.outcomes[mutant.id, c].caught
                and not kills(self.outcomes[mutant.id, c], mutant)]

    def caught(self, case_id: str) -> list[str]:
        return [m.id for m in self.mutants if kills(self.outcomes[m.id, case_id], m)]

    def noticed(self, case_id: str) -> list[str]:
        """Behavioural mutants in which this case saw only a message difference."""
        return [m.id for m in self.mutants if self.outcomes[m.id, case_id].caught
                and not kills(self.outcomes[m.id, case_id], m)]

    @property
    def survivors(self) -> list[Mutant]:
        return [m for m in self.mutants if not self.killed_by(m)]

    @property
    def idle_cases(self) -> list[str]:
        return [c for c in self.cases if not self.caught(c)]

    @property
    def ok(self) -> bool:
        if self.problems or self.unexplained:
            return False
        return self.case_mode or not self.survivors

    @property
    def unexplained(self) -> list[str]:
        """Cases that catch nothing without a written reason: judged on a full run, and for
        the cases a --case run selected (a run of some mutants over every case leaves them
        unjudged)."""
        if not (self.full or self.case_mode):
            return []
        return [c for c in self.idle_cases if c not in self.exemptions]


def load_exemptions(path: Path = EXEMPTIONS) -> tuple[dict[str, str], list[str]]:
    """case id -> reason, and problems with the file itself."""
    if not path.exists():
        return {}, []
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    problems: list[str] = []
    entries = raw.get("exemptions") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        return {}, [f"{path.name}: expected a mapping with an 'exemptions' list"]
    for i, entry in enumerate(entries):
        case = entry.get("case") if isinstance(entry, dict) else None
        reason = entry.get("reason") if isinstance(entry, dict) else None
        if not isinstance(case, str) or not isinstance(reason, str) or not reason.strip():
            problems.append(f"{path.name}: entry {i + 1} needs a case id and a reason")
            continue
        if case in out:
            problems.append(f"{path.name}: case {case} is listed twice")
        out[case] = reason.strip()
    return out, problems


def exemption_problems(report: GateReport, case_ids: set[str],
                       path: Path = EXEMPTIONS) -> list[str]:
    """Exemptions gone stale: naming no case (judged on a full run only), or excusing a
    case that now catches a mutant (judged when every mutant ran against it)."""
    problems: list[str] = []
    if report.full:
        for case_id in sorted(set(report.exemptions) - case_ids):
            problems.append(f"{path.name}: {case_id} is not a case")
    if report.full or (report.case_mode and report.all_mutants):
        for case_id in sorted(set(report.exemptions) & set(report.cases)):
            if report.caught(case_id):
                problems.append(
                    f"{path.name}: {case_id} now catches "
                    f"{', '.join(report.caught(case_id))}; remove its exemption")
    return problems


def pin_problems(report: GateReport, case_ids: set[str] | None = None) -> list[str]:
    """The catalogue's pinned pairs (Mutant.breaks): every pinned case that took part must
    have killed its mutant, whatever other cases did. With `case_ids` (the full gate), a pin
    must name a case, so renaming a case cannot quietly drop it."""
    problems: list[str] = []
    for m in report.mutants:
        for case_id in m.breaks:
            outcome = report.outcomes.get((m.id, case_id))
            if case_ids is not None and case_id not in case_ids:
                problems.append(f"mutant {m.id} should break {case_id}, which is not a case")
            elif outcome is not None and not kills(outcome, m):
                how = "passed" if outcome.status == Status.PASS.value else \
                    f"ended {outcome.status} without killing it"
                problems.append(f"mutant {m.id} should break case {case_id} but {case_id} "
                                f"{how}")
    return problems
