"""The suite's own guarantees: every case lints clean and every MUST/SHOULD has a case."""

from __future__ import annotations

import re
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


# Awaits opened, closed and close() although it cites only connect.object-form: every one of
# those steps is reported, on its own line. A writer's own `closed` is not the socket's.
UNCITED = """id: a/uncited
title: a case that asserts on what it does not cite
requirements: [connect.object-form]
features: [tcp]
steps:
  - connect: {}
  - get: {target: s.closed, as: early}
  - peer.accept
  - await: s.opened
  - getWriter: {as: w}
  - await: {promise: w.closed, expect: {pending: true}}
  - close: {as: closing}
  - await: closing
  - await: early
  - close
"""

# The same opened and close() assertions, each cited: an opened.* requirement, close.*.
CITED = """id: a/cited
title: a case that asserts only on what it cites
requirements: [opened.no-local-address, close.resolves-closed]
features: [tcp]
steps:
  - connect: {}
  - peer.accept
  - await: {promise: s.opened, expect: {absent: [localAddress]}}
  - close
"""


def test_check_reports_each_uncited_assertion_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "uncited.yaml").write_text(UNCITED)
    (tmp_path / "a" / "cited.yaml").write_text(CITED)
    problems = [p for p in check(tmp_path) if "requirements (" in p]
    at = {f"{Path(m['file']).name}:{m['line']}": m["text"]
          for m in (re.match(r"(?P<file>.+?\.yaml):(?P<line>\d+): (?P<text>.*)", p)
                    for p in problems) if m}
    assert sorted(at) == ["uncited.yaml:13", "uncited.yaml:14", "uncited.yaml:15",
                          "uncited.yaml:9"], problems
    assert at["uncited.yaml:9"] == (
        "awaits s.opened, but none of its requirements (connect.object-form) is about "
        "opened; synchronise on the peer (peer.accept / peer.expect) instead")
    assert at["uncited.yaml:13"].startswith("awaits s.close() (as closing), ")
    assert at["uncited.yaml:14"].startswith("awaits s.closed (as early), ")
    assert at["uncited.yaml:15"].startswith("awaits s.close(), ")
    assert "about close(); leave the closing to the harness" in at["uncited.yaml:15"]
