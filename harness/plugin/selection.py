"""Selection by --area and --level: the case id's first segment and the cited levels.

Both options are checked before anything runs, so a misspelt area or level is a usage
error that names the valid ones, not a run that silently selects nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from sockets_conformance.model.requirements import LEVELS
from sockets_conformance.plugin.casefiles import case_roots
from sockets_conformance.plugin.items import BrokenCaseItem, CaseItem


def _levels_chosen(config: pytest.Config) -> set[str]:
    return {level.upper() for level in config.getoption("level")}


def check_selection(config: pytest.Config) -> None:
    """Check --area and --level before anything runs: a usage error names the valid ones."""
    wrong = sorted(_levels_chosen(config) - set(LEVELS))
    if wrong:
        raise pytest.UsageError(f"--level {wrong[0]}: no such level; use "
                                f"{', '.join(LEVELS)}")
    areas = config.getoption("area")
    if areas:
        known = _known_areas(config)
        wrong = [area for area in areas if area not in known]
        if wrong:
            raise pytest.UsageError(f"--area {wrong[0]}: no such area; use one of "
                                    f"{', '.join(sorted(known))}")


def _known_areas(config: pytest.Config) -> set[str]:
    """The first-level folders of every place cases come from: the bundled cases/, each
    --cases-dir, and the `cases` folder around each path given."""
    roots = case_roots(config)
    base = config.invocation_params.dir
    for arg in config.args:
        path = (base / arg.split("::")[0]).resolve()
        roots += [p for p in (path, *path.parents) if p.name == "cases"][:1]
    return {d.name for r in roots if r.is_dir() for d in r.iterdir()
            if d.is_dir() and not d.name.startswith((".", "_"))}


def deselect(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the items --area and --level select; pytest counts the rest as deselected."""
    areas = set(config.getoption("area"))
    levels = _levels_chosen(config)
    if not areas and not levels:
        return
    selected, deselected = [], []
    for item in items:
        (selected if _selected(item, areas, levels) else deselected).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def _selected(item: pytest.Item, areas: set[str], levels: set[str]) -> bool:
    """Only case items are selected by area and level; a broken case file counts as of
    its folder's area and of every level (it must not disappear from a run silently)."""
    if isinstance(item, CaseItem):
        return ((not areas or item.case.area in areas)
                and (not levels or bool(_levels(item.case.requirements) & levels)))
    if isinstance(item, BrokenCaseItem):
        return not areas or item.path.parent.name in areas
    return True


def _levels(requirement_ids: Iterable[str]) -> set[str]:
    from sockets_conformance.model.requirements import catalogue

    reqs = catalogue()
    return {reqs[rid].level for rid in requirement_ids if rid in reqs}
