"""Mutants of address and option validation in connect() (replacements for
adapters/reference/address.py's parse and Options.parse, each the reference with one slip)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sockets_conformance.adapters.reference import address as addr
from sockets_conformance.adapters.reference.js import JSError, type_error
from sockets_conformance.adapters.reference.socket import BAD_SECURE_TRANSPORT, Options, _js_string
from sockets_conformance.gates.mutants.base import parser_mutant
from sockets_conformance.model.values import UNDEFINED


def _port_range_error(address: Any) -> addr.Address:
    """Ports out of range are a RangeError (as Node's ERR_SOCKET_BAD_PORT is)."""
    try:
        return addr.parse(address)
    except JSError as exc:
        if exc.message in (addr.NEGATIVE, addr.TOO_BIG):
            raise JSError("RangeError", exc.message) from None
        raise


parser_mutant("port-range-error",
              "an object-form port below 0 or above 65535 throws RangeError, not TypeError",
              area="address", parse_address=_port_range_error,
              requirements=("address.port.negative", "address.port.too-large",
                            "errors.error-classes"))


def _missing_port_wording(address: Any) -> addr.Address:
    try:
        return addr.parse(address)
    except JSError as exc:
        if exc.message == addr.NO_PORT:
            raise type_error("Specified address does not have a port.") from None
        raise


parser_mutant("missing-port-message",
              "a string address without a port throws TypeError with another message",
              area="address", kind="message", parse_address=_missing_port_wording,
              requirements=("address.string.missing-port", "errors.error-classes"))


def _default_port_443(address: Any) -> addr.Address:
    """Parses the string form as new URL("https://" + address) would: no port means 443."""
    try:
        return addr.parse(address)
    except JSError as exc:
        if exc.message != addr.NO_PORT or not isinstance(address, str):
            raise
        return addr.parse(address.removesuffix(":") + ":443")


parser_mutant("default-port-443",
              "a string address without a port is accepted with port 443 (the https "
              "default)", area="address", parse_address=_default_port_443,
              requirements=("address.string.missing-port",))


def _no_character_check(address: Any) -> addr.Address:
    """address.parse without the final character / length check (only URL parsing)."""
    if isinstance(address, str):
        hostname, port = addr._parse_string(address)
        return addr.Address(hostname, port, address)
    if isinstance(address, dict):
        name = address.get("hostname")
        if not isinstance(name, str):
            raise type_error(addr.NO_HOST)
        number = addr._to_uint16(address.get("port"))
        return addr.Address(name, number, f"{name}:{number}")
    return addr.parse(address)


parser_mutant("no-character-check",
              "addresses are not checked for unsupported characters or length (paths, "
              "user info, '*' and 300-character names pass)", area="address",
              parse_address=_no_character_check,
              requirements=("address.unsupported-characters",))


def _strict_integer_port(address: Any) -> addr.Address:
    """The object form's port must already be an integer: "443" and 443.9 are refused."""
    if isinstance(address, dict):
        port = address.get("port")
        if isinstance(port, str) or (isinstance(port, float) and not port.is_integer()):
            raise type_error(addr.NOT_INTEGER)
        if isinstance(port, float) and not math.isfinite(port):
            raise type_error(addr.NOT_INTEGER)
    return addr.parse(address)


parser_mutant("port-not-coerced",
              "an object-form port given as a numeric string or a fraction is refused "
              "instead of converted (WebIDL truncates)", area="address",
              parse_address=_strict_integer_port,
              requirements=("address.port.numeric-string",))


@dataclass(frozen=True)
class _BracketedAddress(addr.Address):
    @property
    def connect_host(self) -> str:
        return self.hostname  # "[::1]" handed to the resolver as a name


def _keeps_brackets(address: Any) -> addr.Address:
    parsed = addr.parse(address)
    return _BracketedAddress(parsed.hostname, parsed.port, parsed.text)


parser_mutant("ipv6-brackets-kept",
              "an IPv6 hostname is dialled with its brackets (\"[::1]\"), which no resolver "
              "accepts", area="address", parse_address=_keeps_brackets,
              requirements=("address.ipv6.bracketed",))


def _options(raw: Any, *, fold_case: bool = False, check: bool = True) -> Options:
    """Options.parse with the secureTransport check loosened."""
    if not isinstance(raw, dict):
        return Options.parse(raw)
    st = raw.get("secureTransport", UNDEFINED)
    if st is UNDEFINED or st is None:
        return Options.parse(raw)
    value = _js_string(st)
    if fold_case:
        value = value.lower()
    if value not in ("off", "on", "starttls"):
        if check:
            raise type_error(BAD_SECURE_TRANSPORT + value)
        value = "off"
    return Options(value, bool(raw.get("allowHalfOpen", False)), dict(raw))


parser_mutant("secure-transport-case-folded",
              "secureTransport is lower-cased before the check, so \"ON\" is accepted",
              area="address", parse_options=lambda raw: _options(raw, fold_case=True),
              requirements=("address.secure-transport.unsupported",))

parser_mutant("secure-transport-unchecked",
              "an unknown secureTransport value silently means \"off\" instead of throwing",
              area="address", parse_options=lambda raw: _options(raw, check=False),
              requirements=("address.secure-transport.unsupported",))



def _port_without_enforce_range(address: Any) -> addr.Address:
    """The object form's port converted as a plain WebIDL unsigned short, without
    [EnforceRange]: NaN (a missing or non-numeric port) becomes 0 instead of an error."""
    if isinstance(address, dict):
        port = address.get("port")
        try:
            number = float(port) if port is not None and not isinstance(port, bool) else math.nan
        except (TypeError, ValueError):
            number = math.nan
        if math.isnan(number):
            address = {**address, "port": 0}
    return addr.parse(address)


parser_mutant("port-nan-is-zero",
              "a missing or non-numeric object-form port becomes port 0 (no [EnforceRange]) "
              "instead of throwing", area="address",
              parse_address=_port_without_enforce_range,
              requirements=("address.port.not-integer",))


def _port_wraps(address: Any) -> addr.Address:
    """The string form's port read into 16 bits (`port & 0xffff`), so 65536 is port 0."""
    if isinstance(address, str):
        host, sep, port = address.rpartition(":")
        if sep and port.isdigit() and port.isascii() and int(port) > 65535:
            address = f"{host}:{int(port) & 0xFFFF}"
    return addr.parse(address)


parser_mutant("string-port-wraps",
              "a string-form port above 65535 wraps around (65536 is port 0) instead of "
              "being unparseable", area="address", parse_address=_port_wraps,
              requirements=("address.string.unparseable",))


def _split_at_colon(address: Any) -> addr.Address:
    """The string form split at its last colon, the port converted like the object form's:
    what a quick `const [hostname, port] = address.split(":")` gives."""
    if not isinstance(address, str):
        return addr.parse(address)
    hostname, _, port = address.rpartition(":")
    if not hostname:
        raise type_error(addr.NO_HOST)
    if not port:
        raise type_error(addr.NO_PORT)
    number = addr._to_uint16(port)
    if not addr._VALID.match(address):
        raise type_error(addr.BAD_CHARS)
    return addr.Address(hostname, number, address)


parser_mutant("string-split-parser",
              "the string form is split at its last colon instead of parsed as a URL, so "
              "malformed strings get the object form's (or other) TypeErrors",
              area="address", kind="message", parse_address=_split_at_colon,
              requirements=("address.string.unparseable", "address.string.missing-port",
                            "address.ipv6.unbracketed", "address.unsupported-characters",
                            "errors.error-classes"))


def _characters_first(address: Any) -> addr.Address:
    """The character / length check runs before the string is parsed."""
    if isinstance(address, str) and not addr._VALID.match(address):
        raise type_error(addr.BAD_CHARS)
    return addr.parse(address)


parser_mutant("address-check-order",
              "the character and length check runs before parsing, so an empty or "
              "unparseable string gets the character TypeError", area="address",
              kind="message", parse_address=_characters_first,
              requirements=("address.string.missing-hostname", "address.string.unparseable"))
