"""How long a case may wait: the step timeout and the pending window, scaled for slow machines.

One frozen value shared by the environment (how long closing the scope may take) and the
session (how long one op may take), so a `--timeout-multiplier` reaches every wait at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    step_timeout: float = 2.0
    timeout_multiplier: float = 1.0
    pending_window: float = 0.1

    def timeout(self, seconds: float | None) -> float:
        return (seconds or self.step_timeout) * self.timeout_multiplier

    @property
    def pending(self) -> float:
        return self.pending_window * self.timeout_multiplier
