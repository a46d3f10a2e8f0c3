"""workerd releases side by side: each pinned release is a folder npm can install, with its
own expectations; `--workerd-version` of a release that is not pinned, or not installed, is
one usage error that says what to do. (Runs of an installed release: tests/test_workerd.py.)
"""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path

import pytest
from sockets_conformance import paths
from sockets_conformance.adapters import registry
from sockets_conformance.adapters.workerd import versions
from sockets_conformance.paths import ROOT
from sockets_conformance.running import expectations as exp

from tests.case_texts import ECHO
from tests.test_usage import inprocess_run

USAGE_ERROR = 4
WORKERD = ROOT / "adapters" / "workerd"


def lock_version(folder: Path) -> str:
    lock = json.loads((folder / "package-lock.json").read_text())
    return lock["packages"]["node_modules/workerd"]["version"]


def test_two_older_releases_are_pinned_beside_the_current_one() -> None:
    pinned = versions.pinned()
    assert len(pinned) >= 3 and len(set(pinned)) == len(pinned)
    assert pinned[0] == versions.current() == lock_version(WORKERD)
    dates = [int(v.split(".")[1]) for v in pinned]
    assert dates == sorted(dates, reverse=True), "newest first"


@pytest.mark.parametrize("version", versions.older())
def test_each_release_folder_pins_its_own_version(version: str) -> None:
    """package.json and the lockfile name the folder's release, and its expectations load
    and name only cases that exist."""
    folder = WORKERD / "releases" / version
    manifest = json.loads((folder / "package.json").read_text())
    assert manifest["dependencies"] == {"workerd": version}
    assert lock_version(folder) == version
    entries = exp.load(folder / exp.FILE_NAME)
    assert entries, f"{folder}/expectations.yaml: an older release has divergences to record"
    assert [e.case_id for e in entries.values() if not exp.case_exists(e.case_id)] == []
    assert all(e.reviewed for e in entries.values())


@pytest.mark.parametrize("version", versions.older())
def test_every_release_is_installed_where_the_npm_parts_are(version: str) -> None:
    """tox's report and tests environments install each release (one line each: tox has no
    glob); .ci/run installs every folder under releases/."""
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    line = f"{{toxinidir}}/adapters/workerd/releases/{version}"
    for env in ("testenv:report", "testenv:tests"):
        assert line in tox[env]["commands_pre"], f"tox.ini [{env}] does not install {version}"
    assert "adapters/workerd/releases/*" in (ROOT / ".ci" / "run").read_text()


def test_an_older_release_has_its_own_expectations_file() -> None:
    older = versions.older()[0]
    assert exp.default_path("workerd", None, older) == \
        WORKERD / "releases" / older / exp.FILE_NAME
    assert exp.default_path("workerd") == WORKERD / exp.FILE_NAME
    assert exp.default_path("workerd", None, versions.current()) == WORKERD / exp.FILE_NAME


def test_a_release_that_is_not_pinned_is_one_usage_error(
        tmp_path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cases" / "t").mkdir(parents=True)
    (tmp_path / "cases" / "t" / "a.yaml").write_text(ECHO.format(name="a"))
    done = inprocess_run(pytester, monkeypatch, "--adapter", "workerd", "--workerd-version",
                         "1.20200101.0", str(tmp_path / "cases"))
    assert done.returncode == USAGE_ERROR, done.stdout + done.stderr
    listed = ", ".join([f"{versions.current()} (the current pin)", *versions.older()])
    assert done.stderr.splitlines()[0] == (
        f"ERROR: --workerd-version 1.20200101.0: not a pinned release; use one of {listed}. "
        f"A release is pinned by a folder adapters/workerd/releases/VERSION holding its "
        f"package.json and package-lock.json")


def test_workerd_version_needs_the_workerd_adapter() -> None:
    with pytest.raises(registry.UnknownAdapter,
                       match=r"^--workerd-version needs --adapter workerd \(not node\)$"):
        registry.check_spec("node", workerd_version=versions.current())


def test_a_release_not_installed_is_one_usage_error_naming_the_npm_command(
        tmp_path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pinned release before `npm ci`: the run stops before any case, in one line that
    names the exact command (its folder, relative to where the run was started)."""
    adapters = tmp_path / "adapters"
    release = adapters / "workerd" / "releases" / "1.20250101.0"
    release.mkdir(parents=True)
    (adapters / "workerd" / "package.json").write_text(
        json.dumps({"dependencies": {"workerd": "1.20260101.0"}}))
    (release / "package.json").write_text(
        json.dumps({"dependencies": {"workerd": "1.20250101.0"}}))
    (tmp_path / "cases" / "t").mkdir(parents=True)
    (tmp_path / "cases" / "t" / "a.yaml").write_text(ECHO.format(name="a"))
    monkeypatch.setattr(paths, "ADAPTERS", adapters)
    monkeypatch.chdir(tmp_path)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--adapter", "workerd",
                                          "--workerd-version", "1.20250101.0",
                                          str(tmp_path / "cases"))
    assert int(result.ret) == USAGE_ERROR, result.outlines + result.errlines
    assert [line for line in result.errlines if line] == [
        "ERROR: --adapter workerd --workerd-version 1.20250101.0: workerd 1.20250101.0 is "
        "not installed; run `npm ci --prefix adapters/workerd/releases/1.20250101.0`"]
    assert not any(re.search(r"\b(passed|failed)\b", line) for line in result.outlines)
