"""A stranger's first hour: how a run talks to the person who started it.

- A configuration error (an unknown adapter, a missing --node-module, a driver that does not
  exist or fails its start handshake, a missing --expectations file, an unknown --area or
  --level) is said once, before any case runs, in at most 5 lines, with exit code 4 —
  serially and under xdist (-n 2, where no worker is started).
- The `conformance` summary: tests/test_summary.py.
- --area and --level select cases; Ctrl-C ends a run with one line and leaves no process.
- Reports point at the case file; the rerun line is one a person can paste.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sockets_conformance.adapters import registry
from sockets_conformance.model.loader import load_case
from sockets_conformance.model.requirements import catalogue
from sockets_conformance.paths import CASES, ROOT
from sockets_conformance.reports import failure as rep
from sockets_conformance.servers import certs

from tests.case_texts import ECHO
from tests.processes import alive, wait_for

MISBEHAVING = ROOT / "tests" / "drivers" / "misbehaving.py"
SCRIPTED = ROOT / "tests" / "drivers" / "scripted.py"
USAGE_ERROR = 4
MAX_LINES = 5

# Client steps only: the scripted driver (tests/drivers/scripted.py) answers every read
# with "pong", so `want` decides PASS or not, and a SHOULD requirement makes it NON-STRICT.
CASE = """\
id: t/{name}
title: a case written by the usage tests ({name})
requirements: [{requirement}]
features: [{feature}]
steps:
  - connect: {{}}
  - await: s.opened
  - read: {{expect: {{value: "{want}"}}}}
  - close
"""
READ_LINE = 8    # the line of the read step above
MUST = "streams.read-delivers"
SHOULD = "streams.write-backpressure"



def write_case(folder: Path, name: str, want: str = "pong", requirement: str = MUST,
               feature: str = "tcp") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(CASE.format(name=name, want=want, requirement=requirement,
                                feature=feature))
    return path


def write_echo(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.yaml").write_text(ECHO.format(name=name))


def scripted_adapter(tmp_path: Path) -> str:
    plan = tmp_path / "plan.json"
    plan.write_text("{}")
    return f"driver:{sys.executable} -S {SCRIPTED} {plan}"


def pytest_run(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def inprocess_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str,
                  env: dict[str, str] | None = None,
                  cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """The same run in this process (pytest's in-process runner, from the checkout unless
    `cwd` says): a configuration error is found before any case runs, and a process a run
    costs about half a second of CPU."""
    # The harness makes its certificates once a process; here, before the run. pytester
    # drops the modules a test imported, and cryptography's, imported again by the next
    # test's run, no longer match their compiled half ("curve must be an EllipticCurve
    # instance"). This module imports `certs`, so its cache outlives the test.
    certs.pki()
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", *args)
    return subprocess.CompletedProcess(args, int(result.ret), "\n".join(result.outlines),
                                       "\n".join(result.errlines))


# --- configuration errors: once, before any case --------------------------------------------
ERRORS = [
    pytest.param(["--adapter", "nod"], {}, "no such adapter (did you mean 'node'?)",
                 id="unknown-adapter"),
    pytest.param(["--adapter", "driver:/no/such/prog"], {}, "No such file or directory",
                 id="no-such-driver"),
    # Answers nonsense, then waits for its stdin to close: had it exited at once, the
    # harness could see the exit before the line ("driver exited with code 0" instead).
    pytest.param(["--adapter", "driver:python -c 'import sys; print(1, flush=True); "
                  "sys.stdin.read()'"], {},
                 "driver broke the protocol", id="not-a-driver"),
    pytest.param(["--adapter", f"driver:{sys.executable} {MISBEHAVING} wrong-version"], {},
                 "speaks protocol 2; this harness speaks 1", id="wrong-protocol"),
    pytest.param(["--adapter", "node"], {"NODE": "/no/such/node"}, "cannot run /no/such/node",
                 id="node-not-runnable"),
    pytest.param(["--adapter", "reference", "--node-module", "x.mjs"], {},
                 "--node-module needs --adapter node", id="node-module-without-node"),
    pytest.param(["--expectations", "/no/such/expectations.yaml"], {},
                 "--expectations /no/such/expectations.yaml: no such file",
                 id="missing-expectations"),
    pytest.param(["--area", "nope"], {}, "--area nope: no such area; use one of",
                 id="unknown-area"),
    pytest.param(["--level", "SHALL"], {}, "--level SHALL: no such level; use MUST, SHOULD, MAY",
                 id="unknown-level"),
]


# Under xdist the check runs in the controller before any worker starts; one error found by
# resolving, one by the handshake and one by the options stand for the rest there (each run
# is a pytest process, a second of CPU on a 2-core machine).
UNDER_XDIST = {"unknown-adapter", "wrong-protocol", "missing-expectations"}


def _error_runs() -> list[object]:
    return [pytest.param(workers, *error.values, id=f"{error.id}-{mode}")
            for error in ERRORS
            for mode, workers in (("serial", []), ("xdist", ["-n", "2"]))
            if mode == "serial" or error.id in UNDER_XDIST]


@pytest.mark.parametrize("workers, args, env, words", _error_runs())
def test_configuration_error_is_said_once(tmp_path: Path, workers: list[str], args: list[str],
                                          env: dict[str, str], words: str,
                                          pytester: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Serially in this process; under xdist as a process of its own, as a user runs it."""
    write_echo(tmp_path / "cases" / "t", "a", "b", "c")
    done = (pytest_run(*workers, *args, str(tmp_path / "cases"), env=env) if workers
            else inprocess_run(pytester, monkeypatch, *args, str(tmp_path / "cases"), env=env))
    text = output(done)
    assert done.returncode == USAGE_ERROR, text
    assert len(text.splitlines()) <= MAX_LINES, text
    assert words in text, text
    assert "Traceback" not in text and "created:" not in text, text


