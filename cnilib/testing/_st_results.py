"""Result strategies of :mod:`cnilib.testing.strategies`: routes, DNS, interfaces, IP
configurations and whole results of every version (re-exported by the public module)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal

from hypothesis import strategies as st

from cnilib import (
    DNS,
    Interface,
    IPConfig,
    IPConfig020,
    Result020,
    Result040,
    Result100,
    Route,
)
from cnilib._spec._scalars import check_cidr, check_ip, optional_str
from cnilib._spec._shapes import SHAPES, Field, optional_int, since_in
from cnilib._spec._version import LATEST_VERSION, carries_ip_version
from cnilib._spec._version import family as shape_of

from ._st_values import (
    _IFNAMES,
    _LOWER,
    _MACS,
    _MTUS,
    _PCI_IDS,
    _SANDBOXES,
    _SOCKETS,
    _VERSIONS,
    AnyResult,
    Family,
    _cidrs,
    _ips,
    _lists,
    _optional,
    _route_dsts,
    _words,
)

# What each field of the element descriptions (cnilib._spec._shapes) is drawn from, given the
# address family (4, 6) its element is of; a field not named here is drawn by its check.
_Draw = Callable[[Literal[4, 6]], st.SearchStrategy[Any]]
_U32 = _optional(st.integers(0, 2**32 - 1))
_FIELDS: dict[tuple[str, str], _Draw] = {
    ("route", "dst"): _route_dsts,
    ("route", "mtu"): lambda _: _MTUS,
    ("route", "advmss"): lambda _: _optional(st.integers(0, 65535)),
    ("route", "priority"): lambda _: _U32,
    ("route", "table"): lambda _: _U32,
    ("route", "scope"): lambda _: _optional(st.integers(0, 255)),
    ("interface", "name"): lambda _: _IFNAMES,
    ("interface", "mac"): lambda _: _optional(_MACS),
    ("interface", "mtu"): lambda _: _MTUS,
    ("interface", "sandbox"): lambda _: _optional(_SANDBOXES),
    ("interface", "socket_path"): lambda _: _optional(_SOCKETS),
    ("interface", "pci_id"): lambda _: _optional(_PCI_IDS),
}
_BY_CHECK: dict[Callable[[Any], Any], _Draw] = {
    check_cidr: _cidrs,
    check_ip: lambda fam: _optional(_ips(fam)),
    optional_int: lambda _: _optional(st.integers(0, 2**31 - 1)),
    optional_str: lambda _: _optional(_words(_LOWER, _LOWER + "0123456789-", 12)),
}
_CLASSES: dict[str, type[Any]] = {
    "route": Route,
    "interface": Interface,
    "ip": IPConfig,
    "ip020": IPConfig020,
}


def _element(
    name: str, version: str, fam: Literal[4, 6], drawn: dict[str, st.SearchStrategy[Any]] | None = None
) -> Any:
    """The element ``name`` as ``version`` has it: every field its description gives that version
    (``drawn``: the strategies of fields that depend on more than the family)."""
    given = drawn or {}
    fields = since_in(SHAPES[name], version)
    strategies = {f.name: given[f.name] if f.name in given else _draw(name, f, fam) for f in fields}
    return st.builds(_CLASSES[name], **strategies)


def _draw(shape: str, field: Field, fam: Literal[4, 6]) -> st.SearchStrategy[Any]:
    assert field.check is not None  # (elements are drawn by the caller)
    named = _FIELDS.get((shape, field.name))
    return named(fam) if named is not None else _BY_CHECK[field.check](fam)


@functools.cache
def _routes(version: str, fam: Family) -> st.SearchStrategy[Route]:
    if fam is None:
        return _routes(version, 4) | _routes(version, 6)
    strategy: st.SearchStrategy[Route] = _element("route", version, fam)
    return strategy


def routes(version: str = "1.1.0", family: Family = None) -> st.SearchStrategy[Route]:
    """A route valid in ``version``: the 1.1 fields (mtu, advmss, ...) only for 1.1.0.

    The gateway, when set, is of the destination's family.
    """
    return _routes(version, family)


def _join_option(key: str, value: int) -> str:
    return f"{key}:{value}"


_LABELS = _words(_LOWER, _LOWER + "0123456789-", 10)
_DOMAINS = st.lists(_LABELS, min_size=1, max_size=4).map(".".join)
_OPTIONS = st.one_of(
    st.sampled_from(("rotate", "edns0", "single-request", "use-vc")),
    st.builds(_join_option, st.sampled_from(("ndots", "timeout", "attempts")), st.integers(0, 15)),
)
_DNS_FIELDS = {
    "nameservers": st.lists(_ips(None), max_size=3),
    "domain": _optional(_DOMAINS),
    "search": st.lists(_DOMAINS, max_size=3),
    "options": st.lists(_OPTIONS, max_size=3),
}
_DNS = st.builds(DNS, **{f.name: _DNS_FIELDS[f.name] for f in SHAPES["dns"].fields})


def dns() -> st.SearchStrategy[DNS]:
    """DNS settings: nameservers of both families, domain, search list and resolver options."""
    return _DNS


@functools.cache
def _interfaces(version: str) -> st.SearchStrategy[Interface]:
    strategy: st.SearchStrategy[Interface] = _element("interface", version, 4)
    return strategy


def interfaces(version: str = "1.1.0") -> st.SearchStrategy[Interface]:
    """An interface entry valid in ``version`` (0.3.0+); mtu/socketPath/pciID only in 1.1.0."""
    return _interfaces(version)


@functools.cache
def _ip_configs(with_version: bool, n_interfaces: int, fam: Family) -> st.SearchStrategy[IPConfig]:
    if fam is None:
        both = (_ip_configs(with_version, n_interfaces, f) for f in (4, 6))
        return st.one_of(*both)
    index = _optional(st.integers(0, n_interfaces - 1)) if n_interfaces > 0 else st.none()
    tag = st.just(str(fam) if with_version else None)
    strategy: st.SearchStrategy[IPConfig] = _element(
        "ip", LATEST_VERSION, fam, {"interface": index, "version": tag}
    )
    return strategy


def ip_configs(
    version: str = "1.0.0", *, n_interfaces: int = 0, family: Family = None
) -> st.SearchStrategy[IPConfig]:
    """An ``ips`` entry valid in ``version`` (0.3.0+).

    ``version`` ("4"/"6", agreeing with the address) is set for 0.3.x/0.4.0 and absent for 1.x; the
    interface index, when set, is below ``n_interfaces``.
    """
    return _ip_configs(carries_ip_version(version), n_interfaces, family)


@functools.cache
def _ip020(fam: Literal[4, 6]) -> st.SearchStrategy[IPConfig020]:
    routes_020 = st.lists(_routes("0.2.0", fam), max_size=3)
    strategy: st.SearchStrategy[IPConfig020] = _element("ip020", "0.2.0", fam, {"routes": routes_020})
    return strategy


@st.composite
def results(draw: st.DrawFn, version: str | None = None, *, min_ips: int = 0) -> AnyResult:
    """A result of ``version`` (any supported version when None) in that version's shape.

    ``min_ips`` asks for at least that many addresses (at most 2 for 0.1.0/0.2.0, which hold one
    IPv4 and one IPv6 block).
    """
    ver = draw(_VERSIONS) if version is None else version
    shape = shape_of(ver)
    if shape == "0.2.0":
        if min_ips > 2:
            raise ValueError("a 0.1.0/0.2.0 result holds at most two addresses")
        ip4 = draw(_optional(_ip020(4)))
        ip6 = draw(_optional(_ip020(6)))
        if (ip4 is not None) + (ip6 is not None) < min_ips:
            ip4 = ip4 or draw(_ip020(4))
        if (ip4 is not None) + (ip6 is not None) < min_ips:
            ip6 = ip6 or draw(_ip020(6))
        return Result020(cni_version=ver, ip4=ip4, ip6=ip6, dns=draw(_DNS))
    ifaces = draw(_lists(_interfaces(ver), 0, 3))
    addrs = draw(_lists(_ip_configs(carries_ip_version(ver), len(ifaces), None), min_ips, 4))
    rts = draw(_lists(_routes(ver, None), 0, 4))
    cls = Result040 if shape == "0.4.0" else Result100
    return cls(cni_version=ver, interfaces=ifaces, ips=addrs, routes=rts, dns=draw(_DNS))
