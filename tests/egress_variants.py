"""A deliberately wrong reference: it does not enforce the egress policy.

`--adapter python:tests.egress_variants:factory` runs the suite against it. It still claims
the egress-policy feature, so the egress cases run and must all FAIL: the loopback ones
because they reach a listening bystander peer, and every one because the harness guard
refuses the destination and reports it ("implementation tried to reach ...; blocked by the
harness"). tests/test_egress.py does exactly that, inside a network namespace with only
loopback, to show the guard stops every attempt before the operating system sees it.
"""

from __future__ import annotations

from sockets_conformance.adapters.reference import egress
from sockets_conformance.adapters.reference.adapter import ReferenceAdapter
from sockets_conformance.adapters.reference.socket import Socket

NAME = "reference-without-egress-policy"


class NonEnforcingSocket(Socket):
    """Dials whatever it is given, like an implementation that forgot the policy."""

    def _egress_refusal(self) -> egress.Refusal | None:
        return None


def factory() -> ReferenceAdapter:
    return ReferenceAdapter(NonEnforcingSocket, name=NAME)
