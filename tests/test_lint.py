"""The suite's own guarantees: every case lints clean and every MUST/SHOULD has a case."""

from __future__ import annotations

from pathlib import Path

from sockets_conformance.gates.lint import check, coverage

CASE = """id: a/{name}
title: {title}
requirements: [connect.object-form]
features: [tcp]
steps: [connect]
"""


def test_shipped_suite_checks_clean() -> None:
    assert check() == []


def test_every_must_and_should_has_a_case() -> None:
    _, missing = coverage()
    assert missing == [], f"requirements without a case: {missing}"


def test_check_finds_duplicate_and_long_titles(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.yaml").write_text(CASE.format(name="one", title="the same title here"))
    (tmp_path / "a" / "two.yaml").write_text(CASE.format(name="two", title="The same title here"))
    (tmp_path / "a" / "three.yaml").write_text(CASE.format(name="three", title="x" * 130))
    problems = check(tmp_path)
    assert any("two.yaml: title also used by" in p for p in problems), problems
    assert any("three.yaml: title is 130 characters" in p for p in problems), problems
