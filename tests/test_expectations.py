"""Expectations files: loading, the update rule, and what a run reports with them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from sockets_conformance.model.results import Status
from sockets_conformance.paths import ROOT
from sockets_conformance.running import expectations as exp

from tests.test_usage import inprocess_run

CASE = """\
id: t/{name}
title: a case written by the expectations tests
requirements: [connect.object-form]
features: [tcp]
steps:
  - connect: {{}}
  - peer.accept
  - peer.send: "pong"
  - read: {{expect: {{value: "{want}"}}}}
  - close
"""


def entry(case_id: str, status: Status = Status.FAIL, reason: str = "known") -> exp.Expectation:
    return exp.Expectation(case_id, status, reason, "https://example.invalid/x")


# --- the file ------------------------------------------------------------------------------
def test_load_reads_entries(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("# header\na/b:\n  status: NON-STRICT\n  reason: a message differs\n"
                    "  link: https://example.invalid\n")
    loaded = exp.load(path)
    assert loaded == {"a/b": exp.Expectation("a/b", Status.NON_STRICT, "a message differs",
                                             "https://example.invalid")}


@pytest.mark.parametrize("text, complaint", [
    ("a/b: {status: PASS, reason: x}", "status must be one of"),
    ("a/b: {status: BROKEN, reason: x}", "status must be one of"),
    ("a/b: {status: FAIL}", "needs a reason"),
    ("a/b: {status: FAIL, reason: x, why: y}", "unknown key(s) why"),
    ("- a/b", "expected a mapping"),
    ("a/b: [", "not valid YAML"),
])
def test_load_refuses_bad_files(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "e.yaml"
    path.write_text(text)
    with pytest.raises(exp.ExpectationsError, match=complaint.replace("(", r"\(")
                       .replace(")", r"\)")):
        exp.load(path)


def test_missing_file_means_no_expectations(tmp_path: Path) -> None:
    assert exp.load(tmp_path / "absent.yaml") == {}
    assert exp.load(None) == {}


def test_default_paths() -> None:
    assert exp.default_path("node") == ROOT / "adapters" / "node" / "expectations.yaml"
    assert exp.default_path("node", "./other.mjs") is None   # not @arrowood.dev/socket
    assert exp.default_path("driver:python x.py") is None


# --- the update rule ---------------------------------------------------------------------------
def test_update_keeps_reviewed_reasons_and_marks_the_rest_todo() -> None:
    old = {"same": entry("same"), "changed": entry("changed"), "passes": entry("passes"),
           "not-run": entry("not-run"), "gone": entry("gone")}
    results = {"same": Status.FAIL, "changed": Status.TIMEOUT, "passes": Status.PASS,
               "new": Status.ERROR, "skipped": Status.NOT_APPLICABLE}
    new = exp.update(old, results, exists=lambda case_id: case_id != "gone")
    assert list(new) == ["changed", "new", "not-run", "same"]
    assert new["same"] == old["same"]
    assert new["not-run"] == old["not-run"]
    assert new["changed"].status is Status.TIMEOUT
    assert new["changed"].reason == "TODO: was FAIL: known"
    assert new["changed"].link == old["changed"].link
    assert new["new"].reason == "TODO" and not new["new"].reviewed


def test_write_keeps_the_header_and_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("# my header\n# second line\nx/y: {status: FAIL, reason: r}\n")
    entries = {"b/c": entry("b/c", reason="a reason: with a colon"), "a/b": entry("a/b")}
    exp.write(path, entries)
    text = path.read_text()
    assert text.startswith("# my header\n# second line\n")
    assert text.index("a/b:") < text.index("b/c:")
    assert exp.load(path) == entries
    assert yaml.safe_load(text)["b/c"]["reason"] == "a reason: with a colon"


# --- a run with expectations ---------------------------------------------------------------------
def write_cases(tmp_path: Path) -> None:
    where = tmp_path / "cases" / "t"
    where.mkdir(parents=True)
    (where / "passes.yaml").write_text(CASE.format(name="passes", want="pong"))
    (where / "fails.yaml").write_text(CASE.format(name="fails", want="pang"))


def run_pytest(tmp_path: Path, expectations: str, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / "expectations.yaml"
    if expectations:
        path.write_text(expectations)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-rxX",
         "--expectations", str(path), *extra, str(tmp_path / "cases")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)


def run_here(tmp_path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
             expectations: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """run_pytest's run in this process (nothing checked with it depends on a process)."""
    path = tmp_path / "expectations.yaml"
    if expectations:
        path.write_text(expectations)
    return inprocess_run(pytester, monkeypatch, "-rxX", "--expectations", str(path), *extra,
                         str(tmp_path / "cases"))


def test_expected_failure_is_xfailed_with_its_reason(tmp_path: Path) -> None:
    write_cases(tmp_path)
    run = run_pytest(tmp_path, "t/fails: {status: FAIL, reason: reads pang not pong}\n")
    assert run.returncode == 0, run.stdout
    assert "1 passed, 1 xfailed" in run.stdout
    assert "FAIL: reads pang not pong" in run.stdout


def test_unexpected_pass_fails_the_run(tmp_path: Path, pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_cases(tmp_path)
    run = run_here(tmp_path, pytester, monkeypatch,
                   "t/fails: {status: FAIL, reason: r}\n"
                   "t/passes: {status: FAIL, reason: thought broken}\n")
    assert run.returncode == 1
    assert "XPASS(strict)" in run.stdout and "thought broken" in run.stdout


def test_other_status_than_expected_fails(tmp_path: Path, pytester: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    write_cases(tmp_path)
    run = run_here(tmp_path, pytester, monkeypatch, "t/fails: {status: TIMEOUT, reason: r}\n")
    assert run.returncode == 1
    assert "expected TIMEOUT" in run.stdout and "got FAIL" in run.stdout


def test_update_mode_rewrites_the_file(tmp_path: Path, pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    write_cases(tmp_path)
    run = run_here(tmp_path, pytester, monkeypatch, "t/passes: {status: FAIL, reason: stale}\n",
                   "--update-expectations")
    assert "wrote" in run.stdout, run.stdout
    written = exp.load(tmp_path / "expectations.yaml")
    assert list(written) == ["t/fails"]
    assert written["t/fails"].status is Status.FAIL
    assert written["t/fails"].reason == "TODO"
    assert "need review (reason: TODO): t/fails" in run.stdout


def test_update_mode_needs_a_file_for_driver_adapters(tmp_path: Path, pytester: pytest.Pytester,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write_cases(tmp_path)
    run = inprocess_run(
        pytester, monkeypatch, "--update-expectations",
        "--adapter", "driver:python -m sockets_conformance.adapters.reference.stdio_driver",
        str(tmp_path / "cases"))
    assert run.returncode != 0
    assert "name one with --expectations PATH" in run.stderr + run.stdout
