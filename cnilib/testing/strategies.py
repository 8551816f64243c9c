"""Hypothesis strategies for CNI documents: versions, addresses, results, configs, runtime configs.

Every strategy produces values that cnilib accepts and that survive a round trip through JSON:
parsing what ``to_json()``/``to_dict()`` wrote gives an equal object back. Use them to
property-test code that consumes cnilib's models::

    from hypothesis import given
    from cnilib.testing import strategies as cst

    @given(cst.results("1.0.0", min_ips=1))
    def test_my_ipam_consumer(result):
        ...

Hypothesis is a test extra of cnilib: this module imports it at the top and is meant to be
imported only where Hypothesis is installed (``import cnilib`` never imports it).

Shapes follow the spec of each version: 1.1-only fields (interface ``mtu``/``socketPath``/``pciID``,
route ``mtu``/``advmss``/``priority``/``table``/``scope``) appear only in 1.1.0 results;
``ips[].version`` is set (and agrees with the address) exactly in 0.3.x/0.4.0 results; 0.1.0/0.2.0
``ip4``/``ip6`` blocks carry routes of their own family with only ``dst``/``gw``. Optional strings
are either absent (None) or non-empty, because the spec's JSON omits empty strings.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeVar

from hypothesis import strategies as st

from cnilib import (
    DNS,
    SUPPORTED_VERSIONS,
    Interface,
    IPConfig,
    IPConfig020,
    NetworkConfigList,
    PluginConfig,
    Result020,
    Result040,
    Result100,
    Route,
    RuntimeConfig,
    parse_result,
)

__all__ = [
    "cidrs",
    "cni_arg_pairs",
    "container_ids",
    "dns",
    "ifnames",
    "interfaces",
    "ip_configs",
    "ips",
    "json_values",
    "network_config_dicts",
    "network_config_lists",
    "network_names",
    "plugin_config_dicts",
    "plugin_configs",
    "results",
    "routes",
    "runtime_configs",
    "versions",
]

Family = Literal[4, 6] | None
AnyResult = Result020 | Result040 | Result100

# Keys that PluginConfig reads and type-checks; plugin-specific keys are drawn outside this set.
_PLUGIN_KEYS = frozenset(
    {
        "type",
        "name",
        "cniVersion",
        "capabilities",
        "ipam",
        "dns",
        "args",
        "runtimeConfig",
        "prevResult",
    }
)
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


def _is_11(version: str) -> bool:
    return version == "1.1.0"


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
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="/:"),
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


def _dns_dict(d: DNS) -> dict[str, Any]:
    out: dict[str, Any] = Result100(cni_version="1.0.0", dns=d).to_dict()["dns"]
    return out


@functools.cache
def _shape(version: str) -> str:
    """The result shape (family) of ``version``, named by its newest version."""
    return parse_result({"cniVersion": version}).FAMILY


@functools.cache
def _extra_keys(reserved: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in reserved)
    return st.dictionaries(keys, _json_values(False, 8), max_size=4)


_PLUGIN_TYPES = _words(_LOWER, _LOWER + "0123456789-", 15)
_CAPS = st.dictionaries(st.sampled_from(_CAPABILITIES), st.booleans(), max_size=3)
_IPAM_TYPES = st.sampled_from(("host-local", "static", "dhcp"))
_ARGS = st.dictionaries(st.text(min_size=1, max_size=8), _json_values(False, 8), max_size=3)


@st.composite
def _plugin_config_dicts(draw: st.DrawFn, in_list: bool) -> dict[str, Any]:
    obj: dict[str, Any] = draw(_extra_keys(_PLUGIN_KEYS))
    obj["type"] = draw(_PLUGIN_TYPES)
    if not in_list:
        obj["name"] = draw(_NETWORK_NAMES)
        obj["cniVersion"] = draw(_VERSIONS)
    if draw(st.booleans()):
        obj["capabilities"] = draw(_CAPS)
    if draw(st.booleans()):
        ipam: dict[str, Any] = draw(_extra_keys(frozenset({"type"})))
        ipam["type"] = draw(_IPAM_TYPES)
        obj["ipam"] = ipam
    if draw(st.booleans()):
        obj["dns"] = _dns_dict(draw(_DNS))
    if draw(st.booleans()):
        obj["args"] = draw(_ARGS)
    # Keep the typed keys at varied positions: key order is part of "as written".
    items = list(obj.items())
    order = draw(st.permutations(range(len(items))))
    return {items[i][0]: items[i][1] for i in order}


_PLUGIN_DICTS = {flag: _plugin_config_dicts(flag) for flag in (False, True)}


def plugin_config_dicts(*, in_list: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """The JSON object of one plugin configuration, with plugin-specific keys of any JSON type.

    A standalone one (``in_list=False``) has a ``name`` and a ``cniVersion``, as a ``.conf`` file
    needs; one inside a list (``in_list=True``) has neither, as usual.
    """
    return _PLUGIN_DICTS[in_list]


def plugin_configs() -> st.SearchStrategy[PluginConfig]:
    """A parsed standalone plugin configuration (see :func:`plugin_config_dicts`)."""
    return _PLUGIN_CONFIGS


_PLUGIN_CONFIGS = _PLUGIN_DICTS[False].map(PluginConfig.from_dict)
_BOOL_SPELLINGS = (True, False, "true", "false", "True", "FALSE")
_VERSION_LISTS = st.lists(_VERSIONS | st.sampled_from(("1.2.0", "1.10.0", "2.0.0")), max_size=4)
_SWITCH = st.sampled_from(_BOOL_SPELLINGS)
_PLUGIN_LISTS = st.lists(_PLUGIN_DICTS[True], min_size=1, max_size=3)


@st.composite
def _network_config_dicts(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = draw(_extra_keys(_LIST_KEYS))
    obj["name"] = draw(_NETWORK_NAMES)
    if draw(st.integers(0, 4)):
        obj["cniVersion"] = draw(_VERSIONS)
    if draw(st.booleans()):
        obj["cniVersions"] = draw(_VERSION_LISTS)
    for key in ("disableCheck", "disableGC", "loadOnlyInlinedPlugins"):
        if draw(st.booleans()):
            obj[key] = draw(_SWITCH)
    obj["plugins"] = draw(_PLUGIN_LISTS)
    return obj


_NETWORK_DICTS = _network_config_dicts()


def network_config_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """The JSON object of a ``.conflist``: 1-3 plugins, optional ``cniVersions`` and switches.

    The switches (``disableCheck``...) are drawn as booleans or as the strings libcni accepts.
    ``cniVersions`` may name versions newer than 1.1.0, which version selection must skip.
    """
    return _NETWORK_DICTS


def network_config_lists(*, single: bool | None = False) -> st.SearchStrategy[NetworkConfigList]:
    """A parsed network configuration list.

    ``single=True`` gives a wrapped single-plugin ``.conf``, ``None`` either kind.
    """
    lists = _NETWORK_DICTS.map(NetworkConfigList.from_dict)
    singles = _PLUGIN_DICTS[False].map(NetworkConfigList.from_dict)
    if single is None:
        return lists | singles
    return singles if single else lists


def _arg_text(min_size: int) -> st.SearchStrategy[str]:
    return st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters=";=\0"),
        min_size=min_size,
        max_size=16,
    )


_UPPER = _LOWER.upper() + "_"
_ARG_PAIRS = st.lists(
    st.tuples(st.one_of(_words(_UPPER, _UPPER + "0123456789", 15), _arg_text(1)), _arg_text(0)),
    max_size=4,
)


def cni_arg_pairs() -> st.SearchStrategy[list[tuple[str, str]]]:
    """``CNI_ARGS`` pairs that pass :func:`cnilib.validate_cni_args` (no ``;``, ``=``, NUL)."""
    return _ARG_PAIRS


_CAP_ARGS = st.dictionaries(st.sampled_from(_CAPABILITIES), _json_values(False, 8), max_size=3)
_NETNS = st.just("") | _SANDBOXES


@st.composite
def _runtime_configs(draw: st.DrawFn) -> RuntimeConfig:
    pairs = draw(_ARG_PAIRS)
    args: Mapping[str, str] | Sequence[tuple[str, str]] = pairs
    if draw(st.booleans()):
        args = dict(pairs)
    return RuntimeConfig(
        container_id=draw(_CONTAINER_IDS),
        netns=draw(_NETNS),
        ifname=draw(_IFNAMES),
        args=args,
        capability_args=draw(_CAP_ARGS),
    )


_RUNTIME_CONFIGS = _runtime_configs()


def runtime_configs() -> st.SearchStrategy[RuntimeConfig]:
    """A runtime configuration that passes :meth:`cnilib.RuntimeConfig.validate`.

    ``args`` is given either as ordered pairs or as a mapping (both are accepted).
    """
    return _RUNTIME_CONFIGS
