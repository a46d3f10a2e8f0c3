"""--repeat N runs every case N times and fails the run when a case's status changes."""

from __future__ import annotations

import subprocess

import pytest

from tests.test_usage import inprocess_run

CASE = "cases/defaults/secure-transport-off.yaml"


def _run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
         adapter: str) -> subprocess.CompletedProcess[str]:
    """A run from the checkout, in this process."""
    return inprocess_run(pytester, monkeypatch, "-q", CASE, "--repeat", "4",
                         f"--adapter={adapter}")


def test_repeat_lists_a_flaky_case_and_fails(pytester: pytest.Pytester,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run(pytester, monkeypatch, "python:tests.flaky_variant:factory")
    assert out.returncode == 1, out.stdout
    assert "repeat 4: 1 case(s) changed status" in out.stdout
    assert "FLAKY defaults/secure-transport-off: PASS FAIL PASS FAIL" in out.stdout


def test_repeat_of_a_stable_suite_passes(pytester: pytest.Pytester,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = _run(pytester, monkeypatch, "reference")
    assert out.returncode == 0, out.stdout
    assert "4 passed" in out.stdout and "repeat 4: 0 case(s) changed status" in out.stdout
