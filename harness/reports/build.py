"""`python -m sockets_conformance report`: run the suite against every available implementation and
write the published report into one folder:

  report/allure/index.html   the offline Allure report (one self-contained file)
  report/matrix.html, .md    requirements x implementations
  report/results.jsonl       the canonical results of every run, one header per run
  report/junit-<impl>.xml    JUnit XML per implementation

An implementation that cannot run here (no Node, no workerd binary) becomes a column that
says why; the others still report. Nothing in the output may load anything from the
network: Allure's analytics tag is removed and the result is checked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sockets_conformance.adapters.workerd import versions as workerd_versions
from sockets_conformance.paths import ADAPTERS, ALLURE, ROOT, npm_install_command
from sockets_conformance.reports import allure_results, matrix, results_file
from sockets_conformance.reports.results_file import ResultsWriter

ALLURE_DIR = ALLURE
_ANALYTICS = re.compile(
    r'<script[^>]*googletagmanager[^>]*></script>\s*<script>.*?gtag\(.*?</script>', re.S)
# What a report may not contain: anything that makes a browser fetch from elsewhere on its
# own (scripts, styles, images, frames, CSS imports, analytics). Plain <a href> links to a
# requirement's source are fine: nothing is fetched until a person clicks.
REMOTE = re.compile(
    r"<(?:script|img|iframe|link|source|video|audio|embed)\b[^>]*?\b(?:src|href)\s*=\s*"
    r"[\"']?(?:https?:)?//|googletagmanager|gtag\(|@import\s+url\(\s*[\"']?(?:https?:)?//",
    re.I)


def _node_ok() -> str:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (ADAPTERS / "node" / "node_modules").is_dir():
        return (f"@arrowood.dev/socket is not installed: run "
                f"{npm_install_command(ADAPTERS / 'node')}")
    return ""


def _workerd_ok(version: str | None) -> Callable[[], str]:
    def why() -> str:
        try:
            workerd_versions.installed(version)
        except workerd_versions.ReleaseError as exc:
            return str(exc)
        return ""
    return why


# `workerd@VERSION`: an older workerd release pinned beside the current one
# (adapters/workerd/releases/VERSION), run as a column of its own.
IMPLEMENTATIONS: dict[str, Callable[[], str]] = {
    "reference": lambda: "",
    "node": _node_ok,
    "workerd": _workerd_ok(None),
    **{f"workerd@{v}": _workerd_ok(v) for v in workerd_versions.older()},
}


def _adapter_options(name: str) -> list[str]:
    """The pytest options that run the implementation `name` (a key of IMPLEMENTATIONS)."""
    adapter, _, version = name.partition("@")
    return [f"--adapter={adapter}", *([f"--workerd-version={version}"] if version else [])]


def _not_run(name: str) -> dict[str, str]:
    """The results header's implementation for a run that could not happen: a workerd
    release is named by its version even then, so that its column is its own."""
    adapter, _, version = name.partition("@")
    if adapter == "workerd" and not version:
        version = workerd_versions.current()
    return {"name": adapter, **({"version": version} if version else {})}


def run_one(name: str, out: Path, extra: list[str]) -> Path:
    results = out / f"results-{name}.jsonl"
    why = IMPLEMENTATIONS.get(name, lambda: "")()
    if why:
        writer = ResultsWriter(results, name.partition("@")[0])
        writer.header(_not_run(name), unavailable=why)
        writer.close()
        print(f"report: {name}: not run ({why})")
        return results
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "auto",
           *_adapter_options(name), f"--results-jsonl={results}",
           f"--alluredir={allure_dir(out, name)}", f"--junitxml={out / f'junit-{name}.xml'}",
           *extra, "cases"]
    print(f"report: {name}: {' '.join(cmd[2:])}")
    code = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    if code not in (0, 1):  # 1 = some case failed; anything else = the run itself broke
        writer = ResultsWriter(results, name.partition("@")[0])
        writer.header(_not_run(name), unavailable=f"pytest exited with {code}")
        writer.close()
    return results


def allure_dir(out: Path, name: str) -> Path:
    """Each run's Allure results in a folder of their own: `allure_html` labels a run's
    results with its implementation before the report mixes them."""
    return out / "allure-results" / name


def allure_html(out: Path, runs: Sequence[tuple[Path, Path]]) -> Path:
    """Render the single-file Allure report, one environment per run, and strip its
    analytics tag. `runs`: (the run's Allure results folder, its results file); the results
    file's header names the implementation and its cases give the environment's headline."""
    target = out / "allure"
    cli = ALLURE_DIR / "node_modules" / ".bin" / "allure"
    if not cli.exists():
        raise SystemExit(f"report: the Allure renderer is not installed: run "
                         f"`{npm_install_command(ALLURE_DIR)}`")
    envs = allure_results.distinct([allure_results.environment(*results_file.read(results))
                                    for _, results in runs])
    folders = []
    for (folder, _), env in zip(runs, envs, strict=True):
        # a run that broke is "not run" in its results file but may have left Allure results
        if folder.is_dir() and not env.unavailable:
            allure_results.settle(folder, env)
            folders.append(str(folder.resolve()))
    listing = out / "allure-results" / "environments.json"
    listing.parent.mkdir(parents=True, exist_ok=True)
    # A run that could not happen has no results, so no view: it is a report variable (the
    # report's variables show in every view, so the scores are not: each is its view's own).
    listing.write_text(json.dumps({
        "environments": [e.as_config() for e in envs if not e.unavailable],
        "variables": {e.label: e.summary() for e in envs if e.unavailable}}), encoding="utf-8")
    subprocess.run([str(cli), "generate", *(folders or [str(listing.parent.resolve())]),
                    "--config", "allurerc.mjs"], cwd=ALLURE_DIR, check=True,
                   env={**_env(), "ALLURE_OUTPUT": str(target.resolve()),
                        "ALLURE_ENVIRONMENTS": str(listing.resolve())})
    index = target / "index.html"
    index.write_text(_ANALYTICS.sub("", index.read_text(encoding="utf-8")), encoding="utf-8")
    return index


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "ALLURE_NO_ANALYTICS": "true", "DO_NOT_TRACK": "1"}


def remote_references(folder: Path) -> list[str]:
    """Every file in the report that would make a browser reach the network."""
    found = []
    for path in folder.rglob("*"):
        if path.suffix not in (".html", ".js", ".css", ".md", ".json") or not path.is_file():
            continue
        for m in REMOTE.finditer(path.read_text(encoding="utf-8", errors="replace")):
            found.append(f"{path.relative_to(folder)}: {m.group(0)}")
    return found


def main(names: list[str], out: Path, extra: list[str]) -> int:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    files = [run_one(name, out, extra) for name in names]
    with (out / "results.jsonl").open("w", encoding="utf-8") as merged:
        for f in files:
            merged.write(f.read_text(encoding="utf-8"))
    columns = matrix.write(files, out)
    allure_html(out, [(allure_dir(out, name), f) for name, f in zip(names, files, strict=True)])
    shutil.rmtree(out / "allure-results", ignore_errors=True)
    for f in files:
        f.unlink()
    bad = remote_references(out)
    for line in bad:
        print(f"report: remote reference: {line}")
    for col in columns:
        print(f"report: {col.summary()}")
        if not col.unavailable:
            print(f"report:   conformance {col.headline(named=False)}")
    print(json.dumps({"report": str(out), "files": sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())}))
    return 1 if bad else 0
