"""The elements of a result, described once: for each, its fields in Go's key order, with the JSON
key, when the key is left out, the spec version that brought it and the check its raw value gets.

Everything that reads or writes a result derives from these descriptions: the typed models'
parsing (:mod:`cnilib._model._codec`) and ``to_dict`` (:mod:`cnilib._model._elements`,
:mod:`cnilib._model._results`), the command line's fast path (:mod:`cnilib._spec._plain_results`)
and the Hypothesis strategies. They
find an element by name in :data:`SHAPES` when they use it (tests may swap an entry), and all write
through :func:`write`, so a field added here is read, checked and written the same way by all.
"""

from __future__ import annotations

from ._scalars import _strict_int, _strict_str, check_cidr, check_ip, optional_str
from ._version import SUPPORTED_VERSIONS, carries_ip_version, version_at_least

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    #: How a writer gets a field's value from its source (a typed model, a decoded object):
    #: checked, None when absent; for an element field, the sources of its element(s).
    Reader: TypeAlias = Callable[["Field", Any], Any]

__all__ = ["SHAPES", "Field", "Shape", "ip_family", "optional_int", "since_in", "write"]

#: When a key is left out of the JSON: never (required in the input too, unless ``default``
#: says what an absent one is), when None, or when empty (None, "", [], {}) as Go's omitempty.
NEVER, NONE, EMPTY = "never", "none", "empty"


class Field:
    """One key of an element.

    ``name`` is the typed model's attribute, ``key`` the JSON key. ``check`` reads a raw JSON value
    (raising TypeError/ValueError); for ``many`` it reads each item of the array. ``element`` names
    the shape of a nested element instead. ``since``: the spec version that brought the key (the
    strategies draw it from then on; converting to an older shape leaves it out). ``only``: the
    versions whose results write the key (all when None). ``fill`` gives the value written in place
    of an empty one, from what the element wrote.
    """

    __slots__ = ("check", "element", "fill", "key", "many", "name", "omit", "only", "since")

    def __init__(
        self,
        name: str,
        key: str | None = None,
        *,
        check: Callable[[Any], Any] | None = None,
        element: str | None = None,
        many: bool = False,
        omit: str = EMPTY,
        since: str = SUPPORTED_VERSIONS[0],
        only: Callable[[str], bool] | None = None,
        fill: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        self.name = name
        self.key = key or name
        self.check = check
        self.element = element
        self.many = many
        self.omit = omit
        self.since = since
        self.only = only
        self.fill = fill

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.key!r})"


