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
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Any

from sockets_conformance.adapters.workerd import versions
from sockets_conformance.paths import npm_install_command
from websockets.asyncio.client import ClientConnection, connect

HERE = Path(__file__).resolve().parent
CORE = HERE.parent / "node" / "core.mjs"
BINARY = versions.binary(HERE)   # the current pin's; --workerd-version picks another
PART = 8 * 1024 * 1024  # workerd caps a WebSocket message at 32 MiB; larger ones go in pieces
# A piece is its slice of the JSON text behind one character: MORE, or LAST for the final
# one. A whole message is JSON and starts with "{", so the three cannot be confused. (The
# pieces used to be JSON objects themselves, {"$part": slice}: escaping 44 MB of JSON text
# into JSON strings and parsing it back cost more than the transfer.)
MORE, LAST = b"+", b"."
# Lines are carried as the bytes they are, never decoded, parsed and encoded again (sent as
# WebSocket text frames all the same). A call or batch this large is not even parsed: its
# id and command are read from the head of the line, which the harness writes as
# {"id":N,"cmd":"..."...}; the rest is for the Worker.
CARRY = 1024 * 1024
_HEAD = re.compile(rb'\{"id":(\d+),"cmd":"(call|batch)"')
FEATURES = ["tcp", "half-open", "tls", "starttls", "egress-policy", "connection-limit",
            "backpressure"]
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


def _die_with_parent() -> None:
    """workerd must not outlive this process, even if it is killed with SIGKILL."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


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
    async def handle(self, request: dict[str, Any], line: bytes) -> dict[str, Any] | bytes:
        """Answer `request` (parsed from `line`): the bridge's own commands here, the rest
        forwarded to the Worker as the very text that arrived, and its answer passed back
        as the text that came, never decoded and encoded again: a 32 MiB write is 44 MB of
        JSON, and re-encoding it cost more than carrying it."""
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
        opening = asyncio.ensure_future(connect(
            f"ws://127.0.0.1:{self.port}/", max_size=None, compression=None,
            open_timeout=None, ping_interval=None))
        exited = asyncio.ensure_future(self.proc.wait())
        done, _ = await asyncio.wait({opening, exited}, return_when=asyncio.FIRST_COMPLETED)
        if opening in done:
            exited.cancel()
            return opening.result()
        opening.cancel()
        raise OSError(f"workerd exited with status {self.proc.returncode} before it served")

    async def forward(self, text: bytes) -> bytes:
        """One request, one reply, as UTF-8 JSON text in WebSocket text frames; both may
        travel in pieces (worker.mjs, `pieces`)."""
        assert self.ws is not None
        if len(text) <= PART:
            await self.ws.send(text, text=True)
        else:
            for at in range(0, len(text), PART):
                await self.ws.send((LAST if at + PART >= len(text) else MORE)
                                   + text[at:at + PART], text=True)
        parts: list[bytes] = []
        while True:
            message = await self.ws.recv(decode=False)
            assert isinstance(message, bytes)
            if message[:1] not in (MORE, LAST):
                return message
            parts.append(message[1:])
            if message[:1] == LAST:
                return b"".join(parts)

    async def close_ws(self) -> None:
        if self.ws is not None:
            ws, self.ws = self.ws, None
            await ws.close()


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
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    try:
        while line := await reader.readline():
            text = line[:-1] if line.endswith(b"\n") else line
            head = _HEAD.match(text) if len(text) > CARRY else None
            request = {"id": int(head[1]), "cmd": head[2].decode()} if head else \
                json.loads(text)
            try:
                reply = await bridge.handle(request, text)
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
            out.write(reply if isinstance(reply, bytes) else json.dumps(reply).encode())
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
