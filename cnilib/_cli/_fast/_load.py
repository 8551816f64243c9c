"""Finding a network's configuration list in a directory, the way ``cnilib.load_network`` does,
for the lists this module can judge exactly; None for anything else (the caller then loads it
the typed way, which also gives the error, the warning or the log line that case deserves).

Nothing here warns or logs: a directory or file the permission check would warn about, a file
whose name cannot be read (the typed loader logs it), a network that more than one file defines
(the typed loader warns), a single ``.conf``, drop-in plugins, ``cniVersions``: all go to the
typed loader.
"""

from __future__ import annotations

import os

from ..._base._errors import CNIError, ConfigError
from ..._base._security import writable_by_others
from ..._engine._plain import LeanConfList, LeanPlugin
from ..._spec._confdir import CONF_EXTENSIONS, LIST_EXTENSIONS, conf_files, read_config
from ..._spec._jsontext import decode_object
from ..._spec._plain_results import dns_dict
from ..._spec._plugin import PLUGIN_CHECKS, _go_bool, _network_name, _version_string

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["lean_network"]


class _Unsure(Exception):
    """Let the typed loader decide."""


def lean_network(confdir: str, name: str) -> LeanConfList | None:
    """Network ``name`` from ``confdir`` as :func:`cnilib.load_network` finds it, or None."""
    try:
        return _find(confdir, name)
    except (_Unsure, CNIError, OSError, TypeError, ValueError):
        return None


def _find(confdir: str, name: str) -> LeanConfList | None:
    directory = os.fspath(confdir)
    if writable_by_others(directory):
        raise _Unsure(directory)
    lists = conf_files(directory, LIST_EXTENSIONS)
    others = conf_files(directory, CONF_EXTENSIONS)
    # The typed loader checks every file's permissions before it looks at names.
    if any(writable_by_others(path) for path in (*lists, *others)):
        raise _Unsure("permissions")
    for i, path in enumerate(lists):
        data = read_config(path, "network configuration")  # (its permission check: passed above, silently)
        obj = decode_object(data, what="network configuration", error=ConfigError, source=path)
        found = obj.get("name")
        if type(found) is not str:
            raise _Unsure(path)  # skipped with a log line by the typed loader
        if found == name:
            if any(_name_of(other) == name for other in (*lists[i + 1 :], *others)):
                raise _Unsure("defined twice")  # the typed loader warns
            return _build(obj, data, path, directory)
    return None  # a .conf/.json or nothing: the typed loader


def _name_of(path: str) -> Any:
    """The network name a later file gives (None when there is none to read)."""
    try:
        data = read_config(path, "network configuration", permissions=False)
        return decode_object(data, what="network configuration", error=ConfigError, source=path).get("name")
    except CNIError:
        return None  # (after the match, the typed loader skips it without a word)


def _build(obj: dict[str, Any], data: bytes, path: str, directory: str) -> LeanConfList:
    if "plugins" not in obj or obj.get("cniVersions") is not None:
        raise _Unsure(path)
    name = _network_name(obj["name"])
    # The typed model's checks, for what they reject (each reads null as absent).
    version = _version_string(obj.get("cniVersion"))
    _go_bool(obj.get("disableCheck"))
    _go_bool(obj.get("disableGC"))
    inlined = _go_bool(obj.get("loadOnlyInlinedPlugins"))
    raw_plugins = obj["plugins"]
    if type(raw_plugins) is not list or not raw_plugins:
        raise _Unsure(path)
    if not inlined and os.path.lexists(os.path.join(directory, name)):
        raise _Unsure("drop-ins")
    plugins = tuple(_plugin(p) for p in raw_plugins)
    return LeanConfList(name, version, plugins, data, path)


def _plugin(raw: Any) -> LeanPlugin:
    if type(raw) is not dict or "type" not in raw:
        raise _Unsure("plugin")
    # The typed model's checks, each on the raw value (None when absent).
    read = {key: check(raw.get(key)) for key, check in PLUGIN_CHECKS.items()}
    if raw.get("dns") is not None:
        if type(raw["dns"]) is not dict:
            raise _Unsure("dns")
        dns_dict(raw["dns"])
    return LeanPlugin(read["type"], dict(raw), read["capabilities"])
