"""Conformance scores (reports/scores.py): what counts as passed at which level. The score
line the terminal summary prints for a real run is checked in tests/test_summary.py."""

from __future__ import annotations

from types import SimpleNamespace

from sockets_conformance.model.requirements import catalogue
from sockets_conformance.model.results import Status
from sockets_conformance.plugin.summary import score_line
from sockets_conformance.reports import scores
from sockets_conformance.running.verdict import verdict


def _first(level: str) -> str:
    return next(rid for rid, req in catalogue().items() if req.level == level)


MUST, SHOULD, MAY = _first("MUST"), _first("SHOULD"), _first("MAY")


def _record(status: Status | str, reqs: list[str], message: str = "",
            expected: str = "PASS") -> dict:
    return {"status": str(status), "requirements": reqs, "message": message,
            "expected_status": expected}


def _verdict(status: Status, level: str, notes: list[str] | None = None) -> dict:
    """A record whose status and message come from the verdict itself, so a change of its
    wording that the score cannot read any more fails here."""
    got, message = verdict(status, "step 3: expected x; got y", notes=notes or [],
                           blocked=[], level=level)
    return _record(got, [{"MUST": MUST, "SHOULD": SHOULD, "MAY": MAY}[level]], message)


def test_a_case_counts_at_its_strongest_level() -> None:
    score = scores.score([_record("PASS", [SHOULD, MUST]), _record("FAIL", [MAY, SHOULD])])
    assert (score["MUST"].passed, score["MUST"].applicable) == (1, 1)
    assert (score["SHOULD"].passed, score["SHOULD"].applicable) == (0, 1)
    assert score["MAY"].applicable == 0


def test_not_applicable_is_left_out_and_known_divergences_are_not_passed() -> None:
    score = scores.score([
        _record("PASS", [MUST]),
        _record("NOT-APPLICABLE", [MUST]),
        _record("FAIL", [MUST], expected="FAIL"),        # known: still not passed
        _record("TIMEOUT", [MUST]),
        _record("ERROR", [MUST], expected="ERROR"),
    ])
    assert score["MUST"] == scores.LevelScore("MUST", passed=1, applicable=4)
    assert score.text() == "MUST 1/4 (25%) · SHOULD 0/0 · MAY 0/0"


def test_non_strict_counts_by_what_it_is() -> None:
    """A different message alone is passed (and counted as reworded); a broken SHOULD or MAY,
    which the verdict also makes NON-STRICT, is not."""
    reworded = _verdict(Status.PASS, "SHOULD", notes=["message differs"])
    broken_should = _verdict(Status.FAIL, "SHOULD")
    broken_may = _verdict(Status.FAIL, "MAY")
    must_reworded = _verdict(Status.PASS, "MUST", notes=["message differs"])
    assert {r["status"] for r in (reworded, broken_should, broken_may, must_reworded)} == {
        "NON-STRICT"}
    score = scores.score([reworded, broken_should, broken_may, must_reworded])
    assert score.text() == "MUST 1/1 (100%) · SHOULD 1/2 (50%) · MAY 0/1 (0%)"
    assert score.reworded == 2
    assert score.note() == "2 passed with a different error message (NON-STRICT)"


def test_percent_is_rounded_down() -> None:
    score = scores.score([_record("PASS", [MUST])] * 199 + [_record("FAIL", [MUST])])
    assert score["MUST"].text() == "MUST 199/200 (99%)"


def _report(case: str, status: str, when: str = "call") -> SimpleNamespace:
    return SimpleNamespace(when=when, nodeid=f"x.yaml::{case}", user_properties=[
        ("conformance_case", case.partition("@")[0]), ("conformance_status", status),
        ("conformance_requirements", [MUST])])


def test_a_repeated_case_counts_once_and_only_if_every_repetition_passed() -> None:
    stats = {"failed": [_report("a/x@2", "FAIL"), _report("a/z", "FAIL", when="setup")],
             "passed": [_report("a/x@1", "PASS"), _report("a/x@3", "PASS"),
                        _report("a/y@1", "PASS"), _report("a/y@2", "PASS")]}
    assert score_line(stats) == "  conformance: MUST 1/2 (50%) · SHOULD 0/0 · MAY 0/0"
