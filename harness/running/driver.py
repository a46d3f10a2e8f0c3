"""The harness side of the driver protocol (spec/adapter-protocol.md): an Adapter that runs
an implementation in another process and speaks newline-delimited JSON with it over stdio.

One driver process serves every case of a pytest worker. Each reply is validated against
spec/adapter-protocol.schema.json before it is believed; a reply that breaks it, a reply to
the wrong request, or a driver that dies makes the case ERROR (AdapterError, with the
driver's stderr), never FAIL: the implementation was not judged. After such a break, or
after an op the harness gave up waiting for, the driver's state is unknown, so it is killed
and a fresh one is started for the next case.

Processes never outlive the run: each driver leads its own process group (so a launcher's
children die with it), `stop()` kills the group, and an atexit hook plus SIGINT/SIGTERM
handlers kill whatever is still registered. A driver must also exit when its stdin closes,
which covers a harness killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import math
import os
import re
import shlex
import signal
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any

import jsonschema
from sockets_conformance.model.values import (
    AwaitReply,
    CallReply,
    Fulfilled,
    JSErrorInfo,
    Pending,
    Rejected,
    Returned,
    Threw,
    from_json,
    to_json,
)
from sockets_conformance.paths import SPEC
from sockets_conformance.running.adapter import AdapterError, CaseContext, ImplementationInfo

PROTOCOL_VERSION = 1
PROTOCOL_SCHEMA = SPEC / "adapter-protocol.schema.json"
# Set to a file path to get the wire transcript of every driver ("> request", "< reply"),
# the first thing to look at when writing a driver.
LOG_ENV = "SOCKETS_CONFORMANCE_PROTOCOL_LOG"

# How long the harness waits for commands that the runner does not bound itself: the
# handshake (a runtime may take a while to boot), scope open/close, the guard report. Ops
# (call/await) are bounded by the runner's step timeout; BACKSTOP only catches a caller
# that forgot to, and raises TimeoutError so it still reads as TIMEOUT.
START_TIMEOUT = 30.0
CONTROL_TIMEOUT = 10.0
BACKSTOP = 120.0
STOP_GRACE = 2.0
# A read of 64 MiB (the benchmark's transfer) travels as one line of about 90 MB of base64.
LINE_LIMIT = 256 * 1024 * 1024
MAX_NESTING = 64                  # a reply nested deeper is a protocol break (spec section 6)
BIG_STRING = 4096                 # $bytes longer than this are checked without jsonschema
STDERR_KEEP = 64 * 1024           # per case; older text is dropped, the tail matters most
SHOWN_LINE = 500                  # characters of an offending line quoted in an error

# What each reply must look like, for the error message (the schema says it precisely).
_SHAPES = {
    "start": '{"id", "protocol", "implementation": {...}}',
    "open_scope": '{"id", "ok": true}',
    "call": '{"id", "returned": VALUE} or {"id", "threw": {"name", "message"}}',
    "batch": '{"id", "replies": [{"returned": VALUE} or {"threw": {"name", "message"}}, ...]}',
    "await": '{"id", "fulfilled": VALUE}, {"id", "rejected": {"name", "message"}} '
             'or {"id", "pending": true}',
    "violations": '{"id", "violations": [...]}',
    "close_scope": '{"id", "ok": true}',
    "stop": '{"id", "ok": true}',
}


# --- schema ---------------------------------------------------------------------------------
@cache
def _schema() -> dict[str, Any]:
    return json.loads(PROTOCOL_SCHEMA.read_text())


@cache
def validator(pointer: str) -> jsonschema.Draft202012Validator:
    """A validator for one definition of the protocol schema, e.g. '#/$defs/reply/$defs/call'.
    The whole schema is kept around it so its internal $refs resolve."""
    schema = dict(_schema())
    schema.pop("oneOf", None)
    schema["$ref"] = pointer
    return jsonschema.Draft202012Validator(schema)


# The schema's $bytes pattern,
#   ^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$(?!\n)
# is the same set of strings as this pattern (fullmatch) plus "length divisible by 4"
# (tests/test_performance.py checks it); this one runs in one pass, where the schema's
# repeated group took 2.8 s on the 44 MB of a 32 MiB read.
_BASE64 = re.compile(r"[A-Za-z0-9+/]*+={0,2}")  # possessive: no backtracking


def _nesting(value: Any) -> int:
    """How deeply arrays and objects nest in `value` (iterative: a hostile reply must not
    exhaust the stack of the function that measures it)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                break
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _light(value: Any) -> Any:
    """`value` with each long, well-formed $bytes string replaced by an empty one, for the
    schema validator: the pattern check is done here in one pass instead. A malformed long
    string becomes a short one that is just as malformed (its head and its length), so the
    validator still reports it, in its own words, without backtracking through megabytes."""
    if isinstance(value, dict):
        if len(value) == 1 and isinstance(value.get("$bytes"), str) \
                and len(value["$bytes"]) > BIG_STRING:
            text = value["$bytes"]
            if len(text) % 4 == 0 and _BASE64.fullmatch(text):
                return {"$bytes": ""}
            return {"$bytes": f"{text[:32]}…({len(text)} characters)"}
        return {k: _light(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_light(v) for v in value]
    return value


# --- the common replies, checked without jsonschema ---------------------------------------
# jsonschema took about half a millisecond a reply: over a run of the suite through a driver
# that was a third of the harness's own work. The shapes almost every reply has are checked
# here by hand; a reply this check does not recognise goes to jsonschema, which has the last
# word and the words for the error (tests/test_performance.py checks that everything this
# check accepts, the schema accepts too).
_SIMPLE = (str, int, float, type(None))


def _is_id(value: Any) -> bool:
    return type(value) is int and value >= 0


def _is_error(value: Any) -> bool:
    return (type(value) is dict and len(value) == 2 and type(value.get("name")) is str
            and type(value.get("message")) is str)


def _is_value(value: Any) -> bool:
    kind = type(value)
    if kind in _SIMPLE or kind is bool:
        return True
    if kind is list:
        return all(_is_value(v) for v in value)
    if kind is not dict:
        return False
    if not any(type(k) is str and k.startswith("$") for k in value):
        return all(type(k) is str and _is_value(v) for k, v in value.items())
    if len(value) != 1:
        return False
    (tag, inner), = value.items()
    if tag == "$bytes":
        return (type(inner) is str and len(inner) % 4 == 0
                and _BASE64.fullmatch(inner) is not None)
    if tag in ("$promise", "$object"):
        return type(inner) is str and (tag == "$object" or inner != "")
    if tag == "$undefined":
        return inner is True
    if tag == "$number":
        return inner in ("NaN", "Infinity", "-Infinity") and type(inner) is str
    return False  # $buffer and anything unknown: the schema decides


def _surely_valid(cmd: str, reply: Any) -> bool:
    """True only for replies the schema accepts (False: not known here)."""
    if type(reply) is not dict or not _is_id(reply.get("id")) or len(reply) != 2:
        return False
    (key, body), = ((k, v) for k, v in reply.items() if k != "id")
    if key == "error":
        return type(body) is dict and len(body) == 1 and type(body.get("message")) is str \
            and body["message"] != ""
    if cmd == "call":
        return (key == "returned" and _is_value(body)) or (key == "threw" and _is_error(body))
    if cmd == "await":
        return ((key == "fulfilled" and _is_value(body)) or
                (key == "rejected" and _is_error(body)) or (key == "pending" and body is True))
    if cmd == "batch":
        return key == "replies" and type(body) is list and all(
            type(r) is dict and len(r) == 1 and (
                ("returned" in r and _is_value(r["returned"])) or
                ("threw" in r and _is_error(r["threw"]))) for r in body)
    if cmd in ("open_scope", "close_scope", "stop"):
        return key == "ok" and body is True
    if cmd == "violations":
        return key == "violations" and type(body) is list and all(
            type(v) is str and v != "" for v in body)
    return False


def reply_error(cmd: str, reply: Any) -> str | None:
    """Why `reply` is not a valid answer to `cmd`, or None when it is."""
    if _nesting(reply) > MAX_NESTING:
        return f"the reply nests arrays and objects more than {MAX_NESTING} levels deep"
    if _surely_valid(cmd, reply):
        return None
    errors = list(validator(f"#/$defs/reply/$defs/{cmd}").iter_errors(_light(reply)))
    if not errors:
        return None
    best = jsonschema.exceptions.best_match(errors)
    where = "/".join(str(p) for p in best.absolute_path)
    detail = best.message if len(best.message) <= 200 else best.message[:200] + "…"
    return f"{detail}{f' (at {where})' if where else ''}; a {cmd} reply is {_SHAPES[cmd]}"


# --- values ---------------------------------------------------------------------------------
def encode(value: Any) -> Any:
    """harness value -> protocol JSON. Adds what to_json leaves to JSON (which cannot write
    NaN or infinities: a case may pass port NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return {"$number": "NaN" if math.isnan(value) else
                ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    return to_json(value)


def decode(value: Any) -> Any:
    """protocol JSON -> harness value (inverse of encode)."""
    if isinstance(value, dict):
        if len(value) == 1 and "$number" in value:
            return float(value["$number"].lower().replace("infinity", "inf"))
        if len(value) == 1 and next(iter(value)).startswith("$"):
            return from_json(value)
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return from_json(value)


def request_line(message: dict[str, Any]) -> bytes:
    """One request as the line sent to the driver. Long $bytes strings (base64: nothing in
    them needs escaping) are spliced into the JSON text instead of passing through
    json.dumps, which scanned a 32 MiB write's 44 MB character by character for 0.2 s."""
    blobs: list[str] = []

    def stash(value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and isinstance(value.get("$bytes"), str) \
                    and len(value["$bytes"]) > BIG_STRING:
                blobs.append(value["$bytes"])
                return {"$bytes": f"{_BLOB}{len(blobs) - 1}{_BLOB}"}
            return {k: stash(v) for k, v in value.items()}
        if isinstance(value, list):
            return [stash(v) for v in value]
        return value

    skeleton = json.dumps(stash(message), allow_nan=False, separators=(",", ":"))
    if not blobs:
        return skeleton.encode() + b"\n"
    parts: list[bytes] = []
    rest = skeleton
    for i, blob in enumerate(blobs):
        token = json.dumps(f"{_BLOB}{i}{_BLOB}")
        head, found, rest = rest.partition(token)
        if not found or token in rest:  # a string of the case's own looks like a token
            return json.dumps(message, allow_nan=False, separators=(",", ":")).encode() + b"\n"
        parts += [head.encode(), b'"', blob.encode("ascii"), b'"']
    parts.append(rest.encode() + b"\n")
    return b"".join(parts)


_BLOB = "\ue000blob\ue000"   # a private-use character around the index: a placeholder


def _printable(value: Any) -> Any:
    """`value` with every lone surrogate in its strings written as an escape (\\ud800).

    JSON may carry them ("\\ud800" is valid JSON, and a JavaScript string can hold one),
    but they are not Unicode text: the first file that gets one (Allure's results, a
    report) raises UnicodeEncodeError. An implementation's message with a lone surrogate
    never equals a documented one, so escaping it changes no verdict."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_printable(v) for v in value]
    return value


def _error(raw: Mapping[str, Any]) -> JSErrorInfo:
    return JSErrorInfo(str(raw["name"]), str(raw["message"]))


def _show(line: str | bytes) -> str:
    text = line.decode(errors="replace") if isinstance(line, bytes) else line
    text = text.rstrip("\n")
    return text if len(text) <= SHOWN_LINE else text[:SHOWN_LINE] + f"… ({len(text)} chars)"


# --- leftover processes -------------------------------------------------------------------
_LIVE: dict[int, int] = {}          # pid -> process group of every driver not yet reaped
_HANDLERS_INSTALLED = False


def _kill_group(pid: int) -> None:
    pgid = _LIVE.pop(pid, pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_all() -> None:
    """Kill every driver process group this process started and has not reaped."""
    for pid in list(_LIVE):
        _kill_group(pid)


def live_pids() -> list[int]:
    """Drivers started by this process that have not been stopped (for tests)."""
    return list(_LIVE)


def _install_handlers() -> None:
    """atexit + SIGINT/SIGTERM: whatever happens to the harness, its drivers go too. The
    previous handler still runs afterwards, so Ctrl-C still interrupts pytest as usual."""
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(kill_all)
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous = signal.getsignal(sig)
            signal.signal(sig, _chained(sig, previous))
        except ValueError:  # not the main thread: atexit and stdin EOF still cover us
            pass


def _chained(sig: int, previous: Any) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        kill_all()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    return handler


# --- the adapter ----------------------------------------------------------------------------
class _Broken(Exception):
    """The connection to the driver is no longer usable (carries the AdapterError to raise)."""

    def __init__(self, error: AdapterError) -> None:
        super().__init__(str(error))
        self.error = error


class DriverAdapter:
    """`--adapter driver:COMMAND`: any program speaking spec/adapter-protocol.md on stdio."""

    def __init__(self, command: Sequence[str], *, label: str | None = None,
                 env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                 start_timeout: float = START_TIMEOUT,
                 control_timeout: float = CONTROL_TIMEOUT) -> None:
        if not command:
            raise ValueError("empty driver command")
        self.command = list(command)
        self.label = label or shlex.join(self.command)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.start_timeout = start_timeout
        self.control_timeout = control_timeout
        # Until the handshake names the implementation, the command is all we know.
        self.info = ImplementationInfo(name=self.label, version="?", language="?")
        self._proc: asyncio.subprocess.Process | None = None
        self._stdout_task: asyncio.Task[None] | None = None
        self._stderr_task: asyncio.Task[None] | None = None
        self._replies: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self._lock = asyncio.Lock()
        self._next_id = 0
        self._eof = False
        self._broken: AdapterError | None = None
        self._gave_up = False   # the harness abandoned a request: a timeout, not a break
        self._stderr = bytearray()
        self._log_path = os.environ.get(LOG_ENV) or None
        self.restarts = 0

    # lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        _install_handlers()
        await self._spawn()

    async def stop(self) -> None:
        """Ask politely, then kill the whole process group; never leaves a process behind."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None and self._broken is None:
            with contextlib.suppress(AdapterError, TimeoutError, _Broken):
                await self._request({"cmd": "stop"}, timeout=STOP_GRACE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), STOP_GRACE)
        await self._kill()

    def diagnostics(self) -> str:
        return self._stderr[-STDERR_KEEP:].decode(errors="replace")

    @property
    def pid(self) -> int | None:
        """The current driver process (for tests and debugging)."""
        return self._proc.pid if self._proc is not None else None

    async def _spawn(self) -> None:
        env = dict(os.environ if self.env is None else self.env)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env=env, cwd=self.cwd, limit=LINE_LIMIT,
                start_new_session=True,  # its own process group: killpg takes its children too
            )
        except OSError as exc:
            raise AdapterError(f"cannot start driver {self.label!r}: {exc}") from None
        _LIVE[proc.pid] = proc.pid
        self._proc, self._broken, self._gave_up = proc, None, False
        self._replies = asyncio.Queue()
        self._next_id = 0    # each process numbers its requests from 0 (the spec says so)
        self._stderr.clear()
        self._eof = False
        self._stdout_task = asyncio.create_task(self._read_stdout(proc, self._replies))
        self._stderr_task = asyncio.create_task(self._read_stderr(proc))
        reply = await self._command({"cmd": "start", "protocol": PROTOCOL_VERSION},
                                    self.start_timeout)
        if reply["protocol"] != PROTOCOL_VERSION:
            await self._kill()
            raise AdapterError(f"driver {self.label!r} speaks protocol {reply['protocol']}; "
                               f"this harness speaks {PROTOCOL_VERSION}", self.diagnostics())
        impl = reply["implementation"]
        self.info = ImplementationInfo(
            name=impl["name"], version=impl["version"], language=impl["language"],
            homepage=impl.get("homepage", ""), features=frozenset(impl["features"]))
        # Where the implementation is served, if anywhere: the runner's {self} (TCP loop).
        self.self_address: str | None = impl.get("self")

    async def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        _kill_group(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
        for task in (self._stdout_task, self._stderr_task):
            if task is not None:
                # Wait for the pipes to drain (the last stderr lines explain a crash).
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, 1.0)
        _LIVE.pop(proc.pid, None)
        if proc.stdin is not None:
            proc.stdin.close()
        self._proc = None

    async def _ensure_running(self) -> None:
        """Before a case: replace a driver that crashed, broke the protocol or timed out."""
        proc = self._proc
        if (proc is not None and proc.returncode is None and not self._eof
                and self._broken is None):
            return
        await self._kill()
        self.restarts += 1
        await self._spawn()

    # the wire --------------------------------------------------------------------------------
    async def _read_stdout(self, proc: asyncio.subprocess.Process,
                           replies: asyncio.Queue[tuple[bytes, Any]]) -> None:
        """Parse each stdout line into `replies` (this process's own queue, so a late line
        from a killed driver cannot reach its successor)."""
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                replies.put_nowait((b"", ValueError(f"a reply line longer than "
                                                    f"{LINE_LIMIT} bytes")))
                return
            if not line:
                if replies is self._replies:
                    self._eof = True
                replies.put_nowait((b"", EOFError()))
                return
            try:
                parsed: Any = json.loads(line)
            except ValueError as exc:
                parsed = ValueError(f"not JSON ({exc})")
            except RecursionError:  # this task must live on: its queue is the only way out
                parsed = ValueError(f"JSON nested too deeply to parse (more than "
                                    f"{MAX_NESTING} levels are a protocol break)")
            replies.put_nowait((line, parsed))

    async def _read_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(65536):
            self._stderr += chunk
            if len(self._stderr) > 4 * STDERR_KEEP:
                del self._stderr[:-STDERR_KEEP]

    async def _request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and return its validated reply. Raises _Broken when the driver
        can no longer be trusted, TimeoutError when it did not answer in time."""
        proc = self._proc
        if proc is None or self._broken is not None:
            raise _Broken(self._broken or AdapterError("driver is not running"))
        async with self._lock:
            rid = self._next_id
            self._next_id += 1
            cmd = message["cmd"]
            # A line that arrived while nothing was asked is a protocol break too.
            if not self._replies.empty():
                line, parsed = self._replies.get_nowait()
                if isinstance(parsed, EOFError):
                    raise self._break(await self._died(cmd, rid, "closed its stdout"))
                raise self._break(self._unexpected(line, parsed, None, cmd))
            payload = request_line({"id": rid, **message})
            if self._log_path:
                self._log(">", payload.decode())
            try:
                assert proc.stdin is not None
                # The write counts against the timeout too: a driver that stops reading
                # its stdin would otherwise block a large write forever.
                async with asyncio.timeout(timeout):
                    proc.stdin.write(payload)
                    await proc.stdin.drain()
                    line, parsed = await self._replies.get()
            except TimeoutError:
                self._poison(f"did not answer {cmd} request {rid} within {timeout:.2f} s")
                raise
            except asyncio.CancelledError:
                # The runner gave up on this op (its own timeout): a late reply would arrive
                # out of step, so this driver is done.
                self._poison(f"{cmd} request {rid} was abandoned by the harness")
                raise
            except (ConnectionError, BrokenPipeError) as exc:
                raise self._break(await self._died(cmd, rid, f"stdin closed ({exc})")) from None
            if isinstance(parsed, EOFError):
                raise self._break(await self._died(cmd, rid, "closed its stdout"))
            self._log("<", line.decode(errors="replace"))
            if isinstance(parsed, Exception):
                raise self._break(AdapterError(
                    f"driver broke the protocol answering {cmd} request {rid}: {parsed}\n"
                    f"  line: {_show(line)}", self.diagnostics()))
            if not isinstance(parsed, dict) or parsed.get("id") != rid:
                raise self._break(self._unexpected(line, parsed, rid, cmd))
            problem = reply_error(cmd, parsed)
            if problem is not None:
                raise self._break(AdapterError(
                    f"driver broke the protocol answering {cmd} request {rid}: {problem}\n"
                    f"  line: {_show(line)}", self.diagnostics()))
            parsed = _printable(parsed)
            if "error" in parsed:
                raise AdapterError(f"driver could not carry out {cmd} request {rid}: "
                                   f"{parsed['error']['message']}", self.diagnostics())
            return parsed

    async def _command(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """A control command: any failure, including no answer in time, is ERROR."""
        try:
            return await self._request(message, timeout)
        except _Broken as exc:
            raise exc.error from None
        except TimeoutError:
            raise AdapterError(f"driver did not answer {message['cmd']} within {timeout:.2f} s",
                               self.diagnostics()) from None

    def _log(self, direction: str, line: str) -> None:
        if self._log_path:
            with open(self._log_path, "a", encoding="utf-8") as log:
                log.write(f"{direction} {line.rstrip()}\n")

    def _unexpected(self, line: bytes, parsed: Any, rid: int | None, cmd: str) -> AdapterError:
        got = parsed.get("id") if isinstance(parsed, dict) else None
        waiting = f"request {rid} ({cmd})" if rid is not None else f"nothing (before {cmd})"
        return AdapterError(f"driver broke the protocol: a reply with id {got!r} while "
                            f"waiting for {waiting}\n  line: {_show(line)}", self.diagnostics())

    async def _died(self, cmd: str, rid: int, how: str) -> AdapterError:
        proc = self._proc
        code: int | None = None
        if proc is not None:
            with contextlib.suppress(TimeoutError):
                code = await asyncio.wait_for(proc.wait(), 2.0)
            if self._stderr_task is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._stderr_task), 1.0)
        exit_text = f"exited with code {code}" if code is not None else how
        if code is not None and code < 0:
            exit_text = f"was killed by signal {-code}"
        return AdapterError(f"driver {exit_text} while answering {cmd} request {rid}",
                            self.diagnostics())

    def _break(self, error: AdapterError) -> _Broken:
        self._broken = error
        return _Broken(error)

    def _poison(self, why: str) -> None:
        self._broken = AdapterError(f"driver {why}", self.diagnostics())
        self._gave_up = True

    # scopes ------------------------------------------------------------------------------------
    async def open_scope(self, context: CaseContext) -> DriverScope:
        await self._ensure_running()
        self._stderr.clear()   # diagnostics() then shows what this case made the driver say
        await self._command({
            "cmd": "open_scope", "case": context.case_id,
            "allowed": [[host, port] for host, port in context.allowed_endpoints],
            "ca_pem": context.ca_pem, "self": context.self_address,
        }, self.control_timeout)
        return DriverScope(self)


class DriverScope:
    """One case on the driver. Runner timeouts cancel call/await; the driver is then
    replaced before the next case (see DriverAdapter._request)."""

    def __init__(self, adapter: DriverAdapter) -> None:
        self.adapter = adapter

    async def call(self, op: str, args: dict[str, Any]) -> CallReply:
        reply = await self._op({"cmd": "call", "op": op, "args": encode(args)}, BACKSTOP)
        if "threw" in reply:
            return Threw(_error(reply["threw"]))
        return Returned(decode(reply["returned"]))

    async def call_batch(self, ops: list[tuple[str, dict[str, Any]]]) -> list[CallReply]:
        calls = [{"op": op, "args": encode(args)} for op, args in ops]
        reply = await self._op({"cmd": "batch", "calls": calls}, BACKSTOP)
        answers = reply["replies"]
        if len(answers) != len(calls):
            error = AdapterError(f"driver broke the protocol: {len(answers)} replies to a batch "
                                 f"of {len(calls)} calls", self.adapter.diagnostics())
            self.adapter._broken = error
            raise error
        return [Threw(_error(a["threw"])) if "threw" in a else Returned(decode(a["returned"]))
                for a in answers]

    async def await_promise(self, promise_id: str, timeout: float) -> AwaitReply:
        reply = await self._op({"cmd": "await", "promise": promise_id, "timeout": timeout},
                               timeout + BACKSTOP)
        if "rejected" in reply:
            return Rejected(_error(reply["rejected"]))
        if "pending" in reply:
            return Pending()
        return Fulfilled(decode(reply["fulfilled"]))

    async def violations(self) -> list[str]:
        if self.adapter._gave_up:
            # The case already timed out and the driver is stuck on that op: it cannot be
            # asked. Its guard still refused whatever it refused; only the report is lost,
            # and the case is TIMEOUT, never PASS, either way.
            return []
        try:
            reply = await self.adapter._request({"cmd": "violations"},
                                                self.adapter.control_timeout)
        except _Broken as exc:
            raise exc.error from None
        except TimeoutError:
            raise AdapterError("driver did not report guard violations in time",
                               self.adapter.diagnostics()) from None
        return [str(v) for v in reply["violations"]]

    async def close(self) -> None:
        adapter = self.adapter
        if adapter._broken is not None or adapter._proc is None:
            await adapter._kill()    # no point asking a broken driver; the next case restarts
            return
        try:
            await adapter._request({"cmd": "close_scope"}, adapter.control_timeout)
        except (_Broken, TimeoutError, AdapterError):
            await adapter._kill()

    async def _op(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            return await self.adapter._request(message, timeout)
        except _Broken as exc:
            raise exc.error from None


def resolve_command(command: str) -> DriverAdapter:
    """`driver:<command>`: the command is split like a POSIX shell would (shlex)."""
    argv = shlex.split(command)
    if not argv:
        raise ValueError("driver: needs a command, e.g. driver:'python my_driver.py'")
    return DriverAdapter(argv, label=f"driver:{command}")

