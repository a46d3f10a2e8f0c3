"""The end-of-case cleanup, reported beside the verdict; and cases that end as soon as their
outcome is known.

Cases close their sockets only where closing is what they test: the harness's cleanup (the
scope's close, then the peers' stop) closes the rest. When it goes wrong, the problem is
recorded on the result (`cleanup`), shown in the failure text and the results file, and the
status stays what the steps made it; the next case still runs cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sockets_conformance.adapters.reference.adapter import ReferenceAdapter, ReferenceScope
from sockets_conformance.model.case import Case
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.paths import ADAPTERS, ROOT
from sockets_conformance.reports.failure import render
from sockets_conformance.running.adapter import AdapterError, CaseContext
from sockets_conformance.running.runner import Settings, run_case
from sockets_conformance.servers.puppet import PuppetPeer

from tests.egress_variants import factory as without_egress_policy
from tests.needs import needs_node, needs_npm_part, node_path
from tests.test_driver import misbehaving, pid_dir  # noqa: F401 (pid_dir is a fixture)
from tests.test_usage import inprocess_run

# Sockets left open for the cleanup, as a case that does not test closing leaves them.
OPEN = """\
id: t/{name}
title: a case that leaves its sockets open for the cleanup
requirements: [connect.object-form]
features: [tcp]
steps:
  - connect: {{}}
  - peer.accept
  - connect: {{socket: s2}}
  - peer.accept                    # the peer's current connection is now s2's
  - write: {{socket: s2, data: "ping"}}
  - peer.expect: "ping"
"""

SHORT = Settings(step_timeout=0.5)    # the cleanup's bound: a hang costs half a second
GENEROUS = Settings(step_timeout=5.0)


def open_case(where: Path, name: str, text: str = OPEN) -> Case:
    path = where / f"{name}.yaml"
    path.write_text(text.format(name=name))
    return load_case(path, cases_root=where / "nowhere")


class FaultyCleanup(ReferenceAdapter):
    """The reference, except that closing the scope of its first `cases` cases goes wrong as
    `fault` says: after the real close (the sockets are closed), it hangs, hangs ignoring
    cancellation until `released` is set, reports an AdapterError or raises a bug."""

    def __init__(self, fault: str, cases: int = 1) -> None:
        super().__init__()
        self.faults = [fault] * cases
        self.released = asyncio.Event()

    async def open_scope(self, context: CaseContext) -> ReferenceScope:
        scope = await super().open_scope(context)
        if self.faults:
            fault, closing = self.faults.pop(), scope.close

            async def close() -> None:
                await closing()
                await self._misbehave(fault)

            scope.close = close  # type: ignore[method-assign]
        return scope

    async def _misbehave(self, fault: str) -> None:
        if fault == "hang":
            await asyncio.Event().wait()
        if fault == "stubborn":
            try:
                await self.released.wait()
            except asyncio.CancelledError:
                await self.released.wait()   # ignores the harness giving up on it
        if fault == "error":
            raise AdapterError("driver could not carry out close_scope request 9: cleanup: "
                               "s.close() threw Error: stuck")
        if fault == "bug":
            raise RuntimeError("a bug in the adapter's close")


def error_on_close() -> FaultyCleanup:
    """`--adapter python:tests.test_cleanup:error_on_close`, for the end-to-end test."""
    return FaultyCleanup("error", cases=1000)


async def run_all(adapter: Any, cases: list[Case], settings: Settings) -> list[CaseResult]:
    await adapter.start()
    try:
        return [await run_case(case, adapter, settings) for case in cases]
    finally:
        await adapter.stop()


@pytest.mark.parametrize(("fault", "words"), [
    ("hang", f"closing the scope did not finish within {SHORT.timeout(None):.2f} s"),
    ("stubborn", f"closing the scope did not finish within {SHORT.timeout(None):.2f} s"),
    ("error", "closing the scope failed: driver could not carry out close_scope request 9: "
              "cleanup: s.close() threw Error: stuck"),
    ("bug", "closing the scope failed: RuntimeError: a bug in the adapter's close"),
])
def test_failed_cleanup_is_reported_and_the_verdict_stands(tmp_path: Path, fault: str,
                                                           words: str) -> None:
    """Hanging (even through cancellation), an error, a bug: each is bounded by one step
    timeout, named in `cleanup` and in the failure text, and the case stays PASS; the next
    case passes with a clean cleanup."""
    adapter = FaultyCleanup(fault)
    cases = [open_case(tmp_path, "first"), open_case(tmp_path, "next")]

    async def run() -> list[CaseResult]:
        try:
            return await run_all(adapter, cases, SHORT)
        finally:
            adapter.released.set()   # lets the stubborn close end before the loop closes

    first, after = asyncio.run(run())
    assert first.status is Status.PASS, first.message
    assert first.cleanup == words
    assert f"cleanup failed (the verdict stands): {words}" in render(cases[0], first, "x")
    assert after.status is Status.PASS, after.message
    assert after.cleanup == ""
    assert "cleanup failed" not in render(cases[1], after, "x")


def test_peer_that_does_not_stop_is_reported(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The first case's peer stops (its connections are aborted) but its stop never returns:
    bounded, reported, PASS; the next case's peers stop as usual."""
    stop, hung = PuppetPeer.stop, []

    async def stop_once_hanging(peer: PuppetPeer) -> None:
        await stop(peer)
        if not hung:
            hung.append(peer.name)
            await asyncio.Event().wait()

    monkeypatch.setattr(PuppetPeer, "stop", stop_once_hanging)
    cases = [open_case(tmp_path, "first"), open_case(tmp_path, "next")]
    first, after = asyncio.run(run_all(ReferenceAdapter(), cases, SHORT))
    assert (first.status, after.status) == (Status.PASS, Status.PASS)
    assert first.cleanup == (f"stopping peer 'peer' did not finish within "
                             f"{SHORT.timeout(None):.2f} s")
    assert after.cleanup == ""


