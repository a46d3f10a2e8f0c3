"""The conformance matrix: requirements (grouped by area) x implementations.

Built from results files alone (harness/reports/results_file.py), so a matrix can be made from runs
on different machines. A cell shows the worst outcome among the cases that cite the
requirement and links to that case's entry; an implementation that could not run is a
column that says why. Each column carries its conformance score (reports/scores.py), and a
cell that is a known divergence shows the expectation's reason: as the cell's title and as a
numbered note under the table (HTML), as a footnote (Markdown), because "expected FAIL"
alone does not tell a runtime author what to fix.

Columns are keyed on the implementation's name, and on name and version when one name comes
with several versions (three workerd releases are three columns, "workerd 1.20261117.1").
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sockets_conformance.model.requirements import catalogue
from sockets_conformance.reports import scores
from sockets_conformance.reports.results_file import read_runs

# Worst first: the cell shows the first of these that any covering case has.
ORDER = ["FAIL", "TIMEOUT", "ERROR", "XFAIL", "NON-STRICT", "PASS", "N-A"]
CSS = {"FAIL": "#f8b4b4", "TIMEOUT": "#f8b4b4", "ERROR": "#f4a261", "XFAIL": "#ffe08a",
       "NON-STRICT": "#fff3b0", "PASS": "#b7e4c7", "N-A": "#e5e5e5"}
SUMMARY_ORDER = ["FAIL", "TIMEOUT", "ERROR", "expected FAIL", "expected TIMEOUT",
                 "expected ERROR", "expected NON-STRICT", "NON-STRICT", "PASS", "N-A"]
SCORE_RULE = ("conformance: per level (a case's level is the strongest it cites), the cases "
              "passed out of those that apply (NOT-APPLICABLE excluded). Expectations do not "
              "change it: a known divergence counts as not passed; a NON-STRICT counts as "
              "passed only when just an error message differs, not when a SHOULD or MAY "
              "behaviour is broken.")
NO_REASON = "the results file records no reason for this expectation"

Entry = tuple[str, str, dict[str, Any]]   # (cell status, case id, record)


def cell_status(record: dict[str, Any]) -> str:
    status = record["status"]
    if status == "NOT-APPLICABLE":
        return "N-A"
    if status != "PASS" and record.get("expected_status") == status:
        return "XFAIL"  # a known, recorded divergence
    return status


def _label(status: str, record: dict[str, Any]) -> str:
    """What a cell says: the status, or for a known divergence 'expected <its status>'."""
    return f"expected {record.get('status', 'FAIL')}" if status == "XFAIL" else status


@dataclass
class Column:
    name: str
    version: str = ""
    unavailable: str = ""
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: str = ""   # unique among the matrix's columns; load_columns sets it

    def __post_init__(self) -> None:
        self.key = self.key or self.name

    @property
    def score(self) -> scores.Score:
        return scores.score(self.cases.values())

    def summary(self) -> str:
        if self.unavailable:
            return f"{self.name}: not run ({self.unavailable})"
        counts = Counter(_label(cell_status(r), r) for r in self.cases.values())
        order = sorted(counts, key=lambda s: (SUMMARY_ORDER.index(s)
                                              if s in SUMMARY_ORDER else len(SUMMARY_ORDER), s))
        parts = [f"{counts[s]} {s}" for s in order]
        name = f"{self.name} {self.version}" if self.version else self.name
        return f"{name}: {len(self.cases)} cases: {', '.join(parts)}"

    def headline(self, named: bool = True) -> str:
        """'workerd 1.20261117.1: MUST 120/130 (92%) · SHOULD 20/25 (80%) · MAY 2/3 (66%)',
        with a note of the passed cases whose message differed; without the key if not
        `named`."""
        name = f"{self.key}: " if named else ""
        if self.unavailable:
            return f"{name}not run ({self.unavailable})"
        note = self.score.note()
        return f"{name}{self.score.text()}" + (f"; {note}" if note else "")


def _keys(columns: list[Column]) -> None:
    """Name + version where a name comes with several versions; a number where even that
    repeats (the same release run twice), so no two columns share a key or an anchor."""
    versions: dict[str, set[str]] = {}
    for col in columns:
        versions.setdefault(col.name, set()).add(col.version)
    seen: Counter[str] = Counter()
    for col in columns:
        key = (f"{col.name} {col.version}" if len(versions[col.name]) > 1 and col.version
               else col.name)
        seen[key] += 1
        col.key = key if seen[key] == 1 else f"{key} ({seen[key]})"


def load_columns(paths: list[Path]) -> list[Column]:
    """One column per run; a merged results file (several headers) gives several."""
    columns = []
    for path in paths:
        for header, cases in read_runs(path):
            impl = header.get("implementation") or {}
            col = Column(impl.get("name", path.stem), impl.get("version", ""),
                         header.get("unavailable", ""))
            col.cases = {c["case"]: c for c in cases}
            columns.append(col)
    _keys(columns)
    return columns


def _rows(columns: list[Column]) -> dict[str, dict[str, list[Entry]]]:
    """requirement -> column key -> [(cell status, case id, record)] for the cases citing it."""
    rows: dict[str, dict[str, list[Entry]]] = {rid: {} for rid in catalogue()}
    for col in columns:
        for case_id, rec in col.cases.items():
            for rid in rec.get("requirements", []):
                rows.setdefault(rid, {}).setdefault(col.key, []).append(
                    (cell_status(rec), case_id, rec))
    return rows


def _worst(entries: list[Entry]) -> Entry:
    return min(entries, key=lambda e: ORDER.index(e[0]))


@dataclass(frozen=True)
class Cell:
    status: str                 # a status of ORDER, "not run" or "no case"
    case_id: str = ""           # the case to link ("" for not run / no case)
    count: int = 0              # how many cases cite the requirement
    record: dict[str, Any] = field(default_factory=dict)
    notes: tuple[int, ...] = ()  # numbers of the known-divergence notes it refers to

    @property
    def label(self) -> str:
        return _label(self.status, self.record)


class Notes:
    """The numbered known-divergence notes: one per (column, reason, link), numbered in the
    order the matrix first shows them, each with the cases it explains."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str], list[str]] = {}

    def number(self, col: Column, record: dict[str, Any], case_id: str) -> int:
        key = (col.key, record.get("expectation_reason") or NO_REASON,
               record.get("expectation_link") or "")
        cases = self.entries.setdefault(key, [])
        if case_id not in cases:
            cases.append(case_id)
        return list(self.entries).index(key) + 1


