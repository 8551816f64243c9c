"""The entry format without the typed models: libcni's ``cachedInfo`` JSON, byte for byte as Go's
``json.Marshal`` writes it, and its strict reading.

Free of attrs: :class:`~cnilib.CacheEntry` and the command line's fast path (``cnilib._cli._fast``)
write and read entries with these functions.
"""

from __future__ import annotations

import binascii
import math
import sys
from collections.abc import Mapping

from .._base._errors import CacheError, ConfigError
from .._base._gojson import go_dumps, go_string
from .._spec._jsontext import decode_json

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

    from .._spec._seam import ConfList, Runtime

__all__ = ["CACHE_KIND", "INTENT_KIND", "entry_bytes", "entry_fields", "go_json_dumps", "parse_entry"]

#: The ``kind`` of every entry libcni (since v0.7) and cnilib write under ``results/``.
CACHE_KIND = "cniCacheV1"
#: The ``kind`` of cnilib's intent records under ``intents/`` (libcni never reads them).
INTENT_KIND = "cnilibIntentV1"


def go_json_dumps(value: Any) -> str:
    """Serialize like Go's ``json.Marshal`` of ``interface{}`` values (libcni's cache fields):
    compact, map keys sorted, ``<``/``>``/``&`` escaped, numbers as float64."""
    return go_dumps(value, sort_keys=True, float64=True)


def entry_fields(
    network: ConfList, runtime: Runtime, result: Mapping[str, Any] | None, kind: str
) -> dict[str, Any]:
    """The fields of the entry libcni writes after an ADD of ``network`` with ``runtime``
    (``result``: the JSON object of its result; None for an intent record)."""
    return {
        "network_name": network.name,
        "container_id": runtime.container_id,
        "ifname": runtime.ifname,
        "config": network.bytes,
        "netns": runtime.netns,
        "cni_args": runtime.args,
        "capability_args": runtime.capability_args,
        "result": result,
        "kind": kind,
    }


def entry_bytes(entry: Any) -> bytes:
    """The file content of ``entry`` (a :class:`~cnilib.CacheEntry` or the fast path's entry),
    byte for byte what libcni's ``json.Marshal(cachedInfo)`` produces."""
    parts = [
        '{"kind":',
        go_string(entry.kind),
        ',"containerId":',
        go_string(entry.container_id),
        ',"config":"',
        binascii.b2a_base64(entry.config, newline=False).decode("ascii"),
        '","ifName":',
        go_string(entry.ifname),
        ',"networkName":',
        go_string(entry.network_name),
    ]
    # Go's omitempty: empty strings, slices and maps (and nil maps) are left out.
    if entry.netns:
        parts += [',"netns":', go_string(entry.netns)]
    if entry.cni_args:
        parts += [',"cniArgs":', go_json_dumps([list(pair) for pair in entry.cni_args])]
    if entry.capability_args:
        parts += [',"capabilityArgs":', go_json_dumps(entry.capability_args)]
    if entry.result:
        parts += [',"result":', go_json_dumps(entry.result)]
    parts.append("}")
    return "".join(parts).encode("utf-8")


def _b64decode(text: str) -> bytes:
    # base64.b64decode(text, validate=True) without importing base64 (3.11+: the same call).
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    import base64  # pragma: no cover - Python 3.10

    return base64.b64decode(text, validate=True)  # pragma: no cover


def parse_entry(
    data: bytes, *, path: str | None, key: tuple[str, str, str] | None, kind: str
) -> dict[str, Any]:
    """The fields of a cache file's content (see :meth:`~cnilib.CacheEntry.from_json_bytes`)."""
    where = path or "cache entry"
    if not data.strip():
        raise CacheError(f"{where}: cache file is empty")
    try:
        obj = decode_json(data, what="cache file", error=ConfigError)
    except ConfigError as exc:
        raise CacheError(f"{where}: {exc.message}") from None
    if not isinstance(obj, dict):
        raise CacheError(f"{where}: cache file must hold a JSON object")
    _check_numbers(obj, where)
    if "kind" not in obj and isinstance(obj.get("cniVersion"), str) and kind == CACHE_KIND:
        if key is None:
            raise CacheError(f"{where}: legacy cache file (a bare result) does not name its attachment")
        return {
            "network_name": key[0],
            "container_id": key[1],
            "ifname": key[2],
            "config": b"",
            "result": obj,
            "legacy": True,
        }
    if obj.get("kind") != kind:
        raise CacheError(f"{where}: unsupported cache entry kind {obj.get('kind')!r} (expected {kind!r})")
    return {
        "network_name": _text(obj, "networkName", where),
        "container_id": _text(obj, "containerId", where),
        "ifname": _text(obj, "ifName", where),
        "config": _config(obj, where),
        "netns": _text(obj, "netns", where, required=False),
        "cni_args": _cni_args(obj, where),
        "capability_args": _object(obj, "capabilityArgs", where),
        "result": _object(obj, "result", where),
        "kind": kind,
    }


def _check_numbers(obj: object, where: str) -> None:
    """Reject NaN and Infinity anywhere (Go's decoder does; re-encoding them would fail later).

    Iterative: a file nested as deep as the decoder allows must not exhaust the stack here.
    """
    stack = [obj]
    while stack:
        value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise CacheError(f"{where}: cache file holds {value}, which is not a JSON number")
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _text(obj: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str:
    value = obj.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise CacheError(f"{where}: cache entry field {name!r} must be a string")
    return value


def _config(obj: Mapping[str, Any], where: str) -> bytes:
    raw = obj.get("config")
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise CacheError(f"{where}: cache entry field 'config' must be a base64 string")
    try:
        return _b64decode(raw)
    except (binascii.Error, ValueError):
        raise CacheError(f"{where}: cache entry field 'config' is not valid base64") from None


def _cni_args(obj: Mapping[str, Any], where: str) -> list[tuple[str, str]]:
    raw = obj.get("cniArgs")
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise CacheError(f"{where}: cache entry field 'cniArgs' must be an array")
    args: list[tuple[str, str]] = []
    for pair in raw:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise CacheError(f"{where}: cache entry field 'cniArgs' must hold [key, value] pairs")
        args.append((pair[0], pair[1]))
    return args


def _object(obj: Mapping[str, Any], name: str, where: str) -> Any:
    value = obj.get(name)
    if value is not None and not isinstance(value, dict):
        raise CacheError(f"{where}: cache entry field {name!r} must be an object")
    return value
