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

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from hypothesis import strategies as st

from .._models import NetworkConfigList, PluginConfig, RuntimeConfig
from .._results import (
    DNS,
    Interface,
    IPConfig,
    IPConfig020,
    Result020,
    Result040,
    Result100,
    Route,
)
from .._version import SUPPORTED_VERSIONS
from .._version import family as _shape

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
    {"type", "name", "cniVersion", "capabilities", "ipam", "dns", "args", "runtimeConfig",
     "prevResult"}
)
_LIST_KEYS = frozenset(
    {"name", "cniVersion", "cniVersions", "plugins", "disableCheck", "disableGC",
     "loadOnlyInlinedPlugins"}
)
_CAPABILITIES = ("portMappings", "bandwidth", "ipRanges", "mac", "ips", "dns", "aliases")
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ALNUM = _LOWER + _LOWER.upper() + "0123456789"


# -- scalars ------------------------------------------------------------------------------------


def _words(first: Sequence[str], rest: str, max_rest: int) -> st.SearchStrategy[str]:
    # A prefix drawn from ``first`` followed by up to ``max_rest`` characters of ``rest``; much
    # cheaper to generate than st.from_regex.
    return st.builds(
        lambda a, b: a + b, st.sampled_from(first), st.text(alphabet=rest, max_size=max_rest)
    )


def versions() -> st.SearchStrategy[str]:
    """One of the spec versions cnilib supports (0.1.0 ... 1.1.0)."""
    return st.sampled_from(SUPPORTED_VERSIONS)


def _family(draw: st.DrawFn, fam: Family) -> Literal[4, 6]:
    if fam is None:
        return draw(st.sampled_from((4, 6)))
    return fam


@st.composite
def ips(draw: st.DrawFn, family: Family = None) -> str:
    """A bare IP address string (``10.1.2.3``, ``fd00::1``); ``family`` 4 or 6 fixes the family."""
    fam = _family(draw, family)
    return str(draw(st.ip_addresses(v=fam)))


@st.composite
def cidrs(draw: st.DrawFn, family: Family = None) -> str:
    """An address with a prefix length (``10.1.2.3/24``), host bits possibly set, as in results."""
    fam = _family(draw, family)
    address = draw(st.ip_addresses(v=fam))
    prefix = draw(st.integers(0, 32 if fam == 4 else 128))
    return f"{address}/{prefix}"


@st.composite
def _network_cidrs(draw: st.DrawFn, family: Family = None) -> str:
    # Route destinations are usually networks (host bits clear), default routes included.
    fam = _family(draw, family)
    default = "0.0.0.0/0" if fam == 4 else "::/0"
    cidr = draw(cidrs(fam))
    net = str(ipaddress.ip_interface(cidr).network)
    return draw(st.sampled_from((default, net, cidr)))


def container_ids() -> st.SearchStrategy[str]:
    """A container id libcni accepts: ``^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`` (up to 64 characters)."""
    return _words(_ALNUM, _ALNUM + "_.-", 63)


def network_names() -> st.SearchStrategy[str]:
    """A network name libcni accepts (same rule as container ids)."""
    return _words(_ALNUM, _ALNUM + "_.-", 31)


def _ifname_ok(name: str) -> bool:
    if any(c.isspace() for c in name):
        return False
    return 0 < len(name.encode()) <= 15 and name not in (".", "..")


def ifnames() -> st.SearchStrategy[str]:
    """An interface name that passes :func:`cnilib.validate_ifname` (at most 15 UTF-8 bytes).

    Mostly the usual ``eth0``/``net1``/``veth...``, sometimes any characters the rules allow.
    """
    usual = _words(("eth", "net", "veth", "lo", "br", "cni", "ens"), "0123456789abcdef", 8)
    odd = st.text(
        alphabet=st.characters(
            codec="utf-8",
            exclude_categories=("Cs", "Zs", "Zl", "Zp", "Cc"),
            exclude_characters="/:",
        ),
        min_size=1,
        max_size=15,
    )
    return st.one_of(usual, odd).filter(_ifname_ok)


def _macs() -> st.SearchStrategy[str]:
    return st.binary(min_size=6, max_size=6).map(lambda b: ":".join(f"{x:02x}" for x in b))


def _sandboxes() -> st.SearchStrategy[str]:
    return st.one_of(
        _words(("/run/netns/", "/var/run/netns/"), _LOWER + "0123456789-", 20),
        st.integers(1, 4_194_304).map(lambda pid: f"/proc/{pid}/ns/net"),
    )


def _pci_ids() -> st.SearchStrategy[str]:
    return st.tuples(
        st.integers(0, 0xFFFF), st.integers(0, 0xFF), st.integers(0, 0x1F), st.integers(0, 7)
    ).map(lambda t: f"{t[0]:04x}:{t[1]:02x}:{t[2]:02x}.{t[3]:x}")


T = TypeVar("T")


def _build(cls: Callable[..., T], **fields: Any) -> T:
    # The models' tuple fields take any iterable (attrs converter=tuple), which type checkers cannot
    # express for generic ``tuple``; building through ``**fields`` keeps this module strict-clean.
    return cls(**fields)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def _is_11(version: str) -> bool:
    return version == "1.1.0"


