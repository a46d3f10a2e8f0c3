"""--repeat N runs every case N times and fails the run when a case's status changes."""

from __future__ import annotations

import subprocess
import sys

from sockets_conformance.paths import ROOT

CASE = "cases/defaults/secure-transport-off.yaml"


def _run(adapter: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", CASE,
                           "--repeat", "4", f"--adapter={adapter}"], cwd=ROOT, text=True,
                          capture_output=True, check=False)


def test_repeat_lists_a_flaky_case_and_fails() -> None:
    out = _run("python:tests.flaky_variant:factory")
    assert out.returncode == 1, out.stdout
    assert "repeat 4: 1 case(s) changed status" in out.stdout
    assert "FLAKY defaults/secure-transport-off: PASS FAIL PASS FAIL" in out.stdout


def test_repeat_of_a_stable_suite_passes() -> None:
    out = _run("reference")
    assert out.returncode == 0, out.stdout
    assert "4 passed" in out.stdout and "repeat 4: 0 case(s) changed status" in out.stdout
