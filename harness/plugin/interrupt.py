"""Ctrl-C: stop the drivers and end the run with one line, in the controller and the workers.

A driver is a child process that would outlive an interrupted run, and pytest's own
KeyboardInterrupt handling prints a traceback per process under xdist.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from types import FrameType
from typing import Any

import pytest
from sockets_conformance.plugin.state import INTERRUPTED, is_worker

_PREVIOUS_SIGINT: list[Any] = []
_SPAWN_SIGINT: list[Any] = []


def _kill_drivers() -> None:
    processes = sys.modules.get("sockets_conformance.running.processes")
    if processes is not None:
        processes.kill_all()


def _interrupted(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C in the process that reports: stop the drivers, end the run with one line
    (pytest.exit prints its message and no traceback).

    Not by raising while an asyncio loop runs: the exception would land in whatever the
    loop was doing, and asyncio's transports take any Exception from a callback (pytest's
    Exit is one) for a broken pipe, so the case ended as an ERROR and the run went on (seen
    once in five runs under load). The loop's tasks are cancelled instead, and State.run
    ends the run when the loop hands back."""
    _kill_drivers()
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        pytest.exit("interrupted (Ctrl-C)", returncode=pytest.ExitCode.INTERRUPTED)
    INTERRUPTED[:] = [True]
    for task in asyncio.all_tasks(loop):
        task.cancel()


def _worker_interrupted(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C reaches the xdist workers too (one foreground process group). A worker has
    nothing to report that the controller would still print: it stops its drivers and
    leaves without a traceback."""
    _kill_drivers()
    os._exit(pytest.ExitCode.INTERRUPTED)


def install_interrupt_handler(config: pytest.Config) -> None:
    """Take over Ctrl-C, except under --pdb (the debugger wants it) or off the main thread
    (where Python cannot set a signal handler)."""
    if config.getoption("usepdb", False) or threading.current_thread() is not \
            threading.main_thread():
        return
    _PREVIOUS_SIGINT[:] = [signal.getsignal(signal.SIGINT)]
    signal.signal(signal.SIGINT, _worker_interrupted if is_worker(config) else _interrupted)


def ignore_while_spawning() -> None:
    """Workers start with Ctrl-C ignored (a disposition a new process inherits, and Python
    keeps): one interrupted while importing printed a traceback each. The plugin gives them
    their handler once configured; pytest_runtestloop gives the controller its own back."""
    if _PREVIOUS_SIGINT and threading.current_thread() is threading.main_thread():
        _SPAWN_SIGINT[:] = [signal.getsignal(signal.SIGINT)]
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def restore_spawn_sigint() -> None:
    """The controller's own handler again, once xdist has spawned its workers."""
    if _SPAWN_SIGINT:
        signal.signal(signal.SIGINT, _SPAWN_SIGINT.pop())


def uninstall_interrupt_handler() -> None:
    """Give Ctrl-C back to whoever had it before the plugin (pytester runs in-process)."""
    restore_spawn_sigint()
    if _PREVIOUS_SIGINT and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _PREVIOUS_SIGINT.pop())
