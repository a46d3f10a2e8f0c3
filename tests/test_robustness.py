"""The harness keeps working when what it drives misbehaves.

- Driver replies fuzzed (seeded): every reply of a case, one at a time, replaced by a
  malformed line (not JSON, truncated, the wrong id, a schema break, absurd nesting) must
  make the case ERROR; replaced by a random but well-formed reply it may make the case
  anything. Never an exception out of the runner, never a traceback in a message, never a
  wait, and the case after it always passes.
- A peer that resets (RST) after each step of a few representative cases, in turn: every
  variant reports a status, within its timeouts, and nothing raises out of the runner.
- SIGINT or SIGTERM in the middle of a `--adapter node` run leaves no node process.

Covered elsewhere, not repeated here: an operation that is never answered (TIMEOUT within
its bound, the next case passes) and a driver that crashes (ERROR with its stderr) in
tests/test_driver.py; workerd crashing or interrupted in tests/test_workerd.py; malformed
case files in tests/test_loader.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from sockets_conformance.adapters.reference.adapter import ReferenceAdapter
from sockets_conformance.model.case import Case
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.paths import ADAPTERS, CASES, ROOT
from sockets_conformance.reports.failure import render
from sockets_conformance.running import driver as drv
from sockets_conformance.running import processes, protocol
from sockets_conformance.running.runner import Settings, run_case

from tests.case_texts import HANG
from tests.needs import needs_node, needs_npm_part
from tests.processes import children, wait_exited, wait_for

SCRIPTED = ROOT / "tests" / "drivers" / "scripted.py"
# The scripted driver answers every request at once, so no step ever waits out this bound
# (a wait is caught as TIMEOUT, however long): it is generous so that a busy machine,
# slow to schedule the driver, cannot turn into a TIMEOUT.
SETTINGS = Settings(step_timeout=10.0)
# Per test: each reply of the clean case's conversation (19) in turn, once. Each broken driver
# costs a restart (~40 ms of CPU). 40 (every reply twice) caught no more of the mistakes tried
# in the driver client: the schema check skipped, lone surrogates let through, a reader that
# dies on deep nesting, a reply's id not checked.
EXAMPLES = 20

CLIENT_ONLY = """\
id: t/{name}
title: client steps only, answered by the scripted driver
requirements: [connect.object-form]
features: [tcp]
steps:
  - connect: {{}}
  - await: s.opened
  - get: {{target: s.readable.locked, expect: {{value: false}}}}
  - write: "ping"
  - read: {{expect: {{value: "pong"}}}}
  - sameTurn:
      - write: {{data: "a", as: wa}}
      - write: {{data: "b", as: wb}}
  - await: wa
  - close
  - await: {{promise: s.closed, expect: {{fulfils: true}}}}
"""


def client_case(where: Path, name: str) -> Case:
    path = where / f"{name}.yaml"
    path.write_text(CLIENT_ONLY.format(name=name))
    return load_case(path, cases_root=where / "nowhere")


def scripted(plan: dict[str, Any], where: Path) -> drv.DriverAdapter:
    plan_file = where / "plan.json"
    plan_file.write_text(json.dumps(plan))
    return drv.DriverAdapter([sys.executable, "-S", str(SCRIPTED), str(plan_file)],
                             label="scripted")


# --- the conversation a clean case has -----------------------------------------------------
@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The requests of one clean case, open_scope first, and the replies they got: each
    is a place to put a fuzzed reply."""
    where = tmp_path_factory.mktemp("conversation")
    log = where / "wire.log"
    old = os.environ.get(drv.LOG_ENV)
    os.environ[drv.LOG_ENV] = str(log)
    try:
        result, = asyncio.run(_run_all(scripted({}, where), [client_case(where, "clean")]))
    finally:
        if old is None:
            os.environ.pop(drv.LOG_ENV)
        else:
            os.environ[drv.LOG_ENV] = old
    assert result.status is Status.PASS, result.message
    lines = log.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if '"cmd":"open_scope"' in line)
    pairs = [(json.loads(q[2:]), json.loads(a[2:]))
             for q, a in zip(lines[start::2], lines[start + 1::2], strict=False)
             if q.startswith("> ") and a.startswith("< ")]
    turns = [{"cmd": q["cmd"], "request": q, "reply": a} for q, a in pairs]
    end = next(i for i, t in enumerate(turns) if t["cmd"] == "close_scope")
    return turns[:end + 1]