# -- result pieces ------------------------------------------------------------------------------


@st.composite
def routes(draw: st.DrawFn, version: str = "1.1.0", family: Family = None) -> Route:
    """A route valid in ``version``: the 1.1 fields (mtu, advmss, ...) only for 1.1.0.

    The gateway, when set, is of the destination's family.
    """
    fam = _family(draw, family)
    dst = draw(_network_cidrs(fam))
    gw = draw(_optional(ips(fam)))
    if not _is_11(version):
        return Route(dst=dst, gw=gw)
    return Route(
        dst=dst,
        gw=gw,
        mtu=draw(_optional(st.integers(68, 65535))),
        advmss=draw(_optional(st.integers(0, 65535))),
        priority=draw(_optional(st.integers(0, 2**32 - 1))),
        table=draw(_optional(st.integers(0, 2**32 - 1))),
        scope=draw(_optional(st.integers(0, 255))),
    )


@st.composite
def dns(draw: st.DrawFn) -> DNS:
    """DNS settings: nameservers of both families, domain, search list and resolver options."""
    label = _words(_LOWER, _LOWER + "0123456789-", 10)
    domains = st.lists(label, min_size=1, max_size=4).map(".".join)
    options = st.one_of(
        st.sampled_from(("rotate", "edns0", "single-request", "use-vc")),
        st.builds(lambda k, n: f"{k}:{n}", st.sampled_from(("ndots", "timeout", "attempts")),
                  st.integers(0, 15)),
    )
    return DNS(
        nameservers=draw(st.lists(ips(), max_size=3)),
        domain=draw(_optional(domains)),
        search=draw(st.lists(domains, max_size=3)),
        options=draw(st.lists(options, max_size=3)),
    )


@st.composite
def interfaces(draw: st.DrawFn, version: str = "1.1.0") -> Interface:
    """An interface entry valid in ``version`` (0.3.0+); mtu/socketPath/pciID only in 1.1.0."""
    name = draw(ifnames())
    mac = draw(_optional(_macs()))
    sandbox = draw(_optional(_sandboxes()))
    if not _is_11(version):
        return Interface(name=name, mac=mac, sandbox=sandbox)
    return Interface(
        name=name,
        mac=mac,
        sandbox=sandbox,
        mtu=draw(_optional(st.integers(68, 65535))),
        socket_path=draw(_optional(_words(("/run/vhost-user/", "/run/dpdk/"), _LOWER, 12)
                                   .map(lambda p: p + ".sock"))),
        pci_id=draw(_optional(_pci_ids())),
    )


@st.composite
def ip_configs(
    draw: st.DrawFn, version: str = "1.0.0", *, n_interfaces: int = 0, family: Family = None
) -> IPConfig:
    """An ``ips`` entry valid in ``version`` (0.3.0+).

    ``version`` ("4"/"6", agreeing with the address) is set for 0.3.x/0.4.0 and absent for 1.x; the
    interface index, when set, is below ``n_interfaces``.
    """
    fam = _family(draw, family)
    index = draw(_optional(st.integers(0, n_interfaces - 1))) if n_interfaces else None
    return IPConfig(
        address=draw(cidrs(fam)),
        gateway=draw(_optional(ips(fam))),
        interface=index,
        version=str(fam) if _shape(version) == "0.4.0" else None,
    )


@st.composite
def _ip020(draw: st.DrawFn, fam: Literal[4, 6]) -> IPConfig020:
    return _build(
        IPConfig020,
        ip=draw(cidrs(fam)),
        gateway=draw(_optional(ips(fam))),
        routes=draw(st.lists(routes("0.2.0", fam), max_size=3)),
    )


@st.composite
def results(draw: st.DrawFn, version: str | None = None, *, min_ips: int = 0) -> AnyResult:
    """A result of ``version`` (any supported version when None) in that version's shape.

    ``min_ips`` asks for at least that many addresses (at most 2 for 0.1.0/0.2.0, which hold one
    IPv4 and one IPv6 block).
    """
    ver = draw(versions()) if version is None else version
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
        return Result020(cni_version=ver, ip4=ip4, ip6=ip6, dns=draw(dns()))
    ifaces = draw(st.lists(interfaces(ver), max_size=3))
    addrs = draw(st.lists(ip_configs(ver, n_interfaces=len(ifaces)), min_size=min_ips, max_size=4))
    rts = draw(st.lists(routes(ver), max_size=4))
    fields: dict[str, Any] = {
        "cni_version": ver, "interfaces": ifaces, "ips": addrs, "routes": rts, "dns": draw(dns())
    }
    if shape == "0.4.0":
        return _build(Result040, **fields)
    return _build(Result100, **fields)


# -- JSON and configurations --------------------------------------------------------------------


