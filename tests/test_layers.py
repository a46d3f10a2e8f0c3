"""The package's shape holds: imports only go down the layers of harness/README.md, no
module imports itself back through others, and no module grows past 500 lines.

Read from the source with `ast` (every import, also those inside functions), so a lazy
import that would run only on some path is held to the same rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Folder -> the import name it installs under (pyproject.toml, [tool.setuptools]).
FOLDERS = {"harness": "sockets_conformance", "servers": "sockets_conformance.servers",
           "adapters": "sockets_conformance.adapters"}
# Bottom to top, as harness/README.md describes them. A module belongs to the first layer
# whose prefix matches its name (longest prefixes are listed first within a layer).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("model", ("sockets_conformance.model", "sockets_conformance.paths")),
    ("servers", ("sockets_conformance.servers",)),
    ("running", ("sockets_conformance.running",)),
    ("adapters", ("sockets_conformance.adapters",)),
    ("reports", ("sockets_conformance.reports",)),
    ("gates", ("sockets_conformance.gates",)),
    ("entry", ("sockets_conformance.plugin", "sockets_conformance.cli",
               "sockets_conformance.__main__")),
]
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder, package in FOLDERS.items():
        for path in (REPO / folder).rglob("*.py"):
            if "node_modules" in path.parts:
                continue
            parts = [p for p in path.relative_to(REPO / folder).with_suffix("").parts
                     if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package's own modules that `name` imports, wherever in the file."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            targets |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
    return {t for t in targets if t in MODULES and t != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    if module == "sockets_conformance":
        return 0  # the package's __init__: a docstring
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS and to "
                         f"harness/README.md")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


def test_imports_only_go_down() -> None:
    upward = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
              for a, targets in GRAPH.items() for b in sorted(targets)
              if layer_of(b) > layer_of(a)]
    assert upward == []


def test_no_import_cycles() -> None:
    """Tarjan's strongly connected components: any component of two or more modules is a
    cycle (a package's __init__ importing its own submodules counts too)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_stays_small(module: str) -> None:
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{MODULES[module].relative_to(REPO)}: {lines} lines; split " \
                               f"it along its jobs"


def test_servers_never_import_adapters() -> None:
    assert [(a, b) for a, targets in GRAPH.items() for b in targets
            if a.startswith("sockets_conformance.servers")
            and b.startswith("sockets_conformance.adapters")] == []


def test_every_package_is_in_the_wheel() -> None:
    """pyproject.toml lists the packages by hand (the folders map onto one import name), so a
    new subpackage left out of the list would be missing from every wheel."""
    import tomllib

    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    packages = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert sorted(packages - listed) == []
