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

from .._base._errors import ConfigError
from .._spec._confdir import read_config
from .._spec._plugin import PLUGIN_CHECKS, _go_bool, _network_name, _version_list, _version_string
from .._spec._validate import cni_args_text, validate_path, validate_runtime
from .._spec._version import SUPPORTED_VERSIONS, parse_version
from ._codec import decode_object, json_field, json_type, structure
from ._elements import DNS

if TYPE_CHECKING:
    from .._spec._seam import Runtime
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
    return decode_object(data, what=what, error=ConfigError, source=source)


# The field checks: each parses one raw JSON value or raises (a ConfigError path is relative to it).
_NOT_READ = json_field(omit=True)


def _plugin_key(key: str) -> dict[str, Any]:
    # A plugin key and its check, as the command line's loader checks it too.
    return json_field(key, check=PLUGIN_CHECKS[key])


@attrs.frozen(eq=True)
class PluginConfig:
    """One plugin's configuration: the typed fields cnilib reads plus ``raw``, everything as written."""

    type: str = attrs.field(metadata=_plugin_key("type"))
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, metadata=_NOT_READ)
    name: str | None = attrs.field(default=None, metadata=_plugin_key("name"))
    cni_version: str = attrs.field(default="", metadata=_plugin_key("cniVersion"))
    capabilities: Mapping[str, bool] = attrs.field(factory=dict, metadata=_plugin_key("capabilities"))
    ipam: Mapping[str, Any] | None = attrs.field(default=None, metadata=_plugin_key("ipam"))
    dns: DNS | None = None
    args: Mapping[str, Any] | None = attrs.field(default=None, metadata=_plugin_key("args"))
    runtime_config: Mapping[str, Any] | None = attrs.field(
        default=None, metadata=_plugin_key("runtimeConfig")
    )
    prev_result: Mapping[str, Any] | None = attrs.field(default=None, metadata=_plugin_key("prevResult"))

    def _after_structure(self, doc: Mapping[str, Any]) -> PluginConfig:
        return attrs.evolve(self, raw=dict(doc))

    @classmethod
    def from_dict(cls, obj: Mapping[str, Any], *, path: str = "$", source: str | None = None) -> PluginConfig:
        """Build from a decoded JSON object; ``path`` prefixes error locations (``$.plugins[1]``)."""
        if not isinstance(obj, Mapping):
            raise ConfigError(
                f"plugin configuration must be an object, not {json_type(obj)}", path=path, source=source
            )
        return structure(obj, cls, path=path, source=source)

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


