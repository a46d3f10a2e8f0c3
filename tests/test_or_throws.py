"""`orThrows` on startTls: the sources allow the call to refuse (throw) or to carry out what
it was asked; either passes, and a throw ends the case there (spec/requirements.yaml,
starttls.expected-server-hostname)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sockets_conformance.model.results import Status
from sockets_conformance.model.values import JSErrorInfo, Returned, Threw

from tests.test_runner import ScriptedAdapter, case, run

STEPS = """  - connect
  - startTls: {as: t, expect: {orThrows: TypeError, message: not supported}}
  - get: {target: t.secureTransport, expect: {value: "on"}}
"""


@pytest.mark.parametrize(("answer", "status", "outcomes"), [
    (Returned("t"), Status.PASS, ["ok", "ok", "ok"]),
    (Threw(JSErrorInfo("TypeError", "not supported")), Status.PASS, ["ok", "ok", "not run"]),
    (Threw(JSErrorInfo("TypeError", "other words")), Status.NON_STRICT, ["ok", "ok", "not run"]),
    (Threw(JSErrorInfo("RangeError", "not supported")), Status.FAIL, ["ok", "FAIL", "not run"]),
])
def test_returns_or_throws(tmp_path: Path, answer: object, status: Status,
                           outcomes: list[str]) -> None:
    adapter = ScriptedAdapter({"startTls": answer, "get": Returned("on")})
    result = run(case(tmp_path, STEPS, req="starttls.expected-server-hostname"), adapter)
    assert (result.status, [s.outcome for s in result.steps]) == (status, outcomes), \
        result.message
    assert ("get" in adapter.scope.calls) is (outcomes[-1] == "ok")
