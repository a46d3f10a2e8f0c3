"""Which workerd releases `--adapter workerd` can run, and where each one is installed.

adapters/workerd/package.json pins the current release. Each older release run beside it
(`--workerd-version VERSION`, and a column of its own in the report) has a folder
releases/VERSION/ with its own package.json and package-lock.json, so that
`npm ci --prefix adapters/workerd/releases/VERSION` installs exactly that release, and its own
expectations.yaml: a release's divergences are a complete file, not a patch on the current
pin's, so that `--update-expectations` can rewrite it from a run like any other.

Paths are read from `paths.ADAPTERS` at call time, not import time: an installed package and
a checkout differ, and the tests point it at an empty folder to see the install messages.
"""

from __future__ import annotations

import json
from pathlib import Path

from sockets_conformance import paths

RELEASES = "releases"


class ReleaseError(Exception):
    """The release asked for cannot run: not pinned here, or not installed."""


def home() -> Path:
    return paths.ADAPTERS / "workerd"


def current() -> str:
    """The release adapters/workerd/package.json pins (what `--adapter workerd` runs)."""
    manifest = json.loads((home() / "package.json").read_text(encoding="utf-8"))
    return str(manifest["dependencies"]["workerd"])


def older() -> list[str]:
    """The older releases pinned in releases/VERSION/package.json, newest first."""
    folder = home() / RELEASES
    found = [p.name for p in folder.iterdir() if (p / "package.json").is_file()] \
        if folder.is_dir() else []
    return sorted(found, key=_order, reverse=True)


def _order(version: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def pinned() -> list[str]:
    """Every release this checkout can run: the current pin first, then the older ones."""
    return [current(), *older()]


def folder(version: str | None) -> Path:
    """The npm folder of `version` (None: the current pin). Raises ReleaseError for a
    release that has no pin here."""
    if version is None or version == current():
        return home()
    if version in older():
        return home() / RELEASES / version
    listed = ", ".join([f"{current()} (the current pin)", *older()])
    raise ReleaseError(f"--workerd-version {version}: not a pinned release; use one of "
                       f"{listed}. A "
                       f"release is pinned by a folder adapters/workerd/{RELEASES}/VERSION "
                       f"holding its package.json and package-lock.json")


def binary(install: Path) -> Path:
    """Where `npm ci --prefix install` puts the workerd command."""
    return install / "node_modules" / ".bin" / "workerd"


def installed(version: str | None) -> Path:
    """The folder of `version`, once `npm ci` has run in it. Raises ReleaseError, naming the
    command that installs it."""
    install = folder(version)
    if not binary(install).exists():
        which = "workerd" if version is None or install == home() else f"workerd {version}"
        raise ReleaseError(f"{which} is not installed; run "
                           f"`{paths.npm_install_command(install)}`")
    return install


def installed_version(install: Path) -> str:
    """The version npm installed in `install` (the lockfile's, unless someone changed it)."""
    try:
        manifest = install / "node_modules" / "workerd" / "package.json"
        return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "unknown"
