"""The canonical results file: JSON lines, one header then one record per case.

Written by the pytest process that sees every report (the xdist controller, or the only
process), from the user_properties each case item carries. Every other report (matrix,
summaries) can be derived from this file alone.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import IO, Any

from sockets_conformance.paths import ROOT

SCHEMA_VERSION = 1


def suite_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() or "unknown"


class ResultsWriter:
    def __init__(self, path: Path, adapter: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("w", encoding="utf-8")
        self._adapter = adapter
        self._header_written = False

    def header(self, implementation: dict[str, Any] | None, unavailable: str = "") -> None:
        record: dict[str, Any] = {
            "type": "header", "version": SCHEMA_VERSION, "suite_commit": suite_commit(),
            "adapter": self._adapter, "implementation": implementation or {"name": self._adapter},
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        if unavailable:
            record["unavailable"] = unavailable
        self._write(record)
        self._header_written = True

    def case(self, props: dict[str, Any], duration: float) -> None:
        if not self._header_written:
            self.header(props.get("conformance_impl"))
        self._write({
            "type": "case",
            "case": props["conformance_case"],
            "implementation": (props.get("conformance_impl") or {}).get("name", self._adapter),
            "status": props["conformance_status"],
            "expected_status": props.get("conformance_expected") or "PASS",
            "expectation_reason": props.get("conformance_expected_reason", ""),
            "expectation_link": props.get("conformance_expected_link", ""),
            "duration": round(duration, 4),
            "message": props.get("conformance_message", ""),
            # The end-of-case cleanup's failure ("" when clean): beside the status, not in it.
            "cleanup": props.get("conformance_cleanup", ""),
            "requirements": props.get("conformance_requirements", []),
            "features": props.get("conformance_features", []),
            "path": props.get("conformance_path", ""),
        })

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, sort_keys=True) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._header_written:
            self.header(None)
        self._file.close()


def read(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    header: dict[str, Any] = {}
    cases: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("type") == "header":
            header = record
        elif record.get("type") == "case":
            cases.append(record)
    return header, cases


class ResultsFileError(Exception):
    """A results file that cannot be read: str() is one line naming the file (and line)."""


Runs = list[tuple[dict[str, Any], list[dict[str, Any]]]]


def read_runs(path: Path) -> Runs:
    """Every run in a results file, checked line by line: a merged report/results.jsonl holds
    one header per implementation, each followed by that run's case records. A malformed line
    is a ResultsFileError naming the file and the line, not a traceback."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsFileError(f"{path}: cannot read it: {exc}") from None
    runs: Runs = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ResultsFileError(f"{where}: not a JSON line ({exc.msg}, column {exc.colno})"
                                   ) from None
        kind = record.get("type") if isinstance(record, dict) else None
        if kind == "header":
            if not isinstance(record.get("implementation") or {}, dict):
                raise ResultsFileError(f"{where}: the header's implementation is not an object")
            runs.append((record, []))
        elif kind == "case":
            missing = [k for k in ("case", "status") if not isinstance(record.get(k), str)]
            if missing:
                raise ResultsFileError(f"{where}: a case record without {' or '.join(missing)}")
            if not runs:
                raise ResultsFileError(f"{where}: a case record before any header")
            runs[-1][1].append(record)
        else:
            raise ResultsFileError(f"{where}: not a results record (no \"type\": header or "
                                   f"case)")
    if not runs:
        raise ResultsFileError(f"{path}: holds no run (is it a results file?)")
    return runs
