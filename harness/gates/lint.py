"""`python -m sockets_conformance check` and `... coverage`: the suite's own guarantees.

check    every case file loads (schema, names, requirement ids), ids and titles are unique,
         titles short, no case asserts on opened, closed or close() where none of its
         requirements is about them (lint_cited.py), the requirement catalogue matches its
         schema.
coverage each requirement with the cases that cover it; a MUST or SHOULD without a case is
         a failure.
In the spirit of JSON-Schema-Test-Suite's `bin/jsonschema_suite check`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import jsonschema
import yaml
from sockets_conformance.gates.lint_cited import uncited_assertions
from sockets_conformance.model.case import Case
from sockets_conformance.model.loader import CaseError, display, load_case, schema_problems
from sockets_conformance.model.requirements import catalogue
from sockets_conformance.paths import CASES, REQUIREMENTS, SPEC

TITLE_MAX = 120


def load_all(root: Path = CASES) -> tuple[list[Case], list[str]]:
    cases, problems = [], []
    for path in sorted(root.rglob("*.yaml")):
        try:
            cases.append(load_case(path, cases_root=root))
        except CaseError as exc:
            problems.append(str(exc))
    return cases, problems


def check(root: Path = CASES) -> list[str]:
    problems = schema_problems() + _check_catalogue()
    cases, load_problems = load_all(root)
    problems += load_problems
    ids: dict[str, Case] = {}
    titles: dict[str, Case] = {}
    for case in cases:
        where = display(case.path)
        if case.id in ids:
            problems.append(f"{where}: id {case.id!r} also used by {display(ids[case.id].path)}")
        ids[case.id] = case
        key = case.title.strip().lower()
        if key in titles:
            problems.append(f"{where}: title also used by {display(titles[key].path)}")
        titles[key] = case
        if len(case.title) > TITLE_MAX:
            problems.append(f"{where}: title is {len(case.title)} characters; keep it under "
                            f"{TITLE_MAX}")
        problems += uncited_assertions(case, catalogue())
    return problems


def _check_catalogue() -> list[str]:
    schema = json.loads((SPEC / "requirements.schema.json").read_text())
    data = yaml.safe_load(REQUIREMENTS.read_text())
    problems = [f"{display(REQUIREMENTS)}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    seen: set[str] = set()
    for entry in data.get("requirements", []):
        if entry.get("id") in seen:
            problems.append(f"{display(REQUIREMENTS)}: requirement {entry['id']} defined twice")
        seen.add(entry.get("id"))
    return problems


def coverage(root: Path = CASES) -> tuple[dict[str, list[str]], list[str]]:
    """requirement id -> covering case ids, and the MUST/SHOULD ids without a case."""
    cases, _ = load_all(root)
    covered: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        for rid in case.requirements:
            covered[rid].append(case.id)
    table = {rid: sorted(covered.get(rid, [])) for rid in catalogue()}
    missing = [rid for rid, req in catalogue().items()
               if req.level in ("MUST", "SHOULD") and not table[rid]]
    return table, missing
