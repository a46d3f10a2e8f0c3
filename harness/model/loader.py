"""Turns a case file into a validated Case, or one clear error naming file, line and problem.

YAML is composed to nodes first so every schema error can be mapped back to the line it
came from; the data itself is validated with jsonschema against spec/case.schema.json.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from sockets_conformance.model.case import CLIENT_STEPS, PEER_ACTIONS, Case, PeerSpec, Step
from sockets_conformance.model.requirements import CatalogueError, catalogue
from sockets_conformance.paths import CASE_SCHEMA, CASES

# libyaml's parser when PyYAML has it (ten times faster); the pure-Python one otherwise.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CaseError(Exception):
    """A case file that cannot be run; str() is the one line a user needs."""

    def __init__(self, path: Path, line: int | None, problem: str) -> None:
        self.path, self.line, self.problem = path, line, problem
        where = f"{display(path)}:{line}" if line else display(path)
        super().__init__(f"{where}: {problem}")


def display(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        return Path(path).resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return str(path)


# Texts already found valid by the schema: the same text always gives the same data, and the
# schema check is most of a load's cost, while the lint, the gate and the tests load the
# bundled cases many times in one process.
_VALID_TEXTS: set[str] = set()


@cache
def _validator() -> jsonschema.Draft202012Validator:
    """The case schema's validator. Whether the schema itself is a valid JSON Schema is
    checked by `python -m sockets_conformance check` (schema_problems), not here: that check cost
    each
    pytest worker a quarter of a second before its first case."""
    return jsonschema.Draft202012Validator(json.loads(CASE_SCHEMA.read_text()))


def schema_problems() -> list[str]:
    """Why spec/case.schema.json is not a valid JSON Schema (2020-12), if it is not."""
    schema = json.loads(CASE_SCHEMA.read_text())
    meta = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
    return [f"{display(CASE_SCHEMA)}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in meta.iter_errors(schema)]


def _compose(path: Path, text: str) -> yaml.Node:
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise CaseError(path, line, f"not valid YAML: {exc.problem or exc.context}") from None
    if node is None:
        raise CaseError(path, 1, "the file is empty")
    _reject_duplicate_keys(path, node)
    return node


def _reject_duplicate_keys(path: Path, node: yaml.Node) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise CaseError(path, key.start_mark.line + 1,
                                "a key must be a plain word, not a mapping or list (a stray "
                                "'{' or '['?)")
            if key.value in seen:
                raise CaseError(path, key.start_mark.line + 1, f"key {key.value!r} appears twice")
            seen.add(key.value)
            _reject_duplicate_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _reject_duplicate_keys(path, item)


def _node_at(node: yaml.Node, path: list[Any]) -> yaml.Node:
    """The deepest node along a jsonschema error path (for its line number)."""
    for part in path:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                break
            node = match
        elif (isinstance(node, yaml.SequenceNode) and isinstance(part, int)
              and part < len(node.value)):
            node = node.value[part]
        else:
            break
    return node


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and len(path) == 2 and path[0] == "steps":
        unknown = sorted(set(error.instance) - set(CLIENT_STEPS))
        return (f"steps/{path[1]}: unknown step {', '.join(map(repr, unknown))}; client steps are "
                f"{', '.join(CLIENT_STEPS)}; peer steps are <peer>.<{'|'.join(PEER_ACTIONS)}>")
    if error.validator in ("minProperties", "maxProperties") and len(path) == 2:
        return f"steps/{path[1]}: a step has exactly one key (its kind), got {len(error.instance)}"
    if error.validator == "oneOf" and error.context:
        # Explain the branch the author meant instead of "is not valid under any".
        best = _closest_branch(error)
        return f"{'/'.join(str(p) for p in best.absolute_path) or where}: {best.message}"
    return f"{where}: {error.message}"


def _closest_branch(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """The error of the oneOf branch with the fewest complaints, ignoring branches whose
    type did not even match (a mapping was clearly not meant to be the string form)."""
    branches: dict[Any, list[jsonschema.ValidationError]] = {}
    for sub in error.context or []:
        branches.setdefault(sub.schema_path[0], []).append(sub)
    meant = [errs for errs in branches.values()
             if not any(e.validator == "type" and not e.relative_path for e in errs)]
    pool = min(meant, key=len) if meant else list(error.context or [])
    return jsonschema.exceptions.best_match(pool) or error


def _line_of(root: yaml.Node, error: jsonschema.ValidationError) -> int:
    path = list(error.absolute_path)
    if error.validator == "oneOf" and error.context:
        path = list(_closest_branch(error).absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        # Point at the unexpected key itself, not at the mapping that holds it.
        allowed = set(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        extra = [k for k in error.instance
                 if k not in allowed and not any(p.search(k) for p in patterns)]
        if extra:
            path.append(extra[0])
    node = _node_at(root, path)
    return node.start_mark.line + 1


def load_case(path: Path, cases_root: Path = CASES) -> Case:
    """Load and check one case file; raise CaseError with file:line on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaseError(path, None, f"cannot read: {exc}") from None
    root = _compose(path, text)
    # Built from the composed nodes, not parsed again: scanning is most of the cost.
    data = yaml.constructor.SafeConstructor().construct_document(root)
    if not isinstance(data, dict):
        raise CaseError(path, 1, "a case file holds one mapping (id, title, requirements, ...)")
    if isinstance(data.get("steps"), list):
        # A bare string step ("peer.accept", "close") is shorthand for a step without arguments.
        data["steps"] = [{s: None} if isinstance(s, str) else s for s in data["steps"]]
        for s in data["steps"]:
            if isinstance(s, dict) and isinstance(s.get("sameTurn"), list):
                s["sameTurn"] = [{x: None} if isinstance(x, str) else x for x in s["sameTurn"]]
    if text not in _VALID_TEXTS:
        # A missing key is often explained by a misspelt one: report other problems first.
        errors = sorted(_validator().iter_errors(data),
                        key=lambda e: (e.validator == "required", _line_of(root, e),
                                       str(list(e.path))))
        if errors:
            first = errors[0]
            raise CaseError(path, _line_of(root, first), _describe(first))
        _VALID_TEXTS.add(text)
    return _build(path, root, data, cases_root)


