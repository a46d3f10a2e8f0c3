"""A reference variant that misreports secureTransport in every second case: the kind of
flakiness `--repeat` exists to expose."""

from __future__ import annotations

import itertools
from typing import Any

from sockets_conformance.adapters.reference.adapter import ReferenceAdapter, ReferenceScope
from sockets_conformance.adapters.reference.socket import Socket

_CASES = itertools.count()
_WRONG = [False]


class SometimesWrong(Socket):
    @property
    def secureTransport(self) -> str:
        return "on" if _WRONG[0] else super().secureTransport


class FlakyAdapter(ReferenceAdapter):
    async def open_scope(self, context: Any) -> ReferenceScope:
        _WRONG[0] = next(_CASES) % 2 == 1
        return await super().open_scope(context)


def factory() -> ReferenceAdapter:
    return FlakyAdapter(socket_class=SometimesWrong, name="flaky")
