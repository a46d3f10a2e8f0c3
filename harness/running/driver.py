"""The harness side of the driver protocol (spec/adapter-protocol.md): an Adapter that runs
an implementation in another process and speaks newline-delimited JSON with it over stdio.

One driver process serves every case of a pytest worker. Each reply is validated against
spec/adapter-protocol.schema.json before it is believed; a reply that breaks it, a reply to
the wrong request, or a driver that dies makes the case ERROR (AdapterError, with the
driver's stderr), never FAIL: the implementation was not judged. After such a break, or
after an op the harness gave up waiting for, the driver's state is unknown, so it is killed
and a fresh one is started for the next case.

The messages themselves (schema, validation, codec) are protocol.py; keeping the processes
from outliving the run (process groups, atexit and signal handlers) is processes.py.
`stop()` kills the driver's whole process group.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sockets_conformance.model.values import (
    AwaitReply,
    CallReply,
    Fulfilled,
    Pending,
    Rejected,
    Returned,
    Threw,
)
from sockets_conformance.running import processes
from sockets_conformance.running.adapter import AdapterError, CaseContext, ImplementationInfo
from sockets_conformance.running.protocol import (
    LINE_LIMIT,
    MAX_NESTING,
    PROTOCOL_VERSION,
    decode,
    encode,
    js_error,
    printable,
    reply_error,
    request_line,
    show_line,
)

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
STDERR_KEEP = 64 * 1024           # per case; older text is dropped, the tail matters most


def _keep_large_buffers() -> None:
    """Let this process reuse the pages of its large buffers instead of mapping them anew.

    A 32 MiB write is a 44 MB request line, built through a few buffers that size (base64,
    the line, the pipe's backlog). glibc maps every block above 32 MiB (its largest mmap
    threshold) on its own and unmaps it when freed, so each was faulted in page by page for
    every request: most of the harness's system time against an out-of-process driver. From
    the heap, kept up to 256 MiB when freed, the next request reuses them. Only the speed
    changes; without glibc, nothing does."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)                   # M_MMAP_MAX: no mmap for large blocks
        libc.mallopt(-1, 256 * 1024 * 1024)   # M_TRIM_THRESHOLD

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
                 control_timeout: float = CONTROL_TIMEOUT, cases_at_once: int = 8) -> None:
        if not command:
            raise ValueError("empty driver command")
        # How many cases a pytest process runs at once by default, each on its own driver
        # process like this one (harness/plugin/ahead.py); --cases-at-once overrides it.
        self.cases_at_once = cases_at_once
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
        processes.install_handlers()
        _keep_large_buffers()
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
        processes.track(proc.pid)
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
            homepage=impl.get("homepage", ""), features=frozenset(impl["features"]),
            settings=dict(impl.get("settings", {})))
        # Where the implementation is served, if anywhere: the runner's {self} (TCP loop).
        self.self_address: str | None = impl.get("self")

    async def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        processes.kill_group(proc.pid)
        with contextlib.suppress(ProcessLookupError):
            await proc.wait()
        for task in (self._stdout_task, self._stderr_task):
            if task is not None:
                # Wait for the pipes to drain (the last stderr lines explain a crash).
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, 1.0)
        processes.forget(proc.pid)
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
                    f"  line: {show_line(line)}", self.diagnostics()))
            if not isinstance(parsed, dict) or parsed.get("id") != rid:
                raise self._break(self._unexpected(line, parsed, rid, cmd))
            problem = reply_error(cmd, parsed)
            if problem is not None:
                raise self._break(AdapterError(
                    f"driver broke the protocol answering {cmd} request {rid}: {problem}\n"
                    f"  line: {show_line(line)}", self.diagnostics()))
            parsed = printable(parsed)
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
                            f"waiting for {waiting}\n  line: {show_line(line)}", self.diagnostics())

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
            return Threw(js_error(reply["threw"]))
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
        return [Threw(js_error(a["threw"])) if "threw" in a else Returned(decode(a["returned"]))
                for a in answers]

    async def await_promise(self, promise_id: str, timeout: float) -> AwaitReply:
        reply = await self._op({"cmd": "await", "promise": promise_id, "timeout": timeout},
                               timeout + BACKSTOP)
        if "rejected" in reply:
            return Rejected(js_error(reply["rejected"]))
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
        """close_scope. A failure is raised for the cleanup report, after making sure the
        next case starts clean: a driver that answered with `error` is still in step and is
        kept; one that broke the protocol or did not answer is killed (the next case starts
        a fresh one). The runner bounds this call; its cancellation poisons the driver too."""
        adapter = self.adapter
        if adapter._broken is not None or adapter._proc is None:
            # The case already reported the break or the timeout; the kill is the cleanup.
            await adapter._kill()
            return
        try:
            await adapter._request({"cmd": "close_scope"}, adapter.control_timeout)
        except _Broken as exc:
            await adapter._kill()
            raise exc.error from None
        except TimeoutError:
            await adapter._kill()
            raise AdapterError(f"driver did not answer close_scope within "
                               f"{adapter.control_timeout:.2f} s", adapter.diagnostics()) \
                from None

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