def _cell(col: Column, per_col: dict[str, list[Entry]], notes: Notes) -> Cell:
    if col.unavailable:
        return Cell("not run")
    if col.key not in per_col:
        return Cell("no case")
    entries = per_col[col.key]
    status, case_id, record = _worst(entries)
    numbers: tuple[int, ...] = ()
    if status == "XFAIL":  # every known divergence behind the cell, not only the linked one
        numbers = tuple(sorted({notes.number(col, r, c)
                                for s, c, r in entries if s == "XFAIL"}))
    return Cell(status, case_id, len(entries), record, numbers)


def _anchor(col: str, case_id: str) -> str:
    return "case-" + f"{col}-{case_id}".replace("/", "-").replace(" ", "-")


def _reason(record: dict[str, Any]) -> str:
    return record.get("expectation_reason") or NO_REASON


def _md_text(text: str) -> str:
    """A table cell or footnote in Markdown: one line, no column breaks."""
    return " ".join(text.split()).replace("|", "\\|")


def markdown(columns: list[Column]) -> str:
    reqs = catalogue()
    notes = Notes()
    out = ["# Conformance matrix", ""]
    out += [f"- {c.summary()}" + ("" if c.unavailable else f" — {c.headline(named=False)}")
            for c in columns]
    out += ["", f"_{SCORE_RULE}_", ""]
    out.append("| requirement | level | " + " | ".join(c.key for c in columns) + " |")
    out.append("| --- | --- | " + " | ".join("---" for _ in columns) + " |")
    out.append("| **conformance** | | " + " | ".join(
        "not run" if c.unavailable else c.score.text("<br>") for c in columns) + " |")
    group = None
    for rid, per_col in _rows(columns).items():
        g = rid.split(".", 1)[0]
        if g != group:
            group = g
            out.append(f"| **{g}** | | " + " | ".join("" for _ in columns) + " |")
        level = reqs[rid].level if rid in reqs else "?"
        cells = []
        for col in columns:
            cell = _cell(col, per_col, notes)
            if not cell.case_id:
                cells.append(cell.status)
                continue
            cells.append(f"[{cell.label}](matrix.html#{_anchor(col.key, cell.case_id)})"
                         + "".join(f"[^{n}]" for n in cell.notes)
                         + (f" ({cell.count} cases)" if cell.count > 1 else ""))
        out.append(f"| {rid} | {level} | " + " | ".join(cells) + " |")
    if notes.entries:
        out += ["", "## Known divergences", ""]
        for n, ((key, reason, link), cases) in enumerate(notes.entries.items(), 1):
            where = f" ({link})" if link else ""
            out.append(f"[^{n}]: {_md_text(key)}, {', '.join(cases)}: "
                       f"{_md_text(reason)}{where}")
    return "\n".join(out) + "\n"


