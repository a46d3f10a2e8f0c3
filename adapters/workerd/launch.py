"""The workerd driver: spec/adapter-protocol.md on stdio, carried to a Worker in workerd.

  pytest --adapter workerd     (= driver:python -m sockets_conformance.adapters.workerd.launch)
  pytest --adapter workerd --workerd-version V    (... launch --workerd-version V)

The harness's driver client (harness/running/driver.py) starts this process once per pytest worker
and speaks the protocol to it on stdin/stdout, as to any driver. This process runs workerd
(one per pytest worker, reused across cases) serving adapters/workerd/worker.mjs, and
forwards each case's requests over a WebSocket of its own: workerd ties every socket to the
request that made it, so a case has to live inside one request, the WebSocket upgrade.

workerd starts on the first case, when the run's test CA is known (open_scope carries it),
with a listening socket this process made and passed down (--socket-fd), so there is no
port race and no wait for workerd to come up: connections queue until it accepts. If
workerd dies, this process exits non-zero with workerd's output on stderr; the harness
reports the case in flight as ERROR and starts a fresh driver for the next one.

Each release runs at the newest compatibility date it accepts, which `workerd --version`
prints ("workerd 2026-11-17"): an older workerd refuses a later date, and the newest one is
what a Worker created with that release gets. The handshake's implementation record (the
results header) carries the release's version and that date.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sockets_conformance.adapters.workerd import versions
from sockets_conformance.adapters.workerd.lines import Lines
from sockets_conformance.paths import npm_install_command

if TYPE_CHECKING:   # imported where the first case connects: a handshake-only run skips it
    from websockets.asyncio.client import ClientConnection

HERE = Path(__file__).resolve().parent
CORE = HERE.parent / "node" / "core.mjs"
BINARY = versions.binary(HERE)   # the current pin's; --workerd-version picks another
PART = 1024 * 1024  # workerd caps a WebSocket message at 32 MiB; larger ones go in pieces
# A piece is its slice of the JSON text behind one character: MORE, or LAST for the final
# one. A whole message is JSON and starts with "{", so the three cannot be confused. (The
# pieces used to be JSON objects themselves, {"$part": slice}: escaping 44 MB of JSON text
# into JSON strings and parsing it back cost more than the transfer.)
MORE, LAST = b"+", b"."
# Lines are carried as the bytes they are, never decoded, parsed and encoded again (sent as
# WebSocket text frames all the same), and a long one piece by piece as it arrives: a 32 MiB
# write is a 44 MB line, and holding it whole cost a fresh 44 MB buffer (page faults, then
# munmap) for every copy. A line this large is not even parsed: its id and command are read
# from its head, which the harness writes as {"id":N,"cmd":"..."...}; the rest is for the
# Worker.
CARRY = 1024 * 1024
_HEAD = re.compile(rb'\{"id":(\d+),"cmd":"(call|batch)"')
BACKLOG = 4 * PART   # stdin read ahead of the Worker at most (then the pipe waits)
PIPE_SIZE = 1024 * 1024   # Linux's default limit for an unprivileged process (pipe-max-size)
# The Worker runs the same JavaScript core as the Node.js driver, protocol 1.1 ops included.
FEATURES = ["tcp", "half-open", "tls", "starttls", "egress-policy", "connection-limit",
            "backpressure", "pipe", "transform", "async-iteration"]
_DATE = re.compile(r"^workerd (\d{4}-\d{2}-\d{2})\b", re.M)   # `workerd --version`


async def binary_problem() -> str | None:
    """Why the current pin's workerd cannot run here (None if it can)."""
    return (await probe(BINARY, HERE))[0]


async def probe(binary: Path, install: Path) -> tuple[str | None, str]:
    """(why `binary`, installed by npm in `install`, cannot run here or None, the newest
    compatibility date it accepts).
    workerd itself starts with the first case; `workerd --version` (20 ms) lets the
    handshake, and so the harness's check before any case runs, tell a broken install once
    instead of failing every case."""
    fix = f"reinstall it: {npm_install_command(install)}"
    try:
        proc = await asyncio.create_subprocess_exec(
            str(binary), "--version", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    except (OSError, TimeoutError) as exc:
        return f"cannot run {binary}: {exc}; {fix}", ""
    said = out.decode(errors="replace").strip()
    if proc.returncode != 0:
        last = said.splitlines()[-1:] or ["no output"]
        return f"{binary} --version exited with status {proc.returncode} ({last[0]}); {fix}", ""
    date = _DATE.search(said)
    if date is None:
        return (f"{binary} --version said {said[:100]!r}, not 'workerd YYYY-MM-DD': cannot "
                f"tell which compatibility date it accepts; {fix}"), ""
    return None, date[1]


def version() -> str:
    """The current pin's workerd release (the benchmark's machine record)."""
    return versions.installed_version(HERE)


def _tune_process() -> None:
    """Make the big messages cheaper, nothing else: a 32 MiB write is a 44 MB line.

    The harness's pipes (stdin, stdout) hold 64 KiB by default: such a line crossed in some
    700 writes, reads and wake-ups; at 1 MiB, 44. And glibc maps every buffer above 32 MiB
    (its largest mmap threshold) afresh and unmaps it when freed, so each one was faulted in
    page by page again; from the heap, the next message reuses the pages. Where either is not
    possible (not a pipe, not Linux or glibc), nothing changes but the speed."""
    for fd in (0, 1):
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-4, 0)                   # M_MMAP_MAX: no mmap for large blocks
        libc.mallopt(-1, 256 * 1024 * 1024)   # M_TRIM_THRESHOLD: keep freed heap to reuse


