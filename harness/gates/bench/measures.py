"""The benchmark's numbers: one dataclass per measurement, and the Report that holds them.

Kept apart from the code that measures and the code that renders, so both read the same
shapes, and `asdict(report)` is the JSON output as it stands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MiB = 1024 * 1024

# A count in pytest's summary line, as SuiteRun.outcome keeps it ("142 passed, 3 xfailed").
SUMMARY = re.compile(r"(\d+) (passed|failed|xfailed|xpassed|skipped|errors?|deselected)")


@dataclass
class SuiteRun:
    implementation: str
    mode: str                   # "-n auto" | "serial" | "-n auto --repeat 10" | ...
    seconds: float | None       # None: not run
    outcome: str                # pytest's summary ("142 passed"), or why it was skipped
    exit_code: int | None = None
    samples: list[float] = field(default_factory=list)  # every round; `seconds` the median


@dataclass
class Overhead:
    cases: int
    steps: int
    wall: float
    adapter: float
    peer_waits: float
    load_per_case: float
    pytest_per_case: float | None = None

    @property
    def harness(self) -> float:
        return self.wall - self.adapter - self.peer_waits


@dataclass
class Transfer:
    implementation: str
    upload: float | None = None       # seconds for the 64 MiB
    download: float | None = None
    opened: float | None = None       # median seconds from connect() until opened fulfils
    note: str = ""


@dataclass
class Report:
    cores: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    size: int = 64 * MiB
    suite: list[SuiteRun] = field(default_factory=list)
    collect_seconds: dict[str, float] = field(default_factory=dict)
    overhead: Overhead | None = None
    transfers: list[Transfer] = field(default_factory=list)
    raw: Transfer | None = None
    versions: dict[str, str] = field(default_factory=dict)


def find_run(report: Report, implementation: str, mode: str) -> SuiteRun | None:
    """The suite run of `implementation` in `mode`, if the report has one."""
    return next((r for r in report.suite if r.implementation == implementation
                 and r.mode == mode), None)


def count_cases(outcome: str) -> int:
    """The cases a run's summary accounts for: deselected ones did not run."""
    return sum(int(n) for n, what in SUMMARY.findall(outcome)
               if what not in ("deselected",))
