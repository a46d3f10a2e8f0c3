"""Helpers for tests that watch other processes.

A process that is not our child cannot be wait()ed for, but Linux gives a pidfd for any
process, readable once it has exited: `wait_exited` waits on those, so no polling. Other
conditions (a file appears, a process shows up in /proc) have no such event, and `wait_for`
polls them briefly; it returns what it saw, so the caller acts on the state it waited for
and never reads it again (a second read may find it changed).
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state, ppid, pgrp, session...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def processes() -> dict[int, tuple[list[str], bytes]]:
    """Every live process: pid -> (its stat fields, its NUL-separated command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(entry.name)
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if fields is not None and fields[0] != "Z":
            found[int(entry.name)] = (fields, cmdline)
    return found


def children(pid: int) -> list[tuple[int, bytes]]:
    """Live child processes of `pid`, with their command lines."""
    return [(p, cmd) for p, (fields, cmd) in processes().items() if int(fields[1]) == pid]


def group_members(pgid: int) -> list[int]:
    """Live members of process group `pgid`."""
    return [p for p, (fields, _) in processes().items() if int(fields[2]) == pgid]


def environ_has(pid: int, entry: bytes) -> bool:
    """Whether `entry` (b"NAME=value") is in the environment `pid` was started with. Unlike
    parenthood, the environment survives a parent's death: it finds orphans too."""
    try:
        return entry in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return False


def wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Poll for a condition another process brings about; return the predicate's (truthy)
    value, which is the state to act on."""
    deadline = time.monotonic() + timeout
    while True:
        seen = predicate()
        if seen:
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_exited(pids: Iterable[int], timeout: float, what: str) -> None:
    """Wait until each of `pids` has exited (a zombie has: it runs no more code), on pidfds.

    A pid that is already gone needs no wait; a pid reused by an unrelated process in the
    meantime would only make this wait time out, never pass early."""
    poller = select.poll()
    fds: dict[int, int] = {}
    try:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                fd = os.pidfd_open(pid)
                fds[fd] = pid
                poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout
        while fds:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {what}: {sorted(fds.values())} "
                                     "still running")
            for fd, _ in poller.poll(left * 1000):
                poller.unregister(fd)
                os.close(fd)
                fds.pop(fd)
    finally:
        for fd in fds:
            os.close(fd)
