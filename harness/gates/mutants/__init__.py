"""The mutation gate's catalogue: the reference implementation with one realistic bug each.

Why here, under harness/, and not beside the reference (adapters/reference/): the reference
is the implementation users read as the model of correct behaviour, and the stdio driver
serves it to other harnesses; bugs sitting next to it would be one wrong import away from
shipping. The mutants are a tool of the suite's own quality guarantee ("every case can
fail, every plausible bug is caught"), like the linter and the coverage report, so they
live with the harness. Nothing in adapters/reference imports them.

Each mutant (base.Mutant) has a short id, a one-line description and its code: a Socket
subclass, or a replacement address / options parser, reaching only the behaviour its
description names. `python -m sockets_conformance mutants` (harness/gates/mutation.py) runs
every case against every mutant; `catalogue()` is its list. One mutant can also be run like any
implementation, e.g.

    pytest cases/close --adapter python:sockets_conformance.gates.mutants:close_leaves_readers

To add a mutant: write it in the module of its area (or a new module listed in AREAS)
with @socket_mutant / parser_mutant, run `python -m sockets_conformance mutants --mutant <id>` and
make sure some case kills it; if none does, write the case that would. A bug that leaves
out one step of a larger reference method overrides that step (the reference's Socket lists
its seams in its docstring): no mutant copies a method of the reference.

`breaks=(case ids)` pins the cases written for that bug: the gate then fails if one of them
stops killing it, even while other cases still do (tests/test_catalogue.py runs just those
pairs). This catalogue is the only one: the old tests/variants.py and tls_variants.py
became mutants here, their expected failures these pins.
"""

from __future__ import annotations

import importlib
from typing import Any

from sockets_conformance.gates.mutants.base import REGISTRY, Mutant, MutantAdapter

# Modules holding mutants, in the order the matrix lists them.
AREAS = ("half_open", "close", "errors", "opened", "address", "egress", "streams", "locks",
         "tls", "behaviours", "ops", "network")

__all__ = ["AREAS", "Mutant", "MutantAdapter", "by_id", "catalogue"]


def catalogue() -> list[Mutant]:
    """Every mutant, area by area, in definition order."""
    for area in AREAS:
        importlib.import_module(f"sockets_conformance.gates.mutants.{area}")
    return list(REGISTRY.values())


def by_id(mutant_id: str) -> Mutant:
    for mutant in catalogue():
        if mutant.id == mutant_id or mutant.factory_name == mutant_id:
            return mutant
    raise KeyError(f"no mutant {mutant_id!r}")


def __getattr__(name: str) -> Any:
    """`python:sockets_conformance.gates.mutants:<id with underscores>` factories for --adapter."""
    try:
        mutant = by_id(name)
    except KeyError:
        raise AttributeError(name) from None
    return mutant.adapter
