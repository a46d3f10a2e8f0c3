"""The driver protocol end to end: harness/running/driver.py against real driver processes.

The good driver is the reference over stdio (adapters/reference/stdio_driver.py); the bad
ones are tests/drivers/misbehaving.py, which breaks the protocol only in cases whose id ends
with "/misbehave", so each test also shows that the case after the breakage passes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from sockets_conformance.model.case import Case
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.model.values import UNDEFINED, ObjectRef, PromiseRef, TypedBytes
from sockets_conformance.paths import ADAPTERS, ROOT
from sockets_conformance.running import driver as drv
from sockets_conformance.running import processes, protocol
from sockets_conformance.running.adapter import AdapterError
from sockets_conformance.running.runner import Settings, run_case

from tests.case_texts import ECHO
from tests.needs import needs_netns, needs_node, needs_npm_part, netns_prefix, node_path
from tests.processes import alive, group_members, wait_exited, wait_for

MISBEHAVING = ROOT / "tests" / "drivers" / "misbehaving.py"
REFERENCE_DRIVER = [sys.executable, "-m", "sockets_conformance.adapters.reference.stdio_driver"]
# Generous, as nothing here waits out a step unless it hangs on purpose: then SHORT, so a
# hang costs a second. A busy machine only makes the generous bound matter.
SETTINGS = Settings(step_timeout=5.0)
SHORT = Settings(step_timeout=1.0)



def echo_case(where: Path, name: str) -> Case:
    path = where / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ECHO.format(name=name))
    return load_case(path, cases_root=where / "nowhere")


def misbehaving(mode: str) -> drv.DriverAdapter:
    return drv.DriverAdapter([sys.executable, str(MISBEHAVING), mode], label=f"misbehaving {mode}")


async def run_cases(adapter: drv.DriverAdapter, cases: list[Case],
                    settings: Settings = SETTINGS) -> list[CaseResult]:
    await adapter.start()
    try:
        return [await run_case(case, adapter, settings) for case in cases]
    finally:
        await adapter.stop()


@pytest.fixture
def pid_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Drivers started in the test write their pid here; none may be alive afterwards."""
    where = tmp_path / "pids"
    where.mkdir()
    monkeypatch.setenv("DRIVER_PID_DIR", str(where))
    yield where
    wait_exited(driver_pids(where), 10, "the test's drivers to exit")
    assert processes.live_pids() == []


def driver_pids(pid_dir: Path) -> list[int]:
    return [int(p.name) for p in pid_dir.iterdir() if p.name.isdigit()]


