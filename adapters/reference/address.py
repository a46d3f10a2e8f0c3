"""Address validation with workerd's messages and order: parse, hostname, port, characters.

The string form is read the way a URL parser reads the authority of "fake://" + address
(there is no default port); the object form converts `port` as WebIDL converts an
unsigned short with workerd's messages.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .js import type_error

NOT_PARSED = "Specified address could not be parsed."
NO_HOST = "Specified address is missing hostname."
NO_PORT = "Specified address is missing port."
BAD_CHARS = "Specified address is empty string, contains unsupported characters or is too long."
NOT_INTEGER = "The value cannot be converted because it is not an integer."
NEGATIVE = ("The value cannot be converted because it is negative and this API expects a "
            "positive number.")
TOO_BIG = "Value out of range. Must be less than or equal to 65535."

_VALID = re.compile(r"^[A-Za-z0-9\-._\[\]:]{1,255}$")
# URL "forbidden host code points" that matter for an opaque host.
_FORBIDDEN_HOST = set(" #/:<>?@[\\]^|\t\n\r")


@dataclass(frozen=True)
class Address:
    hostname: str        # as written; IPv6 keeps its brackets
    port: int
    text: str            # what opened's remoteAddress reports

    @property
    def connect_host(self) -> str:
        return self.hostname[1:-1] if self.hostname.startswith("[") else self.hostname


def parse(address: Any) -> Address:
    if isinstance(address, str):
        hostname, port = _parse_string(address)
        text = address
    elif isinstance(address, dict):
        hostname = address.get("hostname")
        if not isinstance(hostname, str):
            raise type_error(NO_HOST)
        port = _to_uint16(address.get("port"))
        text = f"{hostname}:{port}"
    else:
        raise type_error(NOT_PARSED)
    if not _VALID.match(text):
        raise type_error(BAD_CHARS)
    return Address(hostname, port, text)


def _parse_string(address: str) -> tuple[str, int]:
    authority = re.split(r"[/?#]", address, maxsplit=1)[0]
    hostport = authority.rsplit("@", 1)[-1]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise type_error(NOT_PARSED)
        host, rest = hostport[: end + 1], hostport[end + 1:]
        if rest and not rest.startswith(":"):
            raise type_error(NOT_PARSED)
        port_text = rest[1:]
    else:
        host, _, port_text = hostport.partition(":")
        if not host and port_text:
            raise type_error(NOT_PARSED)
        if any(c in _FORBIDDEN_HOST for c in host):
            raise type_error(NOT_PARSED)
    if port_text and (not port_text.isdigit() or not port_text.isascii()):
        raise type_error(NOT_PARSED)
    if port_text and int(port_text) > 65535:
        raise type_error(NOT_PARSED)
    if not host:
        raise type_error(NO_HOST)
    if not port_text:
        raise type_error(NO_PORT)
    return host, int(port_text)


def _to_uint16(value: Any) -> int:
    """WebIDL [EnforceRange]-like conversion with workerd's wording."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, str):
        try:
            value = float(value.strip()) if value.strip() else 0.0
        except ValueError:
            raise type_error(NOT_INTEGER) from None
    finite = isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))
    if not finite:
        raise type_error(NOT_INTEGER)
    number = math.trunc(value)
    if number < 0:
        raise type_error(NEGATIVE)
    if number > 65535:
        raise type_error(TOO_BIG)
    return int(number)
