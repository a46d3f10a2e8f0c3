"""The requirement catalogue (spec/requirements.yaml), loaded once and looked up by id."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from sockets_conformance.paths import REQUIREMENTS

LEVELS = ("MUST", "SHOULD", "MAY")
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Requirement:
    id: str
    level: str
    text: str
    source: str
    origin: str
    link: str = ""

    @property
    def group(self) -> str:
        return self.id.split(".", 1)[0]


class CatalogueError(ValueError):
    """spec/requirements.yaml itself is broken; str() names the file and line."""


@cache
def catalogue(path: Path = REQUIREMENTS) -> dict[str, Requirement]:
    try:
        # libyaml when PyYAML has it: the pure-Python parser took 0.5 s of every pytest
        # worker's start for this one file.
        raw = yaml.load(path.read_text(), Loader=_LOADER) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise CatalogueError(f"{where}: not valid YAML: {exc.problem}") from None
    out: dict[str, Requirement] = {}
    for entry in raw.get("requirements", []):
        try:
            req = Requirement(
                id=entry["id"], level=entry["level"], text=entry["text"],
                source=entry["source"], origin=entry["origin"], link=entry.get("link", ""),
            )
        except (KeyError, TypeError) as exc:
            raise CatalogueError(f"{path}: requirement {entry!r} lacks {exc}") from None
        if req.level not in LEVELS:
            raise CatalogueError(f"{path}: requirement {req.id} has unknown level {req.level!r}")
        if req.id in out:
            raise CatalogueError(f"{path}: requirement {req.id} is defined twice")
        out[req.id] = req
    return out


def strongest_level(ids: tuple[str, ...]) -> str:
    """MUST if any cited requirement is a MUST: that decides whether a broken case is FAIL."""
    levels = {catalogue()[i].level for i in ids if i in catalogue()}
    for level in LEVELS:
        if level in levels:
            return level
    return "MUST"
