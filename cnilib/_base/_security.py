"""Permission checks on what the runtime executes and reads, the way sudo and ssh check their files.

A plugin binary runs with the runtime's privileges (usually root), and a configuration file decides
which binaries run: if a user other than the owner can write the binary, the directory it is found
in, a directory searched before it, or a configuration directory, that user controls the runtime.
By default cnilib warns (:class:`~cnilib.CNISecurityWarning`); ``strict`` refuses
(:class:`~cnilib.UnsafePermissionsError`).
"""

from __future__ import annotations

import os
import stat
import warnings

from ._errors import CNISecurityWarning, UnsafePermissionsError

__all__ = ["check_not_writable_by_others", "writable_by_others"]


def writable_by_others(path: str) -> bool:
    """True when :func:`check_not_writable_by_others` would warn about ``path`` (no warning here)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return bool(mode & (stat.S_IWGRP | stat.S_IWOTH))


def check_not_writable_by_others(path: str, what: str, *, strict: bool = False) -> None:
    """Warn (or with ``strict``, raise) when ``path`` is writable by its group or by other users.

    A path that cannot be inspected is left to the code that uses it (which reports its own error).
    """
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return
    mode = stat.S_IMODE(st.st_mode)
    if not mode & (stat.S_IWGRP | stat.S_IWOTH):
        return
    who = "other users" if mode & stat.S_IWOTH else "its group"
    message = (
        f"{what} {path!r} is writable by {who} (mode {mode:04o}): "
        "whoever can write it controls what the runtime runs"
    )
    if strict:
        raise UnsafePermissionsError(message, path)
    # stacklevel 3: the caller of find_plugin / load_network, not this helper.
    warnings.warn(message, CNISecurityWarning, stacklevel=3)
