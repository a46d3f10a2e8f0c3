"""Cases run ahead: while one case waits on an implementation in another process, the next
cases of the same pytest process already run, each on a driver process of its own.

Why: a case whose implementation never settles a promise waits out its step timeout (2 s).
That costs wall time, not CPU, and serially one such wait holds up every case behind it:
against @arrowood.dev/socket, 21 such waits were 40 of the run's 45 seconds of case time.
Nothing about a case changes when it runs ahead: it still has a driver process to itself,
its own peers and its own timeouts, and pytest still reports the cases in its own order,
each when its turn comes. Only adapters whose implementation runs in another process run
ahead: the in-process reference's safety guard watches the whole process, so its cases run
one at a time.

Which cases come next: serially, the rest of the session's items; under xdist, the ones the
controller has already handed to this worker (its queue, read under the queue's lock, never
changed). A case that runs ahead and is then taken away (xdist's work stealing) is simply
never reported here; the worker it went to runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pytest
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.running.adapter import Adapter, AdapterError, ImplementationInfo

if TYPE_CHECKING:
    from sockets_conformance.model.case import Case
    from sockets_conformance.running.runner import Settings

Outcome = tuple[CaseResult, ImplementationInfo]
# One run of a case: its pytest node id, the case, and its repetition (--repeat; 1 first).
Planned = tuple[str, "Case", int]
# A case still running after this long is most likely waiting on the implementation (the
# `pending` window is 0.1 s too): the next case may start beside it.
LINGER = 0.1


class Ahead:
    """Up to `width` cases at once, on up to `width` started adapters: `first` (the
    process's own adapter) and more made by `make` as they are needed."""

    def __init__(self, loop: asyncio.AbstractEventLoop, first: Adapter,
                 make: Callable[[], Adapter], width: int, settings: Settings,
                 spec: str) -> None:
        self.loop = loop
        self.width = width
        self.settings = settings
        self.spec = spec
        self._make = make
        self._idle: list[Adapter] = [first]
        self._extra: list[Adapter] = []
        self._count = 1
        self._cannot_grow = False
        self._freed = asyncio.Condition()
        self._tasks: dict[str, asyncio.Task[Outcome]] = {}
        self._upcoming: Callable[[], Iterable[Planned]] | None = None
        self._reported: set[str] = set()
        self._started: dict[asyncio.Task[Outcome], float] = {}
        self._tick: asyncio.TimerHandle | None = None

    def launch(self, upcoming: Callable[[], Iterable[Planned]]) -> None:
        """Run the cases `upcoming()` names as the rule in `_fill` allows,
        now and whenever a running case ends or lingers."""
        self._upcoming = upcoming
        self._fill()

    def _fill(self) -> None:
        """Start the next case when every running case has run LINGER seconds (it is then
        most likely waiting on the implementation), while fewer than `width` run. Quick
        cases thus run one after another on one driver, and more drivers start only
        beside cases that wait."""
        self._tick = None
        if self._upcoming is None:
            return
        now = self.loop.time()
        running = [t for t in self._tasks.values() if not t.done()]
        for planned in self._upcoming():
            nodeid = planned[0]
            if nodeid in self._tasks or nodeid in self._reported:
                continue
            if len(running) >= self.width:
                return
            young = [self._started[t] for t in running if now - self._started[t] < LINGER]
            if young:
                self._tick = self.loop.call_at(min(young) + LINGER, self._fill)
                return
            running.append(self._start(planned))

    def _start(self, planned: Planned) -> asyncio.Task[Outcome]:
        nodeid, case, repetition = planned
        task = self._tasks[nodeid] = self.loop.create_task(self._run(case, repetition))
        self._started[task] = self.loop.time()
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[Outcome]) -> None:
        self._started.pop(task, None)
        if not task.cancelled():
            if self._tick is not None:
                self._tick.cancel()
            self._fill()

    async def result(self, planned: Planned) -> Outcome:
        """This case's outcome, started now if it did not run ahead."""
        nodeid = planned[0]
        task = self._tasks.get(nodeid) or self._start(planned)
        try:
            return await task
        finally:
            self._tasks.pop(nodeid, None)
            self._reported.add(nodeid)

    async def _run(self, case: Case, repetition: int) -> Outcome:
        from sockets_conformance.running.runner import run_case

        adapter = await self._lease()
        try:
            return await run_case(case, adapter, self.settings, repetition), adapter.info
        except AdapterError as exc:  # as serially (plugin/items.py): this case is ERROR
            return (CaseResult(case.id, Status.ERROR, f"adapter error: {exc}",
                               diagnostics=exc.stderr, implementation=self.spec),
                    ImplementationInfo(self.spec, "?", "?"))
        finally:
            async with self._freed:
                self._idle.append(adapter)
                self._freed.notify()

    async def _lease(self) -> Adapter:
        """An idle adapter; a new one while there are fewer than `width`; else wait."""
        async with self._freed:
            while True:
                if self._idle:
                    return self._idle.pop()
                if self._count < self.width and not self._cannot_grow:
                    self._count += 1
                    break
                await self._freed.wait()
        adapter = self._make()
        try:
            await adapter.start()
        except AdapterError:
            # The first driver started; this one did not (a resource limit?): run with the
            # drivers there are rather than fail a case the implementation never saw.
            with contextlib.suppress(AdapterError):
                await adapter.stop()
            async with self._freed:
                self._count -= 1
                self._cannot_grow = True
            return await self._lease()
        self._extra.append(adapter)
        return adapter

    async def close(self) -> None:
        """Cancel the cases that ran ahead and were never reported; stop the extra
        adapters (the first one is the process's, stopped by its owner)."""
        self._upcoming = None
        if self._tick is not None:
            self._tick.cancel()
        for task in self._tasks.values():
            task.cancel()
        for task in self._tasks.values():
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()
        for adapter in self._extra:
            with contextlib.suppress(AdapterError):
                await adapter.stop()
        self._extra.clear()


