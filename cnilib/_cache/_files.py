"""File primitives of the cache: reads that never hang, atomic writes, temp-file sweeping.

Every path here is untrusted: a FIFO, a socket, a device or a directory may sit where a regular file
is expected, and a symlink may point anywhere. Files are opened with ``O_NONBLOCK | O_NOFOLLOW`` and
checked with ``fstat`` before a byte is read, so such a file is an error, never a hang.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time

from .._base._errors import CacheError

__all__ = [
    "TEMP_PREFIX",
    "make_dir",
    "open_regular",
    "os_failure",
    "read_regular",
    "attachment_tag",
    "sweep_temp_files",
    "sweep_temp_files_of",
    "temp_name",
    "unlink",
    "write_atomic",
]

TEMP_PREFIX = ".tmp-"
#: Temporary files older than this (seconds) are leftovers of a crashed writer.
TEMP_MAX_AGE = 3600.0
DIR_MODE = 0o700
FILE_MODE = 0o600
_MAX_FILE = 16 << 20  # no cache entry is anywhere near this; a bigger file is not one


def os_failure(text: str, exc: OSError) -> CacheError:
    """The :class:`~cnilib.CacheError` for ``exc`` (``text`` says what failed), keeping its
    ``errno``: EACCES or EPERM tell a caller (the command line) that this process may not use the
    cache, whose fix is another directory or more privilege."""
    error = CacheError(f"{text}: {exc.strerror or exc}")
    error.errno = exc.errno  # (no strerror or filename: str() stays the message)
    return error


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def open_regular(path: str, flags: int, *, what: str, create: bool = False) -> int:
    """Open ``path`` without following a symlink or blocking; refuse anything but a regular file.

    Raises :class:`FileNotFoundError` when it does not exist (and ``create`` is false), and
    :class:`~cnilib.CacheError` for a symlink, FIFO, socket, device or directory.
    """
    flags |= os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC
    if create:
        flags |= os.O_CREAT
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise CacheError(f"{what} {path} is a symbolic link: refusing to follow it") from None
        if exc.errno in (errno.EISDIR, errno.ENXIO):
            raise CacheError(f"{what} {path} is not a regular file") from None
        raise
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise CacheError(f"{what} {path} is {_kind(mode)}, not a regular file")
    return fd


def read_regular(path: str, *, what: str = "cache file") -> bytes | None:
    """The content of a regular file, or None when there is none. Never blocks on a FIFO."""
    try:
        fd = open_regular(path, os.O_RDONLY, what=what)
    except FileNotFoundError:
        return None
    except CacheError:
        raise
    except OSError as exc:
        raise os_failure(f"cannot read {what} {path}", exc) from None
    try:
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_FILE:
                raise CacheError(f"{what} {path} is larger than {_MAX_FILE} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise os_failure(f"cannot read {what} {path}", exc) from None
    finally:
        os.close(fd)


def make_dir(path: str) -> None:
    """Create each missing level with 0700 (``os.makedirs`` applies the mode to the leaf only)."""
    parent = os.path.dirname(path)
    if parent and parent != path and not os.path.isdir(parent):
        make_dir(parent)
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, DIR_MODE)


def fsync_dir(path: str) -> None:
    """fsync a directory, so that a rename or unlink in it survives a power loss."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


_HEX = frozenset("0123456789abcdef")


def attachment_tag(container_id: str, ifname: str) -> str:
    """16 hex digits naming an attachment of a network in its writers' temp file names."""
    from .._base._digest import sha256_hex

    return sha256_hex(f"{container_id}\0{ifname}".encode("utf-8", "surrogatepass"))[:16]


def temp_name(network: str, tag: str, token: str) -> str:
    """A writer's temp file name: ``.tmp-<network>-<attachment tag>-<16 random hex digits>``."""
    return f"{TEMP_PREFIX}{network}-{tag}-{token}"


def write_atomic(
    directory: str, path: str, data: bytes, *, durable: bool, what: str, network: str, tag: str
) -> None:
    """Write ``data`` to ``path`` atomically: a temp file in ``directory``, fsync, rename.

    A crash at any point leaves the old file or the new one, never a torn or empty one; leftovers of
    crashed writers are swept here, without being asked. The temp file names ``network`` and the
    attachment (``tag``): whoever holds that attachment's lock (its DEL), or the network's lock
    exclusively (GC), knows no writer of them runs and removes them at once
    (:func:`sweep_temp_files_of`). Raises :class:`~cnilib.CacheError`.
    """
    tmp: str | None = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        tmp = os.path.join(directory, temp_name(network, tag, os.urandom(8).hex()))
        try:
            fd = os.open(tmp, flags, FILE_MODE)
        except FileNotFoundError:  # first write: create the directories (0700) on demand
            make_dir(directory)
            fd = os.open(tmp, flags, FILE_MODE)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        tmp = None
        if durable:
            fsync_dir(directory)
    except OSError as exc:
        raise os_failure(f"cannot write {what} {path}", exc) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _sweep_now_and_then(directory)


def unlink(path: str, *, durable: bool, what: str = "cache file") -> bool:
    """Remove a file (never a directory); True if one was removed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        # A read-only filesystem says EROFS before it looks for the file: nothing there is no error.
        if exc.errno == errno.EROFS and not os.path.lexists(path):
            return False
        raise os_failure(f"cannot remove {what} {path}", exc) from None
    if durable:
        with contextlib.suppress(OSError):
            fsync_dir(os.path.dirname(path))
    return True


_last_sweep: dict[str, float] = {}


def _sweep_now_and_then(directory: str) -> None:
    # At most once a minute per directory per process: a listdir per write would cost too much.
    now = time.monotonic()
    if now - _last_sweep.get(directory, -1e9) < 60.0:
        return
    _last_sweep[directory] = now
    with contextlib.suppress(CacheError):
        sweep_temp_files(directory, TEMP_MAX_AGE)


def _is_hex16(text: str) -> bool:
    return len(text) == 16 and _HEX.issuperset(text)


def sweep_temp_files_of(directory: str, network: str, tag: str | None = None) -> list[str]:
    """Delete every temporary file of the writers of ``network`` (of one attachment when ``tag`` is
    given), whatever its age: only for a caller holding that lock (the network's exclusively for a
    whole network), so that none of those writers is running."""
    prefix = f"{TEMP_PREFIX}{network}-"
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise os_failure(f"cannot list cache directory {directory}", exc) from None
    removed: list[str] = []
    for name in names:
        # Exactly "<tag>-<token>" after the prefix: ".tmp-a-b-..." belongs to network "a-b", not "a".
        owner, dash, token = name[len(prefix) :].partition("-")
        if not (name.startswith(prefix) and dash and _is_hex16(owner) and _is_hex16(token)):
            continue
        if tag is not None and owner != tag:
            continue
        path = os.path.join(directory, name)
        if unlink(path, durable=False, what="temporary file"):
            removed.append(path)
    return sorted(removed)


def sweep_temp_files(directory: str, older_than: float) -> list[str]:
    """Delete temporary files older than ``older_than`` seconds that crashed writers left behind."""
    removed: list[str] = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return removed
    except OSError as exc:
        raise os_failure(f"cannot list cache directory {directory}", exc) from None
    limit = time.time() - older_than
    for name in names:
        if not name.startswith(TEMP_PREFIX):
            continue
        path = os.path.join(directory, name)
        try:
            if os.lstat(path).st_mtime <= limit:
                os.unlink(path)
                removed.append(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise os_failure(f"cannot remove temporary file {path}", exc) from None
    return sorted(removed)
