"""The requirement catalogue (spec/requirements.yaml), loaded once and looked up by id."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from harness.paths import REQUIREMENTS

LEVELS = ("MUST", "SHOULD", "MAY")


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


@cache
def catalogue(path: Path = REQUIREMENTS) -> dict[str, Requirement]:
    raw = yaml.safe_load(path.read_text()) or {}
    out: dict[str, Requirement] = {}
    for entry in raw.get("requirements", []):
        req = Requirement(
            id=entry["id"], level=entry["level"], text=entry["text"],
            source=entry["source"], origin=entry["origin"], link=entry.get("link", ""),
        )
        if req.level not in LEVELS:
            raise ValueError(f"{path}: requirement {req.id} has unknown level {req.level!r}")
        if req.id in out:
            raise ValueError(f"{path}: requirement {req.id} is defined twice")
        out[req.id] = req
    return out


def strongest_level(ids: tuple[str, ...]) -> str:
    """MUST if any cited requirement is a MUST: that decides whether a broken case is FAIL."""
    levels = {catalogue()[i].level for i in ids if i in catalogue()}
    for level in LEVELS:
        if level in levels:
            return level
    return "MUST"
