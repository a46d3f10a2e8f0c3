"""The matrix states each implementation's conformance score, shows why a known divergence
is expected, and gives every release of one implementation its own column."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from sockets_conformance.model.requirements import catalogue
from sockets_conformance.reports import matrix

REASON = "close() only ends the writable side | so the read stays pending"
LINK = "https://example.invalid/src/index.ts#L90"


def _lines(header: dict, cases: list[dict]) -> list[str]:
    return [json.dumps({"type": "header", **header})] + [
        json.dumps({"type": "case", **c}) for c in cases]


def _write(path: Path, *runs: list[str]) -> Path:
    path.write_text("\n".join(line for run in runs for line in run) + "\n")
    return path


def _case(case: str, status: str, reqs: list[str], expected: str = "PASS",
          reason: str = "", link: str = "") -> dict:
    return {"case": case, "status": status, "expected_status": expected, "requirements": reqs,
            "message": f"{case} says {status}", "expectation_reason": reason,
            "expectation_link": link, "duration": 0.01}


def _level(level: str, n: int) -> list[str]:
    return [rid for rid, req in catalogue().items() if req.level == level][:n]


class _Page(HTMLParser):
    """Each <td> of the matrix table with its title and text; the notes by id."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self.notes: dict[str, str] = {}
        self.heads: list[str] = []
        self._in: list[str] = []
        self._text: list[str] = []
        self._title = ""
        self._note = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self._in.append(a.get("id") or "")
        if self._in and self._in[-1] == "matrix" and tag in ("td", "th"):
            self._title, self._text = a.get("title") or "", []
        if tag == "li" and (a.get("id") or "").startswith("note-"):
            self._note, self._text = a["id"] or "", []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in.pop()
        elif self._in and self._in[-1] == "matrix" and tag == "td":
            self.cells.append((self._title, "".join(self._text)))
        elif self._in and self._in[-1] == "matrix" and tag == "th":
            self.heads.append("".join(self._text))
        elif tag == "li" and self._note:
            self.notes[self._note], self._note = "".join(self._text), ""

    def handle_data(self, data: str) -> None:
        self._text.append(data)


def test_each_column_states_its_conformance_score(tmp_path: Path) -> None:
    must, should = _level("MUST", 3), _level("SHOULD", 1)
    results = _write(tmp_path / "r.jsonl", _lines({"implementation": {"name": "impl"}}, [
        _case("x/pass", "PASS", [must[0]]),
        _case("x/known", "FAIL", [must[1]], expected="FAIL", reason=REASON),
        _case("x/na", "NOT-APPLICABLE", [must[2]]),
        _case("x/should", "PASS", [should[0], must[0]]),    # a MUST case: the strongest
    ]))
    columns = matrix.write([results], tmp_path)
    assert columns[0].headline() == "impl: MUST 2/3 (66%) · SHOULD 0/0 · MAY 0/0"
    md = (tmp_path / "matrix.md").read_text()
    assert "| **conformance** | | MUST 2/3 (66%)<br>SHOULD 0/0<br>MAY 0/0 |" in md
    page = _Page()
    page.feed((tmp_path / "matrix.html").read_text())
    assert page.cells[0][1] == "MUST 2/3 (66%)SHOULD 0/0MAY 0/0"   # the score row, first


def test_a_known_divergence_shows_its_reason(tmp_path: Path) -> None:
    rid, other = _level("MUST", 2)
    results = _write(tmp_path / "r.jsonl", _lines({"implementation": {"name": "impl"}}, [
        _case("x/known", "FAIL", [rid], expected="FAIL", reason=REASON, link=LINK),
        _case("x/reworded", "NON-STRICT", [other], expected="NON-STRICT",
              reason="another reason"),
        _case("x/fails", "FAIL", [other]),
    ]))
    matrix.write([results], tmp_path)
    page = _Page()
    page.feed((tmp_path / "matrix.html").read_text())
    known = [c for c in page.cells if c[1].startswith("expected FAIL")]
    assert known == [(f"x/known: known divergence: {REASON}", "expected FAIL[1]")]
    assert page.notes == {"note-1": f"impl: {REASON} {LINK}x/known"}
    # a cell whose worst case is an unexpected FAIL says that case's message instead
    assert ("x/fails: x/fails says FAIL", "FAIL (2 cases)") in page.cells
    md = (tmp_path / "matrix.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith(f"| {rid} |"))
    assert row.endswith("[expected FAIL](matrix.html#case-impl-x-known)[^1] |")
    escaped = REASON.replace("|", "\\|")
    assert f"[^1]: impl, x/known: {escaped} ({LINK})" in md.splitlines()


def test_an_expected_non_strict_is_labelled_as_such(tmp_path: Path) -> None:
    rid = _level("SHOULD", 1)[0]
    results = _write(tmp_path / "r.jsonl", _lines({"implementation": {"name": "impl"}}, [
        _case("x/reworded", "NON-STRICT", [rid], expected="NON-STRICT", reason="wording")]))
    columns = matrix.write([results], tmp_path)
    assert columns[0].summary() == "impl: 1 cases: 1 expected NON-STRICT"
    assert "[expected NON-STRICT](matrix.html#case-impl-x-reworded)[^1]" in (
        tmp_path / "matrix.md").read_text()


def test_releases_of_one_implementation_are_columns_of_their_own(tmp_path: Path) -> None:
    """Three workerd releases in one merged results file (as report/ writes it) and one
    release run twice: five columns, five anchors, no cell overwritten by another run."""
    rid = _level("MUST", 1)[0]

    def run(version: str, status: str) -> list[str]:
        return _lines({"implementation": {"name": "workerd", "version": version}},
                      [_case("x/one", status, [rid])])

    merged = _write(tmp_path / "results.jsonl", run("1.20251120.0", "FAIL"),
                    run("1.20260520.0", "TIMEOUT"), run("1.20261117.1", "PASS"))
    again = _write(tmp_path / "again.jsonl", run("1.20261117.1", "ERROR"),
                   _lines({"implementation": {"name": "reference", "version": "0.1.0"}},
                          [_case("x/one", "PASS", [rid])]))
    columns = matrix.write([merged, again], tmp_path)
    assert [c.key for c in columns] == [
        "workerd 1.20251120.0", "workerd 1.20260520.0", "workerd 1.20261117.1",
        "workerd 1.20261117.1 (2)", "reference"]
    md = (tmp_path / "matrix.md").read_text()
    assert ("| requirement | level | workerd 1.20251120.0 | workerd 1.20260520.0 | "
            "workerd 1.20261117.1 | workerd 1.20261117.1 (2) | reference |") in md
    row = next(line for line in md.splitlines() if line.startswith(f"| {rid} |"))
    assert re.findall(r"\[(\w+)\]", row) == ["FAIL", "TIMEOUT", "PASS", "ERROR", "PASS"]
    html = (tmp_path / "matrix.html").read_text()
    anchors = re.findall(r'<tr id="(case-[^"]+)"', html)
    assert len(anchors) == len(set(anchors)) == 5
    page = _Page()
    page.feed(html)
    assert "workerd 1.20251120.0" in page.heads and "reference0.1.0" in page.heads
