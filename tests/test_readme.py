"""README.md is true: what it names exists, its example cases are real cases the loader
accepts, and its cheap commands (the `--collect-only` forms) select what it says they select.

spec/adapter-protocol.md is held to the same names. The commands run from the checkout as
a reader would type them, in this process (pytest's own in-process runner), and
`sockets-conformance` as a process from an empty folder.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from sockets_conformance.gates.lint import load_all
from sockets_conformance.gates.mutants import catalogue as mutant_catalogue
from sockets_conformance.model.case import Case
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.requirements import catalogue
from sockets_conformance.paths import CASES, ROOT
from sockets_conformance.running import expectations

from tests.test_usage import inprocess_run

DOCS = {name: (ROOT / name).read_text(encoding="utf-8")
        for name in ("README.md", "spec/adapter-protocol.md")}
README = DOCS["README.md"]
AREAS = {p.name for p in CASES.iterdir() if p.is_dir()}
CASE_IDS = {p.relative_to(CASES).with_suffix("").as_posix() for p in CASES.rglob("*.yaml")}

_SEGMENT = r"[a-z0-9][a-z0-9-]*"
# cases/<area>/<name>.yaml, and cases/<area> (a folder given to pytest)
CASE_PATH = re.compile(rf"(?<![\w./-])cases/({_SEGMENT}/{_SEGMENT})\.yaml\b")
AREA_PATH = re.compile(rf"(?<![\w./-])cases/({_SEGMENT})(?![\w./-]|/{_SEGMENT})")
# a bare <area>/<name> anywhere (not a piece of a longer path), e.g. close/after-peer-fin
BARE_ID = re.compile(rf"(?<![\w./-])({_SEGMENT})/({_SEGMENT})(?![\w/-]|\.(?:yaml|py|md)\b)")
# `word/word` in backticks: a case id, or a path in the checkout; anything else is a typo
TICKED = re.compile(rf"`({_SEGMENT}/{_SEGMENT})`")
MUTANT = re.compile(r"(?:--mutant |mutant:)([a-z0-9][a-z0-9-]*)")
FACTORY = re.compile(r"sockets_conformance\.mutants:([a-z0-9_]+)")
REQUIREMENT = re.compile(r"requirement ([a-z0-9-]+(?:\.[a-z0-9-]+)+) \((MUST|SHOULD|MAY)\)")


def _named_case_ids(text: str) -> Iterator[str]:
    yield from CASE_PATH.findall(text)
    for area, name in BARE_ID.findall(text):
        if area in AREAS:
            yield f"{area}/{name}"


@pytest.mark.parametrize("doc", list(DOCS))
def test_every_case_named_exists(doc: str) -> None:
    text = DOCS[doc]
    named = set(_named_case_ids(text))
    assert named, f"{doc} names no case at all: is the pattern still right?"
    assert sorted(named - CASE_IDS) == [], f"{doc} names cases that do not exist"
    assert sorted(set(AREA_PATH.findall(text)) - AREAS) == [], f"{doc} names unknown areas"
    unknown = [t for t in TICKED.findall(text)
               if t.split("/")[0] not in AREAS and not (ROOT / t).exists()]
    assert unknown == [], f"{doc}: neither a case id nor a path in the checkout"


def test_mutants_and_requirements_named_exist() -> None:
    mutants = {m.id: m for m in mutant_catalogue()}
    assert sorted(set(MUTANT.findall(README)) - set(mutants)) == []
    factories = {m.factory_name for m in mutants.values()}
    assert sorted(set(FACTORY.findall(README)) - factories) == []
    reqs = catalogue()
    for rid, level in REQUIREMENT.findall(README):
        assert rid in reqs and reqs[rid].level == level, rid


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.M | re.S)


@cache
def _cases() -> dict[str, Case]:
    return {c.id: c for c in load_all()[0]}


def _file_data(case_id: str) -> Any:
    return yaml.safe_load((CASES / f"{case_id}.yaml").read_text(encoding="utf-8"))


def test_example_cases_are_real_cases_the_loader_accepts(tmp_path: Path) -> None:
    """Each whole case README shows is a case of the suite, as it is in its file (comments
    aside), and loads; the STARTTLS one among them."""
    examples = [yaml.safe_load(b) for b in _blocks("yaml")]
    whole = [e for e in examples if isinstance(e, dict) and "steps" in e]
    assert {"starttls", "tcp"} <= {f for e in whole for f in e["features"]}
    for example in whole:
        case_id = example["id"]
        assert case_id in CASE_IDS, case_id
        assert example == _file_data(case_id), f"README's {case_id} differs from its file"
        path = tmp_path / f"{case_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(example, sort_keys=False), encoding="utf-8")
        case = load_case(path, cases_root=tmp_path)
        assert case.id == case_id and case.steps
    starttls = next(e for e in whole if "starttls" in e["features"])
    kinds = {next(iter(s)) if isinstance(s, dict) else s for s in starttls["steps"]}
    assert {"peer.start_tls", "startTls"} <= kinds


def test_example_step_fragments_come_from_real_cases() -> None:
    """A fragment of steps (a YAML list) is a run of consecutive steps of some case."""
    fragments = [f for f in (yaml.safe_load(b) for b in _blocks("yaml")) if isinstance(f, list)]
    assert fragments, "README shows no step fragment (the sameTurn example)"
    for fragment in fragments:
        n = len(fragment)
        assert any(steps[i:i + n] == fragment
                   for steps in (_file_data(c)["steps"] for c in sorted(CASE_IDS))
                   for i in range(len(steps) - n + 1)), fragment


def test_expectations_example_is_valid(tmp_path: Path) -> None:
    blocks = [b for b in _blocks("yaml") if re.match(r"[a-z0-9-]+/[a-z0-9-]+:\n", b)]
    assert blocks, "README shows no expectations example"
    for block in blocks:
        path = tmp_path / "expectations.yaml"
        path.write_text(block, encoding="utf-8")
        assert set(expectations.load(path)) <= CASE_IDS


# The commands -----------------------------------------------------------------------------

def _ids(out: str) -> set[str]:
    return {line.rsplit("::", 1)[1] for line in out.splitlines() if "::" in line}


def _cites(case: Case, level: str) -> bool:
    reqs = catalogue()
    return any(reqs[r].level == level for r in case.requirements)


# README's command (after `pytest`) -> the case ids it must collect, or None: an error.
COMMANDS: dict[str, Any] = {
    "--collect-only -q": lambda cs: set(cs),
    "--collect-only -q --area half-open --area close":
        lambda cs: {c for c in cs if c.split("/")[0] in ("half-open", "close")},
    "--collect-only -q --level MUST": lambda cs: {c for c, k in cs.items() if _cites(k, "MUST")},
    "--collect-only -q -m starttls": lambda cs: {c for c, k in cs.items()
                                                 if "starttls" in k.features},
    "--collect-only -q -k large-transfer": lambda cs: {c for c in cs if "large-transfer" in c},
    # "-k tls selects tls/..., starttls/... and every case with the tls feature"
    "--collect-only -q -k tls": lambda cs: {c for c, k in cs.items()
                                            if "tls" in c or "tls" in k.features},
    "--collect-only -q --expectations no-such-expectations.yaml": None,
}


def test_the_commands_checked_are_the_ones_readme_shows() -> None:
    shown = {"--collect-only -q -k tls": "`-k tls`",
             "--collect-only -q --expectations no-such-expectations.yaml": "--expectations PATH"}
    for command in COMMANDS:
        selection = command.removeprefix("--collect-only -q").strip()
        text = shown.get(command, f"pytest {selection}" if selection else f"pytest {command}")
        assert text in README, text
    assert "sockets-conformance --adapter reference -q" in README   # TOOL runs a variant


def _run_all(anywhere: Path, pytester: pytest.Pytester,
             monkeypatch: pytest.MonkeyPatch) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every command: `sockets-conformance` as a process from an empty folder, the `pytest`
    forms in this process from the checkout, one after another (each a process cost a
    second of CPU, most of it checking the same case files again)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTEST_", "SOCKETS_CONFORMANCE_"))}
    quiet = ["-p", "no:cacheprovider"]   # no .pytest_cache written into the checkout
    tool = Path(sys.executable).parent / "sockets-conformance"
    started = None
    if tool.exists():   # "the bundled suite, from any directory"
        started = subprocess.Popen(
            [str(tool), *TOOL.split()[1:], *quiet], cwd=anywhere, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for name in [k for k in os.environ if k.startswith(("PYTEST_", "SOCKETS_CONFORMANCE_"))]:
        monkeypatch.delenv(name)
    done = {}
    for command in COMMANDS:
        result = inprocess_run(pytester, monkeypatch, *command.split())
        done[command] = subprocess.CompletedProcess(command, result.returncode,
                                                    result.stdout + "\n" + result.stderr)
    if started is not None:
        out, _ = started.communicate(timeout=120)
        done[TOOL] = subprocess.CompletedProcess(started.args, started.returncode, out)
    return done


TOOL = "sockets-conformance --collect-only -q --area close"


def test_commands_do_what_readme_says(tmp_path: Path, pytester: pytest.Pytester,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """One test, so that under -n auto one worker runs the commands, not each."""
    ran = _run_all(tmp_path, pytester, monkeypatch)
    cases = _cases()
    wrong: list[str] = []
    for command, want in COMMANDS.items():
        result, shown = ran[command], f"pytest {command}"
        if want is None:   # a missing expectations file: one configuration error
            if result.returncode != 4 or "no-such-expectations.yaml" not in result.stdout:
                wrong.append(f"{shown}: exit {result.returncode}, not a usage error (4) "
                             f"naming the file:\n{result.stdout[-2000:]}")
            continue
        expected = want(cases)
        assert expected, f"{shown}: the check would be empty"
        got = _ids(result.stdout)
        if result.returncode != 0:
            wrong.append(f"{shown}: exit {result.returncode}:\n{result.stdout[-2000:]}")
        elif got != expected:
            wrong.append(f"{shown}: collected {sorted(got - expected)} too many, "
                         f"{sorted(expected - got)} missing")
    if TOOL in ran:
        result = ran[TOOL]
        expected = {c for c in CASE_IDS if c.startswith("close/")}
        if result.returncode != 0 or _ids(result.stdout) != expected:
            wrong.append(f"{TOOL} (from an empty folder): exit {result.returncode}:\n"
                         f"{result.stdout[-2000:]}")
    assert wrong == [], "\n\n".join(wrong)
