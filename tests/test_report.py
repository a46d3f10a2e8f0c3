"""Reports: the matrix agrees with the results it is made from and links every failure;
the Allure page renders offline without a single network request."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

from sockets_conformance.model.requirements import catalogue
from sockets_conformance.paths import ROOT
from sockets_conformance.reports import build as reportgen
from sockets_conformance.reports import matrix

from tests import browser
from tests.needs import needs_chromium, needs_node, needs_npm_part


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


@needs_chromium()
@needs_node()   # the Allure renderer is an npm package, run by node
@needs_npm_part(reportgen.ALLURE_DIR, "node_modules/.bin/allure")
def test_allure_report_renders_offline(tmp_path: Path) -> None:
    results = tmp_path / "allure-results"
    cases = ["cases/connect/object-form.yaml", "cases/half-open/allow-true-writable-open.yaml"]
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          *cases,
                          "--adapter=python:sockets_conformance.gates.mutants:half_open_ignored",
                          f"--alluredir={results}"], cwd=ROOT, check=False,
                         capture_output=True, text=True)
    entries = [json.loads(p.read_text()) for p in results.glob("*-result.json")]
    failures = [e for e in entries if e["status"] == "failed"]
    assert failures, run.stdout[-3000:] + run.stderr[-3000:]
    failed = failures[0]
    # The failing entry explains itself: the timeline with the failing step, the bytes on
    # the wire, and the requirement it breaks (as a story label and in the description).
    names = {a["name"]: a["source"] for a in failed["attachments"]}
    timeline = (results / names["timeline"]).read_text()
    assert "✗" in timeline and "expected:" in timeline and "actual:" in timeline
    assert any(n.startswith("wire peer ") for n in names)
    stories = {lb["value"] for lb in failed["labels"] if lb["name"] == "story"}
    assert "half-open.allow-true.writable-open" in stories
    impl = {p["name"]: p["value"] for p in failed["parameters"]}["implementation"]
    assert "mutant:half-open-ignored 0.1.0" in impl
    index = reportgen.allure_html(tmp_path)
    assert reportgen.remote_references(tmp_path / "allure") == []
    seen = asyncio.run(browser.visit(browser.file_url(index),
                                     "document.body.innerText.includes('half-open')"))
    remote = [u for u in seen.requests if not browser.is_local(u)]
    assert remote == [], f"the report made network requests: {remote}"
    assert "connect" in seen.text and "half-open" in seen.text
