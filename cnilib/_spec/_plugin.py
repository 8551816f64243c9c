"""The keys of a plugin's configuration that cnilib reads, with the check of each raw value:
the typed model (:class:`~cnilib.PluginConfig`) and the command line's loader
(:mod:`cnilib._cli._fast._load`) check the same keys with the same functions."""

from __future__ import annotations

from ._model_fields import _capabilities, _ipam, _name_or_none, _object, _plugin_type, _version_string

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["PLUGIN_CHECKS", "PLUGIN_KEYS"]

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
