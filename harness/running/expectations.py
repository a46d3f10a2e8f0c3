"""Expectations: what a real implementation is known to get wrong, so the suite need not bend.

Each adapter folder may carry `expectations.yaml`, keyed by case id:

    close/cancels-readable:
      status: FAIL
      reason: close() only ends the writable side (socket.end()); the readable is not cancelled
      link: https://github.com/Ethan-Arrowood/socket/blob/<commit>/src/index.ts#L97

The plugin turns each entry into a strict xfail (WPT's and WebKit's model): the expected
status is reported as xfailed with its reason, any other status fails, and a case that
starts passing fails as XPASS(strict) so the file cannot drift from the truth. A NON-STRICT
entry whose case saw only another error message is the exception: that result is a pass
with or without the entry (plugin/items.py), and the entry says why the words differ. Update mode
(`--update-expectations`) rewrites the file from a run: it keeps the reason of every entry
whose status still holds and marks everything else "TODO", so that no generated line can be
mistaken for a reviewed one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sockets_conformance.model.results import Status
from sockets_conformance.paths import ADAPTERS, CASES

# Statuses an entry may expect. PASS needs no entry; NOT-APPLICABLE is decided by features.
EXPECTABLE = (Status.FAIL, Status.NON_STRICT, Status.TIMEOUT, Status.ERROR)
TODO = "TODO"
FILE_NAME = "expectations.yaml"

HEADER = """\
# Expected results of the conformance suite for this adapter, keyed by case id.
#   status: FAIL | NON-STRICT | TIMEOUT | ERROR    what the case reports, and why:
#   reason: the behaviour that differs, checked against the implementation's source
#   link:   where to see it (the implementation's source line, or an issue)
# Each entry runs as a strict xfail: a case that starts passing fails the run until its
# entry goes. `pytest --adapter ADAPTER --update-expectations` rewrites this file from a
# run; entries it cannot vouch for get "reason: TODO" until a person reviews them.
"""


class ExpectationsError(Exception):
    """The file cannot be used as it is (bad YAML, unknown status, missing reason)."""


@dataclass(frozen=True)
class Expectation:
    case_id: str
    status: Status
    reason: str
    link: str = ""

    @property
    def reviewed(self) -> bool:
        return not self.reason.startswith(TODO)

    def as_yaml(self) -> dict[str, str]:
        out = {"status": self.status.value, "reason": self.reason}
        if self.link:
            out["link"] = self.link
        return out


def default_path(adapter_spec: str, node_module: str | None = None,
                 workerd_version: str | None = None) -> Path | None:
    """The expectations an adapter ships. None for adapters that are not a folder here
    (driver:, python:) and for --node-module, whose module is not @arrowood.dev/socket.
    An older workerd release (--workerd-version) has its own, in its release folder."""
    release = ADAPTERS / "workerd" / "releases" / (workerd_version or "")
    if adapter_spec == "workerd" and workerd_version and release.is_dir():
        return release / FILE_NAME
    if adapter_spec == "node" and node_module is None:
        return ADAPTERS / "node" / FILE_NAME
    if adapter_spec in ("reference", "workerd"):
        return ADAPTERS / adapter_spec / FILE_NAME
    return None


def load(path: Path | None) -> dict[str, Expectation]:
    if path is None or not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ExpectationsError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ExpectationsError(f"{path}: expected a mapping of case id -> entry")
    return {str(case_id): _entry(path, str(case_id), raw) for case_id, raw in data.items()}


def _entry(path: Path, case_id: str, raw: Any) -> Expectation:
    where = f"{path}: {case_id}"
    if not isinstance(raw, dict):
        raise ExpectationsError(f"{where}: expected a mapping with status, reason and link")
    unknown = set(raw) - {"status", "reason", "link"}
    if unknown:
        raise ExpectationsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    allowed = ", ".join(s.value for s in EXPECTABLE)
    try:
        status = Status(str(raw.get("status")))
    except ValueError:
        raise ExpectationsError(f"{where}: status must be one of {allowed}, "
                                f"not {raw.get('status')!r}") from None
    if status not in EXPECTABLE:
        raise ExpectationsError(f"{where}: status must be one of {allowed}, not {status.value}")
    reason = raw.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ExpectationsError(f"{where}: every entry needs a reason")
    link = raw.get("link") or ""
    if not isinstance(link, str):
        raise ExpectationsError(f"{where}: link must be a string")
    return Expectation(case_id, status, reason.strip(), link)


def case_exists(case_id: str, cases_root: Path = CASES) -> bool:
    """A case id is its path under cases/ (README, 'Writing a case')."""
    return (cases_root / f"{case_id}.yaml").exists()


def update(old: Mapping[str, Expectation], results: Mapping[str, Status],
           exists: Callable[[str], bool] = case_exists) -> dict[str, Expectation]:
    """The expectations a run implies.

    - a case that ended with an expectable status keeps its entry (and reason) if the
      status is the same; a changed status or a new failure gets reason TODO (the old reason
      is kept after it, to help the reviewer);
    - a case that passed, or was not applicable, loses its entry;
    - entries for cases this run did not execute stay as they are (a partial run, -k, says
      nothing about them), unless the case no longer exists at all.
    """
    out: dict[str, Expectation] = {}
    for case_id, entry in old.items():
        if case_id not in results and exists(case_id):
            out[case_id] = entry
    for case_id, status in results.items():
        if status not in EXPECTABLE:
            continue
        previous = old.get(case_id)
        if previous is not None and previous.status is status:
            out[case_id] = previous
        elif previous is not None:
            out[case_id] = Expectation(
                case_id, status, f"{TODO}: was {previous.status.value}: {previous.reason}",
                previous.link)
        else:
            out[case_id] = Expectation(case_id, status, TODO)
    return dict(sorted(out.items()))


def _header(path: Path) -> str:
    """The leading comment block of the existing file, or the default one."""
    if path.exists():
        lines = []
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.startswith("#"):
                break
            lines.append(line)
        if lines:
            return "\n".join(lines) + "\n"
    return HEADER


class _Dumper(yaml.SafeDumper):
    """Reasons are sentences that quote JavaScript messages ('Invalid URL'): as folded
    blocks they read as written, without YAML's quoting and escapes."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    prose = " " in value and ("\n" not in value) and (len(value) > 60 or "'" in value
                                                       or ": " in value)
    return dumper.represent_scalar("tag:yaml.org,2002:str", value,
                                   style=">" if prose else None)


_Dumper.add_representer(str, _text)


def dump(entries: Iterable[Expectation]) -> str:
    body = {e.case_id: e.as_yaml() for e in sorted(entries, key=lambda e: e.case_id)}
    if not body:
        return "{}\n"
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100,
                     default_flow_style=False)
    # A blank line between entries: one entry is one review unit.
    return "\n".join(("\n" + line) if line and not line[0].isspace() else line
                     for line in text.splitlines()).lstrip("\n") + "\n"


def write(path: Path, entries: Mapping[str, Expectation]) -> None:
    header = _header(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + dump(entries.values()), encoding="utf-8")
