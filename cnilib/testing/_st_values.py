"""The building blocks of :mod:`cnilib.testing.strategies`: versions, addresses, names, MACs and
other scalar values, and JSON values (re-exported by the public module)."""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Sequence
from typing import Any, Literal, TypeVar

from hypothesis import strategies as st

from cnilib import (
    SUPPORTED_VERSIONS,
    Result020,
    Result040,
    Result100,
)
from cnilib._spec._plugin import PLUGIN_KEYS

Family = Literal[4, 6] | None
AnyResult = Result020 | Result040 | Result100

# Keys that PluginConfig reads and type-checks; plugin-specific keys are drawn outside this set.
_PLUGIN_KEYS = PLUGIN_KEYS
_LIST_KEYS = frozenset(
    {
        "name",
        "cniVersion",
        "cniVersions",
        "plugins",
        "disableCheck",
        "disableGC",
        "loadOnlyInlinedPlugins",
    }
)
_CAPABILITIES = ("portMappings", "bandwidth", "ipRanges", "mac", "ips", "dns", "aliases")
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ALNUM = _LOWER + _LOWER.upper() + "0123456789"


# -- scalars ------------------------------------------------------------------------------------


def _words(first: Sequence[str], rest: str, max_rest: int) -> st.SearchStrategy[str]:
    # A prefix drawn from ``first`` followed by up to ``max_rest`` characters of ``rest``; much
    # cheaper to generate than st.from_regex.
    return st.builds(lambda a, b: a + b, st.sampled_from(first), st.text(alphabet=rest, max_size=max_rest))


def versions() -> st.SearchStrategy[str]:
    """One of the spec versions cnilib supports (0.1.0 ... 1.1.0)."""
    return _VERSIONS


_VERSIONS = st.sampled_from(SUPPORTED_VERSIONS)
T = TypeVar("T")


def _optional(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


# Strategies are built once and cached: constructing (and validating) strategy objects inside every
# draw would dominate the cost of an example.


@functools.cache
def _ips(fam: Family) -> st.SearchStrategy[str]:
    if fam is None:
        return _ips(4) | _ips(6)
    return st.ip_addresses(v=fam).map(str)


def ips(family: Family = None) -> st.SearchStrategy[str]:
    """A bare IP address string (``10.1.2.3``, ``fd00::1``); ``family`` 4 or 6 fixes the family."""
    return _ips(family)


def _join_cidr(address: str, prefix: int) -> str:
    return f"{address}/{prefix}"


@functools.cache
def _cidrs(fam: Family) -> st.SearchStrategy[str]:
    if fam is None:
        return _cidrs(4) | _cidrs(6)
    return st.builds(_join_cidr, _ips(fam), st.integers(0, 32 if fam == 4 else 128))


def cidrs(family: Family = None) -> st.SearchStrategy[str]:
    """An address with a prefix length (``10.1.2.3/24``), host bits possibly set, as in results."""
    return _cidrs(family)


def _route_dst(cidr: str, kind: int) -> str:
    # Route destinations are usually networks (host bits clear), default routes included.
    net = ipaddress.ip_interface(cidr).network
    if kind == 0:
        return "::/0" if net.version == 6 else "0.0.0.0/0"
    return str(net) if kind == 1 else cidr


@functools.cache
def _route_dsts(fam: Literal[4, 6]) -> st.SearchStrategy[str]:
    return st.builds(_route_dst, _cidrs(fam), st.integers(0, 2))


def container_ids() -> st.SearchStrategy[str]:
    """A container id libcni accepts: ``^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`` (up to 64 characters)."""
    return _CONTAINER_IDS


def network_names() -> st.SearchStrategy[str]:
    """A network name libcni accepts (same rule as container ids)."""
    return _NETWORK_NAMES


def _ifname_ok(name: str) -> bool:
    if any(c.isspace() for c in name):
        return False
    return 0 < len(name.encode()) <= 15 and name not in (".", "..")


def ifnames() -> st.SearchStrategy[str]:
    """An interface name that passes :func:`cnilib.validate_ifname` (at most 15 UTF-8 bytes).

    Mostly the usual ``eth0``/``net1``/``veth...``, sometimes any characters the rules allow.
    """
    return _IFNAMES


def _mac(raw: bytes) -> str:
    return ":".join(f"{x:02x}" for x in raw)


def _pci_id(domain: int, bus: int, dev: int, fn: int) -> str:
    return f"{domain:04x}:{bus:02x}:{dev:02x}.{fn:x}"


_CONTAINER_IDS = _words(_ALNUM, _ALNUM + "_.-", 63)
_NETWORK_NAMES = _words(_ALNUM, _ALNUM + "_.-", 31)
_IFNAMES = st.one_of(
    _words(("eth", "net", "veth", "lo", "br", "cni", "ens"), "0123456789abcdef", 8),
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters="/:"),
        min_size=1,
        max_size=15,
    ),
).filter(_ifname_ok)
_MACS = st.binary(min_size=6, max_size=6).map(_mac)
_SANDBOXES = st.one_of(
    _words(("/run/netns/", "/var/run/netns/"), _LOWER + "0123456789-", 20),
    st.integers(1, 4_194_304).map(lambda pid: f"/proc/{pid}/ns/net"),
)
_SOCKETS = _words(("/run/vhost-user/", "/run/dpdk/"), _LOWER, 12).map(lambda p: p + ".sock")
_PCI_IDS = st.builds(
    _pci_id, st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 0x1F), st.integers(0, 7)
)
_MTUS = _optional(st.integers(68, 65535))


# -- result pieces ------------------------------------------------------------------------------


@functools.cache
def _lists(elements: st.SearchStrategy[T], min_size: int, max_size: int) -> st.SearchStrategy[list[T]]:
    return st.lists(elements, min_size=min_size, max_size=max_size)


# -- JSON and configurations --------------------------------------------------------------------


@functools.cache
def _json_values(allow_nan: bool, max_leaves: int) -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=2**63, max_value=2**80),
        st.floats(allow_nan=allow_nan, allow_infinity=allow_nan),
        st.text(max_size=20),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=max_leaves,
    )


def json_values(*, allow_nan: bool = False, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, big and small ints, floats, unicode strings, arrays, objects.

    NaN and infinities are excluded unless ``allow_nan`` (JSON has none; Python's ``json`` takes
    them).
    """
    return _json_values(allow_nan, max_leaves)
