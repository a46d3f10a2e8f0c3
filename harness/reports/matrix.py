"""The conformance matrix: requirements (grouped by area) x implementations.

Built from results files alone (harness/reports/results_file.py), so a matrix can be made from runs
on different machines. A cell shows the worst outcome among the cases that cite the
requirement and links to that case's entry; an implementation that could not run is a
column that says why.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sockets_conformance.model.requirements import catalogue
from sockets_conformance.reports.results_file import read_runs

# Worst first: the cell shows the first of these that any covering case has.
ORDER = ["FAIL", "TIMEOUT", "ERROR", "XFAIL", "NON-STRICT", "PASS", "N-A"]
CSS = {"FAIL": "#f8b4b4", "TIMEOUT": "#f8b4b4", "ERROR": "#f4a261", "XFAIL": "#ffe08a",
       "NON-STRICT": "#fff3b0", "PASS": "#b7e4c7", "N-A": "#e5e5e5"}


def _label(status: str) -> str:
    return "expected FAIL" if status == "XFAIL" else status


def cell_status(record: dict[str, Any]) -> str:
    status = record["status"]
    if status == "NOT-APPLICABLE":
        return "N-A"
    if status != "PASS" and record.get("expected_status") == status:
        return "XFAIL"  # a known, recorded divergence
    return status


@dataclass
class Column:
    name: str
    version: str = ""
    unavailable: str = ""
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.name

    def summary(self) -> str:
        if self.unavailable:
            return f"{self.name}: not run ({self.unavailable})"
        counts = Counter(cell_status(r) for r in self.cases.values())
        parts = [f"{counts[s]} {_label(s)}" for s in ORDER if counts[s]]
        return f"{self.name} {self.version}: {len(self.cases)} cases: {', '.join(parts)}"


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
    return columns


def _rows(columns: list[Column]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """requirement -> column -> [(status, case id)] for the cases citing it."""
    rows: dict[str, dict[str, list[tuple[str, str]]]] = {rid: {} for rid in catalogue()}
    for col in columns:
        for case_id, rec in col.cases.items():
            for rid in rec.get("requirements", []):
                rows.setdefault(rid, {}).setdefault(col.key, []).append(
                    (cell_status(rec), case_id))
    return rows


def _worst(entries: list[tuple[str, str]]) -> tuple[str, str]:
    return min(entries, key=lambda e: ORDER.index(e[0]))


def _cell(col: Column, per_col: dict[str, list[tuple[str, str]]]) -> tuple[str, str, int]:
    """One cell: ("not run" | "no case" | status, the case to link, how many cases)."""
    if col.unavailable:
        return "not run", "", 0
    if col.key not in per_col:
        return "no case", "", 0
    status, case_id = _worst(per_col[col.key])
    return status, case_id, len(per_col[col.key])


def _anchor(col: str, case_id: str) -> str:
    return "case-" + f"{col}-{case_id}".replace("/", "-").replace(" ", "-")


def markdown(columns: list[Column]) -> str:
    reqs = catalogue()
    out = ["# Conformance matrix", ""]
    out += [f"- {c.summary()}" for c in columns] + [""]
    out.append("| requirement | level | " + " | ".join(c.name for c in columns) + " |")
    out.append("| --- | --- | " + " | ".join("---" for _ in columns) + " |")
    group = None
    for rid, per_col in _rows(columns).items():
        g = rid.split(".", 1)[0]
        if g != group:
            group = g
            out.append(f"| **{g}** | | " + " | ".join("" for _ in columns) + " |")
        level = reqs[rid].level if rid in reqs else "?"
        cells = []
        for col in columns:
            status, case_id, n = _cell(col, per_col)
            if not case_id:
                cells.append(status)
                continue
            cells.append(f"[{_label(status)}](matrix.html#{_anchor(col.key, case_id)})"
                         + (f" ({n} cases)" if n > 1 else ""))
        out.append(f"| {rid} | {level} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def html_page(columns: list[Column]) -> str:
    reqs = catalogue()
    e = html.escape
    head = "".join(f"<th>{e(c.name)}<br><small>{e(c.version or c.unavailable)}</small></th>"
                   for c in columns)
    body = []
    group = None
    for rid, per_col in _rows(columns).items():
        g = rid.split(".", 1)[0]
        if g != group:
            group = g
            body.append(f'<tr class="group"><th colspan="{len(columns) + 2}">{e(g)}</th></tr>')
        req = reqs.get(rid)
        cells = []
        for col in columns:
            status, case_id, n = _cell(col, per_col)
            if not case_id:
                css = "na" if status == "not run" else "none"
                cells.append(f'<td class="{css}">{status}</td>')
                continue
            more = f" <small>({n} cases)</small>" if n > 1 else ""
            cells.append(f'<td style="background:{CSS[status]}"><a href="#'
                         f'{_anchor(col.key, case_id)}">{_label(status)}</a>{more}</td>')
        text = e(req.text) if req else ""
        level = req.level if req else "?"
        body.append(f'<tr><td><code>{e(rid)}</code><br><small>{text}</small></td>'
                    f"<td>{level}</td>{''.join(cells)}</tr>")
    details = []
    for col in columns:
        for case_id, rec in sorted(col.cases.items()):
            status = cell_status(rec)
            label = _label(status)
            why = rec.get("expectation_reason") or rec.get("message") or ""
            details.append(
                f'<tr id="{_anchor(col.key, case_id)}"><td>{e(col.name)}</td>'
                f'<td><a href="../cases/{e(case_id)}.yaml">{e(case_id)}</a></td>'
                f'<td style="background:{CSS[status]}">{label}</td><td>{e(why)}</td></tr>')
    summaries = "".join(f"<li>{e(c.summary())}</li>" for c in columns)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Conformance matrix</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}
table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}}
tr.group th{{background:#eef;font-size:1.05em}}
td.na,td.none{{color:#777;background:#f5f5f5}}
small{{color:#555}}
</style></head><body>
<h1>Conformance matrix: connect() from cloudflare:sockets</h1>
<ul id="summary">{summaries}</ul>
<table id="matrix"><thead><tr><th>requirement</th><th>level</th>{head}</tr></thead>
<tbody>{''.join(body)}</tbody></table>
<h2>Cases</h2>
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
