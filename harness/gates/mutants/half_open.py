"""Mutants of allowHalfOpen and of what the readable's end does to the socket."""

from __future__ import annotations

from typing import Any

from sockets_conformance.adapters.reference.socket import Options, Socket, State
from sockets_conformance.gates.mutants.base import parser_mutant, socket_mutant


@socket_mutant("half-open-ignored",
               "allowHalfOpen is ignored: the readable's end always closes the writable",
               breaks=("half-open/allow-true-writable-open",
                       "half-open/allow-true-closed-pending"),
               requirements=("half-open.allow-true.writable-open",
                             "half-open.allow-true.closed-pending", "tls.half-open.allow-true",
                             "starttls.new.allow-half-open",
                             "half-open.allow-true.both-ends-closed-pending"))
class HalfOpenIgnored(Socket):
    def _on_eof(self) -> None:
        if self.state is State.OPEN:
            self._spawn(self._finish_after_eof())


@socket_mutant("half-open-inverted",
               "allowHalfOpen is read the wrong way round (`if (allowHalfOpen) close()`)",
               requirements=("half-open.allow-false.closed-resolves",
                             "half-open.allow-false.waits-for-read",
                             "half-open.allow-false.writable-closed",
                             "half-open.allow-false.sends-fin",
                             "half-open.allow-true.writable-open",
                             "half-open.allow-true.closed-pending",
                             "defaults.allow-half-open-false", "tls.half-open.allow-true",
                             "tls.half-open.allow-false", "starttls.new.allow-half-open",
                             "half-open.allow-true.both-ends-closed-pending"))
class HalfOpenInverted(Socket):
    def _on_eof(self) -> None:
        if not self._options.allow_half_open or self.state is not State.OPEN:
            return
        self._spawn(self._finish_after_eof())


@socket_mutant("half-open-always",
               "the readable's end never closes the socket's side, as if allowHalfOpen were "
               "always true",
               breaks=("half-open/allow-false-closed-resolves",
                       "half-open/allow-false-write-rejects", "half-open/allow-false-sends-fin",
                       "defaults/allow-half-open-false"),
               requirements=("half-open.allow-false.closed-resolves",
                             "half-open.allow-false.waits-for-read",
                             "half-open.allow-false.writable-closed",
                             "half-open.allow-false.sends-fin", "defaults.allow-half-open-false",
                             "tls.half-open.allow-false"))
class HalfOpenAlways(Socket):
    def _on_eof(self) -> None:
        pass


def _half_open_by_default(raw: Any) -> Options:
    """Options.parse with `allowHalfOpen ?? true`, as @arrowood.dev/socket 0.2.0 has it."""
    opts = Options.parse(raw)
    if not (isinstance(raw, dict) and "allowHalfOpen" in raw):
        opts.allow_half_open = True
    return opts


parser_mutant("half-open-default-true",
              "allowHalfOpen defaults to true when the option is left out",
              area="half_open", parse_options=_half_open_by_default,
              breaks=("defaults/allow-half-open-false",),
              requirements=("defaults.allow-half-open-false",))


@socket_mutant("eof-keeps-writable",
               "without allowHalfOpen, EOF resolves closed but never closes the writable "
               "(no FIN, later writes still succeed)",
               requirements=("half-open.allow-false.writable-closed",
                             "half-open.allow-false.sends-fin", "defaults.allow-half-open-false",
                             "tls.half-open.allow-false"))
class EofKeepsWritable(Socket):
    async def _eof_closes_writable(self) -> None:
        await self.writable.flush()

    def _eof_closes_connection(self) -> None:
        pass


@socket_mutant("eof-closed-pending",
               "without allowHalfOpen, EOF closes the writable and sends FIN but never "
               "resolves closed",
               requirements=("half-open.allow-false.closed-resolves",
                             "half-open.allow-false.waits-for-read",
                             "defaults.allow-half-open-false", "tls.half-open.allow-false",
                             "close.after-eof-resolves"))
class EofClosedPending(Socket):
    def _eof_resolves_closed(self) -> None:
        pass


@socket_mutant("eof-closes-eagerly",
               "closes (and resolves closed) on the peer's FIN, before the readable has "
               "been read to its end", breaks=("half-open/allow-false-waits-for-read",),
               requirements=("half-open.allow-false.waits-for-read",
                             "half-open.allow-false.closed-without-read"))
class EofClosesEagerly(Socket):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        wire, on_fin = self._wire, self._wire.eof_received

        def eof_received() -> bool:
            keep = on_fin()
            self._on_eof()
            return keep

        wire.eof_received = eof_received  # type: ignore[method-assign]