def _freeze_versions(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(eq=True)
class NetworkConfigList:
    """A configuration list (``.conflist``); a single ``.conf`` is wrapped as a one-plugin list.

    ``cni_version`` is the version the list runs at: with ``cniVersions``, the highest version cnilib
    supports among ``cniVersions`` and ``cniVersion``. ``bytes`` is what the result cache stores.
    """

    name: str = attrs.field(metadata=json_field(check=_network_name))
    cni_version: str = attrs.field(default="", metadata=json_field("cniVersion", check=_version_string))
    plugins: tuple[PluginConfig, ...] = attrs.field(default=(), converter=_freeze_plugins)
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False, metadata=_NOT_READ)
    bytes: builtins.bytes = attrs.field(default=b"", repr=False, metadata=_NOT_READ)
    cni_versions: tuple[str, ...] = attrs.field(
        default=(), converter=_freeze_versions, metadata=json_field("cniVersions", check=_version_list)
    )
    disable_check: bool = attrs.field(default=False, metadata=json_field("disableCheck", check=_go_bool))
    disable_gc: bool = attrs.field(default=False, metadata=json_field("disableGC", check=_go_bool))
    load_only_inlined_plugins: bool = attrs.field(
        default=False, metadata=json_field("loadOnlyInlinedPlugins", check=_go_bool)
    )
    source: str | None = attrs.field(default=None, eq=False, metadata=_NOT_READ)

    def _after_structure(self, doc: Mapping[str, Any]) -> NetworkConfigList:
        version = self.cni_version
        if self.cni_versions:
            version = _pick_version(self.cni_versions, version)
        return attrs.evolve(self, raw=dict(doc), cni_version=version)

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
                f"network configuration must be an object, not {json_type(obj)}", path="$", source=source
            )
        if "plugins" not in obj and "type" in obj:
            return cls._wrap_single(obj, source=source)
        conf = structure(obj, cls, source=source)
        if not conf.plugins and not allow_empty:
            raise ConfigError(f"network {conf.name!r} has no plugins", path="$.plugins", source=source)
        if data is None:
            data = json.dumps(obj, separators=(",", ":")).encode()
        return attrs.evolve(conf, bytes=data, source=source)

    @classmethod
    def _wrap_single(cls, obj: Mapping[str, Any], *, source: str | None) -> NetworkConfigList:
        plugin = PluginConfig.from_dict(obj, source=source)
        if "name" not in obj or obj["name"] is None:
            raise ConfigError("missing required key 'name'", path="$.name", source=source)
        try:
            name = _network_name(obj["name"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc), path="$.name", source=source) from None
        # libcni re-marshals a wrapped .conf with Go's encoder (sorted keys, Go escapes and numbers);
        # writing the same bytes keeps the cached config identical to what cnitool would cache.
        from .._base._gojson import go_dumps

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
        fspath = validate_path(path, "configuration file")
        data = read_config(fspath, "network configuration", permissions=False)
        return cls.from_bytes(data, source=fspath, allow_empty=allow_empty)

    def with_plugins(self, extra: Iterable[PluginConfig]) -> NetworkConfigList:
        """A copy with ``extra`` plugins appended (spec 1.1 drop-in plugin files)."""
        return attrs.evolve(self, plugins=self.plugins + tuple(extra))

    def to_dict(self) -> dict[str, Any]:
        """The list as written (a wrapped ``.conf`` gives the wrapping libcni makes)."""
        return dict(self.raw)


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

    What every verb refuses is refused here, at construction, with the
    :class:`~cnilib.ValidationError` :meth:`validate` raises: an invalid container id or interface
    name, a netns path that is not absolute (:class:`~cnilib.NetnsPathError`, which points a name
    at ``/run/netns/NAME``) or holds a control character, an unusable ``CNI_ARGS`` entry or
    capability argument. An empty netns is allowed (DEL, GC and STATUS run without one).
    """

    container_id: str
    netns: str = ""
    ifname: str = "eth0"
    args: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_to_pairs)
    capability_args: Mapping[str, Any] = attrs.field(factory=dict, converter=_to_dict)

    def __attrs_post_init__(self) -> None:
        validate_runtime(self)

    def validate(self) -> None:
        """Raise :class:`~cnilib.ValidationError` for an unusable container id, ifname, netns path,
        CNI_ARGS entry or capability argument (see :func:`~cnilib.validate_capability_args`): what
        construction checks, for a configuration made otherwise (``cached_runtime``)."""
        validate_runtime(self)

    @property
    def cni_args(self) -> str:
        """The ``CNI_ARGS`` value: ``K=V;K2=V2``."""
        return cni_args_text(self.args)


def cached_runtime(rt: Runtime, **changes: Any) -> RuntimeConfig:
    """``attrs.evolve(rt, **changes)`` without the construction checks: for arguments read back
    from the cache (a DEL's, a CHECK's), which libcni passes on as they are, so that an odd value
    written by another runtime never blocks the DEL of its attachment."""
    fields = {name: changes.get(name, getattr(rt, name)) for name in _RUNTIME_FIELDS}
    fields["args"] = _to_pairs(fields["args"])
    fields["capability_args"] = _to_dict(fields["capability_args"])
    new = object.__new__(RuntimeConfig)
    for name, value in fields.items():
        object.__setattr__(new, name, value)  # (frozen: the way attrs' own __init__ sets them)
    return new


_RUNTIME_FIELDS = ("container_id", "netns", "ifname", "args", "capability_args")


def _freeze_str(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class VersionInfo:
    """A plugin's answer to VERSION."""

    cni_version: str = attrs.field(default="", metadata=json_field("cniVersion"))
    supported_versions: tuple[str, ...] = attrs.field(
        default=(), converter=_freeze_str, metadata=json_field("supportedVersions")
    )

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
    cni_version: str = attrs.field(default="", metadata=json_field("cniVersion"))

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object (``details`` omitted when empty)."""
        out: dict[str, Any] = {"cniVersion": self.cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out


@attrs.frozen
class GCAttachment:
    """One attachment that GC must keep: a container id and an interface name."""

    container_id: str = attrs.field(metadata=json_field("containerID"))
    ifname: str

    def to_dict(self) -> dict[str, str]:
        """The spec's ``cni.dev/valid-attachments`` entry."""
        return {"containerID": self.container_id, "ifname": self.ifname}
