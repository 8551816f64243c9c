"""The string formats of the plugin schemas, with the rules of the Go code that reads them.

Each check answers whether a JSON string is what the reference plugins accept. The rules are Go's,
not Python's, where the two differ: an IPv6 zone (``fe80::1%eth0``) is not an address, a CIDR's
prefix length may have leading zeros (``10.0.0.0/024``) but an IPv4 octet may not. The empty
string is "unset" for ``ip``, ``mac`` and ``ifname`` (the plugins skip an empty value; where empty
is wrong, a schema adds ``minLength``), never for ``cidr`` (Go's CIDR decoder refuses it).
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Callable

__all__ = ["FORMATS", "FORMAT_HINTS"]

_HEX = frozenset(string.hexdigits)
_MAC_OCTETS = (6, 8, 20)  # the lengths Go's net.ParseMAC accepts: EUI-48, EUI-64, IPoIB
_IFNAMSIZ = 16  # the kernel's limit, the terminating NUL included


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # Python accepts an IPv6 zone and Go's net.ParseIP does not.
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_ip(text: str) -> bool:
    """An IPv4 or IPv6 address as Go's ``net.IP`` decodes it (empty: unset)."""
    return text == "" or _address(text) is not None


def is_cidr(text: str) -> bool:
    """``ADDRESS/PREFIX`` as Go's ``net.ParseCIDR`` reads it (host bits may be set)."""
    addr, slash, prefix = text.rpartition("/")
    if not slash or not addr or not prefix or not all(c in string.digits for c in prefix):
        return False
    ip = _address(addr)
    return ip is not None and int(prefix) <= ip.max_prefixlen


def is_mac(text: str) -> bool:
    """A hardware address as Go's ``net.ParseMAC`` reads it (empty: unset)."""
    if text == "":
        return True
    if len(text) >= 14 and text[4] == ".":  # 0000.5e00.5301
        groups = text.split(".")
        return len(groups) * 2 in _MAC_OCTETS and all(len(g) == 4 and _HEX.issuperset(g) for g in groups)
    if len(text) >= 14 and text[2] in ":-":  # 00:00:5e:00:53:01 or 00-00-5e-00-53-01
        octets = text.split(text[2])
        return len(octets) in _MAC_OCTETS and all(len(o) == 2 and _HEX.issuperset(o) for o in octets)
    return False


def is_ifname(text: str) -> bool:
    """A name the kernel takes for a network interface (empty: the plugin's default)."""
    if text == "":
        return True
    if len(text.encode()) >= _IFNAMSIZ or text in (".", ".."):
        return False
    return not any(c in "/:" or c.isspace() for c in text)


#: Format name -> check of a string.
FORMATS: dict[str, Callable[[str], bool]] = {
    "ip": is_ip,
    "cidr": is_cidr,
    "mac": is_mac,
    "ifname": is_ifname,
}

#: What a failing value should have looked like, for the messages.
FORMAT_HINTS: dict[str, str] = {
    "ip": "an IP address, like 10.1.0.1 or fd00::1",
    "cidr": "an address with a prefix length, like 10.1.0.0/24",
    "mac": "a MAC address, like 0a:58:0a:01:00:05",
    "ifname": "an interface name: at most 15 bytes, without '/', ':' or spaces",
}
