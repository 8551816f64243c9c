"""What each known plugin leaves on the node for one attachment, and the request that removes it.

When the sandbox (the container's network namespace) is gone, the plugins' DEL gets an empty
``CNI_NETNS`` and most of them still undo what they did: host-local frees the address, portmap
removes its DNAT chain (from the capability arguments), firewall its rules (from prevResult),
bandwidth its ifb device. Some cannot: bridge and ptp find the addresses of their masquerade rules
on the container's interface, and skip that teardown without it; tuning restores (and only then
removes) its backup file inside the namespace. :func:`leftovers` is that knowledge, as a table of
the Debian plugins (1.1.1; checked by running them, see ``docs/behaviour.md``, "Node failures"):
given one plugin's configuration, the network name, the attachment and its cached result, what
the plugin may leave. ``cnilib doctor`` reuses it to find orphans, with the way back from a rule
to its attachment (:func:`comment_owner`) and the form of a per-attachment chain's name.

Each item says whether it is **owned**: identified by a name derived from the network and the
container id (a chain, an ifb device), by its MAC address (a veth) or by its content (a host-local
reservation), so that removing it can never touch another container's state. Only owned items are
removed by :func:`sweep_request_fields`' program (``cnilib/_engine/_sweep.py``, run like a plugin: through the
executor, where the plugins run, under the operation's deadline). Free of attrs and typing: DEL on
the command line's fast path uses it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping

from .._base._digest import sha512_digest
from ._leftover_items import Chain, File, Leftover, Link, Reservations, Rule

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "Chain",
    "File",
    "Leftover",
    "Link",
    "Reservations",
    "Rule",
    "chain_name",
    "comment_owner",
    "is_attachment_chain",
    "leftovers",
    "list_leftovers",
    "sweep_request_fields",
]

#: host-local's and tuning's default directories.
HOST_LOCAL_DIR = "/var/lib/cni/networks"
TUNING_DIR = "/run/cni/tuning"
_IPV4, _IPV6 = "ipv4", "ipv6"


def chain_name(network: str, container_id: str, prefix: str = "") -> str:
    """The plugins' ``utils.MustFormatChainNameWithPrefix``: ``CNI-`` + ``prefix`` + the SHA-512 of
    network name and container id in hex, cut to 28 characters (iptables' limit)."""
    return _hashed(28, f"CNI-{prefix}", network + container_id)


def _hashed(length: int, prefix: str, text: str) -> str:
    return (prefix + sha512_digest(text.encode()).hex())[:length]


#: What :func:`chain_name` puts after ``CNI-``: bridge's and ptp's masquerade chain, portmap's DNAT
#: chain and (older versions) its SNAT chain.
_CHAIN_PREFIXES = ("DN-", "SN-", "")
#: What precedes the plugins' ``utils.FormatComment`` on their rules (portmap's jumps).
_COMMENT_PREFIXES = ("dnat ", "snat ", "")
_HEX = frozenset("0123456789abcdef")


def is_attachment_chain(name: str) -> bool:
    """Whether ``name`` has the form of a :func:`chain_name` (one attachment's chain)."""
    if len(name) != 28 or not name.startswith("CNI-"):
        return False
    tail = name[4:]
    prefix = next(p for p in _CHAIN_PREFIXES if tail.startswith(p))
    return set(tail[len(prefix) :]) <= _HEX


def comment_owner(comment: str) -> tuple[str, str] | None:
    """The ``(network, container id)`` a plugin's rule comment names (``utils.FormatComment``:
    ``name: "<network>" id: "<id>"``, on bridge's and ptp's masquerade rules, after ``dnat `` on
    portmap's jumps), or None: the way back from a rule to the attachment it was made for, when
    nothing else records it (``cnilib doctor``'s orphans)."""
    for prefix in _COMMENT_PREFIXES:
        if comment.startswith(prefix + 'name: "'):
            network, sep, rest = comment[len(prefix) + 7 :].partition('" id: "')
            cid = rest[:-1]
            if sep and rest.endswith('"') and not {'"', "\\"} & set(network + cid):
                return network, cid
            return None
    return None


# -- reading a cached result (raw, of any version) -------------------------------------------------


def _addresses(result: Mapping[str, Any] | None) -> list[str]:
    """The result's addresses without prefix length (``ips``, or 0.2.0's ``ip4``/``ip6``)."""
    if not isinstance(result, Mapping):
        return []
    found: list[Any] = []
    ips = result.get("ips")
    if isinstance(ips, list):
        found += [ip.get("address") for ip in ips if isinstance(ip, Mapping)]
    for key in ("ip4", "ip6"):
        old = result.get(key)
        if isinstance(old, Mapping):
            found.append(old.get("ip"))
    return [a.partition("/")[0] for a in found if isinstance(a, str) and a]


def _family(address: str) -> str:
    return _IPV6 if ":" in address else _IPV4


def _host_interfaces(result: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(name, mac) of the result's interfaces on the host (no ``sandbox``)."""
    if not isinstance(result, Mapping) or not isinstance(result.get("interfaces"), list):
        return []
    out = []
    for itf in result["interfaces"]:
        if isinstance(itf, Mapping) and not itf.get("sandbox") and isinstance(itf.get("name"), str):
            mac = itf.get("mac")
            out.append((itf["name"], mac.lower() if isinstance(mac, str) else ""))
    return out


def sandbox_of(result: Mapping[str, Any] | None, ifname: str) -> str:
    """The netns path a cached result records (the ``sandbox`` of ``ifname``'s interface, else of
    the first interface that has one): the only record of it in entries libcni 1.1.2 wrote."""
    if not isinstance(result, Mapping) or not isinstance(result.get("interfaces"), list):
        return ""
    sandboxes = [
        (itf.get("name") == ifname, itf["sandbox"])
        for itf in result["interfaces"]
        if isinstance(itf, Mapping) and isinstance(itf.get("sandbox"), str) and itf["sandbox"]
    ]
    sandboxes.sort(key=lambda pair: not pair[0])
    return str(sandboxes[0][1]) if sandboxes else ""


# -- the table ------------------------------------------------------------------------------------


class _Attachment:
    """What every row of the table reads."""

    __slots__ = ("addresses", "container_id", "host_links", "ifname", "network")

    def __init__(self, network: str, container_id: str, ifname: str, result: Mapping[str, Any] | None):
        self.network = network
        self.container_id = container_id
        self.ifname = ifname
        self.addresses = _addresses(result)
        self.host_links = _host_interfaces(result)

    def families(self) -> list[str]:
        # Without a result the families are unknown: both (a family without the chain is no harm).
        found = {_family(a) for a in self.addresses}
        return [f for f in (_IPV4, _IPV6) if f in found] if found else [_IPV4, _IPV6]

    def sources(self, family: str) -> list[str]:
        return [a for a in self.addresses if _family(a) == family]


def _masquerade(conf: Mapping[str, Any], att: _Attachment, skip_links: Iterable[str]) -> list[Leftover]:
    """bridge's and ptp's: the ``ipMasq`` chain (``CNI-`` + hash) jumped to from POSTROUTING, and
    the host end of the veth (gone with the namespace, unless something still holds it)."""
    out: list[Leftover] = []
    layer3 = isinstance(conf.get("ipam"), Mapping) and bool(conf["ipam"].get("type"))
    if conf.get("ipMasq") is True and layer3:
        name = chain_name(att.network, att.container_id)
        out += [
            Chain(str(conf["type"]), f, "nat", name, ["POSTROUTING"], att.sources(f)) for f in att.families()
        ]
    skip = set(skip_links)
    out += [Link(str(conf["type"]), n, mac) for n, mac in att.host_links if n not in skip and mac]
    return out


def _bridge(conf: Mapping[str, Any], att: _Attachment) -> list[Leftover]:
    bridge = conf.get("bridge")
    return _masquerade(conf, att, [bridge if isinstance(bridge, str) and bridge else "cni0"])


def _ptp(conf: Mapping[str, Any], att: _Attachment) -> list[Leftover]:
    return _masquerade(conf, att, [])


def _portmap(_conf: Mapping[str, Any], att: _Attachment) -> list[Leftover]:
    # Per attachment: CNI-DN-<hash> from CNI-HOSTPORT-DNAT, in both families (portmap tears both
    # down), and CNI-SN-<hash> of older versions. CNI-HOSTPORT-* themselves are shared.
    out: list[Leftover] = []
    for family in (_IPV4, _IPV6):
        for prefix, parent in (("DN-", "CNI-HOSTPORT-DNAT"), ("SN-", "CNI-HOSTPORT-SNAT")):
            out.append(
                Chain("portmap", family, "nat", chain_name(att.network, att.container_id, prefix), [parent])
            )
    return out


def _firewall(conf: Mapping[str, Any], att: _Attachment) -> list[Leftover]:
    if conf.get("backend", "iptables") != "iptables":
        return []  # firewalld: a source address in a zone (firewalld's own state)
    out: list[Leftover] = []
    for address in att.addresses:
        family = _family(address)
        host = f"{address}/{128 if family == _IPV6 else 32}"
        related = ["-d", host, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]
        out += [
            Rule("firewall", family, "filter", "CNI-FORWARD", related),
            Rule("firewall", family, "filter", "CNI-FORWARD", ["-s", host, "-j", "ACCEPT"]),
        ]
    return out


def _bandwidth(_conf: Mapping[str, Any], att: _Attachment) -> list[Leftover]:
    name = _hashed(15, "bwp", att.network + att.container_id)
    macs = [mac for n, mac in att.host_links if n == name]
    return [Link("bandwidth", name, macs[0] if macs else "")]


def _tuning(conf: Mapping[str, Any], att: _Attachment) -> list[Leftover]:
    # The backup of what tuning changed, restored (then removed) only inside the namespace.
    directory = conf.get("dataDir")
    directory = directory if isinstance(directory, str) and directory else TUNING_DIR
    return [File("tuning", os.path.join(directory, f"{att.container_id}_{att.ifname}.json"))]


def _host_local(conf: Mapping[str, Any], att: _Attachment) -> list[Leftover]:
    directory = conf.get("dataDir")
    directory = directory if isinstance(directory, str) and directory else HOST_LOCAL_DIR
    return [Reservations("host-local", os.path.join(directory, att.network), att.container_id, att.ifname)]


# Types not listed leave nothing outside the namespace that their DEL cannot find: macvlan, ipvlan,
# vlan, loopback, sbr, vrf (inside the namespace only), static and dhcp (no state on the node),
# host-device (the kernel returns the device to the initial namespace when the namespace dies).
_PLUGINS = {
    "bridge": _bridge,
    "ptp": _ptp,
    "portmap": _portmap,
    "firewall": _firewall,
    "bandwidth": _bandwidth,
    "tuning": _tuning,
}
_IPAM = {"host-local": _host_local}


def leftovers(
    conf: Mapping[str, Any],
    network: str,
    container_id: str,
    ifname: str,
    result: Mapping[str, Any] | None,
) -> list[Leftover]:
    """What the plugin configured by ``conf`` (its configuration as written, with its ``ipam``)
    may leave on the node for the attachment, given its cached ``result`` (raw, any version; None
    when there is none). Unknown plugin types leave nothing known."""
    att = _Attachment(network, container_id, ifname, result)
    out: list[Leftover] = []
    row = _PLUGINS.get(str(conf.get("type")))
    if row is not None:
        out += row(conf, att)
    ipam = conf.get("ipam")
    if isinstance(ipam, Mapping):
        ipam_row = _IPAM.get(str(ipam.get("type")))
        if ipam_row is not None:
            out += ipam_row(ipam, att)
    return out


def list_leftovers(
    plugins: Iterable[Mapping[str, Any]],
    network: str,
    container_id: str,
    ifname: str,
    result: Mapping[str, Any] | None,
) -> list[Leftover]:
    """:func:`leftovers` of every plugin of a list, each item once, in the list's order."""
    seen: dict[Leftover, None] = {}
    for conf in plugins:
        for item in leftovers(conf, network, container_id, ifname, result):
            seen.setdefault(item)
    return list(seen)


# -- the request that removes them ----------------------------------------------------------------

#: The sweep program, run with the interpreter running cnilib, isolated (``-I``) and without site
#: packages (``-S``): it needs only the standard library.
SWEEP_PROGRAM = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_engine", "_sweep.py"
)


def _interpreter() -> tuple[str, str]:
    exe = sys.executable or "/usr/bin/python3"
    return os.path.dirname(exe), os.path.basename(exe)


def sweep_request_fields(
    items: Iterable[Leftover], *, network: str, container_id: str, ifname: str, search_path: Iterable[str]
) -> dict[str, Any] | None:
    """The fields of the request (:class:`~cnilib.ExecRequest`'s) that removes the owned
    ``items``, idempotently (nothing there is success); None when none is owned. Its stdin is JSON
    (what a dry run shows); its environment holds the DEL's CNI variables, for the logs."""
    from ._version import Verb
    from ._wire import cni_env, dumps

    owned = [item.to_dict() for item in items if item.owned]
    if not owned:
        return None
    directory, program = _interpreter()
    env = cni_env(Verb.DEL, container_id=container_id, ifname=ifname, search_path=tuple(search_path))
    return {
        "verb": Verb.DEL,
        "plugin": program,
        "search_path": (directory,),
        "env": env,
        "stdin": dumps({"cnilib": "remove leftovers", "network": network, "leftovers": owned}),
        "container_id": container_id,
        "cni_version": "",
        "args": ("-I", "-S", SWEEP_PROGRAM),
    }
