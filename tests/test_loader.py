"""Malformed case files: each must give one clear error naming the file, the line and the
problem. The expected line and message sit in each file's first line (`# expect: N: text`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sockets_conformance.model.loader import CaseError, load_case
from sockets_conformance.paths import CASES

MALFORMED = sorted((Path(__file__).parent / "malformed").glob("*.yaml"))


def _expectation(path: Path) -> tuple[int, str]:
    first = path.read_text().splitlines()[0]
    match = re.fullmatch(r"# expect: (\d+): (.+)", first)
    assert match, f"{path.name}: first line must be '# expect: LINE: message'"
    return int(match.group(1)), match.group(2)


def test_corpus_is_large_enough() -> None:
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.stem)
def test_malformed_case_gives_one_clear_error(path: Path) -> None:
    line, message = _expectation(path)
    with pytest.raises(CaseError) as info:
        load_case(path)
    error = info.value
    assert error.line == line, str(error)
    assert message in error.problem, str(error)
    text = str(error)
    assert text.startswith(f"{path.as_posix()}:{line}: ") or f"{path.name}:{line}: " in text
    assert "Traceback" not in text and "\n" not in text


def test_every_shipped_case_loads() -> None:
    for path in sorted(CASES.rglob("*.yaml")):
        case = load_case(path)
        assert case.id == path.relative_to(CASES).with_suffix("").as_posix()


def test_id_must_match_path(tmp_path: Path) -> None:
    root = tmp_path / "cases"
    (root / "connect").mkdir(parents=True)
    path = root / "connect" / "here.yaml"
    path.write_text("id: connect/elsewhere\ntitle: a case filed under the wrong name\n"
                    "requirements: [connect.object-form]\nfeatures: [tcp]\nsteps: [connect]\n")
    with pytest.raises(CaseError, match=r"does not match the file path 'connect/here\.yaml'"):
        load_case(path, cases_root=root)


def test_malformed_file_in_suite_fails_alone_and_the_rest_runs(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken case is one failed item with the clear message; other cases still run."""
    root = Path(__file__).resolve().parent.parent
    monkeypatch.setenv("PYTHONPATH", str(root))
    cases = pytester.path / "cases" / "x"
    cases.mkdir(parents=True)
    (cases / "bad.yaml").write_text((Path(__file__).parent / "malformed" / "unknown-step.yaml")
                                    .read_text())
    good = (root / "cases" / "connect" / "object-form.yaml").read_text()
    (cases / "good.yaml").write_text(good.replace("id: connect/object-form", "id: x/good"))
    result = pytester.runpytest_inprocess("-p", "sockets_conformance.plugin", "-q",
                                          str(pytester.path / "cases"))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*bad.yaml:7: steps/0: unknown step 'conect'*"])
    assert "Traceback" not in result.stdout.str()