def upcoming(item: pytest.Item, nextitem: pytest.Item | None) -> list[pytest.Item]:
    """The items this process will run after `item`, as far as it can know them."""
    session = item.session
    if hasattr(item.config, "workerinput"):  # an xdist worker: only what it was handed
        queue = _xdist_queue(item.config)
        if queue is None:
            return [nextitem] if nextitem is not None else []
    else:
        items = session.items
        at = _position(session, item)
        if at is None:
            return [nextitem] if nextitem is not None else []
        return items[at + 1:]
    with queue.lock() as pending:
        indices = [i for i in pending if isinstance(i, int)]
    ahead = [nextitem] if nextitem is not None else []
    return ahead + [session.items[i] for i in indices if 0 <= i < len(session.items)]


_POSITIONS = pytest.StashKey[tuple[int, dict[int, int]]]()


def _position(session: pytest.Session, item: pytest.Item) -> int | None:
    """`session.items.index(item)` without a scan per case (--repeat 10: 1420 items)."""
    items = session.items
    known = session.stash.get(_POSITIONS, None)
    if known is None or known[0] != len(items):
        known = session.stash[_POSITIONS] = (len(items),
                                             {id(it): k for k, it in enumerate(items)})
    return known[1].get(id(item))


def _xdist_queue(config: pytest.Config) -> Any:
    """The xdist worker's queue of test indices (pytest-xdist's TestQueue, which is made to
    be read under its lock()), or None if this xdist has none."""
    for plugin in config.pluginmanager.get_plugins():
        queue = getattr(plugin, "torun", None)
        if queue is not None and callable(getattr(queue, "lock", None)):
            return queue
    return None


def dealt_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's load scheduling, except that every item is dealt out at the start, one to
    each worker in turn. Load scheduling hands a worker a few items at a time, fewer
    towards the end, so a worker would see too few coming cases to run ahead; dealing them
    one by one spreads the cases that wait (they cluster by area) over the workers."""
    from xdist.scheduler import LoadScheduling

    class DealtScheduling(LoadScheduling):  # type: ignore[misc]
        def schedule(self) -> None:
            if self.collection is not None or not self._check_nodes_have_same_collection():
                super().schedule()   # a restarted worker, or xdist's own complaint
                return
            self.collection = next(iter(self.node2collection.values()))
            indices = list(range(len(self.collection)))
            self.pending[:] = []
            for k, node in enumerate(self.nodes):
                dealt = indices[k::len(self.nodes)]
                if dealt:
                    self.node2pending[node].extend(dealt)
                    node.send_runtest_some(dealt)
            for node in self.nodes:
                node.shutdown()

    return DealtScheduling(config, log)
