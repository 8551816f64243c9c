"""One merged, version-independent view of a container attached to several networks.

Every network's result is converted to the newest result shape first, so the caller never branches
on 0.2.0 versus 1.x shapes; addresses and routes become :mod:`ipaddress` objects. Interfaces are
keyed by name, as go-cni's ``Result.Interfaces``: the container-side ``eth0``, ``eth1``, ... and
``lo``, and the host-side interfaces plugins report (``sandbox`` is None for those).

An address whose result names no interface belongs to the interface cnilib asked that network to
create (go-cni files it under the default interface, ``eth0``, whichever network returned it).
"""

from __future__ import annotations

import ipaddress
import types
from collections.abc import Iterable, Mapping, Sequence
from typing import TypeAlias

import attrs

from .._base._errors import ResultError
from .._model._results import DNS, Interface, Result, Result100, Route

__all__ = [
    "AttachedAddress",
    "AttachedInterface",
    "AttachedRoute",
    "Attachment",
    "IPAddress",
    "IPInterface",
    "IPNetwork",
    "NetworkAttachment",
]

IPInterface: TypeAlias = "ipaddress.IPv4Interface | ipaddress.IPv6Interface"
IPAddress: TypeAlias = "ipaddress.IPv4Address | ipaddress.IPv6Address"
IPNetwork: TypeAlias = "ipaddress.IPv4Network | ipaddress.IPv6Network"

#: The shape every result is converted to (the newest: keeps MTU, PCI id and socket path).
_SHAPE = "1.1.0"


@attrs.frozen
class AttachedAddress:
    """An address on an interface, the gateway the plugin gave with it, and the network it came from."""

    address: IPInterface
    gateway: IPAddress | None
    network: str


@attrs.frozen
class AttachedInterface:
    """An interface a plugin reported, with the addresses assigned to it."""

    name: str
    network: str
    mac: str | None = None
    sandbox: str | None = None
    mtu: int | None = None
    pci_id: str | None = None
    socket_path: str | None = None
    addresses: tuple[AttachedAddress, ...] = ()

    @property
    def ips(self) -> tuple[IPInterface, ...]:
        """The addresses with their prefix length (``ipaddress`` interface objects)."""
        return tuple(a.address for a in self.addresses)

    @property
    def gateways(self) -> tuple[IPAddress, ...]:
        """The gateways given with the addresses, in order, without repeats."""
        seen: dict[IPAddress, None] = {}
        for a in self.addresses:
            if a.gateway is not None:
                seen.setdefault(a.gateway, None)
        return tuple(seen)

    @property
    def in_sandbox(self) -> bool:
        """True for an interface inside the container's namespace."""
        return bool(self.sandbox)


@attrs.frozen
class AttachedRoute:
    """A route a network's result asks for, with the interface cnilib created for that network."""

    destination: IPNetwork
    gateway: IPAddress | None
    network: str
    ifname: str
    route: Route


@attrs.frozen
class NetworkAttachment:
    """One network's part: its interface name, the plugin's result as returned and in the newest shape."""

    network: str
    ifname: str
    result: Result100
    raw_result: Result | None = attrs.field(default=None, eq=False, repr=False)


def _address(text: str, what: str) -> IPInterface:
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        raise ResultError(f"{what}: not an address in CIDR form: {text!r}") from None


def _gateway(text: str | None, what: str) -> IPAddress | None:
    if not text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise ResultError(f"{what}: not an IP address: {text!r}") from None


def newest_shape(result: Result | None, version: str) -> Result100:
    """``result`` in the newest shape; an empty result of ``version`` when there is none."""
    if result is None:
        return Result100(cni_version=version or _SHAPE)
    converted = result.convert_to(_SHAPE)
    if not isinstance(converted, Result100):  # pragma: no cover - convert_to keeps the family
        raise ResultError(f"cannot read a {type(result).__name__}")
    return converted


