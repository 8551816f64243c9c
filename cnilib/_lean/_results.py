"""Results as validated JSON: the typed model's rules (strict scalars, address checks, Go's field
order and omitempty), applied to a decoded object without building the model.

:func:`lean_result` answers exactly what ``parse_result(obj).to_dict()`` would, or None when it is
not sure (a 0.1.0/0.2.0 result, a value the typed model would reject or read differently): the
caller then asks the typed model, which gives the answer or the error. ``tests/test_lean.py``
checks the agreement on generated results.
"""

from __future__ import annotations

from collections.abc import Mapping

from .._errors import CNIError, ResultError
from .._jsontext import decode_json
from .._scalars import _strict_int, _strict_str, check_cidr, check_ip, optional_str

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LeanResult", "lean_result", "lean_result_of"]

#: The versions whose shape this module writes (0.3.0+); older ones go to the typed model.
_CURRENT = frozenset(("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"))
_ROUTE_INTS = ("mtu", "advmss", "priority", "table", "scope")


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


def _array(obj: Mapping[str, Any], key: str) -> list[Any]:
    if key not in obj:
        return []
    value = obj[key]
    if type(value) is not list:
        raise _Unsure(key)
    return value


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Unsure("not an object")
    return value


def _opt_int(value: Any) -> int | None:
    return None if value is None else _strict_int(value)


def _dump(obj: dict[str, Any], version: str, *, with_version: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"cniVersion": version}
    interfaces = [_interface(_object(i)) for i in _array(obj, "interfaces")]
    ips = [_ip(_object(i), with_version) for i in _array(obj, "ips")]
    routes = [_route(_object(r)) for r in _array(obj, "routes")]
    if interfaces:
        out["interfaces"] = interfaces
    if ips:
        out["ips"] = ips
    if routes:
        out["routes"] = routes
    out["dns"] = dns_dict(_object(obj["dns"])) if "dns" in obj else {}
    return out


def _interface(value: dict[str, Any]) -> dict[str, Any]:
    if "name" not in value:
        raise _Unsure("name")
    out: dict[str, Any] = {"name": _strict_str(value["name"])}
    mac = optional_str(value.get("mac"))
    mtu = _opt_int(value.get("mtu"))
    sandbox = optional_str(value.get("sandbox"))
    socket_path = optional_str(value.get("socketPath"))
    pci_id = optional_str(value.get("pciID"))
    if mac:
        out["mac"] = mac
    if mtu is not None:
        out["mtu"] = mtu
    if sandbox:
        out["sandbox"] = sandbox
    if socket_path:
        out["socketPath"] = socket_path
    if pci_id:
        out["pciID"] = pci_id
    return out


def _ip(value: dict[str, Any], with_version: bool) -> dict[str, Any]:
    if "address" not in value:
        raise _Unsure("address")
    address = check_cidr(value["address"])
    gateway = check_ip(value.get("gateway"))
    interface = _opt_int(value.get("interface"))
    family = value.get("version")
    if family is not None:
        _strict_str(family)
    out: dict[str, Any] = {}
    if with_version:
        out["version"] = family or ("6" if ":" in address else "4")
    if interface is not None:
        out["interface"] = interface
    out["address"] = address
    if gateway:
        out["gateway"] = gateway
    return out


def _route(value: dict[str, Any]) -> dict[str, Any]:
    if "dst" not in value:
        raise _Unsure("dst")
    out: dict[str, Any] = {"dst": check_cidr(value["dst"])}
    gw = check_ip(value.get("gw"))
    if gw:
        out["gw"] = gw
    for key in _ROUTE_INTS:
        number = _opt_int(value.get(key))
        if number is not None:
            out[key] = number
    return out


def _strings(value: dict[str, Any], key: str) -> list[str]:
    return [_strict_str(item) for item in _array(value, key)]


def dns_dict(value: dict[str, Any]) -> dict[str, Any]:
    """A DNS object as the typed model writes it (empty fields left out)."""
    out: dict[str, Any] = {}
    nameservers = _strings(value, "nameservers")
    domain = optional_str(value.get("domain"))
    search = _strings(value, "search")
    options = _strings(value, "options")
    if nameservers:
        out["nameservers"] = nameservers
    if domain:
        out["domain"] = domain
    if search:
        out["search"] = search
    if options:
        out["options"] = options
    return out