def test_failed_cleanup_leaves_a_fail_a_fail(tmp_path: Path) -> None:
    text = OPEN.replace('peer.expect: "ping"', 'peer.expect: "pong"')
    result, = asyncio.run(run_all(FaultyCleanup("error"), [open_case(tmp_path, "f", text)],
                                  GENEROUS))
    assert result.status is Status.FAIL
    assert result.message.startswith("step 6 (line 11) peer.expect"), result.message
    assert "s.close() threw Error: stuck" in result.cleanup


@pytest.mark.parametrize(("mode", "words", "restarts"), [
    # An `error` answer: the driver is still in step and is kept.
    ("close-error", "closing the scope failed: driver could not carry out close_scope "
                    "request", 0),
    # No answer: cut off by the harness's bound, and the driver replaced for the next case.
    ("close-hang", f"closing the scope did not finish within {SHORT.timeout(None):.2f} s", 1),
])
def test_driver_close_scope_failure_is_reported(tmp_path: Path, pid_dir: Path,  # noqa: F811
                                                mode: str, words: str, restarts: int) -> None:
    adapter = misbehaving(mode)
    cases = [open_case(tmp_path, "misbehave"), open_case(tmp_path, "after")]
    first, after = asyncio.run(run_all(adapter, cases, SHORT))
    assert first.status is Status.PASS, first.message
    assert first.cleanup.startswith(words), first.cleanup
    assert after.status is Status.PASS, after.message
    assert after.cleanup == ""
    assert adapter.restarts == restarts


