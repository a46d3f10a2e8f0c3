"""The JavaScript notions the reference implementation needs: errors with a name, and
promises as asyncio futures that never warn about unhandled rejections (workerd marks
opened/closed as handled, and so does this implementation everywhere)."""

from __future__ import annotations

import asyncio
import weakref
from typing import Any


class JSError(Exception):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def type_error(message: str) -> JSError:
    return JSError("TypeError", message)


def _mark_handled(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


class RejectionWatch:
    """Collects the rejections of promises nobody handled (JavaScript's unhandledrejection)
    while a case runs; `take()` hands them out once."""

    def __init__(self) -> None:
        self._seen: list[JSError] = []

    def add(self, error: JSError) -> None:
        self._seen.append(error)

    def take(self) -> list[JSError]:
        seen, self._seen = self._seen, []
        return seen


_WATCHES: list[RejectionWatch] = []
_AWAITED: weakref.WeakSet[asyncio.Future[Any]] = weakref.WeakSet()


def watch_rejections() -> RejectionWatch:
    watch = RejectionWatch()
    _WATCHES.append(watch)
    return watch


def stop_watching(watch: RejectionWatch) -> None:
    if watch in _WATCHES:
        _WATCHES.remove(watch)


def awaited(fut: asyncio.Future[Any]) -> None:
    """Someone (the harness, standing for user code) attached a handler: like `await p`."""
    _AWAITED.add(fut)


def _report_unhandled(fut: asyncio.Future[Any]) -> None:
    # Runs one loop turn after the rejection, the reference's "microtask checkpoint": a
    # promise still without a handler then is an unhandled rejection, as in JavaScript.
    if fut.cancelled():
        return
    error = fut.exception()  # also keeps asyncio from logging it again at collection
    if error is None or fut in _AWAITED:
        return
    for watch in _WATCHES:
        watch.add(error if isinstance(error, JSError) else JSError("Error", str(error)))


def promise(*, handled: bool = True) -> asyncio.Future[Any]:
    """A new promise. Every promise the reference creates is marked handled (workerd marks
    opened and closed, and the WinterTC draft says so), so a rejection nobody awaits is
    never reported; `handled=False` makes one that is (the unhandled-rejection variants)."""
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    fut.add_done_callback(_mark_handled if handled else _report_unhandled)
    return fut


def resolved(value: Any = None) -> asyncio.Future[Any]:
    fut = promise()
    fut.set_result(value)
    return fut


def rejected(error: JSError) -> asyncio.Future[Any]:
    fut = promise()
    fut.set_exception(error)
    return fut


def settle(fut: asyncio.Future[Any], value: Any = None, error: BaseException | None = None) -> None:
    """Resolve or reject unless already settled (JS resolvers ignore a second call)."""
    if fut.done():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(value)


def follow(source: asyncio.Future[Any], target: asyncio.Future[Any]) -> None:
    """Settle `target` the way `source` settles."""

    def copy(src: asyncio.Future[Any]) -> None:
        if src.cancelled():
            settle(target, error=type_error("The operation was cancelled."))
        elif src.exception() is not None:
            settle(target, error=src.exception())
        else:
            settle(target, src.result())

    source.add_done_callback(copy)