def json_values(*, allow_nan: bool = False, max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, big and small ints, floats, unicode strings, arrays, objects.

    NaN and infinities are excluded unless ``allow_nan`` (JSON has none; Python's ``json`` takes
    them).
    """
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
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def _dns_dict(d: DNS) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if d.nameservers:
        out["nameservers"] = list(d.nameservers)
    if d.domain:
        out["domain"] = d.domain
    if d.search:
        out["search"] = list(d.search)
    if d.options:
        out["options"] = list(d.options)
    return out


def _extra_keys(reserved: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in reserved)
    return st.dictionaries(keys, json_values(), max_size=4)


@st.composite
def plugin_config_dicts(draw: st.DrawFn, *, in_list: bool = False) -> dict[str, Any]:
    """The JSON object of one plugin configuration, with plugin-specific keys of any JSON type.

    A standalone one (``in_list=False``) has a ``name``, as a ``.conf`` file needs to.
    """
    obj: dict[str, Any] = draw(_extra_keys(_PLUGIN_KEYS))
    obj["type"] = draw(_words(_LOWER, _LOWER + "0123456789-", 15))
    if not in_list:
        obj["name"] = draw(network_names())
        obj["cniVersion"] = draw(versions())
    if draw(st.booleans()):
        caps = st.sampled_from(_CAPABILITIES)
        obj["capabilities"] = draw(st.dictionaries(caps, st.booleans(), max_size=3))
    if draw(st.booleans()):
        ipam: dict[str, Any] = draw(_extra_keys(frozenset({"type"})))
        ipam["type"] = draw(st.sampled_from(("host-local", "static", "dhcp")))
        obj["ipam"] = ipam
    if draw(st.booleans()):
        obj["dns"] = _dns_dict(draw(dns()))
    if draw(st.booleans()):
        arg_keys = st.text(min_size=1, max_size=8)
        obj["args"] = draw(st.dictionaries(arg_keys, json_values(), max_size=3))
    # Keep the typed keys at varied positions: key order is part of "as written".
    items = list(obj.items())
    order = draw(st.permutations(range(len(items))))
    return {items[i][0]: items[i][1] for i in order}


def plugin_configs() -> st.SearchStrategy[PluginConfig]:
    """A parsed standalone plugin configuration (see :func:`plugin_config_dicts`)."""
    return plugin_config_dicts().map(PluginConfig.from_dict)


_BOOL_SPELLINGS = (True, False, "true", "false", "True", "FALSE")


@st.composite
def network_config_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """The JSON object of a ``.conflist``: 1-3 plugins, optional ``cniVersions`` and switches.

    The switches (``disableCheck``...) are drawn as booleans or as the strings libcni accepts.
    ``cniVersions`` may name versions newer than 1.1.0, which version selection must skip.
    """
    obj: dict[str, Any] = draw(_extra_keys(_LIST_KEYS))
    obj["name"] = draw(network_names())
    if draw(st.integers(0, 4)):
        obj["cniVersion"] = draw(versions())
    if draw(st.booleans()):
        newer = st.sampled_from(("1.2.0", "1.10.0", "2.0.0"))
        obj["cniVersions"] = draw(st.lists(versions() | newer, max_size=4))
    for key in ("disableCheck", "disableGC", "loadOnlyInlinedPlugins"):
        if draw(st.booleans()):
            obj[key] = draw(st.sampled_from(_BOOL_SPELLINGS))
    obj["plugins"] = draw(st.lists(plugin_config_dicts(in_list=True), min_size=1, max_size=3))
    return obj


@st.composite
def network_config_lists(draw: st.DrawFn, *, single: bool | None = False) -> NetworkConfigList:
    """A parsed network configuration list.

    ``single=True`` gives a wrapped single-plugin ``.conf``, ``None`` either kind.
    """
    one = draw(st.booleans()) if single is None else single
    if one:
        return NetworkConfigList.from_dict(draw(plugin_config_dicts()))
    return NetworkConfigList.from_dict(draw(network_config_dicts()))


def _arg_text(min_size: int) -> st.SearchStrategy[str]:
    return st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters=";=\0"),
        min_size=min_size,
        max_size=16,
    )


def cni_arg_pairs() -> st.SearchStrategy[list[tuple[str, str]]]:
    """``CNI_ARGS`` pairs that pass :func:`cnilib.validate_cni_args` (no ``;``, ``=``, NUL)."""
    upper = _LOWER.upper() + "_"
    keys = st.one_of(_words(upper, upper + "0123456789", 15), _arg_text(1))
    return st.lists(st.tuples(keys, _arg_text(0)), max_size=4)


@st.composite
def runtime_configs(draw: st.DrawFn) -> RuntimeConfig:
    """A runtime configuration that passes :meth:`cnilib.RuntimeConfig.validate`.

    ``args`` is given either as ordered pairs or as a mapping (both are accepted).
    """
    pairs = draw(cni_arg_pairs())
    args: Mapping[str, str] | Sequence[tuple[str, str]] = pairs
    if draw(st.booleans()):
        args = dict(pairs)
    cap_names = st.sampled_from(_CAPABILITIES)
    return RuntimeConfig(
        container_id=draw(container_ids()),
        netns=draw(st.just("") | _sandboxes()),
        ifname=draw(ifnames()),
        args=args,
        capability_args=draw(st.dictionaries(cap_names, json_values(), max_size=3)),
    )

