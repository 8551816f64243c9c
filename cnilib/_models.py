"""Typed views of the CNI documents a runtime handles: plugin configs, lists, runtime config, version info.

Configuration objects keep the mapping the user wrote (``raw``) beside the typed fields: plugin-specific
keys are opaque to cnilib and must reach the plugin unchanged, so stdin is always built from ``raw``.
"""

from __future__ import annotations

import builtins
import json
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._errors import ConfigError, ValidationError, VersionError
from ._results import DNS, decode_json
from ._results import json_type as _json_type
from ._validate import (
    validate_cni_args,
    validate_container_id,
    validate_ifname,
    validate_network_name,
)
from ._version import SUPPORTED_VERSIONS, parse_version

if TYPE_CHECKING:
    from ._capabilities import Capabilities

__all__ = [
    "ErrorInfo",
    "GCAttachment",
    "NetworkConfigList",
    "PluginConfig",
    "RuntimeConfig",
    "VersionInfo",
    "load_json_object",
]


def load_json_object(data: bytes | str, *, what: str, source: str | None = None) -> dict[str, Any]:
    """Decode JSON text that must be an object; errors are :class:`ConfigError` at ``$``."""
    try:
        obj = decode_json(data, what=what, error=ConfigError)
    except ConfigError as exc:
        raise ConfigError(exc.message, path="$", source=source) from None
    if not isinstance(obj, dict):
        raise ConfigError(f"{what} must be a JSON object, not {_json_type(obj)}", path="$", source=source)
    return obj


_MISSING = object()


def _get(
    obj: Mapping[str, Any],
    key: str,
    kind: type | tuple[type, ...],
    path: str,
    *,
    required: bool = False,
    source: str | None = None,
) -> Any:
    value = obj.get(key, _MISSING)
    if value is _MISSING or value is None:
        if required:
            raise ConfigError(f"missing required key {key!r}", path=f"{path}.{key}", source=source)
        return None
    # bool is an int subclass in Python but never a JSON number here.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in _as_tuple(kind))
        raise ConfigError(f"expected {names}, got {_json_type(value)}", path=f"{path}.{key}", source=source)
    return value


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


_KIND_NAMES = {str: "string", bool: "boolean", int: "integer", dict: "object", list: "array"}


def _get_bool(obj: Mapping[str, Any], key: str, path: str, *, source: str | None = None) -> bool:
    # libcni accepts the strings "true"/"false" (any case) for these list-level switches.
    value = _get(obj, key, (bool, str), path, source=source)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    lowered = str(value).lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ConfigError(
        f'expected a boolean or "true"/"false", got {value!r}', path=f"{path}.{key}", source=source
    )


def _check_version_string(value: str, path: str, source: str | None) -> None:
    try:
        parse_version(value)
    except VersionError as exc:
        raise ConfigError(str(exc), path=path, source=source) from None


@attrs.frozen(eq=True)
class PluginConfig:
    """One plugin's configuration: the typed fields cnilib reads plus ``raw``, everything as written."""

    type: str
    raw: Mapping[str, Any] = attrs.field(repr=False)
    name: str | None = None
    cni_version: str = ""
    capabilities: Mapping[str, bool] = attrs.field(factory=dict)
    ipam: Mapping[str, Any] | None = None
    dns: DNS | None = None
    args: Mapping[str, Any] | None = None
    runtime_config: Mapping[str, Any] | None = None
    prev_result: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], *, path: str = "$", source: str | None = None) -> PluginConfig:
        """Build from a decoded JSON object; ``path`` prefixes error locations (``$.plugins[1]``)."""
        if not isinstance(obj, Mapping):
            raise ConfigError(
                f"plugin configuration must be an object, not {_json_type(obj)}",
                path=path,
                source=source,
            )
        ptype = _get(obj, "type", str, path, required=True, source=source)
        if not ptype:
            raise ConfigError("plugin type must not be empty", path=f"{path}.type", source=source)
        version = _get(obj, "cniVersion", str, path, source=source) or ""
        if version:
            _check_version_string(version, f"{path}.cniVersion", source)
        caps = _get(obj, "capabilities", dict, path, source=source) or {}
        for cap, enabled in caps.items():
            if not isinstance(enabled, bool):
                raise ConfigError(
                    f"capability {cap!r} must be a boolean, got {_json_type(enabled)}",
                    path=f"{path}.capabilities.{cap}",
                    source=source,
                )
        ipam = _get(obj, "ipam", dict, path, source=source)
        if ipam is not None and "type" in ipam and not isinstance(ipam["type"], str):
            raise ConfigError(
                f"expected string, got {_json_type(ipam['type'])}",
                path=f"{path}.ipam.type",
                source=source,
            )
        dns_raw = _get(obj, "dns", dict, path, source=source)
        dns = None
        if dns_raw is not None:
            from ._convert import CONVERTER

            dns = CONVERTER.structure_checked(dns_raw, DNS, path=f"{path}.dns", source=source)
        return cls(
            type=ptype,
            raw=dict(obj),
            name=_get(obj, "name", str, path, source=source),
            cni_version=version,
            capabilities=dict(caps),
            ipam=ipam,
            dns=dns,
            args=_get(obj, "args", dict, path, source=source),
            runtime_config=_get(obj, "runtimeConfig", dict, path, source=source),
            prev_result=_get(obj, "prevResult", dict, path, source=source),
        )

    @classmethod
    def from_bytes(cls, data: bytes | str, *, source: str | None = None) -> PluginConfig:
        """Parse one plugin configuration from JSON."""
        return cls.from_dict(
            load_json_object(data, what="plugin configuration", source=source), source=source
        )

    def to_dict(self) -> dict[str, Any]:
        """A copy of the configuration exactly as written (plugin-specific keys included)."""
        return dict(self.raw)

    @property
    def enabled_capabilities(self) -> tuple[str, ...]:
        """Capabilities set to true, in the order written."""
        return tuple(cap for cap, on in self.capabilities.items() if on)


