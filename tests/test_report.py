"""Reports: the matrix agrees with the results it is made from and links every failure;
the Allure page renders offline without a single network request."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sockets_conformance import matrix, reportgen
from sockets_conformance.paths import ROOT
from sockets_conformance.requirements import catalogue

from tests import browser


def _write(path: Path, header: dict, cases: list[dict]) -> Path:
    lines = [json.dumps({"type": "header", **header})]
    lines += [json.dumps({"type": "case", **c}) for c in cases]
    path.write_text("\n".join(lines) + "\n")
    return path


def _case(case: str, status: str, reqs: list[str], expected: str = "PASS") -> dict:
    return {"case": case, "status": status, "expected_status": expected, "requirements": reqs,
            "message": f"{case} {status}", "duration": 0.01}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tables: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "a" and (a.get("href") or "").startswith("#"):
            self.links.append((a["href"] or "")[1:])
        if tag == "table":
            self.tables.append(a.get("id") or "")


def test_matrix_structure_and_counts(tmp_path: Path) -> None:
    rids = list(catalogue())[:3]
    a = _write(tmp_path / "a.jsonl", {"implementation": {"name": "impl-a", "version": "1"}}, [
        _case("x/one", "PASS", [rids[0]]),
        _case("x/two", "FAIL", [rids[0], rids[1]]),
        _case("x/three", "FAIL", [rids[2]], expected="FAIL"),
        _case("x/four", "NOT-APPLICABLE", [rids[2]]),
    ])
    b = _write(tmp_path / "b.jsonl", {"implementation": {"name": "impl-b"},
                                      "unavailable": "node is not installed"}, [])
    columns = matrix.write([a, b], tmp_path)
    assert columns[0].summary() == "impl-a 1: 4 cases: 1 FAIL, 1 expected FAIL, 1 PASS, 1 N-A"
    assert columns[1].summary() == "impl-b: not run (node is not installed)"
    page = (tmp_path / "matrix.html").read_text()
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.tables == ["matrix", "cases"]
    assert set(parsed.links) <= parsed.ids, "every cell links to an entry that exists"
    # the worst outcome wins: rids[0] has a PASS and a FAIL case -> FAIL, linked to x/two
    assert "case-impl-a-x-two" in parsed.links
    assert page.count("not run") >= len(catalogue())
    md = (tmp_path / "matrix.md").read_text()
    assert "- impl-a 1: 4 cases:" in md and "| impl-a | impl-b |" in md
    link = "[FAIL](matrix.html#case-impl-a-x-two)"
    fail_rows = [line for line in md.splitlines() if link in line]
    assert {line.split("|")[1].strip() for line in fail_rows} == {rids[0], rids[1]}


def test_remote_reference_check_finds_scripts_not_links(tmp_path: Path) -> None:
    (tmp_path / "ok.html").write_text('<a href="https://example.invalid/spec">source</a>')
    (tmp_path / "bad.html").write_text('<script async src="https://www.googletagmanager.com/x">'
                                       "</script>")
    found = reportgen.remote_references(tmp_path)
    assert found and all(f.startswith("bad.html") for f in found)


def _need(tool_ok: bool, what: str) -> None:
    """Locally a missing tool skips with its reason; in CI it is a failure (CI installs it)."""
    if not tool_ok:
        if os.environ.get("CI"):
            pytest.fail(f"{what} is missing in CI")
        pytest.skip(f"{what} is not installed here")


def test_allure_report_renders_offline(tmp_path: Path) -> None:
    _need(browser.CHROMIUM is not None, "chromium")
    _need((reportgen.ALLURE_DIR / "node_modules" / ".bin" / "allure").exists(),
          "harness/allure/node_modules (npm ci --prefix harness/allure)")
    results = tmp_path / "allure-results"
    cases = ["cases/connect/object-form.yaml", "cases/half-open/allow-true-writable-open.yaml"]
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *cases,
                    "--adapter=python:tests.variants:ignores_allow_half_open",
                    f"--alluredir={results}"], cwd=ROOT, check=False, capture_output=True)
    entries = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    failed = next(e for e in entries if e["status"] == "failed")
    # The failing entry explains itself: the timeline with the failing step, the bytes on
    # the wire, and the requirement it breaks (as a story label and in the description).
    names = {a["name"]: a["source"] for a in failed["attachments"]}
    timeline = (results / names["timeline"]).read_text()
    assert "✗" in timeline and "expected:" in timeline and "actual:" in timeline
    assert any(n.startswith("wire peer ") for n in names)
    stories = {lb["value"] for lb in failed["labels"] if lb["name"] == "story"}
    assert "half-open.allow-true.writable-open" in stories
    impl = {p["name"]: p["value"] for p in failed["parameters"]}["implementation"]
    assert "ignores-allow-half-open 0.1.0" in impl
    index = reportgen.allure_html(tmp_path)
    assert reportgen.remote_references(tmp_path / "allure") == []
    seen = asyncio.run(browser.visit(browser.file_url(index),
                                     "document.body.innerText.includes('half-open')"))
    remote = [u for u in seen.requests if not browser.is_local(u)]
    assert remote == [], f"the report made network requests: {remote}"
    assert "connect" in seen.text and "half-open" in seen.text
