"""Starts the Node.js driver: `--adapter node` (and `--node-module PATH`).

    python -m sockets_conformance.adapters.node.launch [--module PATH_OR_PACKAGE] [--features a,b]

runs the same driver by hand (or as
`--adapter "driver:python -m sockets_conformance.adapters.node.launch"`):
it replaces itself with `node stdio.mjs ...`, so no Python process stays in between.
The checks here exist to turn "node exited with code 1" into a sentence that says what to
do: install Node.js, or install the npm package from the lockfile beside this file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from sockets_conformance.paths import npm_install_command
from sockets_conformance.running.driver import DriverAdapter

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "stdio.mjs"
DEFAULT_PACKAGE = "@arrowood.dev/socket"
MIN_NODE = 20   # import.meta.resolve without a flag, Array.prototype.findLast


class LaunchError(Exception):
    """Node.js or the npm packages are missing: a usage problem, not a case result."""


def node_binary() -> str:
    node = os.environ.get("NODE") or shutil.which("node")
    if not node:
        raise LaunchError("Node.js is not installed (no `node` on PATH; set NODE to its path)")
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise LaunchError(f"cannot run {node}: {exc}") from None
    major = int(version.lstrip("v").split(".")[0] or 0)
    if major < MIN_NODE:
        raise LaunchError(f"Node.js {version} is too old; the driver needs {MIN_NODE} or later")
    return node


def command(module: str | None = None, features: str | None = None) -> list[str]:
    """The driver's command line. A module given as a path is made absolute, so the driver
    finds it whatever its working directory."""
    node = node_binary()
    argv = [node, str(DRIVER)]
    if module is None:
        if not (HERE / "node_modules" / DEFAULT_PACKAGE / "package.json").exists():
            raise LaunchError(f"{DEFAULT_PACKAGE} is not installed: run "
                              f"`{npm_install_command(HERE)}`")
    else:
        path = Path(module)
        if module.startswith((".", "/")) or path.exists():
            if not path.exists():
                raise LaunchError(f"--node-module {module}: no such file; give the path of a "
                                  f"module that exports connect, or an installed package's "
                                  f"name")
            module = str(path.resolve())
        argv += ["--module", module]
    if features is not None:
        argv += ["--features", features]
    return argv


def node_adapter(module: str | None = None) -> DriverAdapter:
    label = "node" if module is None else f"node:{module}"
    return DriverAdapter(command(module), label=label)


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    module = features = None
    while args:
        flag = args.pop(0)
        if flag == "--module" and args:
            module = args.pop(0)
        elif flag == "--features" and args:
            features = args.pop(0)
        else:
            sys.exit(f"usage: python -m sockets_conformance.adapters.node.launch "
                     f"[--module PATH] [--features a,b]"
                     f" (got {flag!r})")
    try:
        argv_ = command(module, features)
    except LaunchError as exc:
        sys.exit(str(exc))
    os.execv(argv_[0], argv_)


if __name__ == "__main__":
    main()
