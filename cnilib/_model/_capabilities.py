"""Typed capability arguments: what a runtime offers plugins as ``runtimeConfig``.

One frozen class per capability of the CNI conventions, with snake_case fields and the spec's
camelCase names on the wire (:meth:`Capabilities.to_dict`)::

    caps = Capabilities(
        port_mappings=[PortMapping(host_port=8080, container_port=80, protocol="tcp")],
        bandwidth=Bandwidth(ingress_rate=1_000_000, ingress_burst=100_000),
    )
    caps.to_dict()  # {"portMappings": [{"hostPort": 8080, ...}], "bandwidth": {...}}

``extra`` carries any other capability verbatim (the escape hatch). A :class:`Capabilities` is
accepted wherever a mapping of capability arguments is (``RuntimeConfig(capability_args=...)``).
:class:`DNSCapability` is the ``dns`` *capability* a runtime passes in; the DNS settings a plugin
returns in its result are :class:`cnilib.DNS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from .._base._errors import ValidationError

__all__ = [
    "Bandwidth",
    "Capabilities",
    "DNSCapability",
    "IPRange",
    "PortMapping",
]

Protocol = Literal["tcp", "udp", "sctp"]
_PROTOCOLS = ("tcp", "udp", "sctp")


def _port(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValidationError(f"{attribute.name} must be a port number 1-65535, got {value!r}")


def _protocol(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if value not in _PROTOCOLS:
        raise ValidationError(f"protocol must be one of {', '.join(_PROTOCOLS)}, got {value!r}")


def _non_negative(_inst: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{attribute.name} must be a non-negative integer, got {value!r}")


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        raise ValidationError(f"expected a list of strings, got the string {value!r}")
    return tuple(value)


def _drop_none(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    return {k: v for k, v in pairs if v is not None}


@attrs.frozen
class PortMapping:
    """``portMappings`` entry: forward ``host_port`` (on ``host_ip``, default all) to ``container_port``."""

    host_port: int = attrs.field(validator=_port)
    container_port: int = attrs.field(validator=_port)
    protocol: Protocol = attrs.field(default="tcp", validator=_protocol)
    host_ip: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The spec's object (``hostPort``, ``containerPort``, ``protocol``, ``hostIP``)."""
        return _drop_none(
            (
                ("hostPort", self.host_port),
                ("containerPort", self.container_port),
                ("protocol", self.protocol),
                ("hostIP", self.host_ip),
            )
        )


@attrs.frozen
class Bandwidth:
    """``bandwidth``: rates in bits per second, bursts in bits (the bandwidth plugin's units)."""

    ingress_rate: int | None = attrs.field(default=None, validator=_non_negative)
    ingress_burst: int | None = attrs.field(default=None, validator=_non_negative)
    egress_rate: int | None = attrs.field(default=None, validator=_non_negative)
    egress_burst: int | None = attrs.field(default=None, validator=_non_negative)

    def to_dict(self) -> dict[str, Any]:
        """The spec's object (``ingressRate``, ``ingressBurst``, ``egressRate``, ``egressBurst``)."""
        return _drop_none(
            (
                ("ingressRate", self.ingress_rate),
                ("ingressBurst", self.ingress_burst),
                ("egressRate", self.egress_rate),
                ("egressBurst", self.egress_burst),
            )
        )


@attrs.frozen
class IPRange:
    """One ``ipRanges`` range: a subnet, optionally narrowed, with an optional gateway."""

    subnet: str
    range_start: str | None = None
    range_end: str | None = None
    gateway: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The spec's object (``subnet``, ``rangeStart``, ``rangeEnd``, ``gateway``)."""
        return _drop_none(
            (
                ("subnet", self.subnet),
                ("rangeStart", self.range_start),
                ("rangeEnd", self.range_end),
                ("gateway", self.gateway),
            )
        )


@attrs.frozen
class DNSCapability:
    """The ``dns`` capability a runtime passes in (not the result's :class:`cnilib.DNS`)."""

    servers: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    searches: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    options: tuple[str, ...] = attrs.field(default=(), converter=_strings)

    def to_dict(self) -> dict[str, Any]:
        """The spec's object (``servers``, ``searches``, ``options``), empty lists omitted."""
        return {
            k: list(v)
            for k, v in (("servers", self.servers), ("searches", self.searches), ("options", self.options))
            if v
        }


def _port_mappings(value: Iterable[PortMapping] | None) -> tuple[PortMapping, ...] | None:
    return None if value is None else tuple(value)


def _ip_ranges(
    value: Iterable[Iterable[IPRange] | IPRange] | None,
) -> tuple[tuple[IPRange, ...], ...] | None:
    # The spec's ipRanges is a list of range *sets*; a flat list of ranges means one set each.
    if value is None:
        return None
    return tuple((item,) if isinstance(item, IPRange) else tuple(item) for item in value)


def _optional_strings(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if value is None else _strings(value)


def _extra(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen
class Capabilities:
    """Capability arguments for an attachment; ``None`` fields are not sent.

    Wire names: ``portMappings``, ``bandwidth``, ``ipRanges``, ``dns``, ``ips``, ``mac``,
    ``aliases``, ``cgroupPath``, ``deviceID``, ``infinibandGUID``; ``extra`` adds any other
    capability (and wins over a typed field of the same wire name).
    """

    port_mappings: tuple[PortMapping, ...] | None = attrs.field(default=None, converter=_port_mappings)
    bandwidth: Bandwidth | None = None
    ip_ranges: tuple[tuple[IPRange, ...], ...] | None = attrs.field(default=None, converter=_ip_ranges)
    dns: DNSCapability | None = None
    ips: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_strings)
    mac: str | None = None
    aliases: tuple[str, ...] | None = attrs.field(default=None, converter=_optional_strings)
    cgroup_path: str | None = None
    device_id: str | None = None
    infiniband_guid: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, converter=_extra)

    def to_dict(self) -> dict[str, Any]:
        """The capability arguments as the plugins receive them in ``runtimeConfig``."""
        out: dict[str, Any] = {}
        if self.port_mappings is not None:
            out["portMappings"] = [p.to_dict() for p in self.port_mappings]
        if self.bandwidth is not None:
            out["bandwidth"] = self.bandwidth.to_dict()
        if self.ip_ranges is not None:
            out["ipRanges"] = [[r.to_dict() for r in rset] for rset in self.ip_ranges]
        if self.dns is not None:
            out["dns"] = self.dns.to_dict()
        for key, value in (("ips", self.ips), ("aliases", self.aliases)):
            if value is not None:
                out[key] = list(value)
        scalars = (
            ("mac", self.mac),
            ("cgroupPath", self.cgroup_path),
            ("deviceID", self.device_id),
            ("infinibandGUID", self.infiniband_guid),
        )
        out.update({key: scalar for key, scalar in scalars if scalar is not None})
        out.update(self.extra)
        return out


def capability_args(value: Capabilities | Mapping[str, Any] | None) -> dict[str, Any]:
    """Capability arguments as a plain mapping (what :class:`~cnilib.RuntimeConfig` stores)."""
    if value is None:
        return {}
    if isinstance(value, Capabilities):
        return value.to_dict()
    return dict(value)
