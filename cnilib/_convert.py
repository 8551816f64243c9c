"""The one cattrs converter of cnilib: every structure/unstructure hook lives here.

Structuring is strict (a JSON number is never a string, a boolean never a number) and address fields are
checked, so a malformed document fails with a JSON path (``bad address @ $.ips[0].address``) instead of
surfacing later inside a plugin. Unstructuring is hand-written per class: it follows the Go types' JSON
tags (key order, ``omitempty``) so what cnilib writes matches what libcni writes.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import BaseValidationError
from cattrs.gen import make_dict_structure_fn, override

from ._errors import ConfigError
from ._models import ErrorInfo, GCAttachment, VersionInfo
from ._results import (
    DNS,
    Interface,
    IPConfig,
    IPConfig020,
    Result020,
    Result040,
    Result100,
    Route,
)
from ._results import json_type as _kind

__all__ = ["CONVERTER", "CNIConverter", "make_converter"]

T = TypeVar("T")


class CNIConverter(cattrs.Converter):
    """A cattrs converter whose failures become :class:`~cnilib.ConfigError` with a JSON path."""

    def structure_checked(
        self,
        obj: Any,
        cl: type[T],
        *,
        error: type[ConfigError] = ConfigError,
        path: str = "$",
        source: str | None = None,
    ) -> T:
        """Structure ``obj`` as ``cl``; any failure raises ``error`` naming the first bad path."""
        try:
            return self.structure(obj, cl)
        except (BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
            messages = cattrs.transform_error(exc, path=path, format_exception=_format_exception)
            first = messages[0] if messages else f"invalid {cl.__name__} @ {path}"
            text, _, where = first.rpartition(" @ ")
            if not text:
                text, where = first, path
            where = json_path(where)
            more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
            raise error(text + more, path=where, source=source) from None


def _format_exception(exc: BaseException, _type: type | None) -> str:
    if isinstance(exc, KeyError):
        return "missing required key"
    if isinstance(exc, (TypeError, ValueError)) and exc.args and isinstance(exc.args[0], str):
        msg = exc.args[0]
        # attrs/cattrs internals phrase missing arguments in Python terms; say it in JSON terms.
        if "required positional argument" in msg or ("missing" in msg and "argument" in msg):
            return "missing required key"
        return msg
    return f"invalid value ({type(exc).__name__})"


def _strict_str(value: Any, _: Any) -> str:
    if type(value) is str:
        return value
    raise TypeError(f"expected string, got {_kind(value)}")


def _strict_int(value: Any, _: Any) -> int:
    if type(value) is int:
        return value
    # Go's decoder accepts 1.0 for an int field; so do we, but never 1.5 or true.
    if type(value) is float and value.is_integer():
        return int(value)
    raise TypeError(f"expected integer, got {_kind(value)}")


def _strict_bool(value: Any, _: Any) -> bool:
    if type(value) is bool:
        return value
    raise TypeError(f"expected boolean, got {_kind(value)}")


@functools.lru_cache(maxsize=4096)
def _check_cidr(value: str) -> str:
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        raise ValueError(f"invalid CIDR address {value!r}") from None
    if "/" not in value:
        raise ValueError(f"invalid CIDR address {value!r}: missing prefix length")
    return value


@functools.lru_cache(maxsize=4096)
def _check_ip(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"invalid IP address {value!r}") from None
    return value


def _cidr(value: Any, _: Any) -> str:
    return _check_cidr(_strict_str(value, None))


def _ip_or_none(value: Any, _: Any) -> str | None:
    if value is None or value == "":
        return None
    return _check_ip(_strict_str(value, None))


def _list_only(conv: cattrs.Converter, tp: Any) -> Callable[[Any, Any], Any]:
    inner = conv.get_structure_hook(tp)

    def hook(value: Any, t: Any) -> Any:
        # cattrs would happily iterate a string or a dict; JSON arrays only.
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected array, got {_kind(value)}")
        return inner(value, t)

    return hook


# -- unstructure: mirror the Go types' JSON tags -------------------------------------------------


def _dump_dns(d: DNS) -> dict[str, Any]:
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


def _dump_route(r: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"dst": r.dst}
    if r.gw:
        out["gw"] = r.gw
    if r.mtu is not None:
        out["mtu"] = r.mtu
    if r.advmss is not None:
        out["advmss"] = r.advmss
    if r.priority is not None:
        out["priority"] = r.priority
    if r.table is not None:
        out["table"] = r.table
    if r.scope is not None:
        out["scope"] = r.scope
    return out


def _dump_interface(i: Interface) -> dict[str, Any]:
    out: dict[str, Any] = {"name": i.name}
    if i.mac:
        out["mac"] = i.mac
    if i.mtu is not None:
        out["mtu"] = i.mtu
    if i.sandbox:
        out["sandbox"] = i.sandbox
    if i.socket_path:
        out["socketPath"] = i.socket_path
    if i.pci_id:
        out["pciID"] = i.pci_id
    return out


def _dump_ip(ip: IPConfig, with_version: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if with_version:
        out["version"] = ip.version or ("6" if ip.is_ipv6 else "4")
    if ip.interface is not None:
        out["interface"] = ip.interface
    out["address"] = ip.address
    if ip.gateway:
        out["gateway"] = ip.gateway
    return out


def _dump_ip020(block: IPConfig020) -> dict[str, Any]:
    out: dict[str, Any] = {"ip": block.ip}
    if block.gateway:
        out["gateway"] = block.gateway
    if block.routes:
        out["routes"] = [_dump_route(r) for r in block.routes]
    return out


def _dump_result020(res: Result020) -> dict[str, Any]:
    out: dict[str, Any] = {"cniVersion": res.cni_version}
    if res.ip4 is not None:
        out["ip4"] = _dump_ip020(res.ip4)
    if res.ip6 is not None:
        out["ip6"] = _dump_ip020(res.ip6)
    out["dns"] = _dump_dns(res.dns)
    return out


def _dump_current(res: Result040 | Result100, with_version: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"cniVersion": res.cni_version}
    if res.interfaces:
        out["interfaces"] = [_dump_interface(i) for i in res.interfaces]
    if res.ips:
        out["ips"] = [_dump_ip(ip, with_version) for ip in res.ips]
    if res.routes:
        out["routes"] = [_dump_route(r) for r in res.routes]
    out["dns"] = _dump_dns(res.dns)
    return out


def _strict_str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise TypeError(f"expected array, got {_kind(value)}")
    return tuple(_strict_str(v, None) for v in value)


def _structure_version_info(obj: Any, _: Any) -> VersionInfo:
    if not isinstance(obj, Mapping):
        raise TypeError(f"expected object, got {_kind(obj)}")
    return VersionInfo(
        cni_version=_strict_str(obj.get("cniVersion", ""), None),
        supported_versions=_strict_str_list(obj.get("supportedVersions", [])),
    )


def _is(expected: Any, tp: Any) -> bool:
    return bool(tp == expected)


def _object_only(fn: Callable[[Any, Any], T], fix: Callable[[T], T] | None = None) -> Callable[[Any, Any], T]:
    def hook(value: Any, t: Any) -> T:
        # cattrs' generated functions index whatever they get; a JSON object only, named so.
        if not isinstance(value, Mapping):
            raise TypeError(f"expected object, got {_kind(value)}")
        out = fn(value, t)
        return out if fix is None else fix(out)

    return hook


def _str_or_none(value: Any, _: Any) -> str | None:
    # Go's omitempty writes "" as absent; reading "" as absent keeps parse(dump(x)) == x.
    if value is None or value == "":
        return None
    return _strict_str(value, None)


def _fill_ip_versions(res: Result040) -> Result040:
    # 0.3.x/0.4.0 entries carry "version"; some plugins (loopback) omit it: derive it from the address.
    if all(ip.version is not None for ip in res.ips):
        return res
    ips = tuple(
        ip if ip.version is not None else attrs.evolve(ip, version="6" if ip.is_ipv6 else "4")
        for ip in res.ips
    )
    return attrs.evolve(res, ips=ips)


#: Python attribute names that the JSON spells differently, for error paths.
_JSON_NAMES = {
    "cni_version": "cniVersion",
    "socket_path": "socketPath",
    "pci_id": "pciID",
    "container_id": "containerID",
}
_PATH_SEGMENT = re.compile(r"\.(" + "|".join(_JSON_NAMES) + r")(?=$|[.\[])")


def json_path(path: str) -> str:
    """Rewrite a cattrs error path with the JSON key names (``.socket_path`` -> ``.socketPath``)."""
    return _PATH_SEGMENT.sub(lambda m: "." + _JSON_NAMES[m.group(1)], path)


def make_converter() -> CNIConverter:
    """Build the converter with every hook cnilib uses (called once, at first use).

    Order matters: cattrs captures element hooks when it generates a container's hook, so leaves
    (strict scalars, arrays of strings) are registered before the classes that hold them.
    """
    conv = CNIConverter(detailed_validation=True, forbid_extra_keys=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(bool, _strict_bool)

    def tuples(*types: Any) -> None:
        for tp in types:
            conv.register_structure_hook_func(functools.partial(_is, tp), _list_only(conv, tp))

    def gen(cl: type[T], fix: Callable[[T], T] | None = None, **overrides: Any) -> None:
        conv.register_structure_hook(cl, _object_only(make_dict_structure_fn(cl, conv, **overrides), fix))

    optional = override(struct_hook=_str_or_none)
    tuples(tuple[str, ...])
    gen(DNS, domain=optional)
    gen(Route, dst=override(struct_hook=_cidr), gw=override(struct_hook=_ip_or_none))
    gen(
        Interface,
        mac=optional,
        sandbox=optional,
        socket_path=override(rename="socketPath", struct_hook=_str_or_none),
        pci_id=override(rename="pciID", struct_hook=_str_or_none),
    )
    gen(IPConfig, address=override(struct_hook=_cidr), gateway=override(struct_hook=_ip_or_none))
    tuples(tuple[Route, ...], tuple[Interface, ...], tuple[IPConfig, ...])
    gen(IPConfig020, ip=override(struct_hook=_cidr), gateway=override(struct_hook=_ip_or_none))
    gen(Result020, cni_version=override(rename="cniVersion"))
    gen(Result040, _fill_ip_versions, cni_version=override(rename="cniVersion"))
    gen(Result100, cni_version=override(rename="cniVersion"))
    gen(ErrorInfo, cni_version=override(rename="cniVersion"))
    gen(GCAttachment, container_id=override(rename="containerID"))
    conv.register_structure_hook(VersionInfo, _structure_version_info)

    conv.register_unstructure_hook(DNS, _dump_dns)
    conv.register_unstructure_hook(Route, _dump_route)
    conv.register_unstructure_hook(Interface, _dump_interface)
    conv.register_unstructure_hook(Result020, _dump_result020)
    conv.register_unstructure_hook(Result040, lambda r: _dump_current(r, True))
    conv.register_unstructure_hook(Result100, lambda r: _dump_current(r, False))
    for cl in (VersionInfo, ErrorInfo, GCAttachment):
        conv.register_unstructure_hook(cl, lambda x: x.to_dict())
    return conv


CONVERTER: CNIConverter = make_converter()
