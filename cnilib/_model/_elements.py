"""The parts of a result: routes, DNS settings, interfaces and addresses (every shape uses them).

Their JSON (keys, Go's field order, omitempty, the check each value gets) is described once in
:mod:`cnilib._spec._shapes`: the codec parses by it and ``to_dict`` writes by it. Each class holds
one attribute per field of its description (``_SHAPE`` names it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import attrs

from .._spec._shapes import SHAPES, since_in, write
from .._spec._version import LATEST_VERSION

__all__ = ["DNS", "IPConfig", "IPConfig020", "Interface", "Route"]

_E = TypeVar("_E", "Route", "Interface")
#: The newest version whose ``ips`` entries carry ``version``: how ``IPConfig.to_dict`` writes one.
_WITH_IP_VERSION = "0.4.0"


def model_dict(shape: str, model: Any, version: str = LATEST_VERSION) -> dict[str, Any]:
    """The JSON object of a typed element or result (described by ``shape``) as ``version``'s
    results write it."""
    return write(SHAPES[shape], model, None, version)


def _basic(shape_name: str, model: _E, version: str) -> _E:
    # The model without the fields ``version`` does not have (back to their default, None).
    shape = SHAPES[shape_name]
    kept = since_in(shape, version)
    if all(getattr(model, f.name) is None for f in shape.fields if f not in kept):
        return model
    return type(model)(**{f.name: getattr(model, f.name) for f in kept})


def _tuple_of_str(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _routes(value: Iterable[Route]) -> tuple[Route, ...]:
    return tuple(value)


@attrs.frozen
class Route:
    """A route: destination CIDR and optional gateway; the other fields are spec 1.1 additions."""

    _SHAPE = "route"

    dst: str
    gw: str | None = None
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
        return _basic(self._SHAPE, self, "0.2.0")

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        return model_dict(self._SHAPE, self)


@attrs.frozen
class DNS:
    """DNS settings of a result or a plugin configuration."""

    _SHAPE = "dns"

    nameservers: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    domain: str | None = None
    search: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    options: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in SHAPES[self._SHAPE].fields)

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object (empty fields omitted)."""
        return model_dict(self._SHAPE, self)


@attrs.frozen
class Interface:
    """An interface created by a plugin (0.3.0+). ``sandbox`` is the netns path for container-side ones."""

    _SHAPE = "interface"

    name: str
    mac: str | None = None
    mtu: int | None = None
    sandbox: str | None = None
    socket_path: str | None = None
    pci_id: str | None = None

    def basic(self) -> Interface:
        """The interface without the 1.1-only fields (what 0.3.x/0.4.0 can express)."""
        return _basic(self._SHAPE, self, "0.4.0")

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        return model_dict(self._SHAPE, self)


@attrs.frozen
class IPConfig:
    """An ``ips`` entry (0.3.0+): address in CIDR form, optional gateway and interface index.

    ``version`` ("4" or "6") exists only in 0.3.x/0.4.0 results; it is derived from the address when absent.
    """

    _SHAPE = "ip"

    address: str
    gateway: str | None = None
    interface: int | None = None
    version: str | None = None

    @property
    def is_ipv6(self) -> bool:
        """True for an IPv6 address."""
        return ":" in self.address

    def to_dict(self, *, with_version: bool = False) -> dict[str, Any]:
        """The spec's JSON object; ``with_version`` writes the 0.3.x/0.4.0 ``version`` key first."""
        return model_dict(self._SHAPE, self, _WITH_IP_VERSION if with_version else LATEST_VERSION)


@attrs.frozen
class IPConfig020:
    """The ``ip4``/``ip6`` block of a 0.1.0/0.2.0 result."""

    _SHAPE = "ip020"

    ip: str
    gateway: str | None = None
    routes: tuple[Route, ...] = attrs.field(default=(), converter=_routes)

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        return model_dict(self._SHAPE, self)
