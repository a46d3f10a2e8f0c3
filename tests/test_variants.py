"""Every foundation case can fail: each broken variant of the reference (tests/variants.py)
makes the cases that guard its behaviour fail, and the same cases pass against the reference.

Each run is a separate pytest process with `--adapter python:tests.variants:<name>`, exactly
as a user would run the suite against another implementation; its per-case statuses come
back through JUnit XML, where the conformance plugin records them as properties.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sockets_conformance.loader import load_case

from tests import variants

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "cases"

# variant -> the cases it must break. A case broken only at a SHOULD requirement ends
# NON-STRICT rather than FAIL; both count as "did not pass".
EXPECTED_FAILURES: dict[str, list[str]] = {
    "ignores_allow_half_open": [
        "half-open/allow-true-writable-open",
        "half-open/allow-true-closed-pending",
    ],
    "never_closes_on_eof": [
        "half-open/allow-false-closed-resolves",
        "half-open/allow-false-write-rejects",
        "half-open/allow-false-sends-fin",
        "defaults/allow-half-open-false",
    ],
    "default_half_open_true": ["defaults/allow-half-open-false"],
    "eof_closes_eagerly": ["half-open/allow-false-waits-for-read"],
    "close_leaves_readers": ["close/held-reader-rejects"],
    "close_leaves_writers": ["close/held-writer-rejects"],
    "closed_never_resolves": ["close/resolves-closed", "close/second-call-harmless"],
    "close_replaces_closed_promise": ["opened/getters-are-promises"],
    "second_close_rejects": ["close/second-call-harmless"],
    "close_skips_flush": ["close/flushes-pending-writes"],
    "close_strands_pending_read": ["close/pending-read-settles"],
    "close_before_open_leaks": ["close/before-opened"],
    "drops_early_writes": ["streams/write-before-opened-queued", "streams/writes-in-order"],
    "reverses_early_writes": ["streams/writes-in-order"],
    "writer_close_destroys": ["streams/writer-close-sends-fin"],
    "stringifies_chunks": ["streams/write-reaches-peer"],
    "text_readable": ["streams/read-from-peer"],
    "drops_read_overflow": ["streams/large-transfer"],
    "no_backpressure": ["streams/backpressure"],
    "singleton_connection": ["connect/multiple-sockets"],
    "node_style_socket_info": [
        "connect/object-form",
        "connect/string-form",
        "opened/resolves-with-socket-info",
        "opened/no-local-address",
    ],
    "secure_transport_undefined": ["defaults/secure-transport-off"],
    "upgraded_undefined": ["defaults/upgraded-false"],
    "failed_connect_node_error": [
        "errors/refused-opened-rejects",
        "errors/refused-closed-rejects",
    ],
    "failed_connect_closed_pending": [
        "errors/refused-closed-rejects",
        "errors/refused-close-resolves",
    ],
    "reset_looks_like_eof": ["errors/peer-reset-read-rejects"],
    "reset_leaves_closed_pending": ["errors/peer-reset-closed-settles"],
    "no_reader_lock": ["locks/reader-exclusive"],
    "no_writer_lock": ["locks/writer-exclusive"],
    "release_lock_keeps_locks": [
        "locks/release-reader",
        "locks/release-writer",
        "locks/locked-flag",
    ],
}

# The foundation slice (plain TCP): every one of these must be broken by some variant.
FOUNDATION_CASES = sorted({
    "connect/object-form", "connect/string-form", "connect/multiple-sockets",
    "opened/resolves-with-socket-info", "opened/no-local-address", "opened/getters-are-promises",
    "streams/write-reaches-peer", "streams/read-from-peer", "streams/writes-in-order",
    "streams/write-before-opened-queued", "streams/writer-close-sends-fin",
    "streams/large-transfer", "streams/backpressure",
    "half-open/allow-false-closed-resolves", "half-open/allow-false-waits-for-read",
    "half-open/allow-false-write-rejects", "half-open/allow-false-sends-fin",
    "half-open/allow-true-writable-open", "half-open/allow-true-closed-pending",
    "close/resolves-closed", "close/held-reader-rejects", "close/held-writer-rejects",
    "close/second-call-harmless", "close/flushes-pending-writes", "close/pending-read-settles",
    "close/before-opened",
    "locks/reader-exclusive", "locks/writer-exclusive", "locks/release-reader",
    "locks/release-writer", "locks/locked-flag",
    "defaults/secure-transport-off", "defaults/upgraded-false", "defaults/allow-half-open-false",
    "errors/refused-opened-rejects", "errors/refused-closed-rejects",
    "errors/refused-close-resolves", "errors/peer-reset-read-rejects",
    "errors/peer-reset-closed-settles",
})


def run_cases(adapter: str, case_ids: list[str], tmp_path: Path) -> dict[str, str]:
    """Run the cases in a fresh pytest process; return case id -> conformance status."""
    junit = tmp_path / f"{adapter.rpartition(':')[2]}.xml"
    files = [str(CASES / f"{case_id}.yaml") for case_id in case_ids]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files,
         "--adapter", adapter, f"--junitxml={junit}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert junit.exists(), f"pytest did not run:\n{proc.stdout}\n{proc.stderr}"
    statuses: dict[str, str] = {}
    for testcase in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in testcase.iter("property")}
        if "conformance_status" in props:
            statuses[testcase.get("name", "")] = props["conformance_status"] or ""
    missing = set(case_ids) - set(statuses)
    assert not missing, f"no result for {sorted(missing)}:\n{proc.stdout[-3000:]}"
    return statuses


def test_every_foundation_case_is_guarded_by_a_variant() -> None:
    covered = {case for cases in EXPECTED_FAILURES.values() for case in cases}
    assert sorted(set(FOUNDATION_CASES) - covered) == []
    for case_id in covered:
        assert load_case(CASES / f"{case_id}.yaml").id == case_id


def test_every_variant_has_expectations() -> None:
    assert set(variants.VARIANTS) == set(EXPECTED_FAILURES)


def test_cases_pass_against_the_reference(tmp_path: Path) -> None:
    """The control: the same cases, the unbroken implementation."""
    statuses = run_cases("reference", FOUNDATION_CASES, tmp_path)
    assert {c: s for c, s in statuses.items() if s != "PASS"} == {}


@pytest.mark.parametrize("variant", sorted(EXPECTED_FAILURES))
def test_variant_breaks_its_cases(variant: str, tmp_path: Path) -> None:
    statuses = run_cases(f"python:tests.variants:{variant}", EXPECTED_FAILURES[variant],
                         tmp_path)
    passed = sorted(c for c, s in statuses.items() if s == "PASS")
    assert passed == [], f"{variant} should break these cases but they passed"
    broken = {c: s for c, s in statuses.items() if s in ("ERROR", "NOT-APPLICABLE")}
    assert broken == {}, f"{variant}: cases could not judge the variant"
