"""Results as validated JSON: the typed model's rules (strict scalars, address checks, Go's field
order and omitempty), applied to a decoded object without building the model.

:func:`lean_result` answers exactly what ``parse_result(obj).to_dict()`` would, or None when it is
not sure (a 0.1.0/0.2.0 result, a value the typed model would reject or read differently): the
caller then asks the typed model, which gives the answer or the error. ``tests/test_lean.py``
checks the agreement on generated results.
"""

from __future__ import annotations

from .._errors import CNIError, ResultError
from .._jsontext import decode_json
from .._scalars import _strict_int, _strict_str, check_cidr, check_ip, optional_str

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeAlias

    #: (key, the check that reads its value) of the fields an element writes, in Go's order.
    Checks: TypeAlias = tuple[tuple[str, Callable[[Any], Any]], ...]

__all__ = ["LeanResult", "cached_result", "lean_result", "lean_result_of"]

#: The versions whose shape this module writes (0.3.0+); older ones go to the typed model.
_CURRENT = frozenset(("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"))


class _Unsure(ValueError):
    """The value is not one this module can judge exactly: let the typed model decide."""


class LeanResult:
    """A result kept as the JSON object the typed model would write (``to_dict``)."""

    __slots__ = ("cni_version", "doc")

    def __init__(self, cni_version: str, doc: dict[str, Any]) -> None:
        self.cni_version = cni_version
        self.doc = doc

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object (a copy)."""
        return dict(self.doc)


def lean_result(data: bytes, version: str) -> LeanResult | None:
    """A plugin's ADD output as a result (``version``: the configuration's, for a result without
    ``cniVersion``), or None when the typed model must decide."""
    try:
        obj = decode_json(data, what="result", error=ResultError)
    except CNIError:
        return None
    return lean_result_of(obj, version or None)


def lean_result_of(obj: Any, version: str | None) -> LeanResult | None:
    """A decoded result object as a :class:`LeanResult`, or None (see :func:`lean_result`)."""
    if type(obj) is not dict:
        return None
    raw = obj.get("cniVersion")
    if raw is None or raw == "":
        raw = version or "0.1.0"
    if type(raw) is not str or raw not in _CURRENT:
        return None
    try:
        doc = _dump(obj, raw, with_version=not raw.startswith("1."))
    except (TypeError, ValueError, CNIError):  # (_Unsure is a ValueError)
        return None
    return LeanResult(raw, doc)


def cached_result(entry: Any, version: str) -> Any:
    """A cache entry's result in ``version``, as DEL sends it on (prevResult): read here when this
    module is sure, else ``entry.parsed_result(version)`` (the typed model's answer or error)."""
    quick = lean_result_of(entry.result, None)
    if quick is not None and quick.cni_version == version:
        return quick
    return entry.parsed_result(version)


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise _Unsure("not an array")
    return value


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Unsure("not an object")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _strict_int(value)


def _opt_str(value: Any) -> str | None:
    return None if value is None else _strict_str(value)


def _strings(value: Any) -> list[str]:
    return [_strict_str(item) for item in _list(value)]


def _fields(value: dict[str, Any], checks: Checks) -> dict[str, Any]:
    """The keys of ``value`` that ``checks`` name, each read by its check, in the checks' order;
    what is absent or reads as None or [] is left out (Go's omitempty, as the model writes it)."""
    out: dict[str, Any] = {}
    for key, check in checks:
        if key in value:
            read = check(value[key])
            if read is not None and read != []:
                out[key] = read
    return out


def _required(value: dict[str, Any], key: str) -> Any:
    if key not in value:
        raise _Unsure(key)
    return value[key]


def _dump(obj: dict[str, Any], version: str, *, with_version: bool) -> dict[str, Any]:
    checks: Checks = (
        ("interfaces", lambda items: [_interface(_object(i)) for i in _list(items)]),
        ("ips", lambda items: [_ip(_object(i), with_version) for i in _list(items)]),
        ("routes", lambda items: [_route(_object(r)) for r in _list(items)]),
    )
    out: dict[str, Any] = {"cniVersion": version, **_fields(obj, checks)}
    out["dns"] = dns_dict(_object(obj["dns"])) if "dns" in obj else {}
    return out


_INTERFACE: Checks = (
    ("mac", optional_str),
    ("mtu", _opt_int),
    ("sandbox", optional_str),
    ("socketPath", optional_str),
    ("pciID", optional_str),
)
_ROUTE: Checks = (
    ("gw", check_ip),
    *((key, _opt_int) for key in ("mtu", "advmss", "priority", "table", "scope")),
)
_DNS: Checks = (
    ("nameservers", _strings),
    ("domain", optional_str),
    ("search", _strings),
    ("options", _strings),
)


def _interface(value: dict[str, Any]) -> dict[str, Any]:
    return {"name": _strict_str(_required(value, "name")), **_fields(value, _INTERFACE)}


def _ip(value: dict[str, Any], with_version: bool) -> dict[str, Any]:
    address = check_cidr(_required(value, "address"))
    family = _opt_str(value.get("version"))  # read (and checked) in every version, written in 0.3/0.4
    out: dict[str, Any] = {"version": family or ("6" if ":" in address else "4")} if with_version else {}
    out.update(_fields(value, (("interface", _opt_int),)))
    out["address"] = address
    out.update(_fields(value, (("gateway", check_ip),)))
    return out


def _route(value: dict[str, Any]) -> dict[str, Any]:
    return {"dst": check_cidr(_required(value, "dst")), **_fields(value, _ROUTE)}


def dns_dict(value: dict[str, Any]) -> dict[str, Any]:
    """A DNS object as the typed model writes it (empty fields left out)."""
    return _fields(value, _DNS)
