"""The strict scalar checks of the JSON models (a number is never a string, a boolean never a
number) and the address checks, free of attrs and cattrs: the codec's hooks and the command
line's fast path (``cnilib._cli._fast``) judge values with the same functions."""

from __future__ import annotations

import functools

from ._jsontext import json_type

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["check_cidr", "check_ip", "optional_str"]


def _strict_str(value: Any, _: Any = None) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected string, got {json_type(value)}")


def _strict_int(value: Any, _: Any = None) -> int:
    if type(value) is int:
        out = value
    # Go's decoder accepts 1.0 for an int field; so do we, but never 1.5 or true.
    elif type(value) is float and value.is_integer():
        out = int(value)
    else:
        raise TypeError(f"expected integer, got {json_type(value)}")
    if not -(2**63) <= out < 2**63:
        raise ValueError(f"integer {value} does not fit in 64 bits")
    return out


def _strict_bool(value: Any, _: Any = None) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected boolean, got {json_type(value)}")


def optional_str(value: Any) -> str | None:
    """A string field where ``""`` and ``null`` mean absent (Go's ``omitempty`` writes "" as absent)."""
    if value is None or value == "":
        return None
    return _strict_str(value)


# The common spellings are recognized without the ipaddress module (2 ms of a command-line run);
# each recognizer accepts only strings ipaddress accepts too (tests/test_lean.py), and anything
# else is left to ipaddress, so the answer is always ipaddress's.

_HEX = frozenset("0123456789abcdefABCDEF")


def _plain_ipv4(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(
        1 <= len(p) <= 3 and p.isascii() and p.isdigit() and (p[0] != "0" or p == "0") and int(p) <= 255
        for p in parts
    )


def _plain_ipv6(text: str) -> bool:
    head, sep, tail = text.partition("::")
    if "::" in tail or not 2 <= len(text) <= 39:
        return False
    groups = [g for part in (head, tail) if part for g in part.split(":")]
    if not all(1 <= len(g) <= 4 and _HEX.issuperset(g) for g in groups):
        return False
    return len(groups) <= 7 if sep else len(groups) == 8


def _plain_cidr(text: str) -> bool:
    address, sep, prefix = text.partition("/")
    if not sep or not (1 <= len(prefix) <= 3 and prefix.isascii() and prefix.isdigit()):
        return False
    if _plain_ipv4(address):
        return int(prefix) <= 32
    return _plain_ipv6(address) and int(prefix) <= 128


@functools.lru_cache(maxsize=4096)
def _cidr(value: str) -> str:
    if _plain_cidr(value):
        return value
    import ipaddress

    try:
        ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(f"invalid CIDR address {value!r}") from None
    if "/" not in value:
        raise ValueError(f"invalid CIDR address {value!r}: missing prefix length")
    return value


@functools.lru_cache(maxsize=4096)
def _ip(value: str) -> str:
    if _plain_ipv4(value) or _plain_ipv6(value):
        return value
    import ipaddress

    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"invalid IP address {value!r}") from None
    return value


def check_cidr(value: Any) -> str:
    """An address in CIDR form (``10.0.0.2/24``)."""
    return _cidr(_strict_str(value))


def check_ip(value: Any) -> str | None:
    """An optional IP address (``""``/``null`` mean absent)."""
    text = optional_str(value)
    return None if text is None else _ip(text)
