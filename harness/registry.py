"""Turns `--adapter SPEC` into an Adapter.

  reference             the Python implementation in adapters/reference (default)
  python:MODULE:FACTORY any importable factory returning an Adapter (variants, mutants)
  driver:COMMAND        any program speaking spec/adapter-protocol.md on stdio; COMMAND is
                        split like a shell would (shlex), e.g.
                        driver:"python -m sockets_conformance.adapters.reference.stdio_driver"
  workerd               adapters/workerd: Cloudflare's workerd runtime (npm package), the
                        suite's driver running inside a Worker, one WebSocket per case
  node                  adapters/node: @arrowood.dev/socket on Node.js, or with
                        node_module (pytest --node-module PATH) any module exporting connect
"""

from __future__ import annotations

import importlib
from typing import Any

from sockets_conformance.adapter import Adapter


class UnknownAdapter(Exception):
    pass


def resolve(spec: str, *, node_module: str | None = None) -> Adapter:
    if node_module is not None and spec != "node":
        raise UnknownAdapter(f"--node-module needs --adapter node (not {spec!r})")
    if spec == "node":
        from sockets_conformance.adapters.node.launch import LaunchError, node_adapter

        try:
            return node_adapter(node_module)
        except LaunchError as exc:
            raise UnknownAdapter(f"--adapter node: {exc}") from None
    if spec == "workerd":
        import sys

        from sockets_conformance.driver import DriverAdapter
        from sockets_conformance.paths import ADAPTERS, ROOT, npm_install_command

        if not (ADAPTERS / "workerd" / "node_modules" / ".bin" / "workerd").exists():
            raise UnknownAdapter(f"--adapter workerd: workerd is not installed; run "
                                 f"`{npm_install_command(ADAPTERS / 'workerd')}`")
        return DriverAdapter([sys.executable, "-m", "sockets_conformance.adapters.workerd.launch"],
                             label="workerd", cwd=ROOT)
    if spec.startswith("driver:"):
        from sockets_conformance.driver import resolve_command

        try:
            return resolve_command(spec.removeprefix("driver:"))
        except ValueError as exc:
            raise UnknownAdapter(f"--adapter {spec!r}: {exc}") from None
    if spec == "reference":
        from sockets_conformance.adapters.reference.adapter import ReferenceAdapter

        return ReferenceAdapter()
    if spec.startswith("python:"):
        module, _, attr = spec.removeprefix("python:").partition(":")
        if not module or not attr:
            raise UnknownAdapter(f"--adapter {spec!r}: expected python:MODULE:FACTORY")
        try:
            factory: Any = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownAdapter(f"--adapter {spec!r}: {exc}") from None
        return factory()
    raise UnknownAdapter(f"--adapter {spec!r}: unknown adapter; use 'reference', 'node', "
                         f"'driver:COMMAND' or 'python:MODULE:FACTORY'")