def test_results_file_carries_the_cleanup(tmp_path: Path, pytester: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end through pytest (in this process): the record says what went wrong in the
    cleanup, its status is PASS and the run passes."""
    cases = tmp_path / "cases"
    cases.mkdir()
    open_case(cases, "one")
    results = tmp_path / "results.jsonl"
    done = inprocess_run(pytester, monkeypatch, "-q", str(cases), "--adapter",
                         "python:tests.test_cleanup:error_on_close",
                         f"--results-jsonl={results}")
    assert done.returncode == 0, done.stdout + done.stderr
    record, = [r for r in map(json.loads, results.read_text().splitlines())
               if r["type"] == "case"]
    assert record["status"] == "PASS"
    assert record["cleanup"].endswith("cleanup: s.close() threw Error: stuck")


# --- failing fast ------------------------------------------------------------------------------
REFUSED = """\
id: t/{name}
title: a case whose connection the guard refuses while the peer waits for it
requirements: [connect.object-form]
features: [tcp]
steps:
  - connect: {{address: "127.0.0.3:{{peer.port}}"}}
  - peer.accept
  - peer.expect: "never sent"
"""


def test_peer_wait_ends_once_the_guard_refused(tmp_path: Path) -> None:
    """The guard refused the connection the peer waits for: the case is a FAIL whatever the
    wire does, so the peer step ends instead of waiting out its timeout. (The message the
    test looks for is written only by the early end; waiting out the timeout would say "no
    connection arrived".)"""
    case = open_case(tmp_path, "refused", REFUSED)
    result, = asyncio.run(run_all(without_egress_policy(), [case], GENEROUS))
    assert result.status is Status.FAIL
    assert result.message.startswith("implementation tried to reach 127.0.0.3:"), \
        result.message
    step = result.steps[1]
    assert step.outcome == "FAIL"
    assert step.actual == "not waited for: the harness already blocked the implementation"
    assert result.steps[2].outcome == "not run"


# --- the drivers' close_scope ------------------------------------------------------------------
CORE_CLEANUP = """
import { createDriver } from './adapters/node/core.mjs';
const closes = {
  settles: () => Promise.resolve(),
  rejects: () => Promise.reject(new Error('closed with an error')),
  hangs: () => new Promise(() => {}),
  throws: () => { throw new TypeError('no close today'); },
};
const driver = createDriver({ connect: ({ how }) => ({ close: closes[how] }),
  implementation: {} });
let id = 0;
const ask = (request) => driver.handle({ id: id++, ...request });
const connect = (socket, how) => ask({ cmd: 'call', op: 'connect',
  args: { socket, address: { how } } });
await ask({ cmd: 'open_scope', case: 't/first', allowed: [] });
for (const how of Object.keys(closes)) await connect(how, how);
const first = await ask({ cmd: 'close_scope' });
await ask({ cmd: 'open_scope', case: 't/next', allowed: [] });
await connect('s', 'settles');
console.log(JSON.stringify([first, await ask({ cmd: 'close_scope' })]));
"""


@needs_node()
def test_core_cleanup_closes_every_socket_and_names_the_ones_that_fail() -> None:
    """Without a transport hook (the Worker), close_scope calls close() on every socket
    and answers `error` naming each close() that threw or did not settle; one that rejects
    only repeats how its socket ended and is not a failure. The next scope is unaffected."""
    done = subprocess.run([str(node_path()), "--input-type=module", "-e", CORE_CLEANUP],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    first, after = json.loads(done.stdout)
    assert first["error"]["message"] == ("cleanup: throws.close() threw TypeError: no close "
                                         "today; hangs.close() did not settle within 250 ms")
    assert after == {"id": 8, "ok": True}


def _socket_fds(pid: int) -> int:
    fds = Path(f"/proc/{pid}/fd")
    return sum(1 for fd in fds.iterdir()
               if os.readlink(fd).startswith("socket:"))


@needs_node()
@needs_npm_part(ADAPTERS / "node")
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_node_driver_cleanup_closes_every_socket_of_the_case(tmp_path: Path) -> None:
    """The case leaves two connections open; after its cleanup the Node.js driver holds no
    socket at all."""
    from sockets_conformance.adapters.node.launch import node_adapter

    adapter = node_adapter()

    async def run() -> tuple[CaseResult, int]:
        await adapter.start()
        try:
            result = await run_case(open_case(tmp_path, "open"), adapter, GENEROUS)
            assert adapter.pid is not None
            return result, _socket_fds(adapter.pid)
        finally:
            await adapter.stop()

    result, left = asyncio.run(run())
    assert result.status is Status.PASS, result.message
    assert result.cleanup == ""
    assert left == 0


def test_terminal_summary_lists_failed_cleanups_whatever_the_verdict() -> None:
    """A passing case's failed cleanup is told at the end of the run, beside its PASS."""
    from types import SimpleNamespace

    from sockets_conformance.plugin.summary import cleanup_lines

    def report(case: str, cleanup: str) -> SimpleNamespace:
        return SimpleNamespace(when="call", nodeid=f"{case}.yaml::{case}", user_properties=[
            ("conformance_case", case), ("conformance_status", "PASS"),
            ("conformance_cleanup", cleanup)])

    stats = {"passed": [report("t/clean", ""), report("t/stuck", "t.close() did not settle")]}
    assert cleanup_lines(stats) == ["  1 cleanup(s) failed (the verdicts stand):",
                                    "    t/stuck: t.close() did not settle"]
    assert cleanup_lines({"passed": [report("t/clean", "")]}) == []
