"""The project's own tests: pytester, and the CI switch that makes every skip a failure.

A test skips when something it needs is missing (tests/needs.py names the command that
installs it). Locally that is the friendly outcome; in CI, which installs everything, a skip
would hide a broken install, so with SOCKETS_CONFORMANCE_REQUIRE_ALL=1 each skip is reported
as a failure with the same reason. It is done here, on the reports, so that it covers every
kind of skip (skipif marks, pytest.skip in a test or fixture, a skipped module) at once.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest
from pytest import CollectReport, TestReport

from tests.needs import REQUIRE_ALL

pytest_plugins = ["pytester"]


def _require_all() -> bool:
    return os.environ.get(REQUIRE_ALL, "") not in ("", "0")


def _skip_to_failure(report: TestReport | CollectReport) -> None:
    if not (report.skipped and _require_all()) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    # A skip's longrepr is (path, line, "Skipped: reason").
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    reason = reason.removeprefix("Skipped: ")
    report.outcome = "failed"
    report.longrepr = f"{reason}\n({REQUIRE_ALL}=1: a skipped test is a failure here)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, TestReport,
                                                                        TestReport]:
    report = yield
    _skip_to_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, CollectReport,
                                                                          CollectReport]:
    report = yield
    _skip_to_failure(report)
    return report
