"""The workerd adapter: real cases pass through it, a crash of workerd is an ERROR that the
next case survives, and no workerd process outlives a run: finished, failed or interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sockets_conformance.paths import ROOT

from tests.case_texts import HANG
from tests.processes import wait_for

BINARY = ROOT / "adapters" / "workerd" / "node_modules" / ".bin" / "workerd"
pytestmark = pytest.mark.skipif(
    not BINARY.exists() and not os.environ.get("CI"),
    reason="workerd is not installed here (npm ci --prefix adapters/workerd); CI installs it")

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
    """Live workerd processes started by this adapter (their config sits in a
    sockets-workerd-* temporary folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and cmd and cmd[0].endswith(b"workerd") and \
                any(b"sockets-workerd-" in part for part in cmd):
            found.append(int(entry.name))
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
def importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


@pytest.fixture(autouse=True)
def no_workerd_left() -> None:
    before = set(workerd_pids())
    yield
    wait_for(lambda: not (set(workerd_pids()) - before), 10, "workerd to exit")


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
        wait_for(lambda: workerd_pids(), 60, "workerd to start")
        os.kill(workerd_pids()[0], signal.SIGKILL)
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
        wait_for(lambda: workerd_pids(), 60, "workerd to start")
        started = workerd_pids()
        if how == signal.SIGINT:
            os.killpg(run.pid, how)  # Ctrl-C reaches the whole foreground group
        else:
            os.kill(run.pid, how)
        run.wait(timeout=60)
        wait_for(lambda: not set(workerd_pids()) & set(started), 10, "workerd to go")
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
