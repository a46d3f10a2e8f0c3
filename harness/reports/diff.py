"""`python -m sockets_conformance diff OLD.jsonl NEW.jsonl`: what changed between two runs.

Two results files (reports/results_file.py), say of two releases of one runtime, or of one
implementation before and after a change: the cases whose status changed, regressions first,
then fixes, then other changes, each with both messages, so a runtime author sees what broke
without reading two reports side by side.

- A regression is a case that got worse on the scale PASS > NON-STRICT > FAIL, TIMEOUT,
  ERROR (PASS -> anything else is one); a fix is the reverse. Everything else is an "other
  change": FAIL <-> TIMEOUT <-> ERROR, to or from NOT-APPLICABLE, a case only one run has.
- Expectations do not hide anything: a known divergence that appears is still a regression.
- A results file holding several runs (report/results.jsonl: one header per implementation)
  needs the run picked: `FILE#NAME` or `FILE#NAME@VERSION`, or `--implementation` for both;
  NAME is the implementation's name or its adapter's (`node` for @arrowood.dev/socket).
- Exit status: 0 when nothing regressed, 1 when something did, 4 on a usage error (a file
  that is missing or malformed, a run that cannot be picked), said in one line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sockets_conformance.reports import results_file

REGRESSED, UNCHANGED, USAGE_ERROR = 1, 0, 4
# Lower is better; NOT-APPLICABLE is off the scale (the feature is not claimed).
RANK = {"PASS": 0, "NON-STRICT": 1, "FAIL": 2, "TIMEOUT": 2, "ERROR": 2}
SHOWN_MESSAGE = 300


class DiffError(Exception):
    """A usage error: str() is the one line to print."""


@dataclass
class Run:
    """One run of a results file: its header's implementation and its case records."""

    path: Path
    name: str
    version: str = ""
    unavailable: str = ""
    adapter: str = ""   # the --adapter it ran with, when that is not its name ("node")
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}" if self.version else self.name

    @property
    def listed(self) -> str:
        """How an error lists the run: its label, and its adapter if that differs."""
        return self.label + (f" (adapter {self.adapter})" if self.adapter else "")

    def matches(self, selector: str) -> bool:
        names = [self.name] + ([self.adapter] if self.adapter else [])
        return selector in names or any(
            selector in (f"{n}@{self.version}", f"{n} {self.version}") for n in names)

    def exactly(self, selector: str) -> bool:
        """Matched with its version, not by name alone."""
        return selector not in (self.name, self.adapter)


def read_runs(path: Path) -> list[Run]:
    """Every run in a results file (results_file's checking reader), as Runs."""
    try:
        runs = results_file.read_runs(path)
    except results_file.ResultsFileError as exc:
        raise DiffError(str(exc)) from None
    found = []
    for header, cases in runs:
        impl = header.get("implementation") or {}
        name = str(impl.get("name") or path.stem)
        adapter = str(header.get("adapter") or "")
        found.append(Run(path, name, str(impl.get("version") or ""),
                         str(header.get("unavailable", "")), adapter if adapter != name else "",
                         {record["case"]: record for record in cases}))
    return found


def split_spec(spec: str) -> tuple[Path, str]:
    """'FILE#RUN' -> (FILE, RUN); a FILE that exists with its '#' is taken as it is."""
    path = Path(spec)
    if "#" in spec and not path.exists():
        file, _, selector = spec.rpartition("#")
        return Path(file), selector
    return path, ""


def pick(spec: str, implementation: str = "") -> Run:
    """The one run `spec` (FILE or FILE#RUN) names; `implementation` picks it when the spec
    does not."""
    path, selector = split_spec(spec)
    selector = selector or implementation
    runs = read_runs(path)
    present = ", ".join(r.listed for r in runs)
    if not selector:
        if len(runs) > 1:
            raise DiffError(f"{path} holds {len(runs)} runs ({present}): pick one with "
                            f"{path}#NAME[@VERSION] or --implementation NAME[@VERSION]")
        chosen = runs
    else:
        chosen = [r for r in runs if r.matches(selector)]
        if not chosen:
            raise DiffError(f"{path} has no run {selector!r}; it holds: {present}")
        exact = [r for r in chosen if r.exactly(selector)]
        if len(chosen) > 1 and len(exact) != 1:
            raise DiffError(f"{path}: {selector!r} matches {len(chosen)} runs "
                            f"({', '.join(r.label for r in chosen)}): add @VERSION")
        chosen = exact or chosen
    run = chosen[0]
    if run.unavailable:
        raise DiffError(f"{path}: {run.label} did not run ({run.unavailable})")
    return run


@dataclass(frozen=True)
class Change:
    case: str
    old: dict[str, Any] | None     # None: the case is not in that run
    new: dict[str, Any] | None

    @property
    def kind(self) -> str:
        """'regression', 'fix' or 'other'."""
        old, new = (RANK.get(r["status"]) if r else None for r in (self.old, self.new))
        if old is None or new is None:
            return "other"
        return "regression" if new > old else "fix" if new < old else "other"


def changes(old: Run, new: Run) -> list[Change]:
    """The cases whose status differs (or that only one run has), by case id."""
    found = []
    for case in sorted(old.cases.keys() | new.cases.keys()):
        a, b = old.cases.get(case), new.cases.get(case)
        if a is None or b is None or a["status"] != b["status"]:
            found.append(Change(case, a, b))
    return found


def _status(record: dict[str, Any] | None) -> str:
    if record is None:
        return "(no such case)"
    status = str(record["status"])
    known = status != "PASS" and record.get("expected_status") == status
    return f"{status} (known)" if known else status


def _message(record: dict[str, Any] | None) -> str:
    if record is None:
        return "-"
    text = " ".join(str(record.get("message") or "").split())
    if not text:
        return "(no message)"
    return text if len(text) <= SHOWN_MESSAGE else text[:SHOWN_MESSAGE] + "…"


def report(old: Run, new: Run, found: list[Change]) -> list[str]:
    """The text `diff` prints: a count line, then regressions, fixes and other changes."""
    kinds = {"regression": "regressions", "fix": "fixes", "other": "other changes"}
    counts = {k: sum(1 for c in found if c.kind == k) for k in kinds}
    common = len(old.cases.keys() & new.cases.keys())
    lines = [f"diff {old.label} ({old.path}) -> {new.label} ({new.path}): {common} case(s) "
             f"in both; " + ", ".join(f"{counts[k]} {kinds[k]}" for k in kinds)]
    for kind, title in kinds.items():
        group = [c for c in found if c.kind == kind]
        if not group:
            continue
        lines.append(f"{title} ({len(group)}):")
        for c in group:
            lines.append(f"  {c.case}: {_status(c.old)} -> {_status(c.new)}")
            lines.append(f"    old: {_message(c.old)}")
            lines.append(f"    new: {_message(c.new)}")
    return lines


def main(old_spec: str, new_spec: str, implementation: str = "",
         out: Callable[[str], None] = print, err: Callable[[str], None] | None = None) -> int:
    """Print the changes from OLD to NEW; the exit status (module docstring)."""
    try:
        old, new = pick(old_spec, implementation), pick(new_spec, implementation)
    except DiffError as exc:
        (err or out)(f"diff: {exc}")
        return USAGE_ERROR
    found = changes(old, new)
    for line in report(old, new, found):
        out(line)
    return REGRESSED if any(c.kind == "regression" for c in found) else UNCHANGED