class _Builder:
    def __init__(self) -> None:
        self.interfaces: dict[str, AttachedInterface] = {}

    def interface(self, iface: Interface, network: str) -> None:
        old = self.interfaces.get(iface.name)
        # A container-side interface is never replaced by a host-side one of the same name.
        if old is not None and (old.in_sandbox or not iface.sandbox):
            return
        self.interfaces[iface.name] = AttachedInterface(
            name=iface.name,
            network=network,
            mac=iface.mac or None,
            sandbox=iface.sandbox or None,
            mtu=iface.mtu,
            pci_id=iface.pci_id,
            socket_path=iface.socket_path,
            addresses=old.addresses if old is not None else (),
        )

    def address(self, name: str, network: str, address: AttachedAddress) -> None:
        old = self.interfaces.get(name) or AttachedInterface(name=name, network=network)
        self.interfaces[name] = attrs.evolve(old, addresses=(*old.addresses, address))


def _owner(result: Result100, index: int | None, ifname: str, network: str, i: int) -> str:
    if index is None:
        return ifname
    if not 0 <= index < len(result.interfaces):
        raise ResultError(
            f"network {network!r}: ips[{i}] names interface {index}, "
            f"but the result has {len(result.interfaces)} interfaces",
            path=f"$.ips[{i}].interface",
        )
    return result.interfaces[index].name


def _merge_dns(parts: Iterable[DNS]) -> DNS:
    def union(values: Iterable[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(values))

    dns = [d for d in parts if d]
    return DNS(
        nameservers=union(n for d in dns for n in d.nameservers),
        domain=next((d.domain for d in dns if d.domain), None),
        search=union(s for d in dns for s in d.search),
        options=union(o for d in dns for o in d.options),
    )


@attrs.frozen
class Attachment:
    """A container attached to a set of networks: what :meth:`cnilib.Networks.setup` returns.

    ``interfaces["eth0"].ips`` are the addresses of the default network's interface; ``routes``
    and ``dns`` merge every network's (DNS: servers, search domains and options without repeats,
    the first domain); ``networks`` keeps each network's typed result in network order.
    """

    container_id: str
    netns: str
    networks: tuple[NetworkAttachment, ...]
    interfaces: Mapping[str, AttachedInterface]
    routes: tuple[AttachedRoute, ...]
    dns: DNS
    default_ifname: str = "eth0"

    @classmethod
    def from_results(
        cls,
        container_id: str,
        netns: str,
        results: Sequence[NetworkAttachment],
        *,
        default_ifname: str = "eth0",
    ) -> Attachment:
        """Merge per-network results (already in the newest shape) into one attachment."""
        builder = _Builder()
        routes: list[AttachedRoute] = []
        for part in results:
            net, res = part.network, part.result
            for iface in res.interfaces:
                builder.interface(iface, net)
            for i, ip in enumerate(res.ips):
                owner = _owner(res, ip.interface, part.ifname, net, i)
                what = f"network {net!r} ips[{i}]"
                builder.address(
                    owner,
                    net,
                    AttachedAddress(_address(ip.address, what), _gateway(ip.gateway, what), net),
                )
            for i, route in enumerate(res.routes):
                what = f"network {net!r} routes[{i}]"
                try:
                    dst = ipaddress.ip_network(route.dst, strict=False)
                except ValueError:
                    raise ResultError(f"{what}: not a destination in CIDR form: {route.dst!r}") from None
                routes.append(AttachedRoute(dst, _gateway(route.gw, what), net, part.ifname, route))
        return cls(
            container_id=container_id,
            netns=netns,
            networks=tuple(results),
            interfaces=types.MappingProxyType(builder.interfaces),
            routes=tuple(routes),
            dns=_merge_dns(part.result.dns for part in results),
            default_ifname=default_ifname,
        )

    @property
    def default(self) -> AttachedInterface | None:
        """The default network's interface (``eth0`` unless another prefix was chosen)."""
        return self.interfaces.get(self.default_ifname)

    @property
    def ips(self) -> tuple[IPInterface, ...]:
        """Every address of every interface, interface by interface in network order."""
        return tuple(a.address for iface in self.interfaces.values() for a in iface.addresses)

    @property
    def results(self) -> Mapping[str, Result100]:
        """Each network's result (newest shape) by network name."""
        return {part.network: part.result for part in self.networks}
