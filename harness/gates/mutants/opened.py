"""Mutants of what a socket reports: opened's SocketInfo, the property getters, and the
independence of sockets."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from sockets_conformance.adapters.reference import address as addr
from sockets_conformance.adapters.reference.js import settle
from sockets_conformance.adapters.reference.socket import Socket
from sockets_conformance.gates.mutants.base import parser_mutant, socket_mutant
from sockets_conformance.model.values import UNDEFINED


@socket_mutant("socket-info-ip-only",
               "opened's remoteAddress is the peer's IP without the port (Node's "
               "socket.remoteAddress)",
               breaks=("connect/string-form", "opened/resolves-with-socket-info"),
               requirements=("opened.remote-address", "address.ipv6.bracketed",
                             "address.port.numeric-string", "tls.on.opened",
                             "starttls.new.opened"))
class SocketInfoIpOnly(Socket):
    async def _connect(self) -> None:
        await super()._connect()
        if self.opened.done() and self.opened.exception() is None:
            self.opened.result()["remoteAddress"] = self._address.connect_host


@socket_mutant("socket-info-local-address",
               "opened's SocketInfo also carries a localAddress for an outbound socket",
               breaks=("opened/no-local-address",),
               requirements=("opened.no-local-address",))
class SocketInfoLocalAddress(Socket):
    async def _connect(self) -> None:
        await super()._connect()
        transport = self._wire.transport
        if self.opened.done() and self.opened.exception() is None and transport is not None:
            host, port = transport.get_extra_info("sockname")[:2]
            self.opened.result()["localAddress"] = f"{host}:{port}"


def _raw_port_text(address: Any) -> addr.Address:
    """address.parse, but the object form's remoteAddress uses the port as given."""
    parsed = addr.parse(address)
    if isinstance(address, dict):
        return addr.Address(parsed.hostname, parsed.port,
                            f"{parsed.hostname}:{address.get('port')}")
    return parsed


parser_mutant("socket-info-raw-port",
              "for the object form, remoteAddress uses the port as passed (\"8080.9\") "
              "rather than the converted port", area="opened", parse_address=_raw_port_text,
              requirements=("opened.remote-address", "address.port.numeric-string"))


def _unbracketed(address: Any) -> addr.Address:
    """address.parse, but remoteAddress is rebuilt from the bare host and port."""
    parsed = addr.parse(address)
    return addr.Address(parsed.hostname, parsed.port, f"{parsed.connect_host}:{parsed.port}")


parser_mutant("socket-info-ipv6-unbracketed",
              "remoteAddress is rebuilt as host:port from the bare host, so an IPv6 "
              "address loses its brackets", area="opened", parse_address=_unbracketed,
              requirements=("address.ipv6.bracketed", "opened.remote-address"))


@socket_mutant("opened-lazy",
               "opened settles only when the connection is first used (a read, a write, "
               "close()), not when it is made",
               requirements=("opened.remote-address", "opened.getters-are-promises",
                             "tls.on.opened", "starttls.new.opened"))
class OpenedLazy(Socket):
    def _resolve_opened(self, remote_address: str) -> None:
        pass

    def _touch(self) -> None:
        if self._connected.done() and self._connected.exception() is None:
            settle(self.opened, {"remoteAddress": self._address.text})

    async def pull(self) -> bytes | None:
        await self._wire_ready()
        self._touch()
        return await super().pull()

    async def write(self, data: bytes) -> None:
        await self._wire_ready()
        self._touch()
        await super().write(data)

    def close(self) -> asyncio.Future[Any]:
        self._touch()
        if not self._connected.done():
            self._connected.add_done_callback(lambda _: self._touch())
        return super().close()


@socket_mutant("secure-transport-undefined",
               "the secureTransport getter echoes the option as given: undefined when it "
               "was left out, not \"off\"",
               breaks=("defaults/secure-transport-off",),
               requirements=("defaults.secure-transport-off", "starttls.new.properties"))
class SecureTransportUndefined(Socket):
    @property
    def secureTransport(self) -> Any:
        return self._options.extra.get("secureTransport", UNDEFINED)


@socket_mutant("upgraded-undefined",
               "there is no upgraded getter (it reads as undefined, as in "
               "@arrowood.dev/socket 0.2.0)",
               breaks=("defaults/upgraded-false",),
               requirements=("defaults.upgraded-false", "tls.on.opened", "starttls.new.properties",
                             "starttls.old.upgraded", "starttls.locks-held",
                             "starttls.properties-before-opened"))
class UpgradedUndefined(Socket):
    @property
    def upgraded(self) -> Any:
        return UNDEFINED


@socket_mutant("connect-singleton",
               "one connection per Worker: a new connect() closes the socket made before it",
               breaks=("connect/multiple-sockets",),
               requirements=("connect.independent-sockets", "connection-limit.six-open"))
class ConnectSingleton(Socket):
    current: ClassVar[Socket | None] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        previous, ConnectSingleton.current = ConnectSingleton.current, self
        # Only a socket of the same case: earlier cases' sockets are already torn down.
        if previous is not None and previous._context is self._context \
                and kwargs.get("upgrade_from") is None:
            previous.close()