def test_update_expectations_creates_a_missing_file(tmp_path: Path, pytester: pytest.Pytester,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing --expectations file is a usage error, except when the run is to write it."""
    write_case(tmp_path / "cases" / "t", "fails", want="pang")
    new = tmp_path / "new" / "expectations.yaml"
    done = inprocess_run(pytester, monkeypatch, "--adapter", scripted_adapter(tmp_path),
                         "--expectations", str(new), "--update-expectations",
                         str(tmp_path / "cases"))
    assert done.returncode == 1, output(done)
    assert "t/fails:" in new.read_text()


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_missing_node_module_is_said_once(tmp_path: Path, pytester: pytest.Pytester,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    write_echo(tmp_path / "cases" / "t", "a")
    done = inprocess_run(pytester, monkeypatch, "--adapter", "node", "--node-module",
                         "./missing.mjs", str(tmp_path / "cases"))
    assert done.returncode == USAGE_ERROR
    assert output(done).strip() == (
        "ERROR: --adapter node: --node-module ./missing.mjs: no such file; give the path of a "
        "module that exports connect, or an installed package's name")


def test_the_bundled_suite_with_a_typo_is_two_lines() -> None:
    done = pytest_run("--adapter", "nod")
    assert done.returncode == USAGE_ERROR
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "ERROR: --adapter nod: no such adapter (did you mean 'node'?); use reference, node, "
        "workerd, driver:COMMAND or python:MODULE:FACTORY", ""]


def test_missing_npm_parts_say_the_command(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    """Before `npm ci`: the message names the command that installs what is missing."""
    from sockets_conformance import paths
    from sockets_conformance.adapters.node import launch

    monkeypatch.setattr(launch, "node_binary", lambda: "node")
    monkeypatch.setattr(launch, "HERE", tmp_path / "node")
    with pytest.raises(launch.LaunchError, match=r"@arrowood.dev/socket is not installed: "
                                                 r"run `npm ci --prefix .*node`"):
        launch.command()
    monkeypatch.setattr(paths, "ADAPTERS", tmp_path)
    with pytest.raises(registry.UnknownAdapter, match=r"workerd is not installed; run `npm ci"):
        registry.resolve("workerd")


def test_broken_workerd_is_told_at_the_handshake(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """workerd starts with the first case; its launcher's handshake runs `workerd --version`
    so that a broken install is a start failure (found once), not an ERROR per case."""
    import asyncio

    from sockets_conformance.adapters.workerd import launch

    broken = tmp_path / "workerd"
    broken.write_text("#!/bin/sh\necho 'cannot execute: wrong architecture' >&2\nexit 126\n")
    broken.chmod(0o755)
    monkeypatch.setattr(launch, "BINARY", broken)
    problem = asyncio.run(launch.binary_problem())
    assert problem is not None and problem.startswith(
        f"{broken} --version exited with status 126 (cannot execute: wrong architecture); "
        f"reinstall it: npm ci --prefix ")
    monkeypatch.setattr(launch, "BINARY", tmp_path / "absent")
    assert "cannot run" in (asyncio.run(launch.binary_problem()) or "")


def test_no_check_when_no_case_can_run(tmp_path: Path, pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """--collect-only, --help and a run of no case file start no driver: a broken one is
    not the user's problem there."""
    write_echo(tmp_path / "cases" / "t", "a")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "test_x.py").write_text("def test_x():\n    pass\n")
    bad = "driver:/no/such/prog"
    collected = inprocess_run(pytester, monkeypatch, "--co", "-q", "--adapter", bad,
                              str(tmp_path / "cases"))
    assert collected.returncode == 0, output(collected)
    plain = inprocess_run(pytester, monkeypatch, "-q", "--adapter", bad, str(tmp_path / "plain"))
    assert plain.returncode == 0 and "1 passed" in plain.stdout, output(plain)


