"""Plugin discovery: the first executable named like the plugin type in the search path."""

from __future__ import annotations

import os
from collections.abc import Iterable

from .._base._errors import PluginNotFoundError, ValidationError
from .._base._security import check_not_writable_by_others
from .._spec._validate import validate_path


def check_plugin_name(plugin: str) -> None:
    """Reject a plugin type that is empty or could name a file outside the search path."""
    if not isinstance(plugin, str) or not plugin or plugin in (".", ".."):
        raise ValidationError(f"invalid plugin name {plugin!r}")
    if "/" in plugin or "\0" in plugin or (os.altsep and os.altsep in plugin):
        raise ValidationError(f"invalid plugin name {plugin!r}: it must not contain a path separator")


def find_plugin(plugin: str, dirs: Iterable[str], *, strict_permissions: bool = False) -> str:
    """The first executable regular file named ``plugin`` in ``dirs``, in order.

    A searched directory holding a control character is a :class:`~cnilib.ValidationError`. The binary
    found, its directory and every directory searched before it must not be writable by group or
    other users: a :class:`~cnilib.CNISecurityWarning` says so, or with ``strict_permissions`` an
    :class:`~cnilib.UnsafePermissionsError` refuses the plugin.
    """
    check_plugin_name(plugin)
    searched = []
    for d in dirs:
        if not d:
            continue
        validate_path(d, "plugin directory")
        searched.append(d)
        path = os.path.join(d, plugin)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_mode & 0o170000 == 0o100000 and os.access(path, os.X_OK):
            for directory in searched:
                check_not_writable_by_others(directory, "plugin directory", strict=strict_permissions)
            check_not_writable_by_others(path, "plugin", strict=strict_permissions)
            return path
    raise PluginNotFoundError(plugin, searched)
