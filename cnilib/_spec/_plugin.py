"""The keys of a plugin's configuration (and a list's) that cnilib reads, with the check of each raw
value: the typed models (:class:`~cnilib.PluginConfig`, :class:`~cnilib.NetworkConfigList`) and the
command line's loader (:mod:`cnilib._cli._fast._load`) check the same keys with the same functions.
Each check parses one raw JSON value, or raises (a :class:`~cnilib.ConfigError` path is relative
to that value)."""

from __future__ import annotations

from .._base._errors import ConfigError, ValidationError, VersionError
from ._jsontext import json_type
from ._validate import validate_network_name
from ._version import parse_version

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["PLUGIN_CHECKS", "PLUGIN_KEYS"]


def _version_string(value: Any) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise TypeError(f"expected string, got {json_type(value)}")
    if value:
        parse_version(value)  # VersionError is a ValueError: its message is the error's
    return value


def _version_list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise TypeError(f"expected array, got {json_type(value)}")
    for i, entry in enumerate(value):
        if type(entry) is not str:
            raise ConfigError(f"expected string, got {json_type(entry)}", path=f"$[{i}]")
        try:
            parse_version(entry)
        except VersionError as exc:
            raise ConfigError(str(exc), path=f"$[{i}]") from None
    return tuple(value)


def _plugin_type(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected string, got {json_type(value)}")
    if not value:
        raise ValueError("plugin type must not be empty")
    return value


def _network_name(value: Any) -> str:
    if type(value) is not str:
        raise TypeError(f"expected string, got {json_type(value)}")
    # The name becomes part of cache file paths: refuse it at load, not only when a verb runs.
    try:
        validate_network_name(value)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    return value


def _go_bool(value: Any) -> bool:
    # libcni accepts the strings "true"/"false" (any case) for these list-level switches.
    if value is None:
        return False
    if type(value) is bool:
        return value
    if type(value) is str and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if type(value) is str:
        raise ValueError(f'expected a boolean or "true"/"false", got {value!r}')
    raise TypeError(f"expected boolean, got {json_type(value)}")


def _capabilities(value: Any) -> dict[str, bool]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TypeError(f"expected object, got {json_type(value)}")
    for cap, enabled in value.items():
        if type(enabled) is not bool:
            raise ConfigError(
                f"capability {cap!r} must be a boolean, got {json_type(enabled)}", path=f"$.{cap}"
            )
    return dict(value)


def _ipam(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected object, got {json_type(value)}")
    if "type" in value and type(value["type"]) is not str:
        raise ConfigError(f"expected string, got {json_type(value['type'])}", path="$.type")
    return value


def _object(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"expected object, got {json_type(value)}")
    return value


def _name_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if type(value) is not str:
        raise TypeError(f"expected string, got {json_type(value)}")
    return value


#: Each key's check: it takes the raw value (None when absent) and returns what is read, or
#: raises. ``dns`` is not here: it is the element of that name (``_shapes.DNS``).
PLUGIN_CHECKS: dict[str, Callable[[Any], Any]] = {
    "type": _plugin_type,
    "name": _name_or_none,
    "cniVersion": _version_string,
    "capabilities": _capabilities,
    "ipam": _ipam,
    "args": _object,
    "runtimeConfig": _object,
    "prevResult": _object,
}
#: Every key cnilib reads from a plugin's configuration; the others are the plugin's own.
PLUGIN_KEYS = frozenset((*PLUGIN_CHECKS, "dns"))
