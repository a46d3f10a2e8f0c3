"""A missing prerequisite skips with the command that installs it; with
SOCKETS_CONFORMANCE_REQUIRE_ALL=1 (CI) the same skip is a failure with the same reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import needs

INNER = """\
import pytest

@pytest.mark.skipif(True, reason="the thing is missing: run `install the-thing`")
def test_marked():
    pass

def test_skips_inside():
    pytest.skip("the other thing is missing: run `install other`")

@pytest.mark.xfail(reason="an expected failure is not a skip", strict=True)
def test_xfail():
    raise AssertionError
"""


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    # The switch lives in tests/conftest.py; the inner run gets the same hooks.
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport\n"
                          "from tests.conftest import pytest_make_collect_report\n")
    pytester.makepyfile(INNER)
    return pytester


def test_without_the_switch_a_missing_prerequisite_skips(
        inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(needs.REQUIRE_ALL, raising=False)
    result = inner.runpytest("-rs")
    result.assert_outcomes(skipped=2, xfailed=1)
    result.stdout.fnmatch_lines(["*install the-thing*", "*install other*"])


def test_with_the_switch_every_skip_fails_with_its_reason(
        inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(needs.REQUIRE_ALL, "1")
    result = inner.runpytest("-rfE")
    # A skipif mark acts in setup (an error there), pytest.skip in the call (a failure);
    # an xfail stays an xfail.
    result.assert_outcomes(errors=1, failed=1, xfailed=1)
    result.stdout.fnmatch_lines(["*the thing is missing: run `install the-thing`*",
                                 "*the other thing is missing: run `install other`*",
                                 f"*{needs.REQUIRE_ALL}=1: a skipped test is a failure here*"])


def test_a_module_skipped_at_import_fails_with_the_switch(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest("from tests.conftest import pytest_make_collect_report\n")
    pytester.makepyfile("import pytest\npytest.skip('no module here: run `install mod`', "
                        "allow_module_level=True)\n")
    monkeypatch.setenv(needs.REQUIRE_ALL, "1")
    result = pytester.runpytest()
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*no module here: run `install mod`*"])


def test_reasons_name_the_command_that_installs(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    part = tmp_path / "part"
    part.mkdir()
    (part / "package.json").write_text(json.dumps({"dependencies": {"left-pad": "1.3.0"}}))
    monkeypatch.chdir(tmp_path)
    reason = needs.missing_npm_part(part)
    assert reason is not None and "`npm ci --prefix part`" in reason
    (part / "node_modules" / "left-pad").mkdir(parents=True)
    (part / "node_modules" / "left-pad" / "package.json").write_text("{}")
    assert needs.missing_npm_part(part, "node_modules/.bin/left-pad") is not None
    assert needs.missing_npm_part(part) is None

    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    for check in (needs.missing_node, needs.chromium_path):
        check.cache_clear()
    try:
        assert "apt-get install nodejs npm" in str(needs.missing_node())
        assert needs.chromium_path() is None
        mark = needs.needs_chromium()
        assert mark.kwargs["reason"].endswith("apt-get install chromium")
    finally:
        for check in (needs.missing_node, needs.chromium_path):
            check.cache_clear()
