"""Headless Chromium driven over the DevTools protocol, to look at a page as a person would
and to record every request it makes. Used by the report tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from tests.needs import chromium_path
from tests.processes import group_members, wait_exited

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-port=0", "--window-size=1400,1000"]


@dataclass
class PageVisit:
    requests: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


async def visit(url: str, *views: str, timeout: float = 60.0) -> PageVisit:
    """Load `url`; for each of `views` (page JS) in turn, wait until it is truthy in the page
    and keep the page's text then (one browser for every view: each start of Chromium
    costs more than a second of CPU). Records every request the page makes.

    The timeout only keeps a broken page from hanging the test; it is not a speed claim."""
    chromium = chromium_path()
    assert chromium, "chromium is not installed (tests.needs.needs_chromium skips first)"
    with tempfile.TemporaryDirectory() as profile:
        # Its own process group, so every process Chromium starts can be found and stopped.
        proc = subprocess.Popen([chromium, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            return await asyncio.wait_for(_drive(proc, url, views), timeout)
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[str]) -> None:
    """Kill Chromium and wait until none of its processes runs any more, before the
    profile folder is removed: killing the browser process alone left its helpers (the
    storage service among them) writing into the profile while it was being deleted
    ("Directory not empty: 'Default'")."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # The helpers are not our children (no wait()), and SIGKILL takes effect when each is
    # next scheduled: wait for each to exit. The kill reached every member of the group,
    # and a process cannot fork once it is being killed, so one round finds them all.
    wait_exited(group_members(proc.pid), 30, "Chromium's processes to exit")
    if proc.stderr is not None:
        proc.stderr.close()


async def _drive(proc: subprocess.Popen[str], url: str, views: tuple[str, ...]) -> PageVisit:
    assert proc.stderr is not None
    port = None
    while port is None:
        line = await asyncio.to_thread(proc.stderr.readline)
        if not line:
            raise RuntimeError("chromium exited before DevTools came up")
        m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
        port = int(m.group(1)) if m else None
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as resp:
        targets = json.load(resp)
    page = next(t for t in targets if t["type"] == "page")
    result = PageVisit()
    async with connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
        ids = iter(range(1, 10_000))
        answers: dict[int, asyncio.Future[Any]] = {}

        async def reader() -> None:
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("method") == "Network.requestWillBeSent":
                    result.requests.append(msg["params"]["request"]["url"])
                elif "id" in msg and msg["id"] in answers:
                    answers.pop(msg["id"]).set_result(msg)

        async def call(method: str, **params: Any) -> Any:
            n = next(ids)
            answers[n] = asyncio.get_running_loop().create_future()
            await ws.send(json.dumps({"id": n, "method": method, "params": params}))
            return (await answers[n]).get("result", {})

        task = asyncio.create_task(reader())
        await call("Network.enable")
        await call("Page.enable")
        await call("Page.navigate", url=url)
        for ready_js in views:
            while True:  # poll the page's own state; each round trip is an event, not a sleep
                done = await call("Runtime.evaluate", expression=f"!!({ready_js})",
                                  awaitPromise=True, returnByValue=True)
                if done.get("result", {}).get("value") is True:
                    break
                await call("Runtime.evaluate", expression="new Promise(r => setTimeout(r, 50))",
                           awaitPromise=True)
            text = await call("Runtime.evaluate", expression="document.body.innerText",
                              returnByValue=True)
            result.texts.append(text["result"]["value"])
        task.cancel()
    return result


def is_local(url: str) -> bool:
    return url.startswith(("file:", "data:", "blob:", "about:"))


def file_url(path: Path) -> str:
    return path.resolve().as_uri()
