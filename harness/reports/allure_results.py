"""Allure labels and attachments for conformance cases, through allure-pytest.

Labels are pytest marks added when a case is collected, so Allure's own filters
(--allure-features, --allure-stories, test plans) select cases like any other test.
Attachments are added while the case runs; allure.attach is a no-op when no --alluredir
is given, so nothing here costs anything in a plain run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import allure
import pytest
from sockets_conformance.model.case import Case
from sockets_conformance.model.requirements import catalogue
from sockets_conformance.model.results import CaseResult
from sockets_conformance.reports.failure import render
from sockets_conformance.running.adapter import ImplementationInfo

SEVERITY = {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}
_URL = re.compile(r"https?://\S+")


def _label(value: str, kind: str) -> pytest.MarkDecorator:
    return pytest.mark.allure_label(value, label_type=kind)


def markers(case: Case) -> list[pytest.MarkDecorator]:
    reqs = catalogue()
    marks = [_label(case.area, "epic")]
    for group in dict.fromkeys(rid.split(".", 1)[0] for rid in case.requirements):
        marks.append(_label(group, "feature"))
    levels = []
    for rid in case.requirements:
        marks.append(_label(rid, "story"))
        req = reqs.get(rid)
        if req is None:
            continue
        levels.append(req.level)
        url = req.link or next(iter(_URL.findall(req.source)), None)
        if url:
            marks.append(pytest.mark.allure_link(url, name=f"{rid}: source", link_type="link"))
    for feature in case.features:
        marks.append(_label(feature, "tag"))
    level = next((lv for lv in ("MUST", "SHOULD", "MAY") if lv in levels), "MUST")
    marks.append(_label(SEVERITY[level], "severity"))
    marks.append(pytest.mark.allure_description(
        f"{case.title}\n\nRequirements: "
        + "; ".join(f"{rid} ({reqs[rid].level}): {reqs[rid].text}" for rid in case.requirements
                    if rid in reqs)))
    return marks


def attach(case: Case, result: CaseResult, info: ImplementationInfo, adapter: str,
           options: Sequence[str] | None = None) -> None:
    """`options`: the run's verdict options, for the timeline's rerun line."""
    allure.dynamic.parameter("implementation", f"{info.name} {info.version}")
    allure.attach(render(case, result, adapter, options), name="timeline",
                  attachment_type=allure.attachment_type.TEXT)
    for peer, wire in result.wire.items():
        for direction in ("received", "sent"):
            data = wire[direction]
            if data:
                allure.attach(_dump(data), name=f"wire {peer} {direction} ({len(data)} bytes)",
                              attachment_type=allure.attachment_type.TEXT)
    if result.diagnostics:
        allure.attach(result.diagnostics, name="implementation stderr",
                      attachment_type=allure.attachment_type.TEXT)


def _dump(data: bytes, limit: int = 4096) -> str:
    """A hex dump with a text column, cut at `limit` bytes (large transfers are generated
    data whose content the case already compared)."""
    lines = []
    for off in range(0, min(len(data), limit), 16):
        row = data[off:off + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in row)
        lines.append(f"{off:08x}  {row.hex(' '):<47}  {text}")
    if len(data) > limit:
        lines.append(f"... {len(data) - limit} more bytes")
    return "\n".join(lines)
