"""A driver with no implementation behind it, for the fuzzing tests (tests/test_robustness.py).

    python -S tests/drivers/scripted.py PLAN.json

It answers every request of spec/adapter-protocol.md with a plausible, valid reply (a
connect returns a Socket, opened and closed fulfil, a readBytes fulfils with b"pong", ...),
so a case made of client steps only passes against it. Except where PLAN says otherwise:
PLAN maps a case id to {"at": N, "line": BASE64}, and the Nth request of that case (its
open_scope is request 0) is answered with those raw bytes as the reply line instead.

Standard library only, and meant to run with -S: a driver that breaks the protocol is
restarted by the harness, so start-up is most of what a fuzzing run costs.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

PONG = base64.b64encode(b"pong").decode()


class Scripted:
    def __init__(self, plan: dict[str, dict[str, Any]]) -> None:
        self.plan = plan
        self.case = ""
        self.index = 0          # requests since this case's open_scope
        self.promises: dict[str, Any] = {}
        self.next_promise = 0

    def promise(self, value: Any) -> dict[str, str]:
        self.next_promise += 1
        pid = f"p{self.next_promise}"
        self.promises[pid] = value
        return {"$promise": pid}

    def call(self, op: str, args: dict[str, Any]) -> dict[str, Any]:
        undefined = {"$undefined": True}
        if op == "connect":
            return {"returned": {"$object": "Socket"}}
        if op == "get":
            path = args.get("path") or []
            if path[-1:] == ["opened"]:
                return {"returned": self.promise({"remoteAddress": "127.0.0.1:1",
                                                  "localAddress": undefined})}
            if path[-1:] == ["closed"]:
                return {"returned": self.promise(undefined)}
            return {"returned": False}
        if op in ("getReader", "getWriter"):
            return {"returned": {"$object": "Stream" + op[3:]}}
        if op == "readBytes":
            return {"returned": self.promise({"value": {"$bytes": PONG}, "done": False,
                                              "reads": 1})}
        if op in ("write", "close", "closeWriter", "abortWriter", "cancel", "read"):
            return {"returned": self.promise(undefined)}
        return {"returned": undefined}

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        cmd, rid = request.get("cmd"), request.get("id")
        if cmd == "start":
            return {"id": rid, "protocol": 1, "implementation": {
                "name": "scripted", "version": "0", "language": "python",
                "features": ["tcp"]}}
        if cmd in ("open_scope", "close_scope", "stop"):
            return {"id": rid, "ok": True}
        if cmd == "violations":
            return {"id": rid, "violations": []}
        if cmd == "call":
            return {"id": rid, **self.call(request["op"], request.get("args") or {})}
        if cmd == "batch":
            return {"id": rid, "replies": [self.call(c["op"], c.get("args") or {})
                                           for c in request["calls"]]}
        if cmd == "await":
            return {"id": rid, "fulfilled": self.promises.get(request["promise"],
                                                              {"$undefined": True})}
        return {"id": rid, "error": {"message": f"unknown command {cmd!r}"}}

    def reply(self, request: dict[str, Any]) -> bytes:
        if request.get("cmd") == "open_scope":
            self.case, self.index = str(request.get("case")), 0
        else:
            self.index += 1
        fuzz = self.plan.get(self.case)
        if fuzz is not None and fuzz["at"] == self.index:
            return base64.b64decode(fuzz["line"])
        return json.dumps(self.answer(request)).encode()


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as plan_file:
        driver = Scripted(json.load(plan_file))
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        request = json.loads(line)
        out.write(driver.reply(request) + b"\n")
        out.flush()
        if request.get("cmd") == "stop":
            return


if __name__ == "__main__":
    main()
