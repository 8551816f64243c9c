"""The parts of a result: routes, DNS settings, interfaces and addresses (every shape uses them).

Each writes its JSON the way the Go type's tags do (field order, omitempty) in ``to_dict``, and
describes how it is read in attrs field metadata for the codec.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from ._codec import check_cidr, check_ip, json_field, optional_str

__all__ = ["DNS", "IPConfig", "IPConfig020", "Interface", "Route"]

_OPTIONAL = json_field(check=optional_str)


def _tuple_of_str(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _routes(value: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(value)


@attrs.frozen
class Route:
    """A route: destination CIDR and optional gateway; the other fields are spec 1.1 additions."""

    dst: str = attrs.field(metadata=json_field(check=check_cidr))
    gw: str | None = attrs.field(default=None, metadata=json_field(check=check_ip))
    mtu: int | None = None
    advmss: int | None = None
    priority: int | None = None
    table: int | None = None
    scope: int | None = None

    @property
    def is_ipv6(self) -> bool:
        """True when the destination is an IPv6 prefix."""
        return ":" in self.dst

    def basic(self) -> Route:
        """The route reduced to ``dst`` and ``gw`` (what 0.1.0/0.2.0 can express)."""
        if (
            self.mtu is None
            and self.advmss is None
            and self.priority is None
            and (self.table is None and self.scope is None)
        ):
            return self
        return Route(dst=self.dst, gw=self.gw)

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        out: dict[str, Any] = {"dst": self.dst}
        if self.gw:
            out["gw"] = self.gw
        for key in ("mtu", "advmss", "priority", "table", "scope"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


@attrs.frozen
class DNS:
    """DNS settings of a result or a plugin configuration."""

    nameservers: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    domain: str | None = attrs.field(default=None, metadata=_OPTIONAL)
    search: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    options: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)

    def __bool__(self) -> bool:
        return bool(self.nameservers or self.domain or self.search or self.options)

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object (empty fields omitted)."""
        out: dict[str, Any] = {}
        if self.nameservers:
            out["nameservers"] = list(self.nameservers)
        if self.domain:
            out["domain"] = self.domain
        if self.search:
            out["search"] = list(self.search)
        if self.options:
            out["options"] = list(self.options)
        return out


@attrs.frozen
class Interface:
    """An interface created by a plugin (0.3.0+). ``sandbox`` is the netns path for container-side ones."""

    name: str
    mac: str | None = attrs.field(default=None, metadata=_OPTIONAL)
    mtu: int | None = None
    sandbox: str | None = attrs.field(default=None, metadata=_OPTIONAL)
    socket_path: str | None = attrs.field(default=None, metadata=json_field("socketPath", check=optional_str))
    pci_id: str | None = attrs.field(default=None, metadata=json_field("pciID", check=optional_str))

    def basic(self) -> Interface:
        """The interface without the 1.1-only fields (what 0.3.x/0.4.0 can express)."""
        if self.mtu is None and self.socket_path is None and self.pci_id is None:
            return self
        return Interface(name=self.name, mac=self.mac, sandbox=self.sandbox)

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        out: dict[str, Any] = {"name": self.name}
        if self.mac:
            out["mac"] = self.mac
        if self.mtu is not None:
            out["mtu"] = self.mtu
        if self.sandbox:
            out["sandbox"] = self.sandbox
        if self.socket_path:
            out["socketPath"] = self.socket_path
        if self.pci_id:
            out["pciID"] = self.pci_id
        return out


@attrs.frozen
class IPConfig:
    """An ``ips`` entry (0.3.0+): address in CIDR form, optional gateway and interface index.

    ``version`` ("4" or "6") exists only in 0.3.x/0.4.0 results; it is derived from the address when absent.
    """

    address: str = attrs.field(metadata=json_field(check=check_cidr))
    gateway: str | None = attrs.field(default=None, metadata=json_field(check=check_ip))
    interface: int | None = None
    version: str | None = None

    @property
    def is_ipv6(self) -> bool:
        """True for an IPv6 address."""
        return ":" in self.address

    def to_dict(self, *, with_version: bool = False) -> dict[str, Any]:
        """The spec's JSON object; ``with_version`` writes the 0.3.x/0.4.0 ``version`` key first."""
        out: dict[str, Any] = {}
        if with_version:
            out["version"] = self.version or ("6" if self.is_ipv6 else "4")
        if self.interface is not None:
            out["interface"] = self.interface
        out["address"] = self.address
        if self.gateway:
            out["gateway"] = self.gateway
        return out


@attrs.frozen
class IPConfig020:
    """The ``ip4``/``ip6`` block of a 0.1.0/0.2.0 result."""

    ip: str = attrs.field(metadata=json_field(check=check_cidr))
    gateway: str | None = attrs.field(default=None, metadata=json_field(check=check_ip))
    routes: tuple[Route, ...] = attrs.field(default=(), converter=_routes)

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        out: dict[str, Any] = {"ip": self.ip}
        if self.gateway:
            out["gateway"] = self.gateway
        if self.routes:
            out["routes"] = [r.to_dict() for r in self.routes]
        return out