def _freeze_plugins(value: Iterable[PluginConfig]) -> tuple[PluginConfig, ...]:
    return tuple(value)


@attrs.frozen(eq=True)
class NetworkConfigList:
    """A configuration list (``.conflist``); a single ``.conf`` is wrapped as a one-plugin list.

    ``cni_version`` is the version the list runs at: with ``cniVersions``, the highest version cnilib
    supports among ``cniVersions`` and ``cniVersion``. ``bytes`` is what the result cache stores.
    """

    name: str
    cni_version: str
    plugins: tuple[PluginConfig, ...] = attrs.field(converter=_freeze_plugins)
    raw: Mapping[str, Any] = attrs.field(repr=False)
    bytes: builtins.bytes = attrs.field(repr=False)
    cni_versions: tuple[str, ...] = ()
    disable_check: bool = False
    disable_gc: bool = False
    load_only_inlined_plugins: bool = False
    source: str | None = attrs.field(default=None, eq=False)

    @classmethod
    def from_dict(
        cls,
        obj: Mapping[str, Any],
        *,
        data: builtins.bytes | None = None,
        source: str | None = None,
        allow_empty: bool = False,
    ) -> NetworkConfigList:
        """Build from a decoded object (a list, or a single plugin configuration that is wrapped).

        ``data`` is the exact text the object came from (kept for the cache); ``allow_empty`` lets a
        loader add drop-in plugins before the "no plugins" check.
        """
        if not isinstance(obj, Mapping):
            raise ConfigError(
                f"network configuration must be an object, not {_json_type(obj)}",
                path="$",
                source=source,
            )
        if "plugins" not in obj and "type" in obj:
            return cls._wrap_single(obj, source=source)
        name = _get(obj, "name", str, "$", required=True, source=source)
        _check_name(name, source)
        version = _get(obj, "cniVersion", str, "$", source=source) or ""
        if version:
            _check_version_string(version, "$.cniVersion", source)
        versions_raw = _get(obj, "cniVersions", list, "$", source=source)
        versions: tuple[str, ...] = ()
        if versions_raw is not None:
            for i, entry in enumerate(versions_raw):
                if not isinstance(entry, str):
                    raise ConfigError(
                        f"expected string, got {_json_type(entry)}",
                        path=f"$.cniVersions[{i}]",
                        source=source,
                    )
                _check_version_string(entry, f"$.cniVersions[{i}]", source)
            versions = tuple(versions_raw)
            version = _pick_version(versions, version)
        plugins_raw = _get(obj, "plugins", list, "$", source=source)
        plugins = tuple(
            PluginConfig.from_dict(p, path=f"$.plugins[{i}]", source=source)
            for i, p in enumerate(plugins_raw or ())
        )
        if not plugins and not allow_empty:
            raise ConfigError(f"network {name!r} has no plugins", path="$.plugins", source=source)
        if data is None:
            data = json.dumps(obj, separators=(",", ":")).encode()
        return cls(
            name=name,
            cni_version=version,
            plugins=plugins,
            raw=dict(obj),
            bytes=data,
            cni_versions=versions,
            disable_check=_get_bool(obj, "disableCheck", "$", source=source),
            disable_gc=_get_bool(obj, "disableGC", "$", source=source),
            load_only_inlined_plugins=_get_bool(obj, "loadOnlyInlinedPlugins", "$", source=source),
            source=source,
        )

    @classmethod
    def _wrap_single(cls, obj: Mapping[str, Any], *, source: str | None) -> NetworkConfigList:
        plugin = PluginConfig.from_dict(obj, source=source)
        name = _get(obj, "name", str, "$", required=True, source=source)
        _check_name(name, source)
        # libcni re-marshals a wrapped .conf with Go's encoder (sorted keys, Go escapes and numbers);
        # writing the same bytes keeps the cached config identical to what cnitool would cache.
        from ._gojson import go_dumps

        wrapped = {"cniVersion": plugin.cni_version, "name": name, "plugins": [dict(obj)]}
        data = go_dumps(wrapped, sort_keys=True, float64=True).encode()
        return cls(
            name=name,
            cni_version=plugin.cni_version,
            plugins=(plugin,),
            raw=wrapped,
            bytes=data,
            source=source,
        )

    @classmethod
    def from_bytes(
        cls, data: builtins.bytes | str, *, source: str | None = None, allow_empty: bool = False
    ) -> NetworkConfigList:
        """Parse a ``.conflist`` (or a single ``.conf``, wrapped) from JSON text."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        obj = load_json_object(raw, what="network configuration", source=source)
        return cls.from_dict(obj, data=raw, source=source, allow_empty=allow_empty)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], *, allow_empty: bool = False) -> NetworkConfigList:
        """Read a ``.conflist``, ``.conf`` or ``.json`` file."""
        fspath = os.fspath(path)
        try:
            with open(fspath, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ConfigError(f"cannot read network configuration: {exc.strerror}", source=fspath) from None
        return cls.from_bytes(data, source=fspath, allow_empty=allow_empty)

    def with_plugins(self, extra: Iterable[PluginConfig]) -> NetworkConfigList:
        """A copy with ``extra`` plugins appended (spec 1.1 drop-in plugin files)."""
        return attrs.evolve(self, plugins=self.plugins + tuple(extra))

    def to_dict(self) -> dict[str, Any]:
        """The list as written (a wrapped ``.conf`` gives the wrapping libcni makes)."""
        return dict(self.raw)


def _check_name(name: str, source: str | None) -> None:
    # The name becomes part of cache file paths: refuse it at load, not only when a verb runs.
    try:
        validate_network_name(name)
    except ValidationError as exc:
        raise ConfigError(str(exc), path="$.name", source=source) from None


def _pick_version(candidates: tuple[str, ...], current: str) -> str:
    # The highest of cniVersions (plus cniVersion) that cnilib supports; libcni would also take an
    # unknown version below its own newest, which no plugin result could then be converted to.
    usable = [v for v in (*candidates, *((current,) if current else ())) if v in SUPPORTED_VERSIONS]
    if not usable:
        return current
    best: str = max(usable, key=parse_version)
    return best


def _to_pairs(
    value: Mapping[str, str] | Iterable[tuple[str, str]] | None,
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    return tuple((k, v) for k, v in items)


def _to_dict(value: Mapping[str, Any] | Capabilities | None) -> Mapping[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    return value.to_dict()  # a typed Capabilities


@attrs.frozen
class RuntimeConfig:
    """Everything about one attachment that is not the network configuration.

    ``args`` become ``CNI_ARGS`` (ordered pairs or a mapping); ``capability_args`` (a mapping or a
    :class:`~cnilib.Capabilities`) are offered to plugins as ``runtimeConfig`` for the capabilities
    they enable.
    """

    container_id: str
    netns: str = ""
    ifname: str = "eth0"
    args: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_to_pairs)
    capability_args: Mapping[str, Any] = attrs.field(factory=dict, converter=_to_dict)

    def validate(self) -> None:
        """Raise :class:`~cnilib.ValidationError` for an unusable container id, ifname or CNI_ARGS."""
        validate_container_id(self.container_id)
        validate_ifname(self.ifname)
        validate_cni_args(self.args)

    @property
    def cni_args(self) -> str:
        """The ``CNI_ARGS`` value: ``K=V;K2=V2``."""
        return ";".join(f"{k}={v}" for k, v in self.args)


def _freeze_str(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class VersionInfo:
    """A plugin's answer to VERSION."""

    cni_version: str
    supported_versions: tuple[str, ...] = attrs.field(converter=_freeze_str)

    def supports(self, version: str) -> bool:
        """True if the plugin lists ``version`` (an empty version means 0.1.0)."""
        return (version or "0.1.0") in self.supported_versions

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object."""
        return {"cniVersion": self.cni_version, "supportedVersions": list(self.supported_versions)}


@attrs.frozen
class ErrorInfo:
    """The spec's error object printed by a failing plugin."""

    code: int
    msg: str
    details: str = ""
    cni_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object (``details`` omitted when empty)."""
        out: dict[str, Any] = {"cniVersion": self.cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out


@attrs.frozen
class GCAttachment:
    """One attachment that GC must keep: a container id and an interface name."""

    container_id: str
    ifname: str

    def to_dict(self) -> dict[str, str]:
        """The spec's ``cni.dev/valid-attachments`` entry."""
        return {"containerID": self.container_id, "ifname": self.ifname}
