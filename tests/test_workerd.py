"""The workerd adapter: real cases pass through it, a crash of workerd is an ERROR that the
next case survives, and no workerd process outlives a run: finished, failed or interrupted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sockets_conformance.adapters.workerd import versions
from sockets_conformance.paths import ADAPTERS, ROOT

from tests.case_texts import HANG
from tests.needs import needs_npm_part
from tests.processes import environ_has, processes, wait_exited, wait_for
from tests.test_usage import inprocess_run

pytestmark = needs_npm_part(ADAPTERS / "workerd", "node_modules/.bin/workerd")
# Set for each test's runs, and inherited by their workerd: other runs' workerd (other
# pytest workers, another `--adapter workerd` run on the machine) are not this test's.
TAG = "SOCKETS_CONFORMANCE_TEST_TAG"

PASS = """\
id: t/{name}
title: a case workerd passes ({name})
requirements: [streams.read-delivers]
features: [tcp]
steps:
  - connect: {{}}
  - peer.accept
  - peer.send: "hello"
  - read: {{expect: {{value: "hello"}}}}
  - close
"""


def workerd_pids() -> list[int]:
    """Live workerd processes started by this test's runs: by this adapter (their config
    sits in a sockets-workerd-* temporary folder) and with this test's tag."""
    tag = f"{TAG}={os.environ[TAG]}".encode()
    found = []
    for pid, (_, cmdline) in processes().items():
        cmd = cmdline.split(b"\0")
        if cmd[0].endswith(b"workerd") and any(b"sockets-workerd-" in part for part in cmd) \
                and environ_has(pid, tag):
            found.append(pid)
    return found


def write_cases(folder: Path, names: list[str], hang: bool = False) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    if hang:
        (folder / "hang.yaml").write_text(HANG)
        paths.append(str(folder / "hang.yaml"))
    for name in names:
        (folder / f"{name}.yaml").write_text(PASS.format(name=name))
        paths.append(str(folder / f"{name}.yaml"))
    return paths


def command(*args: str) -> list[str]:
    # The cases live outside the project, so load the plugin by name (PYTHONPATH below).
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
            "sockets_conformance.plugin", "--adapter=workerd", *args]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv(TAG, uuid.uuid4().hex)


@pytest.fixture(autouse=True)
def no_workerd_left(environment: None) -> Iterator[None]:
    yield
    # Each workerd dies with its bridge (PR_SET_PDEATHSIG), a moment after the run ends.
    wait_exited(workerd_pids(), 10, "workerd to exit")


def test_cases_pass_under_xdist_and_nothing_is_left(tmp_path: Path) -> None:
    paths = write_cases(tmp_path / "cases" / "t", ["a", "b", "c", "d"])
    done = subprocess.run(command("-n", "2", *paths), cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout


def test_failed_run_leaves_nothing(tmp_path: Path) -> None:
    paths = write_cases(tmp_path / "cases" / "t", ["a"])
    Path(paths[0]).write_text(PASS.format(name="a").replace('value: "hello"}}',
                                                            'value: "other"}}'))
    done = subprocess.run(command(*paths), cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  t/a" in done.stdout


def test_workerd_crash_is_error_with_its_output_and_the_next_case_passes(
        tmp_path: Path) -> None:
    paths = write_cases(tmp_path / "cases" / "t", ["after"], hang=True)
    run = subprocess.Popen(command("--timeout-multiplier", "10", *paths), cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    try:
        started = wait_for(workerd_pids, 60, "workerd to start")
        os.kill(started[0], signal.SIGKILL)
        out, _ = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert "1 failed, 1 passed" in out, out
    assert "ERROR  t/hang" in out and "lost workerd" in out, out


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_leaves_no_workerd(tmp_path: Path, how: signal.Signals) -> None:
    paths = write_cases(tmp_path / "cases" / "t", [], hang=True)
    run = subprocess.Popen(command("--timeout-multiplier", "10", *paths), cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        started = wait_for(workerd_pids, 60, "workerd to start")
        if how == signal.SIGINT:
            os.killpg(run.pid, how)  # Ctrl-C reaches the whole foreground group
        else:
            os.kill(run.pid, how)
        run.wait(timeout=60)
        wait_exited(started, 10, "workerd to go")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()



@pytest.mark.parametrize("version", [None, *(
    pytest.param(v, marks=needs_npm_part(ADAPTERS / "workerd" / "releases" / v,
                                         "node_modules/.bin/workerd"))
    for v in versions.older())])
def test_a_release_runs_and_the_header_says_which_and_at_what_date(
        tmp_path: Path, version: str | None, pytester: pytest.Pytester,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """--workerd-version runs that release's binary (none: the current pin's), at the newest
    compatibility date it accepts (a later one would not start), and the results header
    records both. The run is in this process (the tests above are the process-level ones)."""
    paths = write_cases(tmp_path / "cases" / "t", ["a"])
    results = tmp_path / "results.jsonl"
    chosen = ["--workerd-version", version] if version else []
    done = inprocess_run(pytester, monkeypatch, "-q", "--adapter=workerd", *chosen,
                         f"--results-jsonl={results}", *paths)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    header = json.loads(results.read_text().splitlines()[0])
    said = subprocess.run([str(versions.binary(versions.folder(version))), "--version"],
                          capture_output=True, text=True, timeout=60).stdout
    assert re.fullmatch(r"workerd \d{4}-\d\d-\d\d", said.strip()), said
    assert header["implementation"]["name"] == "workerd"
    assert header["implementation"]["version"] == (version or versions.current())
    assert header["implementation"]["settings"] == {"compatibility_date": said.split()[1]}
