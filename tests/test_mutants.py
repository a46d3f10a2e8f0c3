"""The mutation gate itself: its catalogue is sound, and its runner counts kills right.

The full gate (every case against every mutant) is `tox -e mutants`; these tests stay
fast: the catalogue's shape, the kill rule on made-up results, and one small end-to-end
run of two mutants against a few cases.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
from sockets_conformance.adapters.reference import address as addr
from sockets_conformance.adapters.reference.socket import Options, Socket
from sockets_conformance.adapters.registry import resolve
from sockets_conformance.gates.lint import load_all
from sockets_conformance.gates.mutants import AREAS, Mutant, by_id, catalogue
from sockets_conformance.gates.mutation import run_gate, select
from sockets_conformance.gates.mutation_matrix import (
    EXEMPTIONS,
    Outcome,
    caught_by,
    kills,
    load_exemptions,
)
from sockets_conformance.gates.mutation_report import render
from sockets_conformance.model.results import CaseResult, Status, StepRecord

MUTANTS = catalogue()


def test_catalogue_is_big_enough_with_unique_ids_and_descriptions() -> None:
    assert len(MUTANTS) >= 45
    ids = [m.id for m in MUTANTS]
    assert len(set(ids)) == len(ids)
    descriptions = [m.description.strip().lower() for m in MUTANTS]
    assert len(set(descriptions)) == len(descriptions)
    for m in MUTANTS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", m.id), m.id
        assert "\n" not in m.description and 10 < len(m.description) <= 160, m.id
        assert m.area in AREAS, m.id
        assert m.kind in ("behaviour", "message"), m.id


def _own_code(cls: type[Socket]) -> list[str]:
    """Names a Socket subclass defines between itself and the reference Socket."""
    names: list[str] = []
    for klass in cls.__mro__:
        if klass is Socket:
            break
        names += [n for n, v in vars(klass).items()
                  if (n == "__init__" or not n.startswith("__"))
                  and (callable(v) or isinstance(v, property)
                       or n in ("TLS_CHECKS", "HOLES", "WIRE"))]
    return names


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_each_mutant_differs_from_the_reference_and_builds(mutant: Mutant) -> None:
    assert mutant.differs_from_reference()
    if mutant.socket_class is not Socket:
        assert issubclass(mutant.socket_class, Socket)
        assert _own_code(mutant.socket_class), f"{mutant.id} overrides nothing"
    else:
        assert mutant.parse_address is not addr.parse or \
            mutant.parse_options is not Options.parse
    adapter = resolve(f"python:sockets_conformance.gates.mutants:{mutant.factory_name}")
    assert adapter.info.name == f"mutant:{mutant.id}"
    assert by_id(mutant.id) is mutant


def test_mutants_live_apart_from_the_reference() -> None:
    """The reference never imports its mutants (they must not ship with it)."""
    imports = re.compile(r"^\s*(from|import)\s+harness(\.mutants|\s+import\s+.*\bmutants\b)",
                         re.M)
    for path in Path(inspect.getfile(Socket)).parent.rglob("*.py"):
        assert not imports.search(path.read_text(encoding="utf-8")), path


def test_exemptions_name_existing_cases_with_reasons() -> None:
    exemptions, problems = load_exemptions(EXEMPTIONS)
    assert problems == []
    cases = {c.id for c in load_all()[0]}
    for case_id, reason in exemptions.items():
        assert case_id in cases, case_id
        assert len(reason) > 20, case_id


def _result(status: Status, *outcomes: str) -> CaseResult:
    return CaseResult("x/y", status, steps=[StepRecord(i, i, "step", outcome=o)
                                            for i, o in enumerate(outcomes, 1)])


def test_kill_rule() -> None:
    behaviour = by_id("default-port-443")
    message = by_id("missing-port-message")
    assert behaviour.kind == "behaviour" and message.kind == "message"
    cases = {
        "fail": _result(Status.FAIL, "ok", "FAIL", "not run"),
        "timeout": _result(Status.TIMEOUT, "TIMEOUT"),
        "error": _result(Status.ERROR, "ERROR"),
        # a SHOULD broken: the step failed, the status was only graded down
        "should": _result(Status.NON_STRICT, "ok", "FAIL"),
        "message": _result(Status.NON_STRICT, "NON-STRICT", "ok"),
        "pass": _result(Status.PASS, "ok"),
    }
    got = {name: caught_by(r) for name, r in cases.items()}
    assert got == {"fail": "fail", "timeout": "fail", "error": "fail", "should": "should",
                   "message": "message", "pass": None}
    for name, how in got.items():
        outcome = Outcome("m", "x/y", cases[name].status.value, how)
        assert kills(outcome, behaviour) is (name not in ("message", "pass")), name
        assert kills(outcome, message) is (name != "pass"), name


def test_select_patterns() -> None:
    ids = ["close/a", "close/b", "streams/a"]
    assert select(ids, None) == ids
    assert select(ids, ["close/"]) == ["close/a", "close/b"]
    assert select(ids, ["*/a"]) == ["close/a", "streams/a"]
    assert select(ids, ["streams/a"]) == ["streams/a"]


def test_small_gate_run_kills_and_counts_messages_apart() -> None:
    """Two mutants against a few cases, end to end through the worker pool:
    egress-private-allowed dials 10.x, which the harness guard refuses (a kill, and no
    packet); default-port-443 is killed by the missing-port cases, while the case that
    only sees another TypeError message does not count as a kill for it."""
    report = run_gate(
        mutant_ids=["egress-private-allowed", "default-port-443"],
        case_patterns=["egress/private-10", "address/string-missing-port",
                       "address/secure-transport-checked-after-address", "streams/empty-write"],
        jobs=2)
    assert report.problems == []
    assert all(o.status == "PASS" for o in report.baseline.values())
    private, port443 = by_id("egress-private-allowed"), by_id("default-port-443")
    assert report.killed_by(private) == ["egress/private-10"]
    guard = report.outcomes["egress-private-allowed", "egress/private-10"]
    assert guard.status == "FAIL" and "blocked by the harness" in guard.message
    assert report.killed_by(port443) == ["address/string-missing-port"]
    assert report.noticed_by(port443) == ["address/secure-transport-checked-after-address"]
    assert report.caught("streams/empty-write") == []
    assert report.noticed("address/secure-transport-checked-after-address") == \
        ["default-port-443"]
    # --case judges the selected cases, not the survivors: two of them kill neither mutant
    assert report.survivors == []
    assert set(report.unexplained) == {"address/secure-transport-checked-after-address",
                                       "streams/empty-write"}
    assert not report.ok
    text = render(report)
    assert "case -> mutants it kills" in text
    assert "address/string-missing-port (1): default-port-443" in text
    assert "mutation gate FAIL (selected cases): 2/4 case(s) kill a mutant, 2 kill none" in text


def test_case_mode_says_what_a_case_kills_and_leaves_survivors_alone() -> None:
    """`mutants --case X`, a case author's question: which mutants does X kill? A mutant X
    leaves alive is other cases' business, not a failure."""
    report = run_gate(case_patterns=["close/second-call-harmless"],
                      mutant_ids=["close-twice-throws", "close-leaves-readers"], jobs=2)
    assert report.problems == []
    assert report.caught("close/second-call-harmless") == ["close-twice-throws"]
    assert [m.id for m in report.survivors] == ["close-leaves-readers"]
    assert report.ok
    text = render(report)
    assert "close/second-call-harmless (1): close-twice-throws" in text
    assert "SURVIVED" not in text and "survivors" not in text
    assert "mutation gate PASS (selected cases): 1/1 case(s) kill a mutant; 1 of 2 mutants " \
           "left to other cases" in text


def test_case_mode_fails_on_a_case_that_kills_nothing_and_says_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sockets_conformance.__main__ import main

    argv = ["mutants", "--case", "streams/empty-write", "--mutant", "default-port-443",
            "--jobs", "1"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "streams/empty-write (0): -" in out
    assert "catches none of the 1 mutant(s) run (--mutant" in out
    assert "Add a mutant that breaks the behaviour it checks" in out
    assert f"an exemption with the reason in spec/{EXEMPTIONS.name}" in out
    # with an exemption the same run passes, and says why the case is exempt
    exempt = tmp_path / "exemptions.yaml"
    exempt.write_text("exemptions:\n  - case: streams/empty-write\n"
                      "    reason: made up for this test, long enough to count\n")
    report = run_gate(case_patterns=["streams/empty-write"], mutant_ids=["default-port-443"],
                      exemptions_path=exempt, jobs=1)
    assert report.ok
    assert "streams/empty-write: exempt: made up for this test" in render(report)
    # a pattern that matches no case is a problem, not a vacuous pass
    report = run_gate(case_patterns=["no-such/case"], mutant_ids=["default-port-443"],
                      jobs=1)
    assert not report.ok and report.problems == ["no case matches 'no-such/case'"]
