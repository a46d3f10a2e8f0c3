"""Turns `--adapter SPEC` into an Adapter.

  reference             the Python implementation in adapters/reference (default)
  python:MODULE:FACTORY any importable factory returning an Adapter (variants, mutants)
  driver:COMMAND        any program speaking spec/adapter-protocol.md on stdio; COMMAND is
                        split like a shell would (shlex), e.g.
                        driver:"python -m sockets_conformance.adapters.reference.stdio_driver"
  workerd               adapters/workerd: Cloudflare's workerd runtime (npm package), the
                        suite's driver running inside a Worker, one WebSocket per case; with
                        workerd_version (pytest --workerd-version V) an older pinned release
                        (adapters/workerd/versions.py)
  node                  adapters/node: @arrowood.dev/socket on Node.js, or with
                        node_module (pytest --node-module PATH) any module exporting connect
"""

from __future__ import annotations

import difflib
import importlib
import re
import shlex
from typing import Any

from sockets_conformance.running.adapter import Adapter

# Every form --adapter takes, in the order --help and the unknown-adapter message list them.
NAMED = ("reference", "node", "workerd")
FORMS = (*NAMED, "driver:COMMAND", "python:MODULE:FACTORY")


class UnknownAdapter(Exception):
    """The adapter cannot be used as given (a typo, a missing install): a usage error."""


def shown(spec: str) -> str:
    """`spec` as it would be typed after --adapter: quoted only if a shell needs it."""
    if re.fullmatch(r"[\w@%+=:,./-]+", spec):
        return spec
    if "'" not in spec:
        return f"'{spec}'"
    return f'"{spec}"' if '"' not in spec and "$" not in spec else shlex.quote(spec)


def forms_text() -> str:
    """'reference, node, workerd, driver:COMMAND or python:MODULE:FACTORY'."""
    return f"{', '.join(FORMS[:-1])} or {FORMS[-1]}"


def unknown_message(spec: str) -> str:
    """One line for a spec that names no adapter, with the nearest name if there is one."""
    close = difflib.get_close_matches(spec, NAMED, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"--adapter {shown(spec)}: no such adapter{hint}; use {forms_text()}"


def check_spec(spec: str, node_module: str | None = None,
               workerd_version: str | None = None) -> None:
    """The checks that need no process: the spec's form, --node-module only with node,
    --workerd-version only with workerd and only a release pinned here. Raises
    UnknownAdapter."""
    if node_module is not None and spec != "node":
        raise UnknownAdapter(f"--node-module needs --adapter node (not {shown(spec)})")
    if workerd_version is not None:
        if spec != "workerd":
            raise UnknownAdapter(f"--workerd-version needs --adapter workerd (not {shown(spec)})")
        from sockets_conformance.adapters.workerd import versions

        try:
            versions.folder(workerd_version)
        except versions.ReleaseError as exc:
            raise UnknownAdapter(str(exc)) from None
    if spec not in NAMED and not spec.startswith(("driver:", "python:")):
        raise UnknownAdapter(unknown_message(spec))


def resolve(spec: str, *, node_module: str | None = None,
            workerd_version: str | None = None) -> Adapter:
    check_spec(spec, node_module, workerd_version)
    if spec == "node":
        from sockets_conformance.adapters.node.launch import LaunchError, node_adapter

        try:
            return node_adapter(node_module)
        except LaunchError as exc:
            raise UnknownAdapter(f"--adapter node: {exc}") from None
    if spec == "workerd":
        return _workerd(workerd_version)
    if spec.startswith("driver:"):
        from sockets_conformance.running.driver import resolve_command

        try:
            return resolve_command(spec.removeprefix("driver:"))
        except ValueError as exc:
            raise UnknownAdapter(f"--adapter {shown(spec)}: {exc}") from None
    if spec == "reference":
        from sockets_conformance.adapters.reference.adapter import ReferenceAdapter

        return ReferenceAdapter()
    if spec.startswith("python:"):
        module, _, attr = spec.removeprefix("python:").partition(":")
        if not module or not attr:
            raise UnknownAdapter(f"--adapter {shown(spec)}: expected python:MODULE:FACTORY")
        try:
            factory: Any = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownAdapter(f"--adapter {shown(spec)}: {exc}") from None
        return factory()
    raise UnknownAdapter(unknown_message(spec))


def _workerd(version: str | None) -> Adapter:
    """The workerd driver for the current pin (version None) or a pinned older release."""
    import sys

    from sockets_conformance.adapters.workerd import versions
    from sockets_conformance.paths import ROOT
    from sockets_conformance.running.driver import DriverAdapter

    given = "--adapter workerd" + (f" --workerd-version {version}" if version else "")
    try:
        versions.installed(version)
    except versions.ReleaseError as exc:
        raise UnknownAdapter(f"{given}: {exc}") from None
    command = [sys.executable, "-m", "sockets_conformance.adapters.workerd.launch"]
    if version is not None:
        command += ["--workerd-version", version]
    # One case at a time per pytest process: each driver carries a workerd process, and
    # the run is bound by CPU, not by waiting.
    return DriverAdapter(command, label=f"workerd {version}" if version else "workerd",
                         cwd=ROOT, cases_at_once=1)