async def _run_all(adapter: drv.DriverAdapter, cases: list[Case]) -> list[CaseResult]:
    await adapter.start()
    try:
        return [await run_case(case, adapter, SETTINGS) for case in cases]
    finally:
        await adapter.stop()


# --- fuzzed replies ------------------------------------------------------------------------
def random_text(rng: random.Random) -> str:
    alphabet = ["a", "Z", "0", " ", "$", '"', "\\", "\t", "é", "€", "😀", "\u2028", "\ud800",
                "\x00", "{", "}"]
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))


def random_value(rng: random.Random, depth: int = 0) -> Any:
    """Any value the protocol's `value` allows: JSON, and the tagged forms."""
    pick = rng.randrange(12 if depth < 4 else 7)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() < 0.5
    if pick == 2:
        return rng.choice([0, -1, 2**53 + 1, 10**40, -(10**40)])
    if pick == 3:
        return rng.choice([0.5, -1e300, 1e-300, 3.0])
    if pick == 4:
        return random_text(rng)
    if pick == 5:
        return rng.choice([{"$undefined": True}, {"$object": random_text(rng) or "X"},
                           {"$promise": rng.choice(["p1", "p999", "nope"])},
                           {"$number": rng.choice(["NaN", "Infinity", "-Infinity"])}])
    if pick == 6:
        return {"$bytes": base64.b64encode(rng.randbytes(rng.randrange(0, 9))).decode()}
    if pick in (7, 8):
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    keys = ["value", "done", "reads", "remoteAddress", "localAddress", random_text(rng)]
    return {k.lstrip("$") or "k": random_value(rng, depth + 1)
            for k in rng.sample(keys, rng.randrange(0, 4))}


def random_error(rng: random.Random) -> dict[str, str]:
    return {"name": rng.choice(["TypeError", "Error", "AbortError", random_text(rng)]),
            "message": random_text(rng)}


def random_reply(rng: random.Random, cmd: str, rid: int, calls: int) -> dict[str, Any]:
    """A well-formed reply to `cmd` with random content."""
    if rng.random() < 0.1:
        return {"id": rid, "error": {"message": random_text(rng)}}
    if cmd in ("open_scope", "close_scope"):
        return {"id": rid, "ok": True}
    if cmd == "violations":
        return {"id": rid, "violations": [random_text(rng) for _ in range(rng.randrange(3))]}

    def call_reply() -> dict[str, Any]:
        if rng.random() < 0.3:
            return {"threw": random_error(rng)}
        return {"returned": random_value(rng)}

    if cmd == "call":
        return {"id": rid, **call_reply()}
    if cmd == "batch":
        return {"id": rid, "replies": [call_reply() for _ in range(calls)]}
    assert cmd == "await"
    return {"id": rid, **rng.choice([{"fulfilled": random_value(rng)},
                                     {"rejected": random_error(rng)}, {"pending": True}])}


def malformed_reply(rng: random.Random, cmd: str, rid: int, good: dict[str, Any]) -> bytes:
    """A reply line that breaks the protocol, whatever it answers (never two lines)."""
    text = json.dumps(good)
    choice = rng.randrange(9)
    if choice == 0:  # random bytes, invalid UTF-8 included
        junk = bytes(b for b in rng.randbytes(rng.randrange(1, 40)) if b != 0x0A)
        return junk or b"\xff"
    if choice == 1:  # cut short
        return text[:rng.randrange(1, len(text))].encode()
    if choice == 2:  # JSON, but not an object
        return json.dumps(rng.choice([1, "reply", [], None, True, [good]])).encode()
    if choice == 3:  # the wrong id
        other = rng.choice([rid + 1, rid + 1000, -1, str(rid), None])
        return json.dumps({**good, "id": other}).encode()
    if choice == 4:  # no id at all
        return json.dumps({k: v for k, v in good.items() if k != "id"}).encode()
    if choice == 5:  # nested far too deep (the harness's limit is protocol.MAX_NESTING)
        depth = rng.choice([protocol.MAX_NESTING + 1, 5000, 100_000])
        return (b'{"id":%d,"returned":' % rid + b"[" * depth + b"]" * depth + b"}")
    if choice == 6:  # an answer of another command's shape
        return json.dumps({"id": rid, "ok": True} if cmd not in ("open_scope", "close_scope")
                          else {"id": rid, "fulfilled": 1}).encode()
    if choice == 7:  # an extra member
        return json.dumps({**good, "extra": random_value(rng)}).encode()
    # a schema break inside the value: bad base64, an unknown tag, a $-key in an object
    bad = rng.choice([{"$bytes": "not base64!"}, {"$bytes": "QUJD\n"}, {"$mystery": 1},
                      {"$bytes": "QQ==", "more": 1}, {"ok": {"$undefined": False}}])
    key = {"call": "returned", "await": "fulfilled"}.get(cmd)
    if key is None:
        return json.dumps({**good, "extra": bad}).encode()
    return json.dumps({"id": rid, key: bad}).encode()