def _html_cell(col: Column, cell: Cell) -> str:
    e = html.escape
    if not cell.case_id:
        css = "na" if cell.status == "not run" else "none"
        return f'<td class="{css}">{cell.status}</td>'
    more = f" <small>({cell.count} cases)</small>" if cell.count > 1 else ""
    if cell.notes:
        title = f"{cell.case_id}: known divergence: {_reason(cell.record)}"
    else:
        title = f"{cell.case_id}: {cell.record.get('message') or cell.status}"
    refs = "".join(f'<sup><a href="#note-{n}">[{n}]</a></sup>' for n in cell.notes)
    return (f'<td style="background:{CSS[cell.status]}" title="{e(title)}"><a href="#'
            f'{_anchor(col.key, cell.case_id)}">{e(cell.label)}</a>{refs}{more}</td>')


def _html_notes(notes: Notes) -> str:
    e = html.escape
    items = []
    for n, ((key, reason, link), cases) in enumerate(notes.entries.items(), 1):
        where = f' <a href="{e(link)}">{e(link)}</a>' if link else ""
        items.append(f'<li id="note-{n}" value="{n}"><b>{e(key)}</b>: {e(reason)}{where}'
                     f"<br><small>{e(', '.join(cases))}</small></li>")
    if not items:
        return ""
    return f'<h2>Known divergences</h2>\n<ol id="notes">{"".join(items)}</ol>\n'


def _version(col: Column) -> str:
    """The version under a column's name, unless its key already says it."""
    return "" if col.key.startswith(f"{col.name} {col.version}") else col.version


def html_page(columns: list[Column]) -> str:
    reqs = catalogue()
    e = html.escape
    notes = Notes()
    head = "".join(f"<th>{e(c.key)}<br><small>{e(c.unavailable or _version(c))}</small></th>"
                   for c in columns)
    score_row = "".join(
        '<td class="na">not run</td>' if c.unavailable else
        f'<td class="score">{"<br>".join(e(s.text()) for s in c.score.levels)}</td>'
        for c in columns)
    body = []
    group = None
    for rid, per_col in _rows(columns).items():
        g = rid.split(".", 1)[0]
        if g != group:
            group = g
            body.append(f'<tr class="group"><th colspan="{len(columns) + 2}">{e(g)}</th></tr>')
        req = reqs.get(rid)
        cells = "".join(_html_cell(col, _cell(col, per_col, notes)) for col in columns)
        text = e(req.text) if req else ""
        level = req.level if req else "?"
        body.append(f'<tr><td><code>{e(rid)}</code><br><small>{text}</small></td>'
                    f"<td>{level}</td>{cells}</tr>")
    details = []
    for col in columns:
        for case_id, rec in sorted(col.cases.items()):
            status = cell_status(rec)
            why = rec.get("expectation_reason") or rec.get("message") or ""
            link = rec.get("expectation_link") or ""
            where = f' <a href="{e(link)}">source</a>' if status == "XFAIL" and link else ""
            details.append(
                f'<tr id="{_anchor(col.key, case_id)}"><td>{e(col.key)}</td>'
                f'<td><a href="../cases/{e(case_id)}.yaml">{e(case_id)}</a></td>'
                f'<td style="background:{CSS[status]}">{e(_label(status, rec))}</td>'
                f"<td>{e(why)}{where}</td></tr>")
    summaries = "".join(f"<li><b>{e(c.headline())}</b><br><small>{e(c.summary())}</small></li>"
                        for c in columns)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Conformance matrix</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}}
tr.group th{{background:#eef;font-size:1.05em}}
tr.score td,tr.score th{{background:#f3f6ff;white-space:nowrap}}
td.na,td.none{{color:#777;background:#f5f5f5}}
td[title]{{cursor:help}}
small{{color:#555}}
</style></head><body>
<h1>Conformance matrix: connect() from cloudflare:sockets</h1>
<ul id="summary">{summaries}</ul>
<p><small>{e(SCORE_RULE)}</small></p>
<table id="matrix"><thead><tr><th>requirement</th><th>level</th>{head}</tr>
<tr class="score"><th>conformance</th><th>passed / applicable</th>{score_row}</tr></thead>
<tbody>{''.join(body)}</tbody></table>
{_html_notes(notes)}<h2>Cases</h2>
<table id="cases"><thead><tr><th>implementation</th><th>case</th><th>status</th>
<th>reason or message</th></tr></thead><tbody>{''.join(details)}</tbody></table>
</body></html>
"""


def write(paths: list[Path], out_dir: Path) -> list[Column]:
    columns = load_columns(paths)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "matrix.md").write_text(markdown(columns), encoding="utf-8")
    (out_dir / "matrix.html").write_text(html_page(columns), encoding="utf-8")
    return columns
