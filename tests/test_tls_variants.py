"""Every TLS and STARTTLS case can fail: each broken variant of the reference
(tests/tls_variants.py) makes the cases that guard its behaviour fail, while the other cases
of the same selection still pass, so a variant shows exactly what each case catches.

Each run is a separate pytest process with `--adapter python:tests.tls_variants:<name>`, as a
user would run the suite against another implementation (tests/test_variants.py's
`run_cases`). Only the case files a variant concerns are run, to keep this fast.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sockets_conformance.loader import load_case

from tests import tls_variants
from tests.test_variants import CASES, run_cases

# variant -> (the cases it must break, other cases of the selection that must still pass).
# A case broken only at a SHOULD or MAY requirement ends NON-STRICT rather than FAIL.
SELECTIONS: dict[str, tuple[list[str], list[str]]] = {
    "starttls_twice": (
        ["starttls/twice-in-a-row"],
        ["starttls/after-upgrade-finished", "starttls/on-upgraded-socket"],
    ),
    "starttls_once_message": (
        ["starttls/twice-in-a-row", "starttls/after-upgrade-finished"],
        ["starttls/after-close", "starttls/on-upgraded-socket"],
    ),
    "starttls_without_option": (
        ["starttls/requires-option-off", "starttls/requires-option-default"],
        ["starttls/check-order-closed-plain-socket", "starttls/smtp"],
    ),
    "starttls_on_tls_socket": (
        ["starttls/on-tls-socket", "starttls/on-upgraded-socket",
         "starttls/check-order-closed-tls-socket"],
        ["starttls/twice-in-a-row", "tls/round-trip"],
    ),
    "starttls_after_close": (
        ["starttls/after-close", "starttls/check-order-closed-plain-socket"],
        ["starttls/after-upgrade-finished", "starttls/requires-option-off"],
    ),
    "old_socket_still_readable": (
        ["starttls/old-reader-dead", "starttls/postgres"],
        ["starttls/old-writer-dead", "starttls/smtp"],
    ),
    "old_socket_still_writable": (
        ["starttls/old-writer-dead"],
        ["starttls/old-reader-dead", "starttls/smtp"],
    ),
    "old_closed_never_resolves": (
        ["starttls/old-closed-resolves", "starttls/upgraded-flag", "starttls/postgres"],
        ["starttls/new-socket-properties", "starttls/smtp"],
    ),
    "upgraded_never_set": (
        ["starttls/upgraded-flag", "starttls/postgres"],
        ["starttls/old-closed-resolves", "starttls/smtp"],
    ),
    "upgrade_ignores_locks": (
        ["starttls/held-reader-blocks-upgrade", "starttls/held-writer-blocks-upgrade"],
        ["starttls/old-reader-dead", "starttls/old-writer-dead"],
    ),
    "old_close_tears_down": (
        ["starttls/old-close-harmless"],
        ["starttls/after-close", "starttls/smtp"],
    ),
    "old_secure_transport_on": (
        ["starttls/old-secure-transport"],
        ["starttls/new-socket-properties"],
    ),
    "new_socket_keeps_option": (
        ["starttls/new-socket-properties", "starttls/postgres", "starttls/on-upgraded-socket"],
        ["starttls/smtp", "starttls/old-secure-transport"],
    ),
    "new_socket_forgets_half_open": (
        ["starttls/inherits-allow-half-open"],
        ["starttls/smtp", "tls/peer-end-allow-half-open-true"],
    ),
    "new_socket_node_style_info": (
        ["starttls/new-socket-opened", "starttls/smtp", "starttls/postgres"],
        ["starttls/new-socket-properties", "tls/opened-after-handshake"],
    ),
    "drops_writes_before_handshake": (
        ["tls/writes-before-handshake", "starttls/writes-before-handshake"],
        ["tls/round-trip", "starttls/smtp"],
    ),
    "no_certificate_verification": (
        ["tls/untrusted-certificate", "tls/hostname-mismatch", "tls/expired-certificate",
         "starttls/untrusted-certificate", "starttls/hostname-mismatch",
         "starttls/expired-certificate"],
        ["tls/round-trip", "starttls/expected-server-hostname"],
    ),
    "ignores_expected_server_hostname": (
        ["starttls/expected-server-hostname"],
        ["starttls/hostname-mismatch", "starttls/smtp"],
    ),
    "tls_close_writer_ends_all": (
        ["tls/writer-close-keeps-reading"],
        ["tls/round-trip", "tls/peer-end-allow-half-open-true"],
    ),
    "tls_ignored": (
        ["tls/round-trip", "tls/peer-speaks-first", "tls/large-transfer",
         "tls/opened-after-handshake", "tls/peer-end-allow-half-open-true",
         "tls/peer-end-allow-half-open-false"],
        ["starttls/smtp", "starttls/large-transfer"],
    ),
    "tls_partial_writes": (
        ["tls/large-transfer", "starttls/large-transfer"],
        ["tls/round-trip", "tls/peer-speaks-first"],
    ),
}

NOT_PASSING = {"FAIL", "NON-STRICT"}


def _all_tls_cases() -> list[str]:
    return sorted(f"{p.parent.name}/{p.stem}" for area in ("tls", "starttls")
                  for p in (CASES / area).glob("*.yaml"))


def test_every_tls_case_is_broken_by_some_variant() -> None:
    broken = {case for must_fail, _ in SELECTIONS.values() for case in must_fail}
    assert sorted(set(_all_tls_cases()) - broken) == []
    for must_fail, must_pass in SELECTIONS.values():
        assert not set(must_fail) & set(must_pass)
        for case_id in must_fail + must_pass:
            assert load_case(CASES / f"{case_id}.yaml").id == case_id


def test_every_variant_has_a_selection() -> None:
    assert set(tls_variants.VARIANTS) == set(SELECTIONS)


def test_tls_cases_pass_against_the_reference(tmp_path: Path) -> None:
    """The control: every TLS and STARTTLS case, the unbroken implementation."""
    statuses = run_cases("reference", _all_tls_cases(), tmp_path)
    assert {c: s for c, s in statuses.items() if s != "PASS"} == {}


@pytest.mark.parametrize("variant", sorted(SELECTIONS))
def test_variant_breaks_exactly_its_cases(variant: str, tmp_path: Path) -> None:
    must_fail, must_pass = SELECTIONS[variant]
    statuses = run_cases(f"python:tests.tls_variants:{variant}", must_fail + must_pass,
                         tmp_path)
    wrongly_passed = sorted(c for c in must_fail if statuses[c] not in NOT_PASSING)
    assert wrongly_passed == [], (f"{variant} should break these cases: "
                                  f"{ {c: statuses[c] for c in wrongly_passed} }")
    collateral = {c: statuses[c] for c in must_pass if statuses[c] != "PASS"}
    assert collateral == {}, f"{variant} should leave these cases passing"
