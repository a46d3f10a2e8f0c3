"""Cloudflare's limit on simultaneous open connections, per invocation.

developers.cloudflare.com/workers/platform/limits/#simultaneous-open-connections: an
invocation may have six connections open at once; further connect() calls are not
rejected but queued, and their connections are not initiated until an open one closes.
For the reference an invocation is one case (one harness scope). A slot is held by the TCP
connection, not by the Socket object: the socket startTls() returns goes on using the slot of
the connection it takes over, and the slot is given back when that connection is gone.

Production also cancels the least-recently-used connection when it sees a Worker deadlocked
on the limit; that is timing-dependent and not modelled here (spec/requirements.yaml, omitted).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

SIMULTANEOUS_OPEN = 6


class ConnectionLimit:
    """A first-come, first-served counting semaphore: `acquire()` waits for a free slot,
    `release()` hands the slot straight to the oldest waiter."""

    def __init__(self, size: int = SIMULTANEOUS_OPEN) -> None:
        self.size = size
        self.open = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def acquire(self) -> None:
        if self.open < self.size and not self._waiting:
            self.open += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()      # the slot was handed over as we were cancelled
            else:
                self._waiting.remove(turn)
            raise

    def release(self) -> None:
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(None)   # the slot passes on; `open` is unchanged
                return
        self.open -= 1


def for_context(context: Any) -> ConnectionLimit | None:
    """The limit of the case (harness scope) `context` belongs to; None outside any case
    (connect() called directly, e.g. by the project's unit tests), where nothing is limited."""
    if context is None:
        return None
    limit = getattr(context, "_reference_connection_limit", None)
    if limit is None:
        limit = ConnectionLimit()
        # The harness's CaseContext is a plain dataclass made for one case: a fresh limit
        # per case, without the scope having to pass one down.
        context._reference_connection_limit = limit
    return limit
