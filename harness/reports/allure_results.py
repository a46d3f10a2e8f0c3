"""Allure results for conformance cases: labels, attachments and the verdict a reader sees.

Two halves. While a case runs (through allure-pytest), `markers` labels it when it is
collected, so Allure's own filters (--allure-features, --allure-stories, test plans) select
cases like any other test, and `attach` adds its timeline, its wire bytes, its verdict and,
for a known divergence, the expectation's reason and link. allure.attach and allure.dynamic
are no-ops without --alluredir, so nothing here costs anything in a plain run.

After a run, `settle` rewrites the result files for the published report: allure-pytest
files a strict xfail (a known divergence) as skipped, which would make the report call a
divergence "not run" and count it with the NOT-APPLICABLE cases. pytest's own verdict stays
xfail; only the files the report is built from change, so a known divergence shows as failed
(broken for ERROR) and skipped means NOT-APPLICABLE alone. `settle` also labels
every result with the implementation that produced it, which the report's environments
(harness/allure/allurerc.mjs) key on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import allure
import pytest
from sockets_conformance.model.case import Case
from sockets_conformance.model.requirements import catalogue
from sockets_conformance.model.results import CaseResult, Status
from sockets_conformance.paths import ROOT
from sockets_conformance.reports import scores
from sockets_conformance.reports.failure import render, shown_path
from sockets_conformance.running.adapter import ImplementationInfo
from sockets_conformance.running.expectations import Expectation

SEVERITY = {"MUST": "critical", "SHOULD": "normal", "MAY": "minor"}
_URL = re.compile(r"https?://\S+")
# Label names this module writes and reads back in `settle`, and the environments match.
VERDICT = "verdict"
EXPECTED = "expected"
IMPLEMENTATION = "implementation"
# The status message of a known divergence starts with this; allurerc.mjs's "Known
# divergences" category matches it.
KNOWN = "Known divergence"
# As plugin/items.py files an unexpected verdict: ERROR (the harness could not judge) is
# broken; FAIL, TIMEOUT and NON-STRICT are the implementation's behaviour, so failed.
_BROKEN = {Status.ERROR.value}
_MAX = 64  # Allure's limit on an environment's id and name


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
    marks.append(pytest.mark.allure_description(_description(case)))
    return marks


def _description(case: Case) -> str:
    reqs = catalogue()
    return (f"{case.title}\n\nRequirements: "
            + "; ".join(f"{rid} ({reqs[rid].level}): {reqs[rid].text}"
                        for rid in case.requirements if rid in reqs))


def attach(case: Case, result: CaseResult, info: ImplementationInfo, adapter: str,
           options: Sequence[str] | None = None, expected: Expectation | None = None,
           expectations: Path | None = None) -> None:
    """`options`: the run's verdict options, for the timeline's rerun line. `expected`: the
    case's entry in the adapter's expectations file (`expectations`), if it has one."""
    allure.dynamic.parameter("implementation", f"{info.name} {info.version}")
    allure.dynamic.label(VERDICT, result.status.value)
    if expected is not None:
        allure.dynamic.label(EXPECTED, expected.status.value)
        where = f" ({shown_path(expectations, ROOT)})" if expectations else ""
        if expected.link:
            allure.dynamic.link(expected.link, link_type="issue",
                                name=f"known divergence{where}")
        allure.dynamic.description(
            f"{KNOWN}: {expected.status.value} is expected for this implementation"
            f"{where}: {expected.reason}" + (f"\n\nSee {expected.link}" if expected.link else "")
            + f"\n\n{_description(case)}")
    allure.attach(render(case, result, adapter, options), name="timeline",
                  attachment_type=allure.attachment_type.TEXT)
    for peer, wire in result.wire.items():
        for direction in ("received", "sent"):
            data = wire[direction]
            if data:
                allure.attach(_dump(data), name=f"wire {peer} {direction} ({len(data)} bytes)",
                              attachment_type=allure.attachment_type.TEXT)
        if wire.get("network"):
            allure.attach(wire["network"], name=f"network {peer} (SNI, segments, timing)",
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


@dataclass(frozen=True)
class Environment:
    """One implementation run's view in the report. `label`: the implementation's name and
    version, which its results carry and the view matches; `id`: the same for Allure
    (letters, digits, - and _); `name`: what the reader sees, with the score's percentages
    when they fit; `headline`: the full conformance score."""

    id: str
    label: str
    name: str
    headline: str = ""
    unavailable: str = ""
    levels: tuple[tuple[str, str], ...] = ()

    def summary(self) -> str:
        return f"not run: {self.unavailable}" if self.unavailable else self.headline

    def as_config(self) -> dict[str, Any]:
        """What harness/allure/allurerc.mjs reads: the matcher's label and value, and the
        score one level a variable (the report shows variables as short chips)."""
        return {"id": self.id, "name": self.name, "label": IMPLEMENTATION, "value": self.label,
                "variables": dict(self.levels)}


def environment(header: Mapping[str, Any], cases: Iterable[Mapping[str, Any]]) -> Environment:
    """The view of one run, keyed on the implementation's name and version in the results
    header: two releases of one runtime are two views."""
    impl = header.get("implementation") or {}
    label = " ".join(str(p) for p in (impl.get("name") or header.get("adapter") or "?",
                                       impl.get("version")) if p)
    ident = re.sub(r"[^A-Za-z0-9_-]+", "-", label).strip("-")[:_MAX] or "implementation"
    # Allure refuses "/" in an environment name (it would become a path): "@scope/package"
    # keeps its look with a division slash.
    shown = label.replace("/", "\u2215").replace("\\", "\u2216")[:_MAX]
    if header.get("unavailable"):
        return Environment(ident, label, shown, unavailable=str(header["unavailable"]))
    score = scores.score(cases)
    short = " · ".join(f"{s.level} {s.percent}%" for s in score.levels if s.applicable)
    name = f"{shown}: {short}" if len(shown) + 2 + len(short) <= _MAX else shown
    headline = score.text() + (f" ({score.note()})" if score.note() else "")
    levels = [(f"{s.level} passed", f"{s.passed} of {s.applicable} applicable"
               + (f" ({s.percent}%)" if s.percent is not None else "")) for s in score.levels]
    if score.reworded:
        levels.append(("NON-STRICT", f"{score.reworded} passed, another message"))
    return Environment(ident, label, name, headline, levels=tuple(levels))


def distinct(envs: Sequence[Environment]) -> list[Environment]:
    """Environments with unique ids and names (Allure refuses duplicates): a second run of
    the same implementation and version gets a number."""
    out: list[Environment] = []
    for env in envs:
        k = 1
        while any(o.id == env.id or o.name == env.name for o in out):
            k += 1
            env = replace(env, id=f"{env.id[:_MAX - 3]}-{k}", name=f"#{k} {env.name}"[:_MAX],
                          label=f"{env.label} #{k}")
        out.append(env)
    return out


def settle(results_dir: Path, env: Environment) -> None:
    """Rewrite one run's Allure result files for the report: every result carries its
    implementation's label; a known divergence is failed (broken for ERROR) with
    the expectation in its message, never skipped."""
    for path in sorted(results_dir.glob("*-result.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        labels = data.setdefault("labels", [])
        labels[:] = [lb for lb in labels if lb.get("name") != IMPLEMENTATION]
        labels.append({"name": IMPLEMENTATION, "value": env.label})
        _file_divergence(data)
        path.write_text(json.dumps(data), encoding="utf-8")


def _file_divergence(data: dict[str, Any]) -> None:
    """A skipped result with a verdict other than NOT-APPLICABLE is an xfail, i.e. a known
    divergence: failed or broken, its message led by the expectation's reason. Any other
    skip (NOT-APPLICABLE, a skip before the case ran) stays. A strict XPASS gets a message."""
    values = {lb.get("name"): lb.get("value") for lb in data.get("labels", [])}
    verdict, expected = values.get(VERDICT), values.get(EXPECTED)
    details = data.setdefault("statusDetails", {})
    if data.get("status") == "skipped" and verdict and verdict != Status.NOT_APPLICABLE.value:
        data["status"] = "broken" if verdict in _BROKEN else "failed"
        # allure-pytest's message: "XFAIL <pytest's xfail reason>\n\n<module.Exception>: <text>"
        head, _, text = str(details.get("message") or "").partition("\n\n")
        reason = re.sub(r"^XFAIL (?:[A-Z-]+: )?", "", head)
        text = re.sub(r"^[\w.]+: ", "", text)
        details["message"] = f"{KNOWN} ({verdict} expected): {reason}\n\n{text}".rstrip()
    elif expected and data.get("status") in ("failed", "broken") and not details.get("message"):
        # a strict XPASS: pytest fails it without an exception, so nothing says why
        details["message"] = (f"{EXPECTED.capitalize()} {expected}, got {verdict}: the "
                              f"expectation no longer holds; remove its entry")