def _schema_valid(cmd: str, line: bytes, rid: int) -> bool:
    """By the protocol schema itself (not the harness's shortcuts): is this a valid reply?"""
    try:
        parsed = json.loads(line)
    except (ValueError, RecursionError):
        return False
    if not isinstance(parsed, dict) or parsed.get("id") != rid or isinstance(
            parsed.get("id"), bool):
        return False
    if protocol.nesting(parsed) > protocol.MAX_NESTING:
        return False
    return protocol.validator(f"#/$defs/reply/$defs/{cmd}").is_valid(parsed)


def _check(result: CaseResult, case: Case) -> None:
    """What holds whatever the reply was: a status, reached without waiting, and a report
    that can be written to a UTF-8 file (Allure's results choked on a lone surrogate from
    a driver). The scripted driver answers every request at once, so a TIMEOUT can only
    mean the harness waited for an answer that had already come, or never would."""
    assert isinstance(result.status, Status)
    assert "Traceback" not in result.message, result.message
    assert result.status is not Status.TIMEOUT, result.message
    for text in (result.message, render(case, result, "scripted"), result.diagnostics):
        text.encode("utf-8")


@pytest.mark.parametrize("kind", ["malformed", "well-formed"])
def test_fuzzed_driver_replies(tmp_path: Path, conversation: list[dict[str, Any]],
                               kind: str) -> None:
    rng = random.Random(f"sockets-conformance fuzz {kind}")
    plan: dict[str, Any] = {}
    expect: dict[str, tuple[str, bool]] = {}
    cases: list[Case] = []
    for n in range(max(EXAMPLES, len(conversation))):   # each reply at least once
        at = n % len(conversation)  # every reply of the case in turn
        turn = conversation[at]
        cmd, rid = turn["cmd"], turn["reply"].get("id")
        assert isinstance(rid, int)
        # Request ids count on per process: a restarted driver numbers from 0 again, so
        # the fuzzed reply takes the id this request will really have (see below).
        line = (malformed_reply(rng, cmd, rid, turn["reply"]) if kind == "malformed"
                else json.dumps(random_reply(rng, cmd, rid,
                                             len(turn["request"].get("calls", [])))).encode())
        name = f"fuzz-{n}"
        plan[f"t/{name}"] = {"at": at, "line": base64.b64encode(line).decode()}
        expect[f"t/{name}"] = (cmd, _schema_valid(cmd, line, rid))
        cases += [client_case(tmp_path, name), client_case(tmp_path, f"after-{n}")]
    # A fresh driver for each fuzzed case, so that its request ids are the conversation's.
    results: list[CaseResult] = []
    for i in range(0, len(cases), 2):
        results += asyncio.run(_run_all(scripted(plan, tmp_path), cases[i:i + 2]))
    for case, result in zip(cases, results, strict=True):
        _check(result, case)
        if case.id.startswith("t/after-"):
            assert result.status is Status.PASS, f"{case.id}: {result.message}"
            continue
        cmd, valid = expect[case.id]
        if not valid and cmd != "close_scope":
            # close_scope comes after the verdict: a break there only retires the driver.
            assert result.status is Status.ERROR, f"{case.id} ({cmd}): {result.message}"
            assert "driver" in result.message, result.message
        if kind == "malformed":
            assert not valid, f"{case.id}: the fuzzer made a valid reply"


def test_one_driver_survives_a_run_of_fuzzed_cases(tmp_path: Path,
                                                    conversation: list[dict[str, Any]]) -> None:
    """The same, on one long-lived adapter: each break retires the driver and the next
    case starts a fresh one (its request ids start again from 0)."""
    rng = random.Random("sockets-conformance fuzz one driver")
    plan: dict[str, Any] = {}
    cases: list[Case] = []
    for n in range(12):
        turn = conversation[rng.randrange(1, len(conversation) - 1)]
        line = malformed_reply(rng, turn["cmd"], -5, turn["reply"])  # an id no request has
        plan[f"t/one-{n}"] = {"at": conversation.index(turn),
                              "line": base64.b64encode(line).decode()}
        cases += [client_case(tmp_path, f"one-{n}"), client_case(tmp_path, f"next-{n}")]
    adapter = scripted(plan, tmp_path)
    results = asyncio.run(_run_all(adapter, cases))
    for case, result in zip(cases, results, strict=True):
        _check(result, case)
        wanted = Status.ERROR if case.id.startswith("t/one-") else Status.PASS
        assert result.status is wanted, f"{case.id}: {result.message}"
    assert adapter.restarts == 12
    assert processes.live_pids() == []


