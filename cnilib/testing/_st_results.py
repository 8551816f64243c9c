"""Result strategies of :mod:`cnilib.testing.strategies`: routes, DNS, interfaces, IP
configurations and whole results of every version (re-exported by the public module)."""

from __future__ import annotations

import functools
from typing import Literal

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
    parse_result,
)

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
    _is_11,
    _lists,
    _optional,
    _route_dsts,
    _words,
)


@functools.cache
def _routes(version: str, fam: Family) -> st.SearchStrategy[Route]:
    if fam is None:
        return _routes(version, 4) | _routes(version, 6)
    if not _is_11(version):
        return st.builds(Route, dst=_route_dsts(fam), gw=_optional(_ips(fam)))
    return st.builds(
        Route,
        dst=_route_dsts(fam),
        gw=_optional(_ips(fam)),
        mtu=_MTUS,
        advmss=_optional(st.integers(0, 65535)),
        priority=_optional(st.integers(0, 2**32 - 1)),
        table=_optional(st.integers(0, 2**32 - 1)),
        scope=_optional(st.integers(0, 255)),
    )


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
_DNS = st.builds(
    lambda ns, dom, se, op: DNS(nameservers=ns, domain=dom, search=se, options=op),
    st.lists(_ips(None), max_size=3),
    _optional(_DOMAINS),
    st.lists(_DOMAINS, max_size=3),
    st.lists(_OPTIONS, max_size=3),
)


def dns() -> st.SearchStrategy[DNS]:
    """DNS settings: nameservers of both families, domain, search list and resolver options."""
    return _DNS


@functools.cache
def _interfaces(is_11: bool) -> st.SearchStrategy[Interface]:
    if not is_11:
        return st.builds(Interface, name=_IFNAMES, mac=_optional(_MACS), sandbox=_optional(_SANDBOXES))
    return st.builds(
        Interface,
        name=_IFNAMES,
        mac=_optional(_MACS),
        sandbox=_optional(_SANDBOXES),
        mtu=_MTUS,
        socket_path=_optional(_SOCKETS),
        pci_id=_optional(_PCI_IDS),
    )


def interfaces(version: str = "1.1.0") -> st.SearchStrategy[Interface]:
    """An interface entry valid in ``version`` (0.3.0+); mtu/socketPath/pciID only in 1.1.0."""
    return _interfaces(_is_11(version))


@functools.cache
def _ip_configs(with_version: bool, n_interfaces: int, fam: Family) -> st.SearchStrategy[IPConfig]:
    if fam is None:
        both = (_ip_configs(with_version, n_interfaces, f) for f in (4, 6))
        return st.one_of(*both)
    index = _optional(st.integers(0, n_interfaces - 1)) if n_interfaces > 0 else st.none()
    return st.builds(
        IPConfig,
        address=_cidrs(fam),
        gateway=_optional(_ips(fam)),
        interface=index,
        version=st.just(str(fam) if with_version else None),
    )


def ip_configs(
    version: str = "1.0.0", *, n_interfaces: int = 0, family: Family = None
) -> st.SearchStrategy[IPConfig]:
    """An ``ips`` entry valid in ``version`` (0.3.0+).

    ``version`` ("4"/"6", agreeing with the address) is set for 0.3.x/0.4.0 and absent for 1.x; the
    interface index, when set, is below ``n_interfaces``.
    """
    return _ip_configs(_shape(version) == "0.4.0", n_interfaces, family)


@functools.cache
def _ip020(fam: Literal[4, 6]) -> st.SearchStrategy[IPConfig020]:
    return st.builds(
        IPConfig020,
        ip=_cidrs(fam),
        gateway=_optional(_ips(fam)),
        routes=st.lists(_routes("0.2.0", fam), max_size=3),
    )


@st.composite
def results(draw: st.DrawFn, version: str | None = None, *, min_ips: int = 0) -> AnyResult:
    """A result of ``version`` (any supported version when None) in that version's shape.

    ``min_ips`` asks for at least that many addresses (at most 2 for 0.1.0/0.2.0, which hold one
    IPv4 and one IPv6 block).
    """
    ver = draw(_VERSIONS) if version is None else version
    shape = _shape(ver)
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
    ifaces = draw(_lists(_interfaces(_is_11(ver)), 0, 3))
    addrs = draw(_lists(_ip_configs(shape == "0.4.0", len(ifaces), None), min_ips, 4))
    rts = draw(_lists(_routes(ver, None), 0, 4))
    cls = Result040 if shape == "0.4.0" else Result100
    return cls(cni_version=ver, interfaces=ifaces, ips=addrs, routes=rts, dns=draw(_DNS))


@functools.cache
def _shape(version: str) -> str:
    """The result shape (family) of ``version``, named by its newest version."""
    return parse_result({"cniVersion": version}).FAMILY
