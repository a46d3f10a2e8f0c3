"""The catalogue's pinned pairs: each mutant breaks the cases pinned to it (`Mutant.breaks`),
and those cases pass against the reference.

The pins used to be tests/variants.py and tests/tls_variants.py, a second catalogue of bugs
run by one pytest process per variant (about a minute each). Now they are data on the
mutants in harness/gates/mutants/, the full gate (`python -m sockets_conformance mutants`) fails
on a pin that does not hold, and this test runs the pins of one mutant per area, in-process,
with the gate's own runner and kill rule, so that the mechanism is tested in the ordinary
test run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from functools import cache

import pytest
from sockets_conformance.adapters.reference.adapter import ReferenceAdapter
from sockets_conformance.gates.lint import load_all
from sockets_conformance.gates.mutants import Mutant, by_id, catalogue
from sockets_conformance.gates.mutation import DEFAULT_MULTIPLIER
from sockets_conformance.gates.mutation_matrix import (
    GateReport,
    Outcome,
    caught_by,
    kills,
    pin_problems,
)
from sockets_conformance.gates.mutation_worker import _run_isolated
from sockets_conformance.model.case import Case
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.running.adapter import Adapter
from sockets_conformance.running.runner import Settings

MUTANTS = catalogue()
PINNED = [m for m in MUTANTS if m.breaks]
PINNED_CASES = sorted({c for m in PINNED for c in m.breaks})
# The first pinned mutant of each area runs its pins here, in-process. The full gate
# (`tox -e mutants`, in CI) checks every pin; all 48 here cost about 20 s of CPU in every
# test run, most of it the large transfers of a few TLS pins.
SAMPLE = sorted({m.area: m for m in reversed(PINNED)}.values(), key=lambda m: m.id)
SAMPLE_CASES = sorted({c for m in SAMPLE for c in m.breaks})

# The gate's short step timeouts (a killed mutant's pending promise should not cost 2 s
# each), with a longer "pending" window than the gate's: a wrong settlement that a busy
# test machine delays past a short window would let the case pass, and the pin fail.
MUTANT_SETTINGS = Settings(timeout_multiplier=DEFAULT_MULTIPLIER,
                           pending_window=0.2 / DEFAULT_MULTIPLIER)


@cache
def cases() -> dict[str, Case]:
    """The bundled cases, loaded when a test first needs them, not when pytest collects."""
    return {c.id: c for c in load_all()[0]}


def _run(adapter: Adapter, case_ids: Iterable[str], settings: Settings) -> dict[str, CaseResult]:
    """Run cases one after another on one loop, as a gate worker does."""
    async def run_all() -> dict[str, CaseResult]:
        await adapter.start()
        try:
            return {c: await _run_isolated(cases()[c], adapter, settings) for c in case_ids}
        finally:
            await adapter.stop()

    # killed mutants leave failed futures behind on purpose; their log lines are noise here
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    return asyncio.run(run_all())


def test_pins_name_existing_cases_once_each() -> None:
    assert len(PINNED) >= 45
    for m in PINNED:
        assert len(set(m.breaks)) == len(m.breaks), m.id
        assert [c for c in m.breaks if c not in cases()] == [], m.id


def test_pinned_cases_cite_what_their_mutant_breaks() -> None:
    """A pin says "this case is written for this bug", so the case must cite one of the
    requirements the mutant declares; a case that only kills it on the way to something
    else (a flow case that also checks a property) is no pin, and once that case stops
    asserting the extra thing the pin would break for no fault of the mutant."""
    off = {(m.id, c): cases()[c].requirements for m in PINNED for c in m.breaks
           if not set(cases()[c].requirements) & set(m.requirements)}
    assert off == {}


@pytest.mark.parametrize("mutant", SAMPLE, ids=lambda m: m.id)
def test_mutant_breaks_its_pinned_cases(mutant: Mutant) -> None:
    results = _run(mutant.adapter(), mutant.breaks, MUTANT_SETTINGS)
    survived = {c: f"{r.status.value}: {r.message.strip()[:200]}" for c, r in results.items()
                if not kills(Outcome(mutant.id, c, r.status.value, caught_by(r)), mutant)}
    assert survived == {}, f"{mutant.id} should break these cases, but they did not kill it"


def test_pinned_cases_pass_against_the_reference() -> None:
    """The control: a pin means something only if the unbroken implementation passes (the
    gate runs this control for every case before any mutant)."""
    results = _run(ReferenceAdapter(), SAMPLE_CASES, Settings())
    assert {c: r.status.value for c, r in results.items() if r.status is not Status.PASS} == {}


def _report(outcomes: dict[tuple[str, str], str], mutant: Mutant) -> GateReport:
    return GateReport([mutant], sorted({c for _, c in outcomes}), {},
                      {k: Outcome(k[0], k[1], s, None if s == "PASS" else "fail")
                       for k, s in outcomes.items()}, {}, full=False)


def test_gate_reports_a_pin_that_does_not_hold_and_a_pin_to_no_case() -> None:
    """What the gate's pin check (mutation_matrix.py) says, on made-up outcomes: a pinned case that
    passed, one that killed (no problem), one that did not take part (not judged), and in
    the full gate a pin naming no case."""
    mutant = by_id("close-closed-pending")
    first, second = mutant.breaks
    report = _report({(mutant.id, first): "PASS", (mutant.id, second): "FAIL"}, mutant)
    assert pin_problems(report) == [
        f"mutant {mutant.id} should break case {first} but {first} passed"]
    assert pin_problems(_report({(mutant.id, second): "TIMEOUT"}, mutant)) == []
    assert pin_problems(report, {second}) == [
        f"mutant {mutant.id} should break {first}, which is not a case"]
