"""The reference's stdio driver behind a relay that logs when each case's scope opens and
closes, for tests/test_ahead.py:

    python tests/drivers/scope_log.py LOG

Appends `<pid> <open|close> <case id> <CLOCK_MONOTONIC>` lines to LOG. The monotonic clock is
the system's, so the lines of several driver processes can be compared: two cases ran side
by side exactly when each one's scope opened before the other's closed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time


def main(log: str) -> int:
    child = subprocess.Popen(
        [sys.executable, "-m", "sockets_conformance.adapters.reference.stdio_driver"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    case = ""

    def replies() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()

    relay = threading.Thread(target=replies, daemon=True)
    relay.start()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        cmd = request.get("cmd")
        if cmd in ("open_scope", "close_scope"):
            case = request.get("case", case)
            with open(log, "a", encoding="utf-8") as out:
                out.write(f"{os.getpid()} {cmd.split('_')[0]} {case} {time.monotonic()}\n")
        child.stdin.write(line)
        child.stdin.flush()
        if cmd == "stop":
            # A driver exits once it has answered stop: a relay that waited for its stdin
            # to close instead cost the harness its stop grace (2 s) for every driver.
            break
    child.stdin.close()
    code = child.wait()
    relay.join()   # every reply passed on, the stop's among them
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
