"""Driver processes never outlive the harness: a registry of every driver process group
not yet reaped, and the atexit/SIGINT/SIGTERM handlers that kill them all.

Each driver leads its own process group (so a launcher's children die with it); the client
(driver.py) registers a driver when it starts one and forgets it once reaped. A driver must
also exit when its stdin closes, which covers a harness killed with SIGKILL.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import Any

_LIVE: dict[int, int] = {}          # pid -> process group of every driver not yet reaped
_HANDLERS_INSTALLED = False


def track(pid: int) -> None:
    """A driver was just started as the leader of its own process group."""
    _LIVE[pid] = pid


def forget(pid: int) -> None:
    """The driver was reaped: its pid may be reused, so it must never be killed again."""
    _LIVE.pop(pid, None)


def kill_group(pid: int) -> None:
    """Kill the driver `pid` and everything it started (its whole process group)."""
    pgid = _LIVE.pop(pid, pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_all() -> None:
    """Kill every driver process group this process started and has not reaped."""
    for pid in list(_LIVE):
        kill_group(pid)


def live_pids() -> list[int]:
    """Drivers started by this process that have not been stopped (for tests)."""
    return list(_LIVE)


def install_handlers() -> None:
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
    """A handler that kills the drivers, then does what `previous` would have done."""
    def handler(signum: int, frame: FrameType | None) -> None:
        kill_all()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            os.kill(os.getpid(), sig)

    return handler
