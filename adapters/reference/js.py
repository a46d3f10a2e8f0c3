"""The JavaScript notions the reference implementation needs: errors with a name, and
promises as asyncio futures that never warn about unhandled rejections (workerd marks
opened/closed as handled, and so does this implementation everywhere)."""

from __future__ import annotations

import asyncio
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


def promise() -> asyncio.Future[Any]:
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    fut.add_done_callback(_mark_handled)
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
