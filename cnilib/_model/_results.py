"""Typed CNI results for the three shapes of the spec, and conversion between every pair of versions.

* :class:`Result020` -- 0.1.0 and 0.2.0: ``ip4``/``ip6`` blocks, each with its own routes.
* :class:`Result040` -- 0.3.0, 0.3.1 and 0.4.0: ``interfaces``, ``ips`` (with ``version``), ``routes``.
* :class:`Result100` -- 1.0.0 and 1.1.0: as 0.4.0 without ``ips[].version``; 1.1.0 adds interface
  ``mtu``/``socketPath``/``pciID`` and route ``mtu``/``advmss``/``priority``/``table``/``scope``.

Conversion follows libcni's rules (see ``convert_to``), except that going down to 0.2.0 keeps the first
IPv4 *and* the first IPv6 address even when several of one family come first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, TypeAlias

import attrs

from .._base._errors import ResultError, VersionError
from .._spec._shapes import ip_family
from .._spec._version import FALLBACK_VERSION, SUPPORTED_VERSIONS, family
from ._codec import decode_json, json_type, structure
from ._elements import DNS, Interface, IPConfig, IPConfig020, Route, model_dict

__all__ = [
    "DNS",
    "AnyResult",
    "IPConfig",
    "IPConfig020",
    "Interface",
    "Result",
    "Result020",
    "Result040",
    "Result100",
    "Route",
    "decode_json",
    "json_type",
    "parse_result",
]


def _routes(value: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(value)


def _ips(value: Iterable[IPConfig]) -> tuple[IPConfig, ...]:
    return tuple(value)


def _interfaces(value: Iterable[Interface]) -> tuple[Interface, ...]:
    return tuple(value)


class Result:
    """Common behaviour of the three result shapes; use :func:`parse_result` to build one.

    ``ips``, ``routes``, ``interfaces`` and ``dns`` read the same way whatever the shape (a 0.2.0
    result derives them from its ``ip4``/``ip6`` blocks), typed with the 1.0 element types.
    """

    cni_version: str
    dns: DNS
    #: The shape (family) this class implements, named by its newest version.
    FAMILY: ClassVar[str]

    @property
    def ips(self) -> tuple[IPConfig, ...]:
        """Every address entry, as 1.0 ``ips`` entries."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every route."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides

    @property
    def interfaces(self) -> tuple[Interface, ...]:
        """Every interface (none for a 0.2.0 result)."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object: camelCase keys, empty optional fields omitted, ``dns`` always present."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides

    def to_json(self, *, indent: int | None = None) -> str:
        """The spec's JSON text (compact unless ``indent`` is given)."""
        if indent is None:
            return json.dumps(self.to_dict(), separators=(",", ":"))
        return json.dumps(self.to_dict(), indent=indent)

    def to_bytes(self) -> bytes:
        """Compact JSON as UTF-8 bytes."""
        return self.to_json().encode()

    def convert_to(self, version: str) -> Result:
        """Return this result as ``version`` (see the module docstring for what is lost going down)."""
        if version not in SUPPORTED_VERSIONS:
            raise VersionError(f"unsupported CNI result version {version!r}")
        if version == self.cni_version:
            return self
        return _convert_result(self, version)

    @property
    def all_addresses(self) -> tuple[str, ...]:
        """Every address in CIDR form, whatever the shape."""
        return tuple(ip.address for ip in self.ips)


@attrs.frozen
class Result020(Result):
    """A 0.1.0 or 0.2.0 result."""

    FAMILY: ClassVar[str] = "0.2.0"
    _SHAPE: ClassVar[str] = "result020"

    cni_version: str
    ip4: IPConfig020 | None = None
    ip6: IPConfig020 | None = None
    dns: DNS = attrs.field(factory=DNS)

    @property
    def ips(self) -> tuple[IPConfig, ...]:
        """The ip4 then the ip6 address that are set."""
        return tuple(
            IPConfig(address=block.ip, gateway=block.gateway)
            for block in (self.ip4, self.ip6)
            if block is not None
        )

    @property
    def routes(self) -> tuple[Route, ...]:
        """The ip4 block's routes, then the ip6 block's."""
        return tuple(r for block in (self.ip4, self.ip6) if block is not None for r in block.routes)

    @property
    def interfaces(self) -> tuple[Interface, ...]:
        """Always empty: 0.2.0 results do not describe interfaces."""
        return ()

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        return model_dict(self._SHAPE, self, self.cni_version)


@attrs.frozen
class _CurrentResult(Result):
    """The fields shared by the 0.3.0+ shapes (``interfaces``, ``ips``, ``routes``, ``dns``)."""

    _SHAPE: ClassVar[str] = "result"

    cni_version: str
    interfaces: tuple[Interface, ...] = attrs.field(default=(), converter=_interfaces)
    ips: tuple[IPConfig, ...] = attrs.field(default=(), converter=_ips)
    routes: tuple[Route, ...] = attrs.field(default=(), converter=_routes)
    dns: DNS = attrs.field(factory=DNS)


