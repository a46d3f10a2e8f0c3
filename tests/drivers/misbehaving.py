"""A driver that breaks the protocol on purpose, for tests/test_driver.py and test_cleanup.py.

    python tests/drivers/misbehaving.py MODE

It is the reference stdio driver (adapters/reference/stdio_driver.py), correct in every
case except those whose id ends with "/misbehave": there, the `connect` call goes wrong the
way MODE says (the close-* modes: the close_scope that ends the case). So one run shows
both the ERROR (or TIMEOUT, or the failed cleanup) and that the next case passes.

If $DRIVER_PID_DIR is set, each process writes an empty file named by its pid there, so a
test can check afterwards that none is left running.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sockets_conformance.adapters.reference.stdio_driver import StdioDriver

MODES = ("bad-schema", "wrong-id", "unsolicited", "not-json", "crash", "hang", "hang-await",
         "error-reply", "wrong-version", "stubborn", "close-error", "close-hang")


class Misbehaving(StdioDriver):
    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode
        self.case = ""

    def _mark(self, what: str) -> None:
        """Tell a waiting test that this process reached a state (no sleeps needed)."""
        pid_dir = os.environ.get("DRIVER_PID_DIR")
        if pid_dir:
            Path(pid_dir, f"{os.getpid()}.{what}").touch()

    def _out(self, text: str) -> None:
        sys.__stdout__.buffer.write(text.encode() + b"\n")
        sys.__stdout__.buffer.flush()

    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        cmd, rid, mode = message.get("cmd"), message.get("id"), self.mode
        if cmd == "start" and mode == "wrong-version":
            return {"id": rid, "protocol": 2, "implementation": {
                "name": "misbehaving", "version": "0", "language": "python", "features": []}}
        if cmd == "open_scope":
            self.case = str(message.get("case", ""))
        if cmd == "stop" and mode == "stubborn":
            # Answers, then neither exits nor lets SIGTERM stop it: only SIGKILL of the
            # whole process group works, and a child it started must die too.
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
            return {"id": rid, "ok": True}
        targeted = (self.case.endswith("/misbehave") and cmd == "call"
                    and message.get("op") == "connect")
        if targeted and mode == "bad-schema":
            return {"id": rid, "returned": {"$bytes": "this is not base64!"}}
        if targeted and mode == "wrong-id":
            return {"id": rid + 1000, "returned": {"$object": "Socket"}}
        if targeted and mode == "not-json":
            self._out("hello from the implementation")
            return await super().handle(message)
        if targeted and mode == "crash":
            sys.stderr.write("boom: simulated crash inside connect()\n")
            sys.stderr.flush()
            os._exit(3)
        if targeted and mode == "hang":
            self._mark("hanging")
            await asyncio.Event().wait()
        if targeted and mode == "error-reply":
            return {"id": rid, "error": {"message": "this driver does not do connect today"}}
        if mode == "hang-await" and cmd == "await" and self.case.endswith("/misbehave"):
            self._mark("hanging")
            await asyncio.Event().wait()   # ignores the timeout it was given
        # The end-of-case cleanup: close_scope fails after the case's steps all passed.
        if cmd == "close_scope" and self.case.endswith("/misbehave"):
            if mode == "close-error":
                await self._close_scope()
                return {"id": rid, "error": {"message": "cleanup: s.close() threw Error: stuck"}}
            if mode == "close-hang":
                self._mark("hanging")
                await asyncio.Event().wait()
        if targeted and mode == "unsolicited":
            # Speaks unasked just after this reply has gone out.
            asyncio.get_running_loop().call_soon(self._out, json.dumps({"id": 4242, "ok": True}))
        return await super().handle(message)


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in MODES:
        sys.exit(f"usage: misbehaving.py {{{','.join(MODES)}}}")
    pid_dir = os.environ.get("DRIVER_PID_DIR")
    if pid_dir:
        Path(pid_dir, str(os.getpid())).touch()
    if mode == "stubborn":
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    asyncio.run(Misbehaving(mode).serve())


if __name__ == "__main__":
    main()
