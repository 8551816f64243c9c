"""Configuration directories, the way libcni lists them: which files, in which order; and the one
careful reader of configuration files.

Free of attrs: :mod:`cnilib._model._config`, :meth:`cnilib.NetworkConfigList.from_file`, ``cnilib try``
and the command line's fast path (``cnilib._cli._fast``) list and read configuration files with these
functions.

The reader never blocks and never reads without bound: a FIFO, socket, device or directory is a
:class:`~cnilib.ConfigError` before it is opened (a FIFO would block until a writer comes, a device
may act on open), and so is a file larger than :data:`MAX_CONFIG_SIZE`, told by its size before a
byte is read (a 64 GiB sparse file costs nothing) and checked again while reading (a file that
grows, or one whose size says nothing). Unlike the cache's files, a configuration file may be a
symbolic link: ``/etc/cni/net.d`` entries are often links to files installed elsewhere (a package,
an operator's volume, a Nix store); what it points at must be a regular file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable

from .._base._errors import ConfigError
from .._base._security import check_not_writable_by_others
from ._validate import validate_path

__all__ = ["CONF_EXTENSIONS", "LIST_EXTENSIONS", "MAX_CONFIG_SIZE", "conf_files", "read_config"]

#: The largest configuration file read (bytes). Real ones hold a few KiB; Kubernetes, which
#: delivers most of them (ConfigMaps), cannot hold more than 1 MiB in one object; and every
#: attachment caches its list in base64 (4/3 the size), which must stay far below the cache's
#: 16 MiB per-file limit. A bigger file is refused unread, with its size in the error.
MAX_CONFIG_SIZE = 1 << 20

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


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def _too_big(what: str, size: str, path: str) -> ConfigError:
    return ConfigError(
        f"{what} is too large ({size} bytes; a configuration file may hold {MAX_CONFIG_SIZE})",
        source=path,
    )


def read_config(
    path: str,
    what: str = "network configuration",
    strict_permissions: bool = False,
    *,
    permissions: bool = True,
) -> bytes:
    """The bytes of the configuration file ``path`` (a symlink is followed), read with care.

    :class:`~cnilib.ConfigError` naming ``path`` when it cannot be read, is not a regular file
    (never opened then, so a FIFO cannot block), or holds more than :data:`MAX_CONFIG_SIZE` bytes
    (refused by its size before a byte is read). ``permissions``: warn about (with
    ``strict_permissions``: refuse) a file writable by group or other users.
    """
    if permissions:
        check_not_writable_by_others(path, "configuration file", strict=strict_permissions)
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigError(f"cannot read {what}: it is {_kind(mode)}, not a regular file", source=path)
        # O_NONBLOCK: replaced by a FIFO since the stat above, the open must not wait for a writer.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=path) from None
    try:
        return _read_capped(fd, path, what)
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", source=path) from None
    finally:
        os.close(fd)


def _read_capped(fd: int, path: str, what: str) -> bytes:
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"cannot read {what}: it is {_kind(st.st_mode)}, not a regular file", source=path)
    if st.st_size > MAX_CONFIG_SIZE:
        raise _too_big(what, str(st.st_size), path)
    chunks: list[bytes] = []
    size = 0
    # One byte more than the limit tells a file that grew past it (or whose size said nothing).
    while size <= MAX_CONFIG_SIZE and (chunk := os.read(fd, MAX_CONFIG_SIZE + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
    if size > MAX_CONFIG_SIZE:
        raise _too_big(what, f"more than {MAX_CONFIG_SIZE}", path)
    return b"".join(chunks)
