"""The on-disk result cache, byte-compatible with libcni's, plus the locks that serialize its users.

Layout under the cache directory (default ``/var/lib/cni``)::

    results/<network>-<containerID>-<ifName>   one JSON entry per attachment (libcni's format)
    locks/<network>.lock                       the network's locks (cnilib only), as byte ranges:
        byte 0        the network lock: ADD/DEL/CHECK shared, GC exclusive
        byte 1        the GC gate: GC holds it while it waits, so ADD/DEL cannot starve it
        byte 2 + h    one attachment (h: a 32-bit hash of container id and ifname), exclusive

Entries are written the way Go's ``json.Marshal`` writes libcni's ``cachedInfo`` struct (same key
order, compact, HTML characters escaped, nested maps with sorted keys, base64 ``config``), so
cnitool, containerd and CRI-O read what cnilib writes and the other way round. Unlike libcni,
writes are atomic: a temporary file (``.tmp-*``, a name no entry can have since network names start
with an alphanumeric) is fsynced and renamed over the entry, so a crash leaves either the old entry
or the new one, never a torn file.
Locks are open-file-description record locks (``F_OFD_SETLK``): they serialize threads of one
process as well as processes, vanish with the holder, and need one file per network, created once,
instead of a file per attachment (creating a file costs more than the rest of a loopback ADD).
Lock files live outside ``results/``, which is the only directory libcni reads.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import json
import os
import struct
import time
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping
from typing import Any

import attrs

from ._errors import CacheError, LockError, ResultError
from ._gojson import go_dumps, go_string
from ._models import GCAttachment, NetworkConfigList, RuntimeConfig
from ._results import Result, parse_result
from ._validate import validate_container_id, validate_ifname, validate_network_name

__all__ = [
    "CACHE_KIND",
    "DEFAULT_CACHE_DIR",
    "CacheEntry",
    "CacheProblem",
    "CacheScan",
    "HeldLock",
    "ResultCache",
    "go_json_dumps",
]

#: libcni's default cache directory.
DEFAULT_CACHE_DIR = "/var/lib/cni"
#: The ``kind`` of every entry libcni (since v0.7) and cnilib write.
CACHE_KIND = "cniCacheV1"

_TEMP_PREFIX = ".tmp-"
_DIR_MODE = 0o700
_FILE_MODE = 0o600


def go_json_dumps(value: Any) -> str:
    """Serialize like Go's ``json.Marshal`` of ``interface{}`` values (libcni's cache fields):
    compact, map keys sorted, ``<``/``>``/``&`` escaped, numbers as float64."""
    return go_dumps(value, sort_keys=True, float64=True)


# -- entries --------------------------------------------------------------------------------------


def _pairs(
    value: Iterable[Iterable[str]] | Mapping[str, str] | None,
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    out: list[tuple[str, str]] = []
    for item in items:
        key, val = item
        out.append((key, val))
    return tuple(out)


def _mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value) if value else {}


def _optional_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else dict(value)


@attrs.frozen
class CacheEntry:
    """One attachment's cache entry: what libcni's ``cachedInfo`` holds.

    ``config`` is the network configuration list's raw bytes, ``result`` the raw result object of
    the last ADD. ``legacy`` marks an old file holding only a bare result (no identity, no config).
    """

    network_name: str
    container_id: str
    ifname: str
    config: bytes
    netns: str = ""
    cni_args: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    capability_args: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    result: Mapping[str, Any] | None = attrs.field(default=None, converter=_optional_mapping)
    kind: str = CACHE_KIND
    path: str | None = attrs.field(default=None, eq=False)
    legacy: bool = False

    @classmethod
    def create(
        cls,
        network: NetworkConfigList,
        runtime: RuntimeConfig,
        result: Result | Mapping[str, Any] | None,
    ) -> CacheEntry:
        """The entry libcni writes after a successful ADD of ``network`` with ``runtime``."""
        raw = result.to_dict() if isinstance(result, Result) else result
        return cls(
            network_name=network.name,
            container_id=runtime.container_id,
            ifname=runtime.ifname,
            config=network.bytes,
            netns=runtime.netns,
            cni_args=runtime.args,
            capability_args=runtime.capability_args,
            result=raw,
        )

    @property
    def key(self) -> tuple[str, str, str]:
        """``(network_name, container_id, ifname)``: the attachment the entry belongs to."""
        return (self.network_name, self.container_id, self.ifname)

    @property
    def attachment(self) -> GCAttachment:
        """The entry as a GC attachment (container id and interface name)."""
        return GCAttachment(container_id=self.container_id, ifname=self.ifname)

    @property
    def file_name(self) -> str:
        """The entry's file name under ``results/``: ``<network>-<containerID>-<ifName>``."""
        return f"{self.network_name}-{self.container_id}-{self.ifname}"

    def parsed_result(self, version: str | None = None) -> Result:
        """The cached result, typed, converted to ``version`` if given (as DEL and CHECK need).


        Raises :class:`~cnilib.CacheError` when the entry holds no result and
        :class:`~cnilib.ResultError` when the result is malformed or cannot be converted.
        """
        where = self.path or self.file_name
        if self.result is None:
            raise CacheError(f"cache entry {where} holds no result")
        try:
            parsed: Result = parse_result(self.result)
            if version is not None:
                parsed = parsed.convert_to(version)
        except ResultError as exc:
            raise ResultError(
                f"cached result is unusable: {exc.message}", path=exc.path, source=where
            ) from None
        return parsed

    def runtime_config(self) -> RuntimeConfig:
        """The runtime configuration the attachment was made with (for GC's DEL and for CHECK)."""
        return RuntimeConfig(
            container_id=self.container_id,
            netns=self.netns,
            ifname=self.ifname,
            args=self.cni_args,
            capability_args=self.capability_args,
        )

    def to_json_bytes(self) -> bytes:
        """The file content, byte for byte what libcni's ``json.Marshal(cachedInfo)`` produces."""
        parts = [
            '{"kind":',
            go_string(self.kind),
            ',"containerId":',
            go_string(self.container_id),
            ',"config":"',
            base64.b64encode(self.config).decode("ascii"),
            '","ifName":',
            go_string(self.ifname),
            ',"networkName":',
            go_string(self.network_name),
        ]
        # Go's omitempty: empty strings, slices and maps (and nil maps) are left out.
        if self.netns:
            parts += [',"netns":', go_string(self.netns)]
        if self.cni_args:
            parts += [',"cniArgs":', go_json_dumps([list(pair) for pair in self.cni_args])]
        if self.capability_args:
            parts += [',"capabilityArgs":', go_json_dumps(self.capability_args)]
        if self.result:
            parts += [',"result":', go_json_dumps(self.result)]
        parts.append("}")
        return "".join(parts).encode("utf-8")

    @classmethod
    def from_json_bytes(
        cls,
        data: bytes,
        *,
        path: str | None = None,
        key: tuple[str, str, str] | None = None,
    ) -> CacheEntry:
        """Parse a cache file's content.

        A legacy file (a bare result: ``cniVersion``, no ``kind``) needs ``key`` to know its owner.
        Raises :class:`~cnilib.CacheError` naming ``path`` for anything unusable.
        """
        where = path or "cache entry"
        if not data.strip():
            raise CacheError(f"{where}: cache file is empty")
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise CacheError(f"{where}: cache file is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise CacheError(f"{where}: cache file must hold a JSON object")
        if "kind" not in obj and isinstance(obj.get("cniVersion"), str):
            if key is None:
                raise CacheError(f"{where}: legacy cache file (a bare result) does not name its attachment")
            return cls(
                network_name=key[0],
                container_id=key[1],
                ifname=key[2],
                config=b"",
                result=obj,
                path=path,
                legacy=True,
            )
        kind = obj.get("kind")
        if kind != CACHE_KIND:
            raise CacheError(f"{where}: unsupported cache entry kind {kind!r} (expected {CACHE_KIND!r})")

        def text(name: str, *, required: bool = True) -> str:
            value = obj.get(name)
            if value is None and not required:
                return ""
            if not isinstance(value, str):
                raise CacheError(f"{where}: cache entry field {name!r} must be a string")
            return value

        raw_config = obj.get("config")
        if raw_config is None:
            config = b""
        elif isinstance(raw_config, str):
            try:
                config = base64.b64decode(raw_config, validate=True)
            except (binascii.Error, ValueError):
                raise CacheError(f"{where}: cache entry field 'config' is not valid base64") from None
        else:
            raise CacheError(f"{where}: cache entry field 'config' must be a base64 string")
        raw_args = obj.get("cniArgs")
        args: list[tuple[str, str]] = []
        if raw_args is not None:
            if not isinstance(raw_args, list):
                raise CacheError(f"{where}: cache entry field 'cniArgs' must be an array")
            for pair in raw_args:
                if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                    raise CacheError(f"{where}: cache entry field 'cniArgs' must hold [key, value] pairs")
                args.append((pair[0], pair[1]))
        caps = obj.get("capabilityArgs")
        if caps is not None and not isinstance(caps, dict):
            raise CacheError(f"{where}: cache entry field 'capabilityArgs' must be an object")
        result = obj.get("result")
        if result is not None and not isinstance(result, dict):
            raise CacheError(f"{where}: cache entry field 'result' must be an object")
        return cls(
            network_name=text("networkName"),
            container_id=text("containerId"),
            ifname=text("ifName"),
            config=config,
            netns=text("netns", required=False),
            cni_args=args,
            capability_args=caps,
            result=result,
            kind=kind,
            path=path,
        )


@attrs.frozen
class CacheProblem:
    """A cache file that could not be used, and why.

    ``foreign`` is True for a valid entry that belongs to another attachment whose file name happens
    to be the same (libcni's ``<network>-<id>-<ifname>`` is ambiguous when names contain ``-``):
    such a file must not be deleted on behalf of the attachment that was asked for.
    """

    path: str
    message: str
    foreign: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@attrs.frozen
class CacheScan:
    """What :meth:`ResultCache.scan` found: usable entries (by file name) and problem files."""

    entries: tuple[CacheEntry, ...]
    problems: tuple[CacheProblem, ...]


# -- locks ----------------------------------------------------------------------------------------


class HeldLock:
    """A held lock (one or more byte ranges of a network's lock file); released by the context
    manager that handed it out."""

    def __init__(self, fd: int, path: str, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """True until released."""
        return self._fd is not None

    def release(self) -> None:
        """Release the lock (idempotent). Closing the descriptor drops its record locks."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def discard(self) -> None:
        """Release; kept for callers that dropped per-attachment lock files after a DEL (there are
        none any more: one file per network holds every lock as a byte range)."""
        self.release()

    def __repr__(self) -> str:
        mode = "exclusive" if self.exclusive else "shared"
        state = "held" if self.held else "released"
        return f"<HeldLock {self.path} {mode} {state}>"


_POLL_FIRST = 0.001
_POLL_MAX = 0.05
# struct flock on 64-bit Linux: l_type, l_whence, (pad), l_start, l_len, l_pid, (pad).
_FLOCK = struct.Struct("hh4xqqi4x")
_NETWORK_BYTE = 0
_GATE_BYTE = 1
_FIRST_ATTACHMENT_BYTE = 2


def _attachment_byte(container_id: str, ifname: str) -> int:
    # Distinct attachments rarely share a byte; when they do they are merely serialized.
    return _FIRST_ATTACHMENT_BYTE + binascii.crc32(f"{container_id}\0{ifname}".encode())


def _open_lock_file(path: str) -> int:
    # O_CLOEXEC: a plugin (or a daemon it spawns) inheriting the descriptor would hold the lock.
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)


def _record_lock(fd: int, byte: int, mode: int, wait: bool) -> bool:
    """Lock (``F_WRLCK``/``F_RDLCK``) or unlock (``F_UNLCK``) one byte; False if it would block."""
    data = _FLOCK.pack(mode, os.SEEK_SET, byte, 1, 0)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK, data)
    except OSError as exc:
        if not wait and exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _lock_timeout(what: str, path: str, timeout: float) -> LockError:
    return LockError(f"timed out after {timeout:g}s waiting for the {what} lock ({path})")


# -- the cache ------------------------------------------------------------------------------------


class ResultCache:
    """The result cache directory (libcni's ``cacheDir``) and its locks.

    Every method validates the network name, container id and interface name first: they build
    file paths. Entries are always fsynced before they are renamed into place; ``durable=True``
    fsyncs the directory as well. Reads are safe without locks (writes are atomic renames); callers serialize
    read-modify-write sequences with :meth:`lock` / :meth:`alock`.
    """

    def __init__(
        self, cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR, *, durable: bool = False
    ) -> None:
        self.cache_dir = os.fspath(cache_dir)
        #: Also fsync the directory after a rename or unlink (survives power loss, costs two fsyncs).
        self.durable = durable
        self.results_dir = os.path.join(self.cache_dir, "results")
        self.locks_dir = os.path.join(self.cache_dir, "locks")

    def __repr__(self) -> str:
        return f"ResultCache({self.cache_dir!r})"

    # paths

    @staticmethod
    def _check(network: str, container_id: str, ifname: str) -> None:
        validate_network_name(network)
        validate_container_id(container_id)
        validate_ifname(ifname)

    def path_for(self, network: str, container_id: str, ifname: str) -> str:
        """libcni's file for the attachment: ``<cache_dir>/results/<network>-<id>-<ifname>``."""
        self._check(network, container_id, ifname)
        return os.path.join(self.results_dir, f"{network}-{container_id}-{ifname}")

    def lock_path_for(self, network: str, container_id: str, ifname: str) -> str:
        """The file holding the attachment's lock (a byte range of its network's lock file)."""
        self._check(network, container_id, ifname)
        return self.network_lock_path_for(network)

    def network_lock_path_for(self, network: str) -> str:
        """The network's lock file: ``<cache_dir>/locks/<network>.lock``."""
        validate_network_name(network)
        return os.path.join(self.locks_dir, f"{network}.lock")

    def _make_dir(self, path: str) -> None:
        # Create each missing level with 0700 (os.makedirs applies the mode to the leaf only).
        parent = os.path.dirname(path)
        if parent and parent != path and not os.path.isdir(parent):
            self._make_dir(parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, _DIR_MODE)

    # reading

    def _read_file(
        self, path: str, key: tuple[str, str, str]
    ) -> tuple[CacheEntry | None, CacheProblem | None]:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            raise CacheError(f"cannot read cache file {path}: {exc.strerror or exc}") from None
        try:
            entry = CacheEntry.from_json_bytes(data, path=path, key=key)
        except CacheError as exc:
            return None, CacheProblem(path, str(exc).removeprefix(f"{path}: "))
        if entry.key != key:
            return None, CacheProblem(
                path,
                f"holds the entry of network {entry.network_name!r}, "
                f"container {entry.container_id!r}, interface {entry.ifname!r}",
                foreign=True,
            )
        return entry, None

    def read(self, network: str, container_id: str, ifname: str) -> CacheEntry | None:
        """The attachment's entry, or None when there is no file.

        Raises :class:`~cnilib.CacheError` (naming the file) for an empty, corrupt or foreign file,
        an unknown ``kind``, or a file that cannot be read. A legacy file (bare result) is returned
        with ``legacy=True``.
        """
        key = (network, container_id, ifname)
        entry, problem = self._read_file(self.path_for(*key), key)
        if problem is not None:
            raise CacheError(str(problem))
        return entry

    def read_tolerant(
        self, network: str, container_id: str, ifname: str, *, discard: bool = False
    ) -> tuple[CacheEntry | None, CacheProblem | None]:
        """Like :meth:`read` but content problems are returned, not raised (what DEL needs).

        With ``discard=True`` an empty or corrupt file is deleted (not a foreign one, see
        :class:`CacheProblem`). A file that cannot be read at all still raises
        :class:`~cnilib.CacheError`.
        """
        key = (network, container_id, ifname)
        path = self.path_for(*key)
        entry, problem = self._read_file(path, key)
        if problem is not None and discard and not problem.foreign:
            self._unlink(path)
        return entry, problem

    def scan(self, network: str | None = None, container_id: str | None = None) -> CacheScan:
        """Every entry in ``results/`` (optionally of one network and/or container), and problems.

        Entries are identified by their content, not by splitting file names (names may contain
        ``-``); a file whose content does not match its name, a legacy file (no identity), or a file
        that cannot be read or parsed is reported in ``problems``. Temporary files are ignored.
        """
        if network is not None:
            validate_network_name(network)
        if container_id is not None:
            validate_container_id(container_id)
        try:
            with os.scandir(self.results_dir) as it:
                found = sorted(it, key=lambda e: e.name)
        except FileNotFoundError:
            return CacheScan((), ())
        except OSError as exc:
            raise CacheError(f"cannot list cache directory {self.results_dir}: {exc.strerror}") from None
        entries: list[CacheEntry] = []
        problems: list[CacheProblem] = []
        for dirent in found:
            name = dirent.name
            if name.startswith("."):
                continue  # temporary files of writers, never an entry
            # Cheap prefilters; the content check below is the real one.
            if network is not None and not name.startswith(f"{network}-"):
                continue
            if container_id is not None and f"-{container_id}-" not in name:
                continue
            path = dirent.path
            try:
                if not dirent.is_file():
                    continue  # a directory or a FIFO (opening one would block)
                with open(path, "rb") as fh:
                    data = fh.read()
                entry = CacheEntry.from_json_bytes(data, path=path)
            except FileNotFoundError:
                continue  # deleted while we listed
            except CacheError as exc:
                problems.append(CacheProblem(path, str(exc).removeprefix(f"{path}: ")))
                continue
            except OSError as exc:
                problems.append(CacheProblem(path, f"cannot read: {exc.strerror or exc}"))
                continue
            if entry.file_name != name:
                problems.append(CacheProblem(path, f"content names another attachment ({entry.file_name})"))
                continue
            if network is not None and entry.network_name != network:
                continue
            if container_id is not None and entry.container_id != container_id:
                continue
            entries.append(entry)
        return CacheScan(tuple(entries), tuple(problems))

    def entries(self, network: str | None = None, container_id: str | None = None) -> list[CacheEntry]:
        """The usable entries of :meth:`scan` (problem files are skipped)."""
        return list(self.scan(network, container_id).entries)

    # writing

    def write(self, entry: CacheEntry) -> str:
        """Write ``entry`` atomically (temp file, fsync, rename); return its path.

        A crash at any point leaves the old entry or the new one, never a torn or empty file. With
        ``durable=True`` the directory is fsynced too, so the rename itself survives a power loss.
        Raises :class:`~cnilib.CacheError` if anything fails; the temporary file is removed then.
        """
        path = self.path_for(*entry.key)
        try:
            data = entry.to_json_bytes()
        except (TypeError, ValueError) as exc:
            raise CacheError(f"cannot serialize the cache entry for {path}: {exc}") from None
        tmp: str | None = None
        try:
            tmp = os.path.join(self.results_dir, f"{_TEMP_PREFIX}{os.urandom(8).hex()}")
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
            try:
                fd = os.open(tmp, flags, _FILE_MODE)
            except FileNotFoundError:  # first write: create the directories (0700) on demand
                self._make_dir(self.results_dir)
                fd = os.open(tmp, flags, _FILE_MODE)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            tmp = None
            if self.durable:
                self._fsync_dir(self.results_dir)
        except OSError as exc:
            raise CacheError(f"cannot write cache file {path}: {exc.strerror or exc}") from None
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        return path

    @staticmethod
    def _fsync_dir(path: str) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _unlink(self, path: str) -> bool:
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise CacheError(f"cannot remove cache file {path}: {exc.strerror or exc}") from None
        if self.durable:
            with contextlib.suppress(OSError):
                self._fsync_dir(os.path.dirname(path))
        return True

    def delete(self, network: str, container_id: str, ifname: str, *, owner_checked: bool = False) -> bool:
        """Remove the attachment's entry; True if a file was removed. Idempotent.

        A valid entry that belongs to another attachment with the same file name is left alone;
        ``owner_checked=True`` skips reading the file for that when the caller has just read it
        (under the attachment's lock) and knows it is not foreign.
        """
        key = (network, container_id, ifname)
        path = self.path_for(*key)
        if owner_checked:
            return self._unlink(path)
        try:
            _, problem = self._read_file(path, key)
        except CacheError:
            problem = None  # unreadable: let unlink decide
        if problem is not None and problem.foreign:
            return False
        return self._unlink(path)

    def remove_stale_temp_files(self, older_than: float = 3600.0) -> list[str]:
        """Delete temporary files that crashed writers left behind (older than ``older_than`` s)."""
        removed: list[str] = []
        try:
            names = os.listdir(self.results_dir)
        except FileNotFoundError:
            return removed
        except OSError as exc:
            raise CacheError(f"cannot list cache directory {self.results_dir}: {exc.strerror}") from None
        limit = time.time() - older_than
        for name in names:
            if not name.startswith(_TEMP_PREFIX):
                continue
            path = os.path.join(self.results_dir, name)
            try:
                if os.lstat(path).st_mtime <= limit:
                    os.unlink(path)
                    removed.append(path)
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise CacheError(f"cannot remove temporary file {path}: {exc.strerror}") from None
        return sorted(removed)

    # locks

    def _open_for_lock(self, path: str) -> int:
        try:
            try:
                return _open_lock_file(path)
            except FileNotFoundError:
                self._make_dir(os.path.dirname(path))
                return _open_lock_file(path)
        except OSError as exc:
            raise CacheError(f"cannot open lock file {path}: {exc.strerror or exc}") from None

    def _take(
        self,
        fd: int,
        byte: int,
        exclusive: bool,
        deadline: float | None,
        what: str,
        path: str,
        timeout: float | None,
    ) -> None:
        mode = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
        try:
            if deadline is None:
                _record_lock(fd, byte, mode, wait=True)  # blocks; PEP 475 retries after signals
                return
            delay = _POLL_FIRST
            while not _record_lock(fd, byte, mode, wait=False):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _lock_timeout(what, path, timeout or 0.0)
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, _POLL_MAX)
        except LockError:
            raise  # a TimeoutError, hence an OSError: not a failure to lock
        except OSError as exc:
            raise CacheError(f"cannot lock {path}: {exc.strerror or exc}") from None

    async def _atake(
        self,
        fd: int,
        byte: int,
        exclusive: bool,
        deadline: float | None,
        what: str,
        path: str,
        timeout: float | None,
    ) -> None:
        import asyncio  # the sync paths (and the CLI) never pay for it

        mode = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
        delay = _POLL_FIRST
        try:
            # Polling keeps the event loop free and makes cancellation immediate.
            while not _record_lock(fd, byte, mode, wait=False):
                wait = delay
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise _lock_timeout(what, path, timeout or 0.0)
                    wait = min(delay, remaining)
                await asyncio.sleep(wait)
                delay = min(delay * 2, _POLL_MAX)
        except LockError:
            raise  # a TimeoutError, hence an OSError: not a failure to lock
        except OSError as exc:
            raise CacheError(f"cannot lock {path}: {exc.strerror or exc}") from None

    def _steps(
        self, network: str, attachment: tuple[str, str] | None, network_mode: bool | None
    ) -> list[tuple[int, bool, str, bool]]:
        """(byte, exclusive, what, release-after) in the one order every taker uses."""
        steps: list[tuple[int, bool, str, bool]] = []
        if network_mode is not None:
            # GC holds the gate while it waits; the others only pass through it (shared).
            steps.append((_GATE_BYTE, network_mode, f"GC gate of network {network}", not network_mode))
            mode = "exclusive" if network_mode else "shared"
            steps.append((_NETWORK_BYTE, network_mode, f"{mode} network {network}", False))
        if attachment is not None:
            cid, ifname = attachment
            steps.append((_attachment_byte(cid, ifname), True, f"attachment {network}/{cid}/{ifname}", False))
        return steps

    def _holding(
        self, network: str, attachment: tuple[str, str] | None, network_mode: bool | None
    ) -> Generator[tuple[int, int, bool, str], None, HeldLock]:
        """The locking plan shared by :meth:`_hold` and :meth:`_ahold`: yields each
        ``(fd, byte, exclusive, what)`` to take, in order; returns the held lock."""
        path = self.network_lock_path_for(network)
        fd = self._open_for_lock(path)
        gate_fd = -1
        try:
            for byte, exclusive, what, passing in self._steps(network, attachment, network_mode):
                if byte == _GATE_BYTE and exclusive:
                    # GC's gate lives on its own descriptor so it can be dropped once GC holds byte 0.
                    gate_fd = self._open_for_lock(path)
                    yield gate_fd, byte, True, what
                    continue
                yield fd, byte, exclusive, what
                if passing:
                    _record_lock(fd, byte, fcntl.F_UNLCK, wait=False)
            held = HeldLock(fd, path, bool(network_mode) or attachment is not None)
            fd = -1
            return held
        finally:
            if fd >= 0:
                os.close(fd)
            if gate_fd >= 0:
                os.close(gate_fd)

    def _hold(
        self,
        network: str,
        attachment: tuple[str, str] | None,
        network_mode: bool | None,
        timeout: float | None,
    ) -> HeldLock:
        path = self.network_lock_path_for(network)
        deadline = None if timeout is None else time.monotonic() + timeout
        plan = self._holding(network, attachment, network_mode)
        try:
            fd, byte, exclusive, what = next(plan)
            while True:
                self._take(fd, byte, exclusive, deadline, what, path, timeout)
                fd, byte, exclusive, what = plan.send(None)
        except StopIteration as done:
            held: HeldLock = done.value
            return held
        finally:
            plan.close()  # on a failure: its finally closes the descriptors

    async def _ahold(
        self,
        network: str,
        attachment: tuple[str, str] | None,
        network_mode: bool | None,
        timeout: float | None,
    ) -> HeldLock:
        path = self.network_lock_path_for(network)
        deadline = None if timeout is None else time.monotonic() + timeout
        plan = self._holding(network, attachment, network_mode)
        try:
            fd, byte, exclusive, what = next(plan)
            while True:
                await self._atake(fd, byte, exclusive, deadline, what, path, timeout)
                fd, byte, exclusive, what = plan.send(None)
        except StopIteration as done:
            held: HeldLock = done.value
            return held
        finally:
            plan.close()

    @contextlib.contextmanager
    def lock(
        self, network: str, container_id: str, ifname: str, timeout: float | None = None
    ) -> Iterator[HeldLock]:
        """Hold the attachment's exclusive lock (across threads and processes) in a ``with`` block.

        ``timeout`` None waits forever; otherwise :class:`~cnilib.LockError` after that many
        seconds. Not re-entrant: taking it twice in one thread deadlocks (or times out).
        """
        self._check(network, container_id, ifname)
        held = self._hold(network, (container_id, ifname), None, timeout)
        try:
            yield held
        finally:
            held.release()

    @contextlib.asynccontextmanager
    async def alock(
        self, network: str, container_id: str, ifname: str, timeout: float | None = None
    ) -> AsyncIterator[HeldLock]:
        """The asyncio version of :meth:`lock` (polls without blocking the loop; cancellable)."""
        self._check(network, container_id, ifname)
        held = await self._ahold(network, (container_id, ifname), None, timeout)
        try:
            yield held
        finally:
            held.release()

    @contextlib.contextmanager
    def network_lock(self, network: str, exclusive: bool, timeout: float | None = None) -> Iterator[HeldLock]:
        """Hold the network lock: shared for ADD/DEL/CHECK, exclusive for GC (through the gate)."""
        held = self._hold(network, None, exclusive, timeout)
        try:
            yield held
        finally:
            held.release()

    @contextlib.asynccontextmanager
    async def anetwork_lock(
        self, network: str, exclusive: bool, timeout: float | None = None
    ) -> AsyncIterator[HeldLock]:
        """The asyncio version of :meth:`network_lock`."""
        held = await self._ahold(network, None, exclusive, timeout)
        try:
            yield held
        finally:
            held.release()

    @contextlib.contextmanager
    def attachment_lock(
        self, network: str, container_id: str, ifname: str, timeout: float | None = None
    ) -> Iterator[HeldLock]:
        """What ADD/DEL/CHECK hold: the network lock shared and the attachment's lock, taken in
        that order on one descriptor, with one deadline."""
        self._check(network, container_id, ifname)
        held = self._hold(network, (container_id, ifname), False, timeout)
        try:
            yield held
        finally:
            held.release()

    @contextlib.asynccontextmanager
    async def aattachment_lock(
        self, network: str, container_id: str, ifname: str, timeout: float | None = None
    ) -> AsyncIterator[HeldLock]:
        """The asyncio version of :meth:`attachment_lock`."""
        self._check(network, container_id, ifname)
        held = await self._ahold(network, (container_id, ifname), False, timeout)
        try:
            yield held
        finally:
            held.release()
