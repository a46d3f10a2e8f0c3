"""One canonical result per case: what every report (pytest, JSON lines, Allure) derives from."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Status(enum.StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    NON_STRICT = "NON-STRICT"
    NOT_APPLICABLE = "NOT-APPLICABLE"
    TIMEOUT = "TIMEOUT"
    ERROR = "ERROR"


@dataclass
class StepRecord:
    index: int
    line: int
    source: str
    outcome: str = "not run"      # ok | FAIL | NON-STRICT | TIMEOUT | ERROR | not run
    expected: str = ""
    actual: str = ""
    seconds: float = 0.0


@dataclass
class CaseResult:
    case_id: str
    status: Status
    message: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    seconds: float = 0.0
    # peer -> received/sent. Kept out of repr: asyncio.Runner.run reprs the finished task
    # (via signal.getsignal on its SIGINT handler), and a 32 MiB transfer took a second to repr.
    # per peer: received and sent bytes, and "network": SNI, segments and timing (text)
    wire: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    diagnostics: str = ""
    implementation: str = ""
    # What went wrong in the end-of-case cleanup ("" when it was clean): reported beside the
    # verdict, never part of it, since the cleanup is the harness's job and not a step.
    cleanup: str = ""

    @property
    def failed_step(self) -> StepRecord | None:
        return next((s for s in self.steps if s.outcome not in ("ok", "not run", "NON-STRICT")),
                    None)
