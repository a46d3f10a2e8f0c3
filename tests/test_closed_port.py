"""The closed port a case dials for refused connections, including a fixed port number
(closedPort: 80 / 443, for the HTTP hint): held bound and not listening, so it can only refuse;
where it cannot be held the case is NOT-APPLICABLE, never run against a real service."""

from __future__ import annotations

import socket

import pytest
from sockets_conformance.servers.puppet import ClosedPort


def test_fixed_port_refuses_connections() -> None:
    try:
        closed = ClosedPort.fixed(443)
    except OSError as exc:  # no privilege for port 443 here, or it is served on 0.0.0.0
        pytest.skip(f"cannot hold port 443: {exc}")
    try:
        assert closed.port == 443 and closed.host.startswith("127.")
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((closed.host, closed.port), timeout=2).close()
    finally:
        closed.close()


def test_fixed_port_served_everywhere_cannot_be_held() -> None:
    listener = socket.socket()
    listener.bind(("0.0.0.0", 0))
    listener.listen()
    try:
        with pytest.raises(OSError):
            ClosedPort.fixed(listener.getsockname()[1])
    finally:
        listener.close()
