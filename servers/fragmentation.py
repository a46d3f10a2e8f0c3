"""The suite-wide seeded fragmentation (--peer-fragmentation=SEED): the seed of each run of a
case, and each peer's stream of cuts.

Apart from servers/network.py (which does the cutting), so these pure functions import no
asyncio.
"""

from __future__ import annotations

import random


def run_seed(seed: int, case_id: str, repetition: int) -> int:
    """The seed of one run of a case: SEED itself for the first repetition (so a failure
    shown with seed R reruns exactly with --peer-fragmentation=R), a derived one for each
    later repetition (--repeat), never the same twice for one case."""
    if repetition <= 1:
        return seed
    return random.Random(f"{seed}/{case_id}/{repetition}").randrange(2**31)


def case_rng(seed: int, case_id: str, peer: str) -> random.Random:
    """Each peer of each case gets its own stream of cuts, the same for the same seed."""
    return random.Random(f"{seed}/{case_id}/{peer}")
