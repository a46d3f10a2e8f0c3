"""The mutation gate's diagnostic precision (harness/gates/mutation_precision.py): computed
right on made-up outcomes, judged against its floor and target, reported with the cases
outside each mutant's requirements, and every mutant of the catalogue declares
requirements the spec has.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sockets_conformance.gates import mutation
from sockets_conformance.gates.mutants import Mutant, catalogue
from sockets_conformance.gates.mutation import run_gate
from sockets_conformance.gates.mutation_matrix import GateReport, Outcome
from sockets_conformance.gates.mutation_precision import (
    PRECISION_EXEMPTIONS,
    load_precision_exemptions,
    overall,
    percent,
    precision,
    precision_problems,
    precisions,
    requirement_problems,
)
from sockets_conformance.gates.mutation_report import render, write_json
from sockets_conformance.model import requirements

# case -> the requirements it cites (made up: precision reads only these ids)
CITES = {"x/c1": ("r.a",), "x/c2": ("r.a", "r.b"), "x/c3": ("r.c",), "x/c4": ("r.d",),
         "x/c5": ("r.b",)}


def _mutant(mutant_id: str, *declared: str) -> Mutant:
    return Mutant(mutant_id, f"a made-up bug called {mutant_id}", "close",
                  requirements=declared)


def _report(kills: dict[Mutant, dict[str, str]], **kwargs: object) -> GateReport:
    """Every mutant against every case of CITES; `kills` says, per mutant, which cases
    noticed it and how ("fail", "should", "message"); the rest passed."""
    outcomes = {(m.id, c): Outcome(m.id, c, "PASS" if how is None else "FAIL", how)
                for m, seen in kills.items() for c in CITES
                for how in [seen.get(c)]}
    report = GateReport(list(kills), sorted(CITES), {}, outcomes, {}, full=True,
                        requirements=CITES)
    for key, value in kwargs.items():
        setattr(report, key, value)
    return report


A, B, C, D = (_mutant("m-a", "r.a"), _mutant("m-b", "r.c"), _mutant("m-c", "r.d"),
              _mutant("m-d", "r.a"))
KILLS = {
    # c5 only saw a message differ: no kill for a behavioural mutant, so not a failing case
    A: {"x/c1": "fail", "x/c2": "should", "x/c3": "fail", "x/c5": "message"},
    B: {"x/c3": "fail"},
    C: {"x/c1": "fail", "x/c2": "fail", "x/c4": "fail", "x/c5": "fail"},
    D: {},  # a survivor: no failing case, no precision
}


def test_precision_per_mutant_and_pooled_overall() -> None:
    report = _report(KILLS)
    a, b, c, d = (precision(report, m) for m in (A, B, C, D))
    assert (a.cited, a.outside, a.share) == (("x/c1", "x/c2"), ("x/c3",), 2 / 3)
    assert (b.cited, b.outside, b.share) == (("x/c3",), (), 1.0)
    assert (c.cited, c.outside, c.share) == (("x/c4",), ("x/c1", "x/c2", "x/c5"), 0.25)
    assert (d.failing, d.share) == (0, None)
    # pooled over the 8 (mutant, failing case) pairs: 4 cite, so 50%; the mean of the
    # three shares would be 64%
    assert overall(precisions(report)) == 0.5
    assert overall([]) is None


def test_percent_rounds_down() -> None:
    assert [percent(s) for s in (0.896, 29 / 100, 0.9, 1.0, None)] == \
        ["89%", "29%", "90%", "100%", "-"]


def test_mutant_below_the_floor_fails_unless_exempt_and_stale_exemptions_fail() -> None:
    ids = [m.id for m in KILLS]
    problems = precision_problems(_report(KILLS), ids)
    assert problems == [
        "mutant m-c: precision 25% (1 of 4 failing cases cite r.d), below 50%: make the "
        "cases outside stop asserting what they do not cite, declare the requirement(s) "
        "this bug really breaks, or give the reason in "
        "harness/gates/mutants/precision-exemptions.yaml",
        "overall precision 50% is below the target 90%"]
    report = _report(KILLS, precision_exemptions={"m-c": "made up", "m-a": "made up",
                                                  "m-gone": "made up"})
    assert precision_problems(report, ids) == [
        "precision-exemptions.yaml: m-gone is not a mutant",
        "precision-exemptions.yaml: m-a is at 66% now; remove its exemption",
        "overall precision 50% is below the target 90%"]
    # --mutant runs (every case, some mutants): the floor holds, the overall target not
    assert precision_problems(_report(KILLS, full=False), ids) == problems[:1]
    # --case runs judge cases, not mutants
    assert precision_problems(_report(KILLS, full=False, case_mode=True), ids) == []


def test_report_shows_precision_and_the_cases_outside(tmp_path: Path) -> None:
    report = _report(KILLS, precision_exemptions={"m-c": "a reason made up for this test"})
    report.problems += precision_problems(report, [m.id for m in KILLS])
    text = render(report)
    lines = text.splitlines()
    # worst first, each with its cited/failing count and what it declares
    start = next(i for i, line in enumerate(lines) if line.startswith("precision: "))
    assert "(overall 50%, pooled over all failing cases)" in lines[start]
    assert lines[start + 1:start + 10] == [
        "   25%  m-c (1/4) [r.d]",
        "          outside: x/c1 [r.a]",
        "          outside: x/c2 [r.a, r.b]",
        "          outside: x/c5 [r.b]",
        "          exempt: a reason made up for this test",
        "   66%  m-a (2/3) [r.a]",
        "          outside: x/c3 [r.c]",
        "  100%  m-b (1/1) [r.c]",
        "     -  m-d (0/0) [r.a]"]
    assert lines[-1].startswith("mutation gate FAIL: 3/4 mutants killed, 1 survived, "
                                "0 case(s) catch nothing without a reason, precision 50%; ")
    assert "  overall precision 50% is below the target 90%" in lines
    write_json(report, tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["precision"] == 0.5
    assert {m["id"]: (m["precision"], m["outside"]) for m in data["mutants"]}["m-a"] == \
        (2 / 3, ["x/c3"])


def test_unknown_or_missing_requirements_are_reported() -> None:
    known = requirements.catalogue()
    bad = [_mutant("m-typo", "close.resolves-closed", "close.resolve-closed"), _mutant("m-none"),
           _mutant("m-twice", "close.resolves-closed", "close.resolves-closed")]
    assert requirement_problems(bad, known) == [
        "mutant m-typo declares unknown requirement(s) close.resolve-closed: not in "
        "spec/requirements.yaml",
        "mutant m-none declares no requirements (requirements=(...) on its decorator: the "
        "ids in spec/requirements.yaml it breaks)",
        "mutant m-twice declares a requirement twice"]


def test_the_gate_stops_on_an_unknown_requirement(monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: the gate reports it and fails before any mutant runs."""
    typo = Mutant("m-typo", "a made-up bug with a misspelt requirement", "close",
                  requirements=("close.resolve-closed",))
    monkeypatch.setattr(mutation, "catalogue", lambda: [typo])
    report = run_gate(mutant_ids=["m-typo"], case_patterns=["streams/empty-write"], jobs=1)
    assert not report.ok and report.outcomes == {}
    assert report.problems == ["mutant m-typo declares unknown requirement(s) "
                               "close.resolve-closed: not in spec/requirements.yaml"]
    text = render(report)
    assert "  mutant m-typo declares unknown requirement(s) close.resolve-closed: not in " \
        "spec/requirements.yaml" in text.splitlines()
    assert text.splitlines()[-1].startswith("mutation gate FAIL: stopped before any mutant ran, "
                                            "1 problem(s); ")


def test_every_mutant_declares_requirements_the_spec_has() -> None:
    assert requirement_problems(catalogue(), requirements.catalogue()) == []


def test_the_exemptions_file_names_mutants_with_reasons(tmp_path: Path) -> None:
    exemptions, problems = load_precision_exemptions(PRECISION_EXEMPTIONS)
    assert problems == []
    ids = {m.id for m in catalogue()}
    for mutant_id, reason in exemptions.items():
        assert mutant_id in ids, mutant_id
        assert len(reason) > 40, mutant_id
    broken = tmp_path / "exemptions.yaml"
    broken.write_text("m-a: ''\nm-b: a reason\n")
    assert load_precision_exemptions(broken) == (
        {"m-b": "a reason"}, ["exemptions.yaml: m-a needs a reason"])
    broken.write_text("- m-a\n")
    assert load_precision_exemptions(broken) == (
        {}, ["exemptions.yaml: expected a mapping of mutant id -> reason"])