def _build(path: Path, root: yaml.Node, data: dict[str, Any], cases_root: Path) -> Case:
    def line(*p: Any) -> int:
        return _node_at(root, list(p)).start_mark.line + 1

    try:
        rel = path.resolve().relative_to(cases_root.resolve())
    except ValueError:
        rel = None
    if rel is not None and rel.with_suffix("").as_posix() != data["id"]:
        raise CaseError(path, line("id"),
                        f"id {data['id']!r} does not match the file path {rel.as_posix()!r}")
    try:
        known = catalogue()
    except CatalogueError as exc:
        raise CaseError(path, None, f"cannot check requirements: {exc}") from None
    for i, req in enumerate(data["requirements"]):
        if req not in known:
            raise CaseError(path, line("requirements", i),
                            f"requirement {req!r} is not in spec/requirements.yaml")

    peers = tuple(PeerSpec(name, **(spec or {})) for name, spec in
                  (data.get("peers") or {"peer": None}).items())
    peer_names = {p.name for p in peers}
    lines = text_lines(path)
    steps: list[Step] = []
    for i, raw in enumerate(data["steps"]):
        (key, args), = raw.items()
        n = line("steps", i)
        source = lines[n - 1].strip().removeprefix("- ") if n <= len(lines) else key
        if "." in key:
            peer, action = key.split(".", 1)
            if peer not in peer_names:
                raise CaseError(path, n, f"step {key!r} names peer {peer!r}, but the case's "
                                         f"peers are {', '.join(sorted(peer_names))}")
            steps.append(Step("peer", _peer_args(action, args), n, source, peer, action))
        elif key == "sameTurn":
            inner = []
            for j, raw_inner in enumerate(args):
                (ikey, iargs), = raw_inner.items()
                m = line("steps", i, "sameTurn", j)
                isrc = lines[m - 1].strip().removeprefix("- ") if m <= len(lines) else ikey
                inner.append(Step(ikey, _client_args(ikey, iargs), m, isrc))
            steps.append(Step(key, {"steps": inner}, n, source))
        else:
            steps.append(Step(key, _client_args(key, args), n, source))
    case = Case(
        id=data["id"], title=data["title"], requirements=tuple(data["requirements"]),
        features=tuple(data.get("features", [])), steps=tuple(steps), peers=peers,
        path=path, description=data.get("description", ""), timeout=data.get("timeout"),
        closed_port=data.get("closedPort"),
    )
    from sockets_conformance.model.checks import (
        check_case,  # late: checks needs the model, not the loader
    )

    for problem_line, problem in check_case(case):
        raise CaseError(path, problem_line, problem)
    return case


def text_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def _peer_args(action: str, args: Any) -> dict[str, Any]:
    if action in ("send", "expect"):
        if isinstance(args, dict) and "data" in args:
            return dict(args)
        return {"data": args}
    return dict(args or {})


def _client_args(kind: str, args: Any) -> dict[str, Any]:
    if args is None:
        return {}
    if kind == "write" and isinstance(args, str):
        return {"data": args}
    if kind == "get" and isinstance(args, str):
        return {"target": args}
    if kind == "await" and isinstance(args, str):
        return {"promise": args}
    return dict(args)