# --- a peer that resets at every step ---------------------------------------------------------
RESET_CASES = ["half-open/allow-true-writable-open", "tls/round-trip", "starttls/smtp",
               "streams/large-transfer"]
FAST = Settings(timeout_multiplier=0.1)   # 0.2 s a step: a variant that waits, waits little
# Every wait of the runner is bounded by its step timeout, so a case always ends; this only
# turns a bug that made it hang into a failure instead of a stuck run. Not a speed claim.
HANG_GUARD = 60.0


def reset_variants(case_id: str, where: Path) -> list[Case]:
    """The case with `<peer>.reset` inserted after each step from the peer's accept on."""
    data = yaml.safe_load((CASES / f"{case_id}.yaml").read_text())
    steps = data["steps"]
    peer = next(iter(data.get("peers") or {"peer": None}))
    first = next(i for i, s in enumerate(steps) if s == f"{peer}.accept")
    variants = []
    for at in range(first + 1, len(steps) + 1):
        name = f"{case_id.replace('/', '-')}-reset-{at}"
        variant = {**data, "id": f"t/{name}", "title": f"{data['title'][:60]} (RST at {at})",
                   "steps": [*steps[:at], f"{peer}.reset", *steps[at:]]}
        path = where / f"{name}.yaml"
        path.write_text(yaml.safe_dump(variant, sort_keys=False, allow_unicode=True))
        variants.append(load_case(path, cases_root=where / "nowhere"))
    return variants


@pytest.mark.parametrize("case_id", RESET_CASES)
def test_peer_reset_after_every_step(tmp_path: Path, case_id: str) -> None:
    variants = reset_variants(case_id, tmp_path)
    assert len(variants) >= 5

    async def run_all() -> list[tuple[CaseResult, int]]:
        adapter = ReferenceAdapter()
        await adapter.start()
        out = []
        for case in variants:
            result = await asyncio.wait_for(run_case(case, adapter, FAST), HANG_GUARD)
            await asyncio.sleep(0)   # let aborted transports report connection_lost
            leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()
                        and not t.done()]
            out.append((result, len(leftover)))
        return out

    for case, (result, leftover) in zip(variants, asyncio.run(run_all()), strict=True):
        assert isinstance(result.status, Status), case.id
        assert "Traceback" not in result.message, f"{case.id}: {result.message}"
        render(case, result, "reference")
        # A connection that is gone settles every promise: one left pending costs a user
        # the whole step timeout (the reference's opened did, after an RST in the middle
        # of the TLS handshake), and no task of the case outlives it.
        assert "still pending" not in result.message, f"{case.id}: {result.message}"
        assert leftover == 0, f"{case.id}: {leftover} task(s) still running"


# --- SIGINT / SIGTERM with --adapter node ---------------------------------------------------
@needs_node()
@needs_npm_part(ADAPTERS / "node")
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_node_run_leaves_no_node(tmp_path: Path, how: signal.Signals) -> None:
    """Ctrl-C (SIGINT to the whole foreground group) or SIGTERM while the case waits on a
    read inside the Node driver: the driver goes with the run."""
    folder = tmp_path / "cases" / "t"
    folder.mkdir(parents=True)
    (folder / "hang.yaml").write_text(HANG)
    log = tmp_path / "wire.log"
    env = {**os.environ, "PYTHONPATH": str(ROOT), drv.LOG_ENV: str(log)}
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-p", "sockets_conformance.plugin", "--adapter=node",
                            "--timeout-multiplier=10", str(folder / "hang.yaml")],
                           cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    def awaiting_driver() -> list[int]:
        """The node driver, once the harness waits on its read (else nothing)."""
        text = log.read_text() if log.exists() else ""
        if '"cmd":"await"' not in text or '"op":"readBytes"' not in text:
            return []
        return [pid for pid, cmd in children(run.pid) if b"stdio.mjs" in cmd]

    try:
        drivers = wait_for(awaiting_driver, 60, "the read to be awaited by the node driver")
        if how == signal.SIGINT:
            os.killpg(run.pid, how)
        else:
            os.kill(run.pid, how)
        run.wait(timeout=60)
        wait_exited(drivers, 10, "the node driver to go")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
