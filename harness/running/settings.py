"""How a case runs: the step timeout and the pending window, scaled for slow machines, and
the peers' seeded fragmentation.

One frozen value shared by the environment (how long closing the scope may take, how the
peers send) and the session (how long one op may take), so an option reaches every case of
the run at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    step_timeout: float = 2.0
    timeout_multiplier: float = 1.0
    pending_window: float = 0.1
    # --peer-fragmentation SEED: every peer send cut at seeded points (servers/network.py)
    peer_fragmentation: int | None = None

    def timeout(self, seconds: float | None) -> float:
        return (seconds or self.step_timeout) * self.timeout_multiplier

    @property
    def pending(self) -> float:
        return self.pending_window * self.timeout_multiplier
