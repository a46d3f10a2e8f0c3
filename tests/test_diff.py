"""`python -m sockets_conformance diff OLD NEW`: the cases whose status changed, regressions
first, with both messages; the run picked out of a file with several; usage errors in one line
with exit status 4."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sockets_conformance import cli
from sockets_conformance.__main__ import main
from sockets_conformance.paths import ROOT

USAGE_ERROR = 4


def _run(name: str, version: str, statuses: dict[str, str],
         expected: dict[str, str] | None = None, adapter: str = "") -> list[str]:
    lines = [json.dumps({"type": "header", "adapter": adapter or name,
                         "implementation": {"name": name, "version": version}})]
    for case, status in statuses.items():
        lines.append(json.dumps({
            "type": "case", "case": case, "status": status, "requirements": [],
            "expected_status": (expected or {}).get(case, "PASS"),
            "message": "" if status == "PASS" else f"{case} {status} in {version}"}))
    return lines


def _file(path: Path, *runs: list[str]) -> str:
    path.write_text("\n".join(line for run in runs for line in run) + "\n")
    return str(path)


OLD = {"a/pass-fail": "PASS", "a/pass-non-strict": "PASS", "a/non-strict-fail": "NON-STRICT",
       "a/fail-pass": "FAIL", "a/fail-timeout": "FAIL", "a/pass-na": "PASS", "a/gone": "PASS",
       "a/same": "FAIL", "a/same-pass": "PASS"}
NEW = {"a/pass-fail": "FAIL", "a/pass-non-strict": "NON-STRICT", "a/non-strict-fail": "FAIL",
       "a/fail-pass": "PASS", "a/fail-timeout": "TIMEOUT", "a/pass-na": "NOT-APPLICABLE",
       "a/added": "ERROR", "a/same": "FAIL", "a/same-pass": "PASS"}


def test_changes_regressions_first_with_both_messages(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    old = _file(tmp_path / "old.jsonl", _run("workerd", "1.1", OLD))
    new = _file(tmp_path / "new.jsonl", _run("workerd", "1.2", NEW, {"a/pass-fail": "FAIL"}))
    assert main(["diff", old, new]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == (f"diff workerd@1.1 ({old}) -> workerd@1.2 ({new}): 8 case(s) in both; "
                      f"3 regressions, 1 fixes, 4 other changes")
    assert out[1:] == [
        "regressions (3):",
        "  a/non-strict-fail: NON-STRICT -> FAIL",
        "    old: a/non-strict-fail NON-STRICT in 1.1",
        "    new: a/non-strict-fail FAIL in 1.2",
        "  a/pass-fail: PASS -> FAIL (known)",        # an expectations entry hides nothing
        "    old: (no message)",
        "    new: a/pass-fail FAIL in 1.2",
        "  a/pass-non-strict: PASS -> NON-STRICT",
        "    old: (no message)",
        "    new: a/pass-non-strict NON-STRICT in 1.2",
        "fixes (1):",
        "  a/fail-pass: FAIL -> PASS",
        "    old: a/fail-pass FAIL in 1.1",
        "    new: (no message)",
        "other changes (4):",
        "  a/added: (no such case) -> ERROR",
        "    old: -",
        "    new: a/added ERROR in 1.2",
        "  a/fail-timeout: FAIL -> TIMEOUT",
        "    old: a/fail-timeout FAIL in 1.1",
        "    new: a/fail-timeout TIMEOUT in 1.2",
        "  a/gone: PASS -> (no such case)",
        "    old: (no message)",
        "    new: -",
        "  a/pass-na: PASS -> NOT-APPLICABLE",
        "    old: (no message)",
        "    new: a/pass-na NOT-APPLICABLE in 1.2",
    ]


def test_no_regression_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _file(tmp_path / "old.jsonl", _run("node", "1", {"a/x": "FAIL", "a/y": "PASS"}))
    new = _file(tmp_path / "new.jsonl", _run("node", "2", {"a/x": "PASS", "a/y": "PASS"}))
    assert main(["diff", old, new]) == 0
    assert "0 regressions, 1 fixes, 0 other changes" in capsys.readouterr().out
    assert main(["diff", old, old]) == 0


def test_a_run_is_picked_out_of_a_file_with_several(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """report/results.jsonl holds one run per implementation: FILE#NAME[@VERSION] or
    --implementation picks one (NAME: the implementation's, or the adapter's); without, the
    error lists the runs present."""
    merged = _file(tmp_path / "results.jsonl", _run("reference", "0.1.0", {"a/x": "PASS"}),
                   _run("workerd", "1.1", {"a/x": "PASS"}),
                   _run("workerd", "1.2", {"a/x": "FAIL"}),
                   _run("@arrowood.dev/socket", "0.2.0", {"a/x": "FAIL"}, adapter="node"))
    assert main(["diff", merged, merged]) == USAGE_ERROR
    err = capsys.readouterr().err.splitlines()
    assert err == [f"diff: {merged} holds 4 runs (reference@0.1.0, workerd@1.1, workerd@1.2, "
                   f"@arrowood.dev/socket@0.2.0 (adapter node)): pick one with "
                   f"{merged}#NAME[@VERSION] or --implementation NAME[@VERSION]"]
    assert main(["diff", f"{merged}#reference", f"{merged}#node"]) == 1
    assert "-> @arrowood.dev/socket@0.2.0" in capsys.readouterr().out
    assert main(["diff", f"{merged}#workerd@1.1", f"{merged}#workerd@1.2"]) == 1
    assert "a/x: PASS -> FAIL" in capsys.readouterr().out
    assert main(["diff", merged, f"{merged}#workerd@1.1", "-i", "reference"]) == 0
    assert "reference@0.1.0" in capsys.readouterr().out
    assert main(["diff", f"{merged}#workerd", merged, "-i", "reference"]) == USAGE_ERROR
    assert capsys.readouterr().err == (f"diff: {merged}: 'workerd' matches 2 runs "
                                       f"(workerd@1.1, workerd@1.2): add @VERSION\n")
    assert main(["diff", f"{merged}#deno", merged]) == USAGE_ERROR
    assert capsys.readouterr().err == (f"diff: {merged} has no run 'deno'; it holds: "
                                       f"reference@0.1.0, workerd@1.1, workerd@1.2, "
                                       f"@arrowood.dev/socket@0.2.0 (adapter node)\n")


@pytest.mark.parametrize(("content", "problem"), [
    ('{"type": "header", "implementation": {"name": "x"}}\n{"type": "case", "case": "a/x",',
     ":2: not a JSON line (Expecting property name enclosed in double quotes, column 32)"),
    ('{"type": "header"}\n\n{"type": "case", "status": "PASS"}\n', ":3: a case record without "
                                                                    "case"),
    ('{"type": "case", "case": "a/x", "status": "PASS"}\n', ":1: a case record before any "
                                                           "header"),
    ("[1, 2]\n", ':1: not a results record (no "type": header or case)'),
    ("", ": holds no run (is it a results file?)"),
], ids=["truncated", "no-case-id", "no-header", "not-a-record", "empty"])
def test_a_malformed_file_is_one_line_naming_file_and_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, problem: str) -> None:
    good = _file(tmp_path / "good.jsonl", _run("node", "1", {"a/x": "PASS"}))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    assert main(["diff", good, str(bad)]) == USAGE_ERROR
    assert capsys.readouterr().err == f"diff: {bad}{problem}\n"


def test_a_run_that_did_not_run_cannot_be_compared(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    good = _file(tmp_path / "good.jsonl", _run("node", "1", {"a/x": "PASS"}))
    skipped = tmp_path / "skipped.jsonl"
    skipped.write_text(json.dumps({"type": "header", "implementation": {"name": "node"},
                                   "unavailable": "node is not installed"}) + "\n")
    assert main(["diff", good, str(skipped)]) == USAGE_ERROR
    assert capsys.readouterr().err == f"diff: {skipped}: node did not run (node is not installed)\n"
    assert main(["diff", good, str(tmp_path / "missing.jsonl")]) == USAGE_ERROR
    assert capsys.readouterr().err == f"diff: {tmp_path / 'missing.jsonl'}: no such file\n"


def test_the_commands(tmp_path: Path) -> None:
    """`python -m sockets_conformance diff` and `sockets-conformance diff` (the forwarding
    list); a wrong command line is one line and 4, not argparse's usage text and 2."""
    old = _file(tmp_path / "old.jsonl", _run("node", "1", {"a/x": "PASS"}))
    new = _file(tmp_path / "new.jsonl", _run("node", "2", {"a/x": "FAIL"}))
    done = subprocess.run([sys.executable, "-m", "sockets_conformance", "diff", old, new],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "a/x: PASS -> FAIL" in done.stdout, done.stderr
    assert cli.main(["diff", old, old]) == 0
    wrong = subprocess.run([sys.executable, "-m", "sockets_conformance", "diff", old],
                           cwd=ROOT, capture_output=True, text=True, check=False)
    assert wrong.returncode == USAGE_ERROR
    assert wrong.stderr == ("python -m sockets_conformance diff: the following arguments are "
                            "required: NEW\n")


def test_matrix_says_a_malformed_file_in_one_line(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`matrix` reads its files with the same checking reader as `diff`: no traceback."""
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"type": "header", "implementation": {"name": "node"}}\nnot json\n')
    assert main(["matrix", str(bad), "--out", str(tmp_path / "out")]) == USAGE_ERROR
    assert capsys.readouterr().err == (f"matrix: {bad}:2: not a JSON line (Expecting value, "
                                       f"column 1)\n")
    assert not (tmp_path / "out").exists()