# --- the schema and the value encoding -------------------------------------------------------
def test_schema_is_valid_2020_12() -> None:
    schema = json.loads(protocol.PROTOCOL_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("/2020-12/schema")


@pytest.mark.parametrize("reply", [
    {"id": 3, "returned": {"$promise": "p1"}},
    {"id": 3, "returned": {"value": {"$bytes": "cG9uZw=="}, "done": False}},
    {"id": 3, "threw": {"name": "TypeError", "message": "nope"}},
    {"id": 3, "error": {"message": "no handle named 'x'"}},
])
def test_good_call_replies(reply: dict) -> None:
    assert protocol.reply_error("call", reply) is None


@pytest.mark.parametrize("reply, complaint", [
    ({"id": 3, "returned": {"$bytes": "not base64!"}}, "does not match"),
    ({"id": 3}, "a call reply is"),
    ({"id": 3, "returned": 1, "threw": {"name": "E", "message": ""}}, "a call reply is"),
    ({"id": 3, "threw": {"name": "TypeError"}}, "a call reply is"),
    ({"id": 3, "returned": {"$shiny": 1}}, "a call reply is"),
])
def test_bad_call_replies(reply: dict, complaint: str) -> None:
    problem = protocol.reply_error("call", reply)
    assert problem is not None and complaint in problem


def test_requests_the_harness_sends_are_valid() -> None:
    request = protocol.validator("#/$defs/request")
    for message in [
        {"id": 0, "cmd": "start", "protocol": 1},
        {"id": 1, "cmd": "open_scope", "case": "a/b", "allowed": [["127.0.0.1", 1]],
         "ca_pem": None, "self": None},
        {"id": 2, "cmd": "call", "op": "write",
         "args": protocol.encode({"writer": "w", "chunk": b"\x00\xff"})},
        {"id": 3, "cmd": "call", "op": "connect",
         "args": protocol.encode({"socket": "s",
                                  "address": {"hostname": "h", "port": float("nan")}})},
        {"id": 4, "cmd": "await", "promise": "p1", "timeout": 0.1},
        {"id": 5, "cmd": "batch", "calls": [
            {"op": "write", "args": protocol.encode({"writer": "w",
                                                     "chunk": TypedBytes("DataView", b"hi")})},
            {"op": "write", "args": {"writer": "w", "chunk": "text"}}]},
    ]:
        assert list(request.iter_errors(message)) == [], message
    assert list(request.iter_errors({"id": 5, "cmd": "call", "op": "explode", "args": {}}))


def test_values_round_trip() -> None:
    value = {"a": [UNDEFINED, b"bytes", float("inf"), None, True, 1.5, "s"],
             "p": PromiseRef("p9"), "o": ObjectRef("ReadableStream")}
    back = protocol.decode(json.loads(json.dumps(protocol.encode(value), allow_nan=False)))
    assert back == value
    nan = protocol.decode(protocol.encode(float("nan")))
    assert isinstance(nan, float) and nan != nan


# --- a good driver -------------------------------------------------------------------------
def test_reference_over_stdio_runs_cases(tmp_path: Path, pid_dir: Path) -> None:
    adapter = drv.DriverAdapter(REFERENCE_DRIVER)
    cases = [echo_case(tmp_path, f"echo-{i}") for i in range(3)]
    results = asyncio.run(run_cases(adapter, cases))
    assert [r.status for r in results] == [Status.PASS] * 3, [r.message for r in results]
    assert adapter.info.name == "reference" and "tcp" in adapter.info.features
    assert adapter.restarts == 0


SAME_TURN = """\
id: t/same-turn
title: connect, getWriter and write in one turn, through a batch
requirements: [connect.object-form]
features: [tcp]
steps:
  - sameTurn:
      - connect: {}
      - getWriter: {as: w}
      - write: {writer: w, data: "early", as: early}
      - getReader: {as: r, expect: {returns: true}}
  - peer.accept
  - await: early
  - peer.expect: "early"
  - close
"""


def test_same_turn_travels_as_one_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "wire.log"
    monkeypatch.setenv(drv.LOG_ENV, str(log))
    path = tmp_path / "same-turn.yaml"
    path.write_text(SAME_TURN)
    case = load_case(path, cases_root=tmp_path / "nowhere")
    result, = asyncio.run(run_cases(drv.DriverAdapter(REFERENCE_DRIVER), [case]))
    assert result.status is Status.PASS, result.message
    batches = [json.loads(line[2:]) for line in log.read_text().splitlines()
               if line.startswith("> ") and '"cmd":"batch"' in line]
    assert [[c["op"] for c in b["calls"]] for b in batches] == [
        ["connect", "getWriter", "write", "getReader"]]


def test_reference_over_stdio_matches_in_process(tmp_path: Path) -> None:
    """The same failing step, the same words, whichever side of the pipe the reference is on."""
    from sockets_conformance.adapters.reference.adapter import ReferenceAdapter

    path = tmp_path / "wrong.yaml"
    path.write_text(ECHO.format(name="wrong").replace('value: "pong"', 'value: "pang"'))
    case = load_case(path, cases_root=tmp_path / "nowhere")
    over_pipe = asyncio.run(run_cases(drv.DriverAdapter(REFERENCE_DRIVER), [case]))[0]

    async def in_process() -> CaseResult:
        return await run_case(case, ReferenceAdapter(), SETTINGS)

    direct = asyncio.run(in_process())
    assert over_pipe.status is direct.status is Status.FAIL
    assert over_pipe.message == direct.message


def test_driver_command_from_registry() -> None:
    from sockets_conformance.adapters.registry import resolve

    adapter = resolve("driver:python -m 'sockets_conformance.adapters.reference.stdio_driver'")
    assert isinstance(adapter, drv.DriverAdapter)
    assert adapter.command == ["python", "-m",
                               "sockets_conformance.adapters.reference.stdio_driver"]


# --- broken drivers --------------------------------------------------------------------------
@pytest.mark.parametrize("mode, words", [
    ("bad-schema", ['"$bytes":"this is not base64!"', "does not match"]),
    ("wrong-id", ["a reply with id 1002 while waiting for request 2 (call)"]),
    ("not-json", ["not JSON", "line: hello from the implementation"]),
    ("unsolicited", ["a reply with id 4242 while waiting for", '{"id": 4242']),
])
def test_protocol_break_is_error_then_next_case_passes(tmp_path: Path, pid_dir: Path,
                                                       mode: str, words: list[str]) -> None:
    adapter = misbehaving(mode)
    cases = [echo_case(tmp_path, "misbehave"), echo_case(tmp_path, "after")]
    broken, after = asyncio.run(run_cases(adapter, cases))
    assert broken.status is Status.ERROR, broken.message
    for word in words:
        assert word in broken.message
    assert after.status is Status.PASS, after.message
    assert adapter.restarts == 1   # a driver that broke the protocol is not trusted again


def test_error_reply_is_error_and_driver_is_kept(tmp_path: Path, pid_dir: Path) -> None:
    adapter = misbehaving("error-reply")
    cases = [echo_case(tmp_path, "misbehave"), echo_case(tmp_path, "after")]
    broken, after = asyncio.run(run_cases(adapter, cases))
    assert broken.status is Status.ERROR
    assert "this driver does not do connect today" in broken.message
    assert after.status is Status.PASS
    assert adapter.restarts == 0


def test_crash_is_error_with_stderr_then_restart(tmp_path: Path, pid_dir: Path) -> None:
    adapter = misbehaving("crash")
    cases = [echo_case(tmp_path, "misbehave"), echo_case(tmp_path, "after")]
    crashed, after = asyncio.run(run_cases(adapter, cases))
    assert crashed.status is Status.ERROR
    assert "exited with code 3" in crashed.message
    assert "boom: simulated crash inside connect()" in crashed.diagnostics
    assert after.status is Status.PASS, after.message
    assert adapter.restarts == 1
    assert len(driver_pids(pid_dir)) == 2


@pytest.mark.parametrize(("mode", "words"), [
    # connect: one step timeout; await: its own timeout plus one step timeout.
    ("hang", f"connect did not return within {SHORT.timeout(None):.2f} s"),
    ("hang-await", f"await did not answer within {2 * SHORT.timeout(None):.2f} s"),
])
def test_hanging_op_is_timeout_within_its_bound(tmp_path: Path, pid_dir: Path,
                                                mode: str, words: str) -> None:
    """The op that never answers is cut off by the bound for it, which the message names
    (the harness's own wait_for, not a clock read here: a busy machine cannot make it
    flaky), and the driver that hung is replaced for the next case."""
    adapter = misbehaving(mode)
    cases = [echo_case(tmp_path, "misbehave"), echo_case(tmp_path, "after")]

    async def run() -> list[CaseResult]:
        await adapter.start()
        try:
            return [await run_case(cases[0], adapter, SHORT),
                    await run_case(cases[1], adapter, SETTINGS)]
        finally:
            await adapter.stop()

    hung, after = asyncio.run(run())
    assert hung.status is Status.TIMEOUT, hung.message
    assert words in hung.message, hung.message
    assert after.status is Status.PASS, after.message
    assert adapter.restarts == 1


def test_wrong_protocol_version_refused(pid_dir: Path) -> None:
    adapter = misbehaving("wrong-version")
    with pytest.raises(AdapterError, match="speaks protocol 2; this harness speaks 1"):
        asyncio.run(adapter.start())
    assert processes.live_pids() == []


def test_missing_command_is_adapter_error() -> None:
    adapter = drv.DriverAdapter(["/nonexistent/driver"])
    with pytest.raises(AdapterError, match="cannot start driver"):
        asyncio.run(adapter.start())


def test_stop_kills_a_stubborn_driver_and_its_children(pid_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Ignores SIGTERM, does not exit after stop, and has started a child: the process
    group goes all the same. (The stop is answered, after the child is started, well within
    the shorter grace; how long the harness waits is not what is checked here.)"""
    monkeypatch.setattr(drv, "STOP_GRACE", 0.5)
    adapter = misbehaving("stubborn")

    async def go() -> int:
        await adapter.start()
        assert adapter.pid is not None
        return adapter.pid

    async def whole() -> int:
        pid = await go()
        await adapter.stop()
        return pid

    pid = asyncio.run(whole())
    assert not alive(pid)
    # SIGKILL went to the whole group; the orphaned child dies a moment later.
    wait_exited(group_members(pid), 10, f"process group {pid} to empty")


# --- whole pytest runs: xdist, Ctrl-C, SIGKILL -----------------------------------------------
def pytest_command(tmp_path: Path, adapter: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
            "-q", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
            "--adapter", adapter, *extra, str(tmp_path / "cases")]


def test_plugin_runs_driver_under_xdist_and_leaves_nothing(tmp_path: Path,
                                                            pid_dir: Path) -> None:
    for name in ("a", "b", "c", "d"):
        echo_case(tmp_path / "cases" / "t", name)
    adapter = f"driver:{sys.executable} -m sockets_conformance.adapters.reference.stdio_driver"
    done = subprocess.run(pytest_command(tmp_path, adapter, "-n", "2"), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_leaves_no_driver(tmp_path: Path, pid_dir: Path,
                                          how: signal.Signals) -> None:
    """Ctrl-C (SIGINT to the whole foreground group), SIGTERM, or SIGKILL (no handler can
    run: the driver sees its stdin close) in the middle of a hanging op."""
    echo_case(tmp_path / "cases" / "t", "misbehave")
    adapter = f"driver:{sys.executable} {MISBEHAVING} hang"
    run = subprocess.Popen(pytest_command(tmp_path, adapter, "--timeout-multiplier", "100"),
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           start_new_session=True)
    try:
        hanging = wait_for(lambda: [int(p.name.split(".")[0]) for p in pid_dir.iterdir()
                                    if p.name.endswith(".hanging")], 60, "the driver to hang")
        if how == signal.SIGINT:
            os.killpg(run.pid, how)
        else:
            os.kill(run.pid, how)
        run.wait(timeout=60)
        wait_exited(hanging, 10, "the driver to go")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        assert run.stdout is not None
        run.stdout.close()



# --- the Node.js driver ------------------------------------------------------------------------

PLAIN = """\
id: t/{name}
title: a case @arrowood.dev/socket passes (it has no opened)
requirements: [connect.object-form]
features: [tcp]
steps:
  - sameTurn:
      - connect: {{}}
      - getWriter: {{as: w}}
      - write: {{writer: w, data: "ping", as: early}}
  - peer.accept
  - await: early
  - peer.expect: "ping"
  - peer.send: "pong"
  - read: {{expect: {{value: "pong"}}}}
  - close
  - peer.expect_eof
"""


@needs_node()
@needs_netns()
def test_node_guard_refuses_everything_beyond_loopback() -> None:
    """Run inside a new network namespace with only loopback, so that even a broken guard
    sends nothing anywhere: there, a miss shows as ENETUNREACH instead of a refusal."""
    probe = ROOT / "tests" / "drivers" / "guard-probe.mjs"
    prefix = netns_prefix()
    assert prefix is not None
    done = subprocess.run([*prefix, "sh", "-c", 'ip link set lo up && exec "$0" "$1"',
                           str(node_path()), str(probe)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    results, violations = report["results"], report["violations"]
    assert results.pop("netAllowed") == "connected"
    assert results.pop("netLocalhost") == "connected"
    assert results.pop("lookupLocalhost") == "127.0.0.1"
    assert {k: v for k, v in results.items() if v not in ("ECONNREFUSED", "ENOTFOUND")} == {}
    assert len(violations) == len(results)
    assert "implementation tried to reach 10.0.0.1:5432; blocked by the harness" in violations
    assert ("implementation tried to reach example.com:80 (a DNS look-up of a name other "
            "than localhost); blocked by the harness") in violations
    assert any("(loopback, but not one of the case's own peers)" in v for v in violations)
    assert all(v.startswith("implementation tried to reach ") and
               v.endswith("; blocked by the harness") for v in violations)


@needs_node()
def test_node_core_decodes_every_argument_form() -> None:
    """core.mjs turns the protocol's tags into the JavaScript values they stand for."""
    script = """
import { decode } from './adapters/node/core.mjs';
const kinds = (v) => Object.fromEntries(Object.entries(v).map(([k, x]) => [k,
  x === undefined ? 'undefined' : Number.isNaN(x) ? 'NaN' : x?.constructor?.name ?? typeof x]));
const v = decode(JSON.parse(process.argv[1]));
console.log(JSON.stringify({ kinds: kinds(v), u16: v.u16.length, dv: v.dv.byteLength }));
"""
    value = protocol.encode({
        "u": UNDEFINED, "b": b"hi", "n": float("nan"), "s": "text",
        "ab": TypedBytes("ArrayBuffer", b"ab"), "sab": TypedBytes("SharedArrayBuffer", b"s"),
        "dv": TypedBytes("DataView", b"dvdv"), "u16": TypedBytes("Uint16Array", b"abcd")})
    done = subprocess.run([str(node_path()), "--input-type=module", "-e", script,
                           json.dumps(value)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["kinds"] == {"u": "undefined", "b": "Uint8Array", "n": "NaN", "s": "String",
                            "ab": "ArrayBuffer", "sab": "SharedArrayBuffer", "dv": "DataView",
                            "u16": "Uint16Array"}
    assert (out["u16"], out["dv"]) == (2, 4)


@needs_node()
def test_node_module_option_runs_any_module(tmp_path: Path, pid_dir: Path) -> None:
    from sockets_conformance.adapters.node.launch import node_adapter

    adapter = node_adapter("tests/drivers/throwing-module.mjs")
    result, = asyncio.run(run_cases(adapter, [echo_case(tmp_path, "throws")]))
    assert adapter.info.name == "throwing-module.mjs"
    # the module's own features, plus protocol 1.1's ops, which the driver core performs
    assert adapter.info.features == {"tcp", "pipe", "transform", "async-iteration"}
    assert result.status is Status.FAIL
    assert "threw TypeError: connect() from tests/drivers/throwing-module.mjs" in result.message


@needs_node()
@needs_npm_part(ADAPTERS / "node")
def test_node_driver_runs_arrowood(tmp_path: Path) -> None:
    from sockets_conformance.adapters.node.launch import node_adapter

    path = tmp_path / "plain.yaml"
    path.write_text(PLAIN.format(name="plain"))
    adapter = node_adapter()
    result, = asyncio.run(run_cases(adapter, [load_case(path, cases_root=tmp_path / "x")]))
    assert result.status is Status.PASS, result.message
    assert (adapter.info.name, adapter.info.version) == ("@arrowood.dev/socket", "0.2.0")
    assert adapter.info.language.startswith("JavaScript (Node.js v")
