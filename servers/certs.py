"""Certificates for the TLS peers: a throwaway PKI made by trustme, one per process.

Why one per process and not one per case: making keys costs milliseconds, and some
implementations can only be told what to trust when they start (Node reads
NODE_EXTRA_CA_CERTS once, workerd takes `trustedCertificates` in its config). So every case
of a process hands the same `ca_pem()` to the implementation, and an adapter may read it
before it launches anything. Under pytest-xdist each worker has its own CA, which is fine:
a worker's peers and its implementation agree with each other.

Why it is never written anywhere lasting: the private keys sign nothing outside this run.
They live in memory; trustme puts the key in a temporary file only for the instant
`load_cert_chain` needs a path, and `ca_pem_path()` writes only the public CA certificate,
into a temporary directory removed when the process exits.

Certificate kinds a peer can present (`peers: {peer: {cert: KIND}}` in a case):

- ``valid``: for localhost, 127.0.0.1 and ::1, signed by the trusted CA;
- ``wrong-host``: signed by the trusted CA but only for ``wrong.example``
  (a hostname-mismatch test);
- ``untrusted``: for the right names, signed by a second CA that is never handed out;
- ``expired``: for the right names, signed by the trusted CA, validity ended a year ago.
"""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

import trustme

SERVER_NAMES = ("localhost", "127.0.0.1", "::1")
WRONG_HOST = "wrong.example"
CERT_KINDS = ("valid", "wrong-host", "untrusted", "expired")


@dataclass(frozen=True)
class RunPki:
    """The process's CAs and server certificates. Only `trusted` is ever shown to an
    implementation; `rogue` exists to sign a certificate nobody trusts."""

    trusted: trustme.CA
    rogue: trustme.CA
    leaves: dict[str, trustme.LeafCert]


@functools.cache
def pki() -> RunPki:
    trusted = trustme.CA(organization_name="sockets-conformance test CA")
    rogue = trustme.CA(organization_name="sockets-conformance untrusted CA")
    now = dt.datetime.now(dt.UTC)
    leaves = {
        "valid": trusted.issue_cert(*SERVER_NAMES),
        "wrong-host": trusted.issue_cert(WRONG_HOST),
        "untrusted": rogue.issue_cert(*SERVER_NAMES),
        "expired": trusted.issue_cert(*SERVER_NAMES, not_before=now - dt.timedelta(days=730),
                                      not_after=now - dt.timedelta(days=365)),
    }
    return RunPki(trusted, rogue, leaves)


def ca_pem() -> str:
    """The trusted CA certificate (PEM text): what CaseContext.ca_pem carries."""
    return pki().trusted.cert_pem.bytes().decode("ascii")


@functools.cache
def ca_pem_path() -> Path:
    """The trusted CA certificate in a file, for implementations that want a path
    (NODE_EXTRA_CA_CERTS). Removed when the process exits."""
    folder = Path(tempfile.mkdtemp(prefix="sockets-conformance-ca-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "ca.pem"
    path.write_text(ca_pem(), encoding="ascii")
    return path


def certificate_pem(kind: str = "valid") -> str:
    """The server certificate a peer of this kind presents (PEM text, leaf only)."""
    return _leaf(kind).cert_chain_pems[0].bytes().decode("ascii")


@functools.cache
def server_context(kind: str = "valid") -> ssl.SSLContext:
    """The server-side context a peer presenting `kind` uses. Shared by all peers of the
    process: a server context is never changed after this point."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    _leaf(kind).configure_cert(context)
    return context


def client_context() -> ssl.SSLContext:
    """A fresh client context that trusts the run's CA and nothing else, verifying the
    hostname as any client must. Fresh each call so a caller may adjust it."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem())
    return context


def _leaf(kind: str) -> trustme.LeafCert:
    try:
        return pki().leaves[kind]
    except KeyError:
        raise ValueError(f"unknown certificate kind {kind!r}; "
                         f"known: {', '.join(CERT_KINDS)}") from None
