"""A NON-STRICT expectations entry: an entry never turns a pass into an xfail.

A NON-STRICT that only saw another error message counts as passed (README, "Conformance
score"), with or without an entry; its entry says why the words differ. A NON-STRICT that is a
broken SHOULD is not a pass, so its entry makes it an xfail; a case that passes outright
while its entry says NON-STRICT fails the run until the entry goes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme  # noqa: F401  (see below)

from tests.test_usage import inprocess_run

# Imported here, before any in-process run: pytester drops the modules a run imported, and a
# re-imported cryptography no longer matches its compiled half ("curve must be an
# EllipticCurve instance" in the next run's trustme).

# The reference's message is "Specified address is missing hostname."
REWORDED = """\
id: t/reworded
title: right class, other words
requirements: [address.string.missing-hostname]
features: [tcp]
steps:
  - connect: {address: "", expect: {throws: TypeError, message: "%s"}}
"""
# errors.error-classes is a SHOULD: a wrong read is NON-STRICT, and not a pass.
SHOULD_BROKEN = """\
id: t/should-broken
title: a broken SHOULD
requirements: [errors.error-classes]
features: [tcp]
steps:
  - connect: {}
  - peer.accept
  - peer.send: "pong"
  - read: {expect: {value: "pang"}}
"""
ENTRIES = ("t/reworded: {status: NON-STRICT, reason: other words}\n"
           "t/should-broken: {status: NON-STRICT, reason: reads pong}\n")


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        message: str, *extra: str) -> tuple[int, str]:
    cases = tmp_path / "cases" / "t"
    cases.mkdir(parents=True)
    (cases / "reworded.yaml").write_text(REWORDED % message)
    (cases / "should-broken.yaml").write_text(SHOULD_BROKEN)
    entries = tmp_path / "expectations.yaml"
    entries.write_text(ENTRIES)
    done = inprocess_run(pytester, monkeypatch, "-rxX", "--expectations", str(entries),
                         *extra, str(tmp_path / "cases"))
    return done.returncode, done.stdout


def test_reworded_entry_passes_and_broken_should_entry_is_xfailed(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out = run(pytester, monkeypatch, tmp_path, "Hostname is missing.")
    assert code == 0, out
    assert "1 passed, 1 xfailed" in out
    assert "1 passed with a different error message (NON-STRICT, as expected per" in out
    assert "1 expected (1 NON-STRICT)" in out
    assert "0 unexpected" in out


def test_strict_conformance_xfails_both(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out = run(pytester, monkeypatch, tmp_path, "Hostname is missing.",
                    "--strict-conformance")
    assert code == 0, out
    assert "2 xfailed" in out and "passed" not in out.splitlines()[-1]


def test_a_case_that_passes_outright_fails_until_its_entry_goes(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, out = run(pytester, monkeypatch, tmp_path, "Specified address is missing hostname.")
    assert code == 1, out
    assert "1 failed, 1 xfailed" in out
    assert "the entry no longer holds; delete it" in out
    assert "PASS t/reworded: expected NON-STRICT per" in out
