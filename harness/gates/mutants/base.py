"""What a mutant is, how it is registered, and how it becomes an Adapter.

A mutant is the reference implementation with one realistic bug. The bug is injected at one
of three seams, all of them the reference's own, so the reference stays untouched:

- `socket_class`: a subclass of the reference's Socket (most bugs: the state machine,
  close(), startTls(), the egress policy hook, the streams a socket builds);
- `parse_address`: a replacement for the reference's address.parse (validation bugs);
- `parse_options`: a replacement for Options.parse (secureTransport / allowHalfOpen bugs).

`MutantAdapter` is the reference adapter with those seams swapped in; it installs the
harness guard exactly as the reference does (its scopes are ReferenceScopes), so an egress
mutant that dials a forbidden address is stopped and the attempt fails the case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sockets_conformance.adapters.reference import address as addr
from sockets_conformance.adapters.reference.adapter import ReferenceAdapter, ReferenceScope
from sockets_conformance.adapters.reference.socket import Options, Socket
from sockets_conformance.model.values import UNDEFINED
from sockets_conformance.running.adapter import CaseContext
from sockets_conformance.running.guard import install as install_guard

# behaviour: only a failing step counts as a kill (FAIL / TIMEOUT / ERROR, or a SHOULD
#            requirement broken); a different message is not a kill.
# message:   the bug is only the wording of an error; a NON-STRICT message difference
#            counts as a kill too (that is the only way such a bug can show).
Kind = Literal["behaviour", "message"]

AddressParser = Callable[[Any], addr.Address]
OptionsParser = Callable[[Any], Options]


@dataclass(frozen=True)
class Mutant:
    id: str                       # short, stable, kebab-case; the matrix's row name
    description: str              # one line: the bug, as a reviewer would describe it
    area: str                     # which part of the API it breaks (module name)
    socket_class: type[Socket] = Socket
    parse_address: AddressParser = addr.parse
    parse_options: OptionsParser = Options.parse
    kind: Kind = "behaviour"
    # Case ids this mutant must break: the pinned pairs the gate checks (harness/gates/mutation.py),
    # so a case edited into passing it is caught even while other cases still kill it.
    breaks: tuple[str, ...] = ()
    # Requirement ids (spec/requirements.yaml) whose text this bug breaks: what a runtime
    # author with this fault should be sent to read. The gate measures how many of the
    # cases that kill the mutant cite one of them (its precision, mutation_precision.py).
    requirements: tuple[str, ...] = ()

    def adapter(self) -> MutantAdapter:
        return MutantAdapter(self)

    @property
    def factory_name(self) -> str:
        """The attribute of sockets_conformance.gates.mutants that builds its adapter, for
        `pytest --adapter python:sockets_conformance.gates.mutants:<factory_name>`."""
        return self.id.replace("-", "_")

    def differs_from_reference(self) -> bool:
        return (self.socket_class is not Socket or self.parse_address is not addr.parse
                or self.parse_options is not Options.parse)


class MutantScope(ReferenceScope):
    """A ReferenceScope whose connect() goes through the mutant's parsers."""

    def __init__(self, context: CaseContext, mutant: Mutant) -> None:
        super().__init__(context, mutant.socket_class, install_guard())
        self.mutant = mutant

    def op_connect(self, socket: str, address: Any, options: Any = UNDEFINED) -> Any:
        # adapters/reference/socket.py connect(), with the parsers swapped.
        parsed = self.mutant.parse_address(address)
        opts = self.mutant.parse_options(options)
        sock = self.socket_class(parsed, opts, self.context)
        self.sockets.append(sock)
        self.handles[socket] = sock
        return sock


class MutantAdapter(ReferenceAdapter):
    def __init__(self, mutant: Mutant) -> None:
        super().__init__(socket_class=mutant.socket_class, name=f"mutant:{mutant.id}")
        self.mutant = mutant

    async def open_scope(self, context: CaseContext) -> MutantScope:
        return MutantScope(context, self.mutant)


REGISTRY: dict[str, Mutant] = {}


def register(mutant: Mutant) -> Mutant:
    if mutant.id in REGISTRY:
        raise ValueError(f"mutant id {mutant.id!r} registered twice")
    REGISTRY[mutant.id] = mutant
    return mutant


def socket_mutant(mutant_id: str, description: str, *, kind: Kind = "behaviour",
                  breaks: tuple[str, ...] = (), requirements: tuple[str, ...] = (),
                  ) -> Callable[[type[Socket]], type[Socket]]:
    """Class decorator: register a Socket subclass as a mutant. The area is the module's
    last name (sockets_conformance.gates.mutants.close -> close). `breaks`: the cases pinned to
    it (Mutant.breaks); `requirements`: the requirements it breaks (Mutant.requirements)."""

    def wrap(cls: type[Socket]) -> type[Socket]:
        register(Mutant(mutant_id, description, cls.__module__.rsplit(".", 1)[-1],
                        socket_class=cls, kind=kind, breaks=breaks,
                        requirements=requirements))
        return cls

    return wrap


def parser_mutant(mutant_id: str, description: str, *, area: str, kind: Kind = "behaviour",
                  parse_address: AddressParser = addr.parse,
                  parse_options: OptionsParser = Options.parse,
                  socket_class: type[Socket] = Socket,
                  breaks: tuple[str, ...] = (), requirements: tuple[str, ...] = (),
                  ) -> Mutant:
    return register(Mutant(mutant_id, description, area, socket_class=socket_class,
                           parse_address=parse_address, parse_options=parse_options,
                           kind=kind, breaks=breaks, requirements=requirements))


def retype(obj: Any, cls: type) -> None:
    """Turn a stream the reference socket has just built into the mutant's subclass of its
    class, in place: the object keeps everything the reference gave it (its source or sink,
    its highWaterMark), so the mutant changes only the methods the subclass overrides."""
    if not issubclass(cls, type(obj)):
        raise TypeError(f"{cls.__name__} must directly subclass {type(obj).__name__}")
    obj.__class__ = cls