def test_help_lists_every_adapter(pytester: pytest.Pytester,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    done = inprocess_run(pytester, monkeypatch, "--help", "--adapter", "nod")
    assert done.returncode == 0, output(done)
    text = re.sub(r"\s+", " ", done.stdout)
    adapter_help = text[text.index("--adapter=ADAPTER"):text.index("--node-module")]
    for form in registry.FORMS:
        assert form in adapter_help, adapter_help
    expectations_help = text[text.index("--expectations=PATH"):
                             text.index("--update-expectations")]
    assert "node and workerd" in expectations_help, expectations_help


def test_crash_in_a_run_is_still_error_for_that_case(tmp_path: Path, pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The start check changes nothing once cases run: a driver that crashes in a case is
    ERROR for it, and the next case runs on a fresh driver."""
    write_echo(tmp_path / "cases" / "t", "misbehave", "after")
    done = inprocess_run(pytester, monkeypatch, "-q", "--adapter",
                         f"driver:{sys.executable} {MISBEHAVING} crash", str(tmp_path / "cases"))
    assert done.returncode == 1, output(done)
    assert "1 failed, 1 passed" in done.stdout
    assert "ERROR  t/misbehave" in done.stdout and "exited with code 3" in done.stdout


# --- selection by area and level ------------------------------------------------------------
def collected(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
              *args: str) -> tuple[list[str], str]:
    """The case ids `pytest --co` selects (from the checkout), and its last line."""
    done = inprocess_run(pytester, monkeypatch, "--co", "-q", *args)
    assert done.returncode == 0, output(done)
    ids = [line.split("::")[-1] for line in done.stdout.splitlines() if "::" in line]
    return ids, done.stdout.strip().splitlines()[-1]


def test_area_selects_the_cases_of_areas(pytester: pytest.Pytester,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ids, last = collected(pytester, monkeypatch, "--area", "half-open", "--area", "close")
    wanted = [p.relative_to(CASES).with_suffix("").as_posix()
              for area in ("half-open", "close") for p in (CASES / area).glob("*.yaml")]
    assert sorted(ids) == sorted(wanted)
    total = len(list(CASES.rglob("*.yaml")))
    assert last.startswith(f"{len(ids)}/{total} tests collected ({total - len(ids)} "
                           f"deselected)"), last


def test_level_selects_cases_citing_that_level(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """--level may --level SHOULD: the cases citing at least one MAY or SHOULD requirement
    (levels are matched whatever their case)."""
    reqs = catalogue()
    ids, _ = collected(pytester, monkeypatch, "--level", "may", "--level", "SHOULD")
    wanted = {p.relative_to(CASES).with_suffix("").as_posix() for p in CASES.rglob("*.yaml")
              if any(reqs[r].level in ("SHOULD", "MAY") for r in load_case(p).requirements)}
    assert ids and set(ids) == wanted


# --- Ctrl-C -----------------------------------------------------------------------------------
def session_members(sid: int) -> list[int]:
    """Live processes of a session (the pytest run and its xdist workers; the drivers each
    lead a session of their own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[4]) == sid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@pytest.fixture
def pid_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    where = tmp_path / "pids"
    where.mkdir()
    monkeypatch.setenv("DRIVER_PID_DIR", str(where))
    return where


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_ctrl_c_ends_the_run_with_one_line(tmp_path: Path, pid_dir: Path,
                                           workers: list[str]) -> None:
    write_echo(tmp_path / "cases" / "t", "misbehave", "a", "b", "c")
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *workers,
               "--adapter", f"driver:{sys.executable} {MISBEHAVING} hang",
               "--timeout-multiplier", "100", str(tmp_path / "cases")]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, start_new_session=True)
    try:
        wait_for(lambda: any(p.name.endswith(".hanging") for p in pid_dir.iterdir()), 60,
                 "the driver to hang")
        os.killpg(run.pid, signal.SIGINT)   # Ctrl-C: the whole foreground group
        out, _ = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 2, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert "node down" not in out, out
    ending = out[out.index("interrupted (Ctrl-C)"):].strip().splitlines()
    assert len(ending) == 2 and " in " in ending[1], out   # that line, then pytest's counts
    assert len(out.splitlines()) <= 6, out   # progress, blank, the line, the counts
    drivers = [int(p.name) for p in pid_dir.iterdir() if p.name.isdigit()]
    assert drivers   # serially the start check's driver runs the cases too
    wait_for(lambda: not any(alive(p) for p in drivers), 10, "the drivers to go")
    wait_for(lambda: session_members(run.pid) == [], 10, "the xdist workers to go")


