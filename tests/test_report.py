"""Reports: the matrix agrees with the results it is made from and links every failure;
the Allure page files a known divergence as failed, shows each implementation apart with its
conformance, and renders offline without a single network request."""

from __future__ import annotations

import asyncio
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sockets_conformance.model.requirements import catalogue
from sockets_conformance.reports import allure_results, matrix, results_file
from sockets_conformance.reports import build as reportgen

from tests import browser
from tests.needs import needs_chromium, needs_node, needs_npm_part
from tests.test_usage import MUST, SHOULD, inprocess_run, scripted_adapter, write_case


def _write(path: Path, header: dict, cases: list[dict]) -> Path:
    lines = [json.dumps({"type": "header", **header})]
    lines += [json.dumps({"type": "case", **c}) for c in cases]
    path.write_text("\n".join(lines) + "\n")
    return path


def _case(case: str, status: str, reqs: list[str], expected: str = "PASS") -> dict:
    return {"case": case, "status": status, "expected_status": expected, "requirements": reqs,
            "message": f"{case} {status}", "duration": 0.01}


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tables: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"] or "")
        if tag == "a" and (a.get("href") or "").startswith("#"):
            self.links.append((a["href"] or "")[1:])
        if tag == "table":
            self.tables.append(a.get("id") or "")


def test_matrix_structure_and_counts(tmp_path: Path) -> None:
    rids = list(catalogue())[:3]
    a = _write(tmp_path / "a.jsonl", {"implementation": {"name": "impl-a", "version": "1"}}, [
        _case("x/one", "PASS", [rids[0]]),
        _case("x/two", "FAIL", [rids[0], rids[1]]),
        _case("x/three", "FAIL", [rids[2]], expected="FAIL"),
        _case("x/four", "NOT-APPLICABLE", [rids[2]]),
    ])
    b = _write(tmp_path / "b.jsonl", {"implementation": {"name": "impl-b"},
                                      "unavailable": "node is not installed"}, [])
    columns = matrix.write([a, b], tmp_path)
    assert columns[0].summary() == "impl-a 1: 4 cases: 1 FAIL, 1 expected FAIL, 1 PASS, 1 N-A"
    assert columns[1].summary() == "impl-b: not run (node is not installed)"
    page = (tmp_path / "matrix.html").read_text()
    parsed = _Collect()
    parsed.feed(page)
    assert parsed.tables == ["matrix", "cases"]
    assert set(parsed.links) <= parsed.ids, "every cell links to an entry that exists"
    # the worst outcome wins: rids[0] has a PASS and a FAIL case -> FAIL, linked to x/two
    assert "case-impl-a-x-two" in parsed.links
    assert page.count("not run") >= len(catalogue())
    md = (tmp_path / "matrix.md").read_text()
    assert "- impl-a 1: 4 cases:" in md and "| impl-a | impl-b |" in md
    link = "[FAIL](matrix.html#case-impl-a-x-two)"
    fail_rows = [line for line in md.splitlines() if link in line]
    assert {line.split("|")[1].strip() for line in fail_rows} == {rids[0], rids[1]}


def test_remote_reference_check_finds_scripts_not_links(tmp_path: Path) -> None:
    (tmp_path / "ok.html").write_text('<a href="https://example.invalid/spec">source</a>')
    (tmp_path / "bad.html").write_text('<script async src="https://www.googletagmanager.com/x">'
                                       "</script>")
    found = reportgen.remote_references(tmp_path)
    assert found and all(f.startswith("bad.html") for f in found)


