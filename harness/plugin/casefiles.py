"""Which files are case files, and whether the paths a run was given could hold one.

The plugin is loaded into every pytest run of the environment it is installed in, so a YAML
file is a case only where cases live, and a run whose paths hold no case (`pytest tests`)
must not start an adapter or take over Ctrl-C.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sockets_conformance.paths import CASES

_SKIPPED_DIRS = {"node_modules", "venv", "__pycache__", "build", "dist"}


def case_roots(config: pytest.Config) -> list[Path]:
    """The bundled cases/ and every --cases-dir."""
    return [CASES, *(Path(d) for d in config.getoption("cases_dir"))]


def is_case_file(path: Path, roots: list[Path]) -> bool:
    """Under the bundled cases/ or a --cases-dir, or in any folder named `cases` (a copy of
    the suite, a fixture's cases): never the malformed examples under tests/."""
    resolved = path.resolve()
    return any(resolved.is_relative_to(r.resolve()) for r in roots) or "cases" in path.parts


def cases_may_run(config: pytest.Config) -> bool:
    """Whether the paths given could hold a case file, told without collecting: `pytest
    tests --adapter node` need not start node. Anything not a path (--pyargs) may."""
    roots = case_roots(config)
    base = config.invocation_params.dir
    for arg in config.args:
        path = base / arg.split("::")[0]
        if path.is_file():
            if path.suffix == ".yaml" and is_case_file(path, roots):
                return True
        elif not path.is_dir() or _holds_case(path.resolve(), roots):
            return True   # not a path at all (--pyargs), or a folder with a case in it
    return False


def _holds_case(folder: Path, roots: list[Path]) -> bool:
    """A case root inside the folder or around it, else a case file somewhere below it."""
    if any(r.resolve().is_relative_to(folder) or folder.is_relative_to(r.resolve())
           for r in roots if r.is_dir()):
        return True
    for where, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith(".")]
        if any(f.endswith(".yaml") and is_case_file(Path(where, f), roots) for f in files):
            return True
    return False