def _die_with_parent() -> None:
    """workerd must not outlive this process, even if it is killed with SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


Reply = list[bytes | memoryview]   # a reply line's text, in the pieces it came in


@dataclass
class Line:
    """A request line as far as it has arrived: its first piece (chunks), whether that
    piece ends it, and where the rest comes from."""
    chunks: list[bytes]
    ended: bool
    source: Lines


class Bridge:
    def __init__(self, install: Path = HERE) -> None:
        self.install = install
        self.binary = versions.binary(install)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.workdir = Path(tempfile.mkdtemp(prefix="sockets-workerd-"))
        self.proc: asyncio.subprocess.Process | None = None
        self.ca_pem: str | None = None
        self.ws: ClientConnection | None = None
        self.implementation = {
            "name": "workerd", "version": versions.installed_version(install),
            "language": "javascript",
            "homepage": "https://github.com/cloudflare/workerd", "features": FEATURES,
            "self": f"127.0.0.1:{self.port}",
        }

    # workerd ---------------------------------------------------------------------------
    async def ensure_workerd(self, ca_pem: str | None) -> None:
        if self.proc is not None and self.proc.returncode is None and ca_pem == self.ca_pem:
            return
        await self.stop_workerd()
        self.ca_pem = ca_pem
        shutil.copy(HERE / "worker.mjs", self.workdir / "worker.mjs")
        shutil.copy(CORE, self.workdir / "core.mjs")
        shutil.copy(CORE.with_name("pipes.mjs"), self.workdir / "pipes.mjs")
        (self.workdir / "ca.pem").write_text(ca_pem or "")
        config = (HERE / "config.capnp.template").read_text()
        config = config.replace("{implementation}", json.dumps(json.dumps(self.implementation)))
        config = config.replace("{compatibility_date}",
                                self.implementation["settings"]["compatibility_date"])
        config = config.replace("{trusted}", 'embed "ca.pem"' if ca_pem else "")
        (self.workdir / "config.capnp").write_text(config)
        fd = self.listener.fileno()
        self.proc = await asyncio.create_subprocess_exec(
            str(self.binary), "serve", str(self.workdir / "config.capnp"), f"--socket-fd=http={fd}",
            stdin=asyncio.subprocess.DEVNULL, stdout=sys.stderr.fileno(),
            stderr=sys.stderr.fileno(), pass_fds=(fd,), preexec_fn=_die_with_parent)

    async def stop_workerd(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None

    # requests --------------------------------------------------------------------------
    async def handle(self, request: dict[str, Any], line: Line) -> dict[str, Any] | Reply:
        """Answer `request` (parsed from the head of `line`): the bridge's own commands here,
        the rest forwarded to the Worker as the very text that arrives, and its answer passed
        back as the text that came (a list of pieces to write one after the other), never
        decoded and encoded again: a 32 MiB write is 44 MB of JSON, and re-encoding it cost
        more than carrying it."""
        cmd, rid = request.get("cmd"), request.get("id")
        if cmd == "start":
            problem, date = await probe(self.binary, self.install)
            if problem is not None:
                return {"id": rid, "error": {"message": problem}}
            self.implementation["settings"] = {"compatibility_date": date}
            return {"id": rid, "protocol": 1, "implementation": self.implementation}
        if cmd == "stop":
            await self.close_ws()
            return {"id": rid, "ok": True}
        if cmd == "open_scope":
            await self.close_ws()
            await self.ensure_workerd(request.get("ca_pem"))
            self.ws = await self.open_ws()
        if self.ws is None:
            return {"id": rid, "error": {"message": f"{cmd} before open_scope"}}
        reply = await self.forward(line)
        if cmd == "close_scope":
            await self.close_ws()
        return reply

    async def open_ws(self) -> ClientConnection:
        """Connect to the Worker, unless workerd exits first (a bad config, a crash): the
        listening socket is ours, so a dead workerd would otherwise leave us waiting."""
        assert self.proc is not None
        opening = asyncio.ensure_future(self._connect())
        exited = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait({opening, exited}, return_when=asyncio.FIRST_COMPLETED)
        if opening in done:
            exited.cancel()
            return opening.result()
        opening.cancel()
        raise OSError(f"workerd exited with status {self.proc.returncode} before it served")

    async def _connect(self) -> ClientConnection:
        """The WebSocket to the Worker, on a socket connected here: given a socket,
        websockets (15 and later) does not look for a proxy in the environment, which cost
        a millisecond a case and, with HTTP_PROXY set and 127.0.0.1 not in NO_PROXY, would
        send the connection to the proxy instead."""
        from websockets.asyncio.client import connect

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
            return await connect(f"ws://127.0.0.1:{self.port}/", sock=sock, max_size=None,
                                 compression=None, open_timeout=None, ping_interval=None)
        except BaseException:
            sock.close()
            raise

    async def forward(self, line: Line) -> Reply:
        """One request, one reply, as UTF-8 JSON text in WebSocket text frames; both may
        travel in pieces (worker.mjs, `pieces`). A long request is sent on piece by piece
        as it arrives; a long reply is kept as its pieces (memoryviews past the mark)."""
        assert self.ws is not None
        if line.ended:
            await self.ws.send(b"".join(line.chunks), text=True)
        else:
            # MORE until the piece that ends the line (LAST; empty if the line ended on a
            # piece's boundary or the input ended).
            chunks, ended = line.chunks, False
            while True:
                await self.ws.send(b"".join([LAST if ended else MORE, *chunks]), text=True)
                if ended:
                    break
                chunks, ended = await line.source.piece(PART) or ([], True)
        line.ended = True
        parts: Reply = []
        while True:
            message = await self.ws.recv(decode=False)
            assert isinstance(message, bytes)
            if message[:1] not in (MORE, LAST):
                return [message]
            parts.append(memoryview(message)[1:])
            if message[:1] == LAST:
                return parts

    async def close_ws(self) -> None:
        if self.ws is not None:
            ws, self.ws = self.ws, None
            await ws.close()


async def parse(line: Line) -> dict[str, Any]:
    """The request `line` carries: a long call or batch by its head alone (the rest stays
    in pieces, for the Worker), anything else parsed whole."""
    if not line.ended or sum(map(len, line.chunks)) > CARRY:
        head = _HEAD.match(_head(line.chunks))
        if head:
            return {"id": int(head[1]), "cmd": head[2].decode()}
    if not line.ended:
        line.chunks += await line.source.rest()
        line.ended = True
    if len(line.chunks) != 1:
        line.chunks = [b"".join(line.chunks)]
    return json.loads(line.chunks[0])  # type: ignore[no-any-return]


def _head(chunks: list[bytes], size: int = 64) -> bytes:
    """The first `size` bytes of a line held as chunks (the pipe may split even its head)."""
    head = b""
    for chunk in chunks:
        head += chunk[:size - len(head)]
        if len(head) >= size:
            break
    return head


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m sockets_conformance.adapters.workerd.launch")
    parser.add_argument("--workerd-version", metavar="VERSION", default=None,
                        help="a pinned release (adapters/workerd/versions.py; default: the "
                             "current pin)")
    try:
        install = versions.installed(parser.parse_args(argv).workerd_version)
    except versions.ReleaseError as exc:
        print(f"[workerd driver] {exc}", file=sys.stderr, flush=True)
        return 2
    bridge = Bridge(install)
    _tune_process()
    lines = Lines(BACKLOG)
    await asyncio.get_running_loop().connect_read_pipe(lambda: lines, sys.stdin)
    out = sys.stdout.buffer
    try:
        while (got := await lines.piece(PART)) is not None:
            line = Line(*got, lines)
            request = await parse(line)
            try:
                reply = await bridge.handle(request, line)
            except (OSError, EOFError) as exc:
                code = bridge.proc.returncode if bridge.proc else None
                print(f"[workerd driver] lost workerd ({exc!r}; exit status {code})",
                      file=sys.stderr, flush=True)
                return 1
            except Exception as exc:  # the websocket library's ConnectionClosed and friends
                code = bridge.proc.returncode if bridge.proc else None
                print(f"[workerd driver] lost workerd ({exc!r}; exit status {code})",
                      file=sys.stderr, flush=True)
                return 1
            if not line.ended:   # a long line the bridge answered itself: skip the rest
                await lines.rest()
            # One write for a reply that came whole: stdout may be unbuffered
            # (PYTHONUNBUFFERED), and a reply and its newline written apart wake the
            # harness twice, the first time for half a line.
            if isinstance(reply, dict):
                out.write(json.dumps(reply).encode() + b"\n")
            elif len(reply) == 1:
                out.write(bytes(reply[0]) + b"\n")
            else:
                for part in reply:
                    out.write(part)
                out.write(b"\n")
            out.flush()
            if request.get("cmd") == "stop":
                break
    finally:
        await bridge.close_ws()
        await bridge.stop_workerd()
        shutil.rmtree(bridge.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(asyncio.run(main(sys.argv[1:])))