def _known_run(tmp_path: Path, pytester: pytest.Pytester,
               monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A scripted-driver run with each kind of result: a PASS, a known FAIL (with a link), a
    known NON-STRICT, an expectation that no longer holds (strict XPASS), an unexpected FAIL
    and a NOT-APPLICABLE. Returns its Allure results folder and its results file. In this
    process, as are the runs below: what they write does not depend on being a process."""
    folder = tmp_path / "cases" / "t"
    for name, want, requirement, feature in [
            ("pass", "pong", MUST, "tcp"), ("known-fail", "pang", MUST, "tcp"),
            ("known-non-strict", "pang", SHOULD, "tcp"), ("stale", "pong", MUST, "tcp"),
            ("new-fail", "pang", MUST, "tcp"), ("not-applicable", "pong", MUST, "tls")]:
        write_case(folder, name, want, requirement, feature)
    expectations = tmp_path / "expectations.yaml"
    expectations.write_text(
        f"t/known-fail: {{status: FAIL, reason: answers pong, link: '{LINK}'}}\n"
        "t/known-non-strict: {status: NON-STRICT, reason: answers pong too}\n"
        "t/stale: {status: FAIL, reason: it used to fail}\n")
    allure_dir, results = tmp_path / "allure-results", tmp_path / "results.jsonl"
    done = inprocess_run(pytester, monkeypatch, "--adapter", scripted_adapter(tmp_path),
                         "--expectations", str(expectations), f"--alluredir={allure_dir}",
                         f"--results-jsonl={results}", str(tmp_path / "cases"))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    return allure_dir, results


LINK = "https://example.invalid/scripted/issue/1"


def _entries(folder: Path) -> dict[str, dict]:
    return {e["name"]: e for e in (json.loads(p.read_text()) for p in
                                   folder.glob("*-result.json"))}


def test_known_divergences_are_failed_and_skipped_is_not_applicable(
        tmp_path: Path, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    allure_dir, results = _known_run(tmp_path, pytester, monkeypatch)
    before = _entries(allure_dir)
    # what allure-pytest writes for a strict xfail, and why settle exists
    assert before["t/known-fail"]["status"] == "skipped"
    env = allure_results.environment(*results_file.read(results))
    allure_results.settle(allure_dir, env)
    after = _entries(allure_dir)
    status = {name: e["status"] for name, e in after.items()}
    assert status == {"t/pass": "passed", "t/known-fail": "failed",
                      "t/known-non-strict": "failed", "t/stale": "failed",
                      "t/new-fail": "failed", "t/not-applicable": "skipped"}
    _, records = results_file.read(results)
    not_applicable = [r["case"] for r in records if r["status"] == "NOT-APPLICABLE"]
    assert [n for n, s in status.items() if s == "skipped"] == not_applicable
    known = after["t/known-fail"]
    message = known["statusDetails"]["message"]
    assert message.startswith("Known divergence (FAIL expected): answers pong\n\n"
                              "FAIL  t/known-fail")
    assert {"type": "issue", "url": LINK} in [{k: v for k, v in link.items() if k != "name"}
                                               for link in known["links"]]
    assert "answers pong" in known["description"] and LINK in known["description"]
    assert after["t/known-non-strict"]["statusDetails"]["message"].startswith(
        "Known divergence (NON-STRICT expected): answers pong too")
    assert "no longer holds" in after["t/stale"]["statusDetails"]["message"]
    assert not after["t/new-fail"]["statusDetails"]["message"].startswith("Known")
    for entry in after.values():   # every result names the run it belongs to, once
        assert [lb["value"] for lb in entry["labels"] if lb["name"] == "implementation"] == [
            "scripted 0"]


def test_an_expected_error_is_broken() -> None:
    entry = {"status": "skipped", "labels": [{"name": "verdict", "value": "ERROR"},
                                             {"name": "expected", "value": "ERROR"}],
             "statusDetails": {"message": "XFAIL ERROR: the driver dies\n\n"
                                          "x.CaseFailed: ERROR  t/x"}}
    allure_results._file_divergence(entry)
    assert entry["status"] == "broken"
    assert entry["statusDetails"]["message"] == (
        "Known divergence (ERROR expected): the driver dies\n\nERROR  t/x")


def test_environments_key_on_name_and_version() -> None:
    rec = [_case("x/one", "PASS", [next(r for r, q in catalogue().items() if q.level == "MUST")])]
    old = allure_results.environment({"implementation": {"name": "workerd",
                                                         "version": "1.20250101.0"}}, rec)
    new = allure_results.environment({"implementation": {"name": "workerd",
                                                         "version": "1.20261117.1"}}, rec)
    assert (old.label, new.label) == ("workerd 1.20250101.0", "workerd 1.20261117.1")
    assert old.id != new.id and old.name == "workerd 1.20250101.0: MUST 100%"
    node = allure_results.environment({"implementation": {"name": "@arrowood.dev/socket",
                                                          "version": "0.2.0"}}, rec)
    assert "/" not in node.name and node.label == "@arrowood.dev/socket 0.2.0"
    assert dict(node.levels)["MUST passed"] == "1 of 1 applicable (100%)"
    missing = allure_results.environment({"implementation": {"name": "workerd"},
                                          "unavailable": "not installed"}, [])
    assert missing.summary() == "not run: not installed"
    twice = allure_results.distinct([old, new, old])
    assert len({e.id for e in twice}) == len({e.name for e in twice}) == 3


@needs_chromium()
@needs_node()   # the Allure renderer is an npm package, run by node
@needs_npm_part(reportgen.ALLURE_DIR, "node_modules/.bin/allure")
def test_allure_report_renders_offline(tmp_path: Path, pytester: pytest.Pytester,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ref_dir, ref_results = tmp_path / "ref-allure", tmp_path / "ref.jsonl"
    mutant_dir, mutant_results = tmp_path / "mutant-allure", tmp_path / "mutant.jsonl"
    cases = ["cases/connect/object-form.yaml", "cases/half-open/allow-true-writable-open.yaml"]
    for adapter, folder, results in [
            ("reference", ref_dir, ref_results),
            ("python:sockets_conformance.gates.mutants:half_open_ignored", mutant_dir,
             mutant_results)]:
        run = inprocess_run(pytester, monkeypatch, *cases, f"--adapter={adapter}",
                            f"--alluredir={folder}", f"--results-jsonl={results}")
        assert run.returncode in (0, 1), run.stdout[-3000:] + run.stderr[-3000:]
    entries = [json.loads(p.read_text()) for p in mutant_dir.glob("*-result.json")]
    failures = [e for e in entries if e["status"] == "failed"]
    assert failures, run.stdout[-3000:] + run.stderr[-3000:]
    failed = failures[0]
    # The failing entry explains itself: the timeline with the failing step, the bytes on
    # the wire, and the requirement it breaks (as a story label and in the description).
    names = {a["name"]: a["source"] for a in failed["attachments"]}
    timeline = (mutant_dir / names["timeline"]).read_text()
    assert "✗" in timeline and "expected:" in timeline and "actual:" in timeline
    assert any(n.startswith("wire peer ") for n in names)
    stories = {lb["value"] for lb in failed["labels"] if lb["name"] == "story"}
    assert "half-open.allow-true.writable-open" in stories
    impl = {p["name"]: p["value"] for p in failed["parameters"]}["implementation"]
    assert "mutant:half-open-ignored 0.1.0" in impl
    known_dir, known_results = _known_run(tmp_path, pytester, monkeypatch)
    index = reportgen.allure_html(tmp_path, [(ref_dir, ref_results), (mutant_dir, mutant_results),
                                             (known_dir, known_results)])
    summary = json.loads((index.parent / "summary.json").read_text())
    # 2 reference PASS; the mutant's 1 FAIL and 1 PASS; the scripted run's 1 PASS, 4 failed
    # (2 known) and 1 NOT-APPLICABLE: a known divergence is failed, skipped is N-A only
    assert summary["stats"] == {"total": 10, "passed": 4, "failed": 5, "skipped": 1}
    assert reportgen.remote_references(tmp_path / "allure") == []
    envs = [allure_results.environment(*results_file.read(r))
            for r in (ref_results, mutant_results, known_results)]
    # the whole report, then the scripted run's own view, in one browser
    seen = asyncio.run(browser.visit(
        browser.file_url(index),
        " && ".join(f"document.body.innerText.includes({json.dumps(e.name)})" for e in envs),
        _select(envs[2].id, ["t/known-fail", "MUST passed"])))
    remote = [u for u in seen.requests if not browser.is_local(u)]
    assert remote == [], f"the report made network requests: {remote}"
    whole, view = seen.texts
    # each implementation is a section of its own, headed by its name, version and score
    for env in envs:
        assert f'Environment: "{env.name}"' in whole
    assert envs[1].name == "mutant:half-open-ignored 0.1.0: MUST 50%"
    # the scripted run's view: its cases, its score, nobody else's
    assert "2 of 4 applicable (50%)" in view and "2 of 2 applicable" not in view
    assert "connect/object-form" not in view


def _select(env_id: str, shown: list[str]) -> str:
    """Page JS: pick the environment `env_id` (the report keeps the choice in localStorage),
    then wait until every text of `shown` is on the page (the report loads its parts one by
    one)."""
    want = json.dumps(json.dumps(env_id))
    ready = " && ".join(f"document.body.innerText.includes({json.dumps(t)})" for t in shown)
    return (f"localStorage.getItem('currentEnvironment') === {want} ? ({ready}) : "
            f"(localStorage.setItem('currentEnvironment', {want}), location.reload(), false)")
