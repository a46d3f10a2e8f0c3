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
from collections.abc import Callable
from pathlib import Path

from sockets_conformance.paths import ADAPTERS, ALLURE, ROOT, npm_install_command
from sockets_conformance.reports import matrix
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


def _workerd_ok() -> str:
    binary = ADAPTERS / "workerd" / "node_modules" / ".bin" / "workerd"
    if not binary.exists():
        return f"workerd is not installed: run {npm_install_command(ADAPTERS / 'workerd')}"
    return ""


IMPLEMENTATIONS: dict[str, Callable[[], str]] = {
    "reference": lambda: "",
    "node": _node_ok,
    "workerd": _workerd_ok,
}


def run_one(name: str, out: Path, extra: list[str]) -> Path:
    results = out / f"results-{name}.jsonl"
    why = IMPLEMENTATIONS.get(name, lambda: "")()
    if why:
        writer = ResultsWriter(results, name)
        writer.header({"name": name}, unavailable=why)
        writer.close()
        print(f"report: {name}: not run ({why})")
        return results
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "auto",
           f"--adapter={name}", f"--results-jsonl={results}",
           f"--alluredir={out / 'allure-results'}", f"--junitxml={out / f'junit-{name}.xml'}",
           *extra, "cases"]
    print(f"report: {name}: {' '.join(cmd[2:])}")
    code = subprocess.run(cmd, cwd=ROOT, check=False).returncode
    if code not in (0, 1):  # 1 = some case failed; anything else = the run itself broke
        writer = ResultsWriter(results, name)
        writer.header({"name": name}, unavailable=f"pytest exited with {code}")
        writer.close()
    return results


def allure_html(out: Path) -> Path:
    """Render the single-file Allure report and strip its analytics tag."""
    target = out / "allure"
    cli = ALLURE_DIR / "node_modules" / ".bin" / "allure"
    if not cli.exists():
        raise SystemExit(f"report: the Allure renderer is not installed: run "
                         f"`{npm_install_command(ALLURE_DIR)}`")
    subprocess.run([str(cli), "generate", str((out / "allure-results").resolve()),
                    "--config", "allurerc.mjs"], cwd=ALLURE_DIR, check=True,
                   env={**_env(), "ALLURE_OUTPUT": str(target.resolve())})
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
    allure_html(out)
    shutil.rmtree(out / "allure-results", ignore_errors=True)
    for f in files:
        f.unlink()
    bad = remote_references(out)
    for line in bad:
        print(f"report: remote reference: {line}")
    for col in columns:
        print(f"report: {col.summary()}")
    print(json.dumps({"report": str(out), "files": sorted(
        p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())}))
    return 1 if bad else 0
