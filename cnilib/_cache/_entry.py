"""The entry format: libcni's ``cachedInfo`` JSON, byte for byte as Go's ``json.Marshal`` writes it.

The same format, with its own ``kind``, holds cnilib's intent records (an ADD that has started
but not finished): an intent is an entry without a result.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._errors import CacheError, ConfigError, ResultError
from .._gojson import go_dumps, go_string
from .._models import GCAttachment, NetworkConfigList, RuntimeConfig
from .._results import Result, decode_json, parse_result

__all__ = [
    "CACHE_KIND",
    "INTENT_KIND",
    "CacheEntry",
    "CacheProblem",
    "CacheScan",
    "go_json_dumps",
]

#: The ``kind`` of every entry libcni (since v0.7) and cnilib write under ``results/``.
CACHE_KIND = "cniCacheV1"
#: The ``kind`` of cnilib's intent records under ``intents/`` (libcni never reads them).
INTENT_KIND = "cnilibIntentV1"


def go_json_dumps(value: Any) -> str:
    """Serialize like Go's ``json.Marshal`` of ``interface{}`` values (libcni's cache fields):
    compact, map keys sorted, ``<``/``>``/``&`` escaped, numbers as float64."""
    return go_dumps(value, sort_keys=True, float64=True)


def _pairs(
    value: Iterable[Iterable[str]] | Mapping[str, str] | None,
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    out: list[tuple[str, str]] = []
    for item in items:
        key, val = item
        out.append((key, val))
    return tuple(out)


def _mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value) if value else {}


def _optional_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else dict(value)


@attrs.frozen
class CacheEntry:
    """One attachment's cache entry: what libcni's ``cachedInfo`` holds.

    ``config`` is the network configuration list's raw bytes, ``result`` the raw result object of
    the last ADD. ``legacy`` marks an old file holding only a bare result (no identity, no config).
    An intent record (``kind`` :data:`INTENT_KIND`) has the same fields and no result.
    """

    network_name: str
    container_id: str
    ifname: str
    config: bytes
    netns: str = ""
    cni_args: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    capability_args: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    result: Mapping[str, Any] | None = attrs.field(default=None, converter=_optional_mapping)
    kind: str = CACHE_KIND
    path: str | None = attrs.field(default=None, eq=False)
    legacy: bool = False

    @classmethod
    def create(
        cls,
        network: NetworkConfigList,
        runtime: RuntimeConfig,
        result: Result | Mapping[str, Any] | None,
        *,
        kind: str = CACHE_KIND,
    ) -> CacheEntry:
        """The entry libcni writes after a successful ADD of ``network`` with ``runtime``."""
        raw = result.to_dict() if isinstance(result, Result) else result
        return cls(
            network_name=network.name,
            container_id=runtime.container_id,
            ifname=runtime.ifname,
            config=network.bytes,
            netns=runtime.netns,
            cni_args=runtime.args,
            capability_args=runtime.capability_args,
            result=raw,
            kind=kind,
        )

    @property
    def key(self) -> tuple[str, str, str]:
        """``(network_name, container_id, ifname)``: the attachment the entry belongs to."""
        return (self.network_name, self.container_id, self.ifname)

    @property
    def attachment(self) -> GCAttachment:
        """The entry as a GC attachment (container id and interface name)."""
        return GCAttachment(container_id=self.container_id, ifname=self.ifname)

    @property
    def file_name(self) -> str:
        """The entry's file name under ``results/``: ``<network>-<containerID>-<ifName>``."""
        return f"{self.network_name}-{self.container_id}-{self.ifname}"

    @property
    def is_intent(self) -> bool:
        """True for an intent record: an ADD that started and did not finish."""
        return self.kind == INTENT_KIND

    def parsed_result(self, version: str | None = None) -> Result:
        """The cached result, typed, converted to ``version`` if given (as DEL and CHECK need).

        Raises :class:`~cnilib.CacheError` when the entry holds no result and
        :class:`~cnilib.ResultError` when the result is malformed or cannot be converted.
        """
        where = self.path or self.file_name
        if self.result is None:
            raise CacheError(f"cache entry {where} holds no result")
        try:
            parsed: Result = parse_result(self.result)
            if version is not None:
                parsed = parsed.convert_to(version)
        except ResultError as exc:
            raise ResultError(
                f"cached result is unusable: {exc.message}", path=exc.path, source=where
            ) from None
        except RecursionError:
            raise ResultError("cached result is nested too deeply", path="$", source=where) from None
        return parsed

    def runtime_config(self) -> RuntimeConfig:
        """The runtime configuration the attachment was made with (for GC's DEL and for CHECK)."""
        return RuntimeConfig(
            container_id=self.container_id,
            netns=self.netns,
            ifname=self.ifname,
            args=self.cni_args,
            capability_args=self.capability_args,
        )

    def to_json_bytes(self) -> bytes:
        """The file content, byte for byte what libcni's ``json.Marshal(cachedInfo)`` produces."""
        parts = [
            '{"kind":',
            go_string(self.kind),
            ',"containerId":',
            go_string(self.container_id),
            ',"config":"',
            base64.b64encode(self.config).decode("ascii"),
            '","ifName":',
            go_string(self.ifname),
            ',"networkName":',
            go_string(self.network_name),
        ]
        # Go's omitempty: empty strings, slices and maps (and nil maps) are left out.
        if self.netns:
            parts += [',"netns":', go_string(self.netns)]
        if self.cni_args:
            parts += [',"cniArgs":', go_json_dumps([list(pair) for pair in self.cni_args])]
        if self.capability_args:
            parts += [',"capabilityArgs":', go_json_dumps(self.capability_args)]
        if self.result:
            parts += [',"result":', go_json_dumps(self.result)]
        parts.append("}")
        return "".join(parts).encode("utf-8")

    @classmethod
    def from_json_bytes(
        cls,
        data: bytes,
        *,
        path: str | None = None,
        key: tuple[str, str, str] | None = None,
        kind: str = CACHE_KIND,
    ) -> CacheEntry:
        """Parse a cache file's content (an intent record's with ``kind=INTENT_KIND``).

        A legacy file (a bare result: ``cniVersion``, no ``kind``) needs ``key`` to know its owner.
        Raises :class:`~cnilib.CacheError` naming ``path`` for anything unusable, however corrupt
        (bad UTF-8, deep nesting, NaN).
        """
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
            return cls(
                network_name=key[0],
                container_id=key[1],
                ifname=key[2],
                config=b"",
                result=obj,
                path=path,
                legacy=True,
            )
        if obj.get("kind") != kind:
            raise CacheError(f"{where}: unsupported cache entry kind {obj.get('kind')!r} (expected {kind!r})")
        return cls(
            network_name=_text(obj, "networkName", where),
            container_id=_text(obj, "containerId", where),
            ifname=_text(obj, "ifName", where),
            config=_config(obj, where),
            netns=_text(obj, "netns", where, required=False),
            cni_args=_cni_args(obj, where),
            capability_args=_object(obj, "capabilityArgs", where),
            result=_object(obj, "result", where),
            kind=kind,
            path=path,
        )


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
        return base64.b64decode(raw, validate=True)
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


@attrs.frozen
class CacheProblem:
    """A cache file that could not be used, and why.

    ``foreign`` is True for a valid entry that belongs to another attachment whose file name happens
    to be the same (libcni's ``<network>-<id>-<ifname>`` is ambiguous when names contain ``-``):
    such a file must not be deleted on behalf of the attachment that was asked for.
    """

    path: str
    message: str
    foreign: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@attrs.frozen
class CacheScan:
    """What :meth:`ResultCache.scan` found: usable entries (by file name) and problem files."""

    entries: tuple[CacheEntry, ...]
    problems: tuple[CacheProblem, ...]