@attrs.frozen
class Result040(_CurrentResult):
    """A 0.3.0, 0.3.1 or 0.4.0 result (``ips`` entries carry ``version``)."""

    FAMILY: ClassVar[str] = "0.4.0"

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object (``ips`` entries with ``version``)."""
        return model_dict(self._SHAPE, self, self.cni_version)

    def _after_structure(self, _doc: Mapping[str, Any]) -> Result040:
        # 0.3.x/0.4.0 entries carry "version"; some plugins (loopback) omit it: derive it.
        if all(ip.version is not None for ip in self.ips):
            return self
        ips = tuple(
            ip if ip.version is not None else attrs.evolve(ip, version=ip_family(ip.address))
            for ip in self.ips
        )
        return attrs.evolve(self, ips=ips)


@attrs.frozen
class Result100(_CurrentResult):
    """A 1.0.0 or 1.1.0 result."""

    FAMILY: ClassVar[str] = "1.0.0"

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        return model_dict(self._SHAPE, self, self.cni_version)


AnyResult: TypeAlias = Result020 | Result040 | Result100

_CLASS_OF_FAMILY: dict[str, type[Result020] | type[Result040] | type[Result100]] = {
    "0.2.0": Result020,
    "0.4.0": Result040,
    "1.0.0": Result100,
}


def parse_result(data: bytes | str | Mapping[str, Any], *, version: str | None = None) -> AnyResult:
    """Parse a result from JSON bytes, text or a mapping, picking the shape from ``cniVersion``.

    ``version`` is used when the document has no ``cniVersion`` (libcni gives such a result the
    configuration's version); with neither, the result is taken as 0.1.0 as libcni does.
    """
    obj = _load_json_object(data, what="result")
    raw_version = obj.get("cniVersion")
    if raw_version is None or raw_version == "":
        raw_version = version or FALLBACK_VERSION
        obj = {**obj, "cniVersion": raw_version}
    if not isinstance(raw_version, str):
        raise ResultError("cniVersion must be a string", path="$.cniVersion")
    try:
        fam = family(raw_version)
    except VersionError:
        raise ResultError(f"unsupported CNI result version {raw_version!r}", path="$.cniVersion") from None
    result: AnyResult = structure(obj, _CLASS_OF_FAMILY[fam], error=ResultError)
    return result


def _load_json_object(data: bytes | str | Mapping[str, Any], *, what: str) -> Mapping[str, Any]:
    obj = (
        decode_json(data, what=what, error=ResultError)
        if isinstance(data, (bytes, bytearray, memoryview, str))
        else data
    )
    if not isinstance(obj, Mapping):
        raise ResultError(f"{what} must be a JSON object, not {json_type(obj)}", path="$")
    return obj


# -- conversion ---------------------------------------------------------------------------------


def _convert_result(res: Result, version: str) -> AnyResult:
    target = family(version)
    if isinstance(res, Result020):
        if target == "0.2.0":
            return attrs.evolve(res, cni_version=version)
        ips: list[IPConfig] = []
        routes: list[Route] = []
        for block in (res.ip4, res.ip6):
            if block is not None:
                ips.append(IPConfig(address=block.ip, gateway=block.gateway))
                routes.extend(block.routes)
        up = Result100(cni_version="1.0.0", ips=ips, routes=routes, dns=res.dns)
        return _convert_result(up, version) if version != "1.0.0" else up
    if isinstance(res, Result040):
        if target == "0.4.0":
            return attrs.evolve(res, cni_version=version)
        if target == "1.0.0":
            return Result100(
                cni_version=version,
                interfaces=res.interfaces,
                ips=[attrs.evolve(ip, version=None) for ip in res.ips],
                routes=res.routes,
                dns=res.dns,
            )
        return _down_to_020(res.ips, res.routes, res.dns, version)
    if isinstance(res, Result100):
        if target == "1.0.0":
            return attrs.evolve(res, cni_version=version)
        if target == "0.4.0":
            return Result040(
                cni_version=version,
                interfaces=[iface.basic() for iface in res.interfaces],
                ips=[attrs.evolve(ip, version=ip_family(ip.address)) for ip in res.ips],
                routes=res.routes,
                dns=res.dns,
            )
        return _down_to_020(res.ips, res.routes, res.dns, version)
    raise VersionError(f"unsupported CNI result type {type(res).__name__}")  # pragma: no cover


def _down_to_020(ips: tuple[IPConfig, ...], routes: tuple[Route, ...], dns: DNS, version: str) -> Result020:
    ip4: IPConfig | None = None
    ip6: IPConfig | None = None
    for ip in ips:
        if ip.is_ipv6:
            ip6 = ip6 or ip
        else:
            ip4 = ip4 or ip
    if ip4 is None and ip6 is None:
        raise ResultError("cannot convert: no valid IP addresses", path="$.ips")
    routes4 = tuple(r.basic() for r in routes if not r.is_ipv6)
    routes6 = tuple(r.basic() for r in routes if r.is_ipv6)
    return Result020(
        cni_version=version,
        ip4=None if ip4 is None else IPConfig020(ip=ip4.address, gateway=ip4.gateway, routes=routes4),
        ip6=None if ip6 is None else IPConfig020(ip=ip6.address, gateway=ip6.gateway, routes=routes6),
        dns=dns,
    )
