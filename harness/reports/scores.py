"""Conformance scores: per requirement level, the cases an implementation passed out of the
cases that apply to it, e.g. `MUST 120/130 (92%) · SHOULD 20/25 (80%) · MAY 2/3 (67%)`.

One definition for every report that states a score (the matrix, the terminal summary, the
Allure headline), so they cannot disagree. It reads results-file records
(reports/results_file.py): mappings with `status`, `message` and `requirements`.

- A case's level is the strongest level among the requirements it cites
  (model/requirements.py `strongest_level`): a case citing a MUST and a SHOULD is a MUST case.
- NOT-APPLICABLE cases are not counted: the implementation does not claim the feature.
- PASS is passed. FAIL, TIMEOUT and ERROR are not.
- NON-STRICT is two things, told apart by the verdict's message (running/verdict.py): a
  broken SHOULD or MAY requirement ("a SHOULD requirement is broken: ...") is not passed; the
  right behaviour with a different error message is passed, and counted apart as `reworded`,
  because the score measures behaviour and the cited sources do not fix the wording.
- Expectations never change a score: a known divergence counts exactly as the same result
  without an entry would (a known FAIL is not passed). An entry only says a divergence is
  known, not that it conforms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sockets_conformance.model.requirements import LEVELS, strongest_level

# The verdict's message when it downgrades a broken SHOULD/MAY requirement to NON-STRICT.
_BROKEN = re.compile(r"^a (?:SHOULD|MAY) requirement is broken: ")


def passed(record: Mapping[str, Any]) -> bool | None:
    """Whether the case counts as passed; None when it does not count (NOT-APPLICABLE)."""
    status = record.get("status")
    if status == "NOT-APPLICABLE":
        return None
    if status == "NON-STRICT":
        return not _BROKEN.match(str(record.get("message") or ""))
    return status == "PASS"


def reworded(record: Mapping[str, Any]) -> bool:
    """A NON-STRICT that passed: right behaviour, a different error message."""
    return record.get("status") == "NON-STRICT" and bool(passed(record))


def level(record: Mapping[str, Any]) -> str:
    """The case's level: the strongest among its cited requirements."""
    return strongest_level(tuple(record.get("requirements") or ()))


@dataclass(frozen=True)
class LevelScore:
    level: str
    passed: int = 0
    applicable: int = 0
    reworded: int = 0

    @property
    def percent(self) -> int | None:
        """Rounded down, so 99.6% never shows as a full 100%."""
        return self.passed * 100 // self.applicable if self.applicable else None

    def text(self) -> str:
        """'MUST 120/130 (92%)'; 'MAY 0/0' when no case of the level applies."""
        pct = f" ({self.percent}%)" if self.percent is not None else ""
        return f"{self.level} {self.passed}/{self.applicable}{pct}"


@dataclass(frozen=True)
class Score:
    """An implementation's score, one LevelScore per level in the order MUST, SHOULD, MAY."""

    levels: tuple[LevelScore, ...]

    def __getitem__(self, name: str) -> LevelScore:
        return next(s for s in self.levels if s.level == name)

    @property
    def reworded(self) -> int:
        return sum(s.reworded for s in self.levels)

    def text(self, separator: str = " · ") -> str:
        """'MUST 120/130 (92%) · SHOULD 20/25 (80%) · MAY 2/3 (66%)'."""
        return separator.join(s.text() for s in self.levels)

    def note(self) -> str:
        """What the numbers hide: the passed cases whose error message differed ('' if none)."""
        n = self.reworded
        if not n:
            return ""
        return f"{n} passed with a different error message (NON-STRICT)"


def score(records: Iterable[Mapping[str, Any]]) -> Score:
    """The score of one implementation's run, from its results-file case records."""
    counts = {lv: [0, 0, 0] for lv in LEVELS}   # passed, applicable, reworded
    for record in records:
        ok = passed(record)
        if ok is None:
            continue
        row = counts[level(record)]
        row[1] += 1
        if ok:
            row[0] += 1
            row[2] += reworded(record)
    return Score(tuple(LevelScore(lv, *counts[lv]) for lv in LEVELS))
