"""What some tests need beyond Python, checked in one place.

Each `needs_*()` is a mark that skips the test when the thing is missing, with a reason that
names the command that installs it, so a newcomer's first run says what to do instead of
failing. CI installs everything and sets SOCKETS_CONFORMANCE_REQUIRE_ALL=1, which turns
every skip into a failure with the same reason (tests/conftest.py): there, a missing
prerequisite must not pass unnoticed as a skip.

The checks that start a subprocess (node --version, unshare) are cached: once per test
process.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from sockets_conformance.paths import ROOT, npm_install_command

REQUIRE_ALL = "SOCKETS_CONFORMANCE_REQUIRE_ALL"
MIN_NODE = 20
INSTALL_NODE = f"install Node.js {MIN_NODE}+ (e.g. apt-get install nodejs npm)"
INSTALL_CHROMIUM = "apt-get install chromium"
INSTALL_STRACE = "apt-get install strace"
INSTALL_NETNS_TOOLS = "apt-get install util-linux iproute2"
ENABLE_USERNS = "sysctl -w kernel.unprivileged_userns_clone=1"


def _mark(missing: str | None) -> pytest.MarkDecorator:
    return pytest.mark.skipif(missing is not None, reason=missing or "")


# --- Node.js ---------------------------------------------------------------------------------
def node_path() -> str | None:
    """`node` on PATH, if it is Node.js 20 or later (what adapters/node/launch.py requires)."""
    return shutil.which("node") if missing_node() is None else None


@functools.cache
def missing_node() -> str | None:
    node = shutil.which("node")
    if node is None:
        return f"Node.js is not installed (no `node` on PATH): {INSTALL_NODE}"
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 timeout=60, check=True).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"`{node} --version` failed ({exc}): {INSTALL_NODE}"
    if major < MIN_NODE:
        return f"Node.js {version} is too old: {INSTALL_NODE}"
    return None


def needs_node() -> pytest.MarkDecorator:
    return _mark(missing_node())


# --- the npm parts -----------------------------------------------------------------------------
def missing_npm_part(folder: Path, *files: str) -> str | None:
    """Whether `npm ci` has been run in `folder`: every dependency its package.json names is
    in node_modules, and so is each of `files` (paths relative to `folder`, such as a binary
    under node_modules/.bin that a platform-specific package provides)."""
    manifest = json.loads((folder / "package.json").read_text())
    wanted = [f"node_modules/{name}/package.json"
              for name in {**manifest.get("dependencies", {}),
                           **manifest.get("devDependencies", {})}]
    absent = [f for f in [*wanted, *files] if not (folder / f).exists()]
    if not absent:
        return None
    shown = folder.relative_to(ROOT).as_posix() if folder.is_relative_to(ROOT) else folder
    return (f"the npm part {shown} is not installed (no {shown}/{absent[0]}): run "
            f"`{npm_install_command(folder)}`")


def needs_npm_part(folder: Path, *files: str) -> pytest.MarkDecorator:
    return _mark(missing_npm_part(folder.resolve(), *files))


# --- Chromium ------------------------------------------------------------------------------
@functools.cache
def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def needs_chromium() -> pytest.MarkDecorator:
    return _mark(None if chromium_path() else
                 f"Chromium is not installed (no `chromium` on PATH): {INSTALL_CHROMIUM}")


# --- strace ----------------------------------------------------------------------------------
def needs_strace() -> pytest.MarkDecorator:
    return _mark(None if shutil.which("strace") else
                 f"strace is not installed (no system-call count): {INSTALL_STRACE}")


# --- network namespaces --------------------------------------------------------------------
@functools.cache
def _netns() -> tuple[list[str] | None, str | None]:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return None, (f"cannot create a network namespace: unshare and ip are needed: "
                      f"{INSTALL_NETNS_TOOLS}")
    errors = []
    # As root `unshare --net`; otherwise through a user namespace, where one is allowed.
    for prefix in (["unshare", "--net"], ["unshare", "--net", "--map-root-user"]):
        try:
            done = subprocess.run([*prefix, "ip", "link", "set", "lo", "up"],
                                  capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            errors.append(f"{' '.join(prefix)}: {exc}")
            continue
        if done.returncode == 0:
            return prefix, None
        errors.append(f"{' '.join(prefix)}: {done.stderr.strip()}")
    return None, ("cannot create a network namespace here (" + "; ".join(errors) + "): run "
                  f"the tests as root, or allow user namespaces: {ENABLE_USERNS}")


def netns_prefix() -> list[str] | None:
    """The command prefix that runs a command in a fresh network namespace (only `lo`,
    down until `ip link set lo up`), or None where that is not possible."""
    return _netns()[0]


def needs_netns() -> pytest.MarkDecorator:
    return _mark(_netns()[1])
