"""Turns `--adapter SPEC` into an Adapter.

  reference             the Python implementation in adapters/reference (default)
  python:MODULE:FACTORY any importable factory returning an Adapter (variants, mutants)
"""

from __future__ import annotations

import importlib
from typing import Any

from harness.adapter import Adapter


class UnknownAdapter(Exception):
    pass


def resolve(spec: str) -> Adapter:
    if spec == "reference":
        from adapters.reference.adapter import ReferenceAdapter

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
    raise UnknownAdapter(f"--adapter {spec!r}: unknown adapter; use 'reference' or "
                         f"'python:MODULE:FACTORY'")