# --- where reports point -----------------------------------------------------------------------
RECORDER = """\
import json

def pytest_runtest_logreport(report):
    if report.when == "call":
        with open("reports.jsonl", "a") as out:
            out.write(json.dumps({"name": report.nodeid.split("::")[-1],
                                  "location": report.location,
                                  "longrepr": report.longrepr
                                  if isinstance(report.longrepr, tuple) else None}) + "\\n")
"""


def test_reports_point_at_the_case_file(tmp_path: Path, pytester: pytest.Pytester,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cases" / "t"
    write_case(folder, "fails", want="pang")
    write_case(folder, "skips", feature="tls")
    (tmp_path / "conftest.py").write_text(RECORDER)
    done = inprocess_run(pytester, monkeypatch, "-rs", "--adapter", scripted_adapter(tmp_path),
                         "cases", cwd=tmp_path)
    assert done.returncode == 1, output(done)
    reports = {r["name"]: r for r in map(json.loads,
                                          (tmp_path / "reports.jsonl").read_text().splitlines())}
    assert reports["t/fails"]["location"][:2] == ["cases/t/fails.yaml", READ_LINE - 1]
    path, line, why = reports["t/skips"]["longrepr"]
    assert (Path(path), line) == (folder / "skips.yaml", 4)     # its `features:` line
    assert "NOT-APPLICABLE: scripted does not support tls" in why
    assert "SKIPPED [1] cases/t/skips.yaml:4: NOT-APPLICABLE" in done.stdout, done.stdout
    assert "items.py" not in done.stdout     # not the plugin's pytest.skip call


def test_rerun_line_keeps_the_verdict_options(tmp_path: Path, pytester: pytest.Pytester,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The run that prints the line is in this process; the line itself runs in a shell,
    as pasted."""
    write_case(tmp_path / "cases" / "t", "fails", want="pang", requirement=SHOULD)
    adapter = scripted_adapter(tmp_path)
    done = inprocess_run(pytester, monkeypatch, "--adapter", adapter, "--strict-conformance",
                         "--timeout-multiplier", "1.5", "cases", cwd=tmp_path)
    assert done.returncode == 1, output(done)
    rerun = next(line.strip() for line in done.stdout.splitlines() if "rerun:" in line)
    assert rerun == (f"rerun: pytest cases/t/fails.yaml --adapter '{adapter}' "
                     f"--strict-conformance --timeout-multiplier 1.5")
    again = subprocess.run(rerun.removeprefix("rerun: ").replace(
        "pytest", f"{sys.executable} -m pytest -p no:cacheprovider", 1), shell=True,
        cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "1 failed" in again.stdout, again.stdout + again.stderr


def test_rerun_of_a_bundled_case_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    case = load_case(CASES / "close" / "after-peer-fin.yaml")
    assert rep.rerun_command(case, ["--adapter", "node"], cwd=ROOT) == \
        "pytest cases/close/after-peer-fin.yaml --adapter node"
    monkeypatch.setattr(rep, "INSTALLED", True)
    assert rep.rerun_command(case, ["--adapter", "node", "--strict-conformance"]) == \
        "sockets-conformance -k close/after-peer-fin --adapter node --strict-conformance"
