"""Configuration directories, the way libcni lists them: which files, in which order.

Free of attrs: :mod:`cnilib._config` and the command line's fast path (``cnilib._lean``) list
and read configuration files with these functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ._errors import ConfigError
from ._security import check_not_writable_by_others
from ._validate import validate_path

__all__ = ["CONF_EXTENSIONS", "LIST_EXTENSIONS", "conf_files"]

#: Extensions of configuration list files.
LIST_EXTENSIONS: tuple[str, ...] = (".conflist",)
#: Extensions of single-plugin configuration files (wrapped as one-plugin lists).
CONF_EXTENSIONS: tuple[str, ...] = (".conf", ".json")
_DROP_IN_EXTENSIONS: tuple[str, ...] = (".conf",)


def _extension(name: str) -> str:
    # Go's filepath.Ext: from the last dot on (".conf" itself has the extension ".conf").
    dot = name.rfind(".")
    return name[dot:] if dot >= 0 else ""


def conf_files(
    confdir: str | os.PathLike[str],
    extensions: Iterable[str] = (*LIST_EXTENSIONS, *CONF_EXTENSIONS),
    *,
    strict: bool = False,
    strict_permissions: bool = False,
) -> list[str]:
    """Paths of the files in ``confdir`` with one of ``extensions``, sorted by name.

    Only files (or symlinks to files) directly in ``confdir`` count. A missing directory gives an
    empty list, as in libcni, unless ``strict`` (then :class:`~cnilib.ConfigError`); a directory
    that cannot be read is always a :class:`~cnilib.ConfigError`. A directory writable by group or
    other users gets a :class:`~cnilib.CNISecurityWarning` (``strict_permissions``: refused).
    """
    directory = validate_path(confdir, "configuration directory")
    check_not_writable_by_others(directory, "configuration directory", strict=strict_permissions)
    wanted = {ext if ext.startswith(".") else f".{ext}" for ext in extensions}
    try:
        with os.scandir(directory) as it:
            found = [entry.name for entry in it if _extension(entry.name) in wanted and _is_file(entry)]
    except FileNotFoundError:
        if strict:
            raise ConfigError("configuration directory does not exist", source=directory) from None
        return []
    except OSError as exc:
        raise ConfigError(
            f"cannot read configuration directory: {exc.strerror or exc}", source=directory
        ) from None
    # Sorting str by code point is sorting their UTF-8 bytes, i.e. Go's sort.Strings.
    return [os.path.join(directory, name) for name in sorted(found)]


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _read(path: str, what: str, strict_permissions: bool = False) -> bytes:
    check_not_writable_by_others(path, "configuration file", strict=strict_permissions)
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=path) from None