class Shape:
    """An element: its fields in the order Go writes them."""

    __slots__ = ("fields", "name", "steps")

    def __init__(self, name: str, fields: tuple[Field, ...]) -> None:
        self.name = name
        self.fields = fields
        # What the writer reads of each field, unpacked once (it runs for every result written).
        self.steps = tuple((f, f.name, f.key, f.element, f.many, f.omit, f.only, f.fill) for f in fields)

    def field(self, name: str) -> Field:
        """The field whose attribute is ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def extended(self, *fields: Field) -> Shape:
        """A copy with ``fields`` appended (a later spec's keys)."""
        return Shape(self.name, self.fields + fields)


def ip_family(address: str) -> str:
    """The ``ips[].version`` of an address: "6" or "4"."""
    return "6" if ":" in address else "4"


def optional_int(value: Any) -> int | None:
    """An integer field where ``null`` means absent."""
    return None if value is None else _strict_int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else _strict_str(value)


def _written_family(written: dict[str, Any]) -> str:
    return ip_family(written["address"])


_SPEC_11 = "1.1.0"
_ROUTE_11 = ("mtu", "advmss", "priority", "table", "scope")

ROUTE = Shape(
    "route",
    (
        Field("dst", check=check_cidr, omit=NEVER),
        Field("gw", check=check_ip),
        *(Field(name, check=optional_int, omit=NONE, since=_SPEC_11) for name in _ROUTE_11),
    ),
)
DNS = Shape(
    "dns",
    (
        Field("nameservers", check=_strict_str, many=True),
        Field("domain", check=optional_str),
        Field("search", check=_strict_str, many=True),
        Field("options", check=_strict_str, many=True),
    ),
)
INTERFACE = Shape(
    "interface",
    (
        Field("name", check=_strict_str, omit=NEVER),
        Field("mac", check=optional_str),
        Field("mtu", check=optional_int, omit=NONE, since=_SPEC_11),
        Field("sandbox", check=optional_str),
        Field("socket_path", "socketPath", check=optional_str, since=_SPEC_11),
        Field("pci_id", "pciID", check=optional_str, since=_SPEC_11),
    ),
)
IP = Shape(
    "ip",
    (
        # Read (and checked) in every version; written in 0.3.x/0.4.0, derived when absent.
        Field("version", check=_opt_str, since="0.3.0", only=carries_ip_version, fill=_written_family),
        Field("interface", check=optional_int, omit=NONE),
        Field("address", check=check_cidr, omit=NEVER),
        Field("gateway", check=check_ip),
    ),
)
IP020 = Shape(
    "ip020",
    (
        Field("ip", check=check_cidr, omit=NEVER),
        Field("gateway", check=check_ip),
        Field("routes", element="route", many=True),
    ),
)
_CNI_VERSION = Field("cni_version", "cniVersion", check=_strict_str, omit=NEVER)
#: ``dns`` is written even when empty (an absent one reads as empty).
_DNS = Field("dns", element="dns", omit=NEVER)
RESULT = Shape(
    "result",
    (
        _CNI_VERSION,
        Field("interfaces", element="interface", many=True, since="0.3.0"),
        Field("ips", element="ip", many=True, since="0.3.0"),
        Field("routes", element="route", many=True, since="0.3.0"),
        _DNS,
    ),
)
RESULT020 = Shape(
    "result020",
    (
        _CNI_VERSION,
        Field("ip4", element="ip020", omit=NONE),
        Field("ip6", element="ip020", omit=NONE),
        _DNS,
    ),
)

#: Every element by name: what the readers and writers look up when they use one.
SHAPES: dict[str, Shape] = {s.name: s for s in (ROUTE, DNS, INTERFACE, IP, IP020, RESULT, RESULT020)}


def since_in(shape: Shape, version: str) -> tuple[Field, ...]:
    """The fields of ``shape`` that ``version`` has (by ``since``)."""
    return tuple(f for f in shape.fields if version_at_least(version, f.since))


def write(shape: Shape, source: Any, read: Reader | None, version: str) -> dict[str, Any]:
    """The JSON object of an element of ``version``'s results, as Go writes it: each field of
    ``shape`` that ``read`` finds in ``source`` (``None``: a typed model's attribute), in order,
    empty ones left out as ``omit`` says."""
    out: dict[str, Any] = {}
    filled: list[tuple[str, Callable[[dict[str, Any]], Any]]] = []
    for f, name, key, element, many, omit, only, fill in shape.steps:
        value = getattr(source, name) if read is None else read(f, source)
        if only is not None and not only(version):
            continue  # (read, and so checked, even where it is not written)
        if value is None:
            if element is not None and omit == NEVER:
                value = {}  # (an element that may be absent has only omittable fields: it writes {})
            elif fill is not None:
                filled.append((key, fill))  # its place in the order, filled once the rest is written
            elif omit != NEVER:
                continue
        elif element is not None:
            sub = SHAPES[element]
            value = (
                [write(sub, v, read, version) for v in value] if many else write(sub, value, read, version)
            )
        elif many:
            value = list(value)
        if not value and omit == EMPTY and value is not None:
            if fill is None:
                continue
            filled.append((key, fill))
            value = None
        out[key] = value
    for key, fill in filled:
        out[key] = fill(out)
    return out
