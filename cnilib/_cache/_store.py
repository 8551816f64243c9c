"""The store: reading, writing and scanning entries and intent records, and the lock API."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator

from .._base._defaults import DEFAULT_CACHE_DIR
from .._base._digest import sha256_hex
from .._base._errors import CacheError, ValidationError
from .._spec._validate import validate_container_id, validate_ifname, validate_network_name
from ._files import (
    TEMP_MAX_AGE,
    attachment_tag,
    os_failure,
    read_regular,
    sweep_temp_files,
    sweep_temp_files_of,
    unlink,
    write_atomic,
)
from ._format import CACHE_KIND, INTENT_KIND
from ._locks import HeldLock, LockRequest, acquire, acquire_async

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

    from ._entry import CacheEntry, CacheProblem, CacheScan

__all__ = ["ResultCache"]

Key = tuple[str, str, str]


class ResultCache:
    """The result cache directory (libcni's ``cacheDir``): entries, intent records and locks.

    Layout under ``cache_dir`` (default ``/var/lib/cni``)::

        results/<network>-<containerID>-<ifName>   one entry per attachment (libcni's format)
        intents/<network>-<hash>                   an ADD that started and has not finished (cnilib)
        locks/<network>.lock                       the network's locks (cnilib)

    Every method validates the network name, container id and interface name first: they build
    file paths. Writes are atomic (temp file, fsync, rename); ``durable=True`` fsyncs the directory
    as well. Reads are safe without locks; callers serialize read-modify-write sequences with
    :meth:`lock` / :meth:`alock`. Only ``results/`` is libcni's: the other directories are where
    libcni, cnitool, containerd and CRI-O never look.
    """

    def __init__(
        self, cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR, *, durable: bool = False
    ) -> None:
        self.cache_dir = os.fspath(cache_dir)
        #: Also fsync the directory after a rename or unlink (survives power loss, costs two fsyncs).
        self.durable = durable
        self.results_dir = os.path.join(self.cache_dir, "results")
        self.intents_dir = os.path.join(self.cache_dir, "intents")
        self.locks_dir = os.path.join(self.cache_dir, "locks")

    def __repr__(self) -> str:
        return f"ResultCache({self.cache_dir!r})"

    # -- paths --

    @staticmethod
    def _check(network: str, container_id: str, ifname: str) -> Key:
        validate_network_name(network)
        validate_container_id(container_id)
        validate_ifname(ifname)
        return (network, container_id, ifname)

    def path_for(self, network: str, container_id: str, ifname: str) -> str:
        """libcni's file for the attachment: ``<cache_dir>/results/<network>-<id>-<ifname>``."""
        return self._entry_path(self._check(network, container_id, ifname))

    def _entry_path(self, key: Key) -> str:  # (key already validated)
        return f"{self.results_dir}/{key[0]}-{key[1]}-{key[2]}"

    def intent_path_for(self, network: str, container_id: str, ifname: str) -> str:
        """The attachment's intent record: ``<cache_dir>/intents/<network>-<hash>``; the hash (of
        all three names) keeps two attachments whose libcni file names collide apart."""
        return self._intent_path(self._check(network, container_id, ifname))

    def _intent_path(self, key: Key) -> str:  # (key already validated)
        digest = sha256_hex("\0".join(key).encode())[:32]
        return f"{self.intents_dir}/{key[0]}-{digest}"

    def lock_path_for(self, network: str) -> str:
        """The network's lock file: ``<cache_dir>/locks/<network>.lock``."""
        validate_network_name(network)
        return os.path.join(self.locks_dir, f"{network}.lock")

    # -- reading --

    # The typed values; the command line's fast path (``cnilib._cli._fast``) overrides these two.

    def _entry_from(self, data: bytes, path: str, key: Key | None, kind: str) -> CacheEntry:
        from ._entry import CacheEntry

        return CacheEntry.from_json_bytes(data, path=path, key=key, kind=kind)

    def _problem(self, path: str, message: str, *, foreign: bool = False) -> CacheProblem:
        from ._entry import CacheProblem

        return CacheProblem(path, message, foreign=foreign)

    def _parse(self, path: str, key: Key, kind: str) -> tuple[CacheEntry | None, CacheProblem | None]:
        data = read_regular(path)
        if data is None:
            return None, None
        try:
            entry = self._entry_from(data, path, key, kind)
        except CacheError as exc:
            return None, self._problem(path, str(exc).removeprefix(f"{path}: "))
        if entry.key != key:
            return None, self._problem(
                path,
                f"holds the entry of network {entry.network_name!r}, "
                f"container {entry.container_id!r}, interface {entry.ifname!r}",
                foreign=True,
            )
        return entry, None

    def read(self, network: str, container_id: str, ifname: str) -> CacheEntry | None:
        """The attachment's entry, or None when there is no file.

        Raises :class:`~cnilib.CacheError` (naming the file) for an empty, corrupt or foreign file,
        an unknown ``kind``, or a file that cannot be read (a FIFO, a directory, ...). A legacy file
        (bare result) is returned with ``legacy=True``.
        """
        entry, problem = self.read_tolerant(network, container_id, ifname)
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
        key = self._check(network, container_id, ifname)
        path = self._entry_path(key)
        entry, problem = self._parse(path, key, CACHE_KIND)
        if problem is not None and discard and not problem.foreign:
            unlink(path, durable=self.durable)
        return entry, problem

    def read_intent(self, network: str, container_id: str, ifname: str) -> CacheEntry | None:
        """The attachment's intent record, or None (a corrupt one is None too: it is unusable)."""
        key = self._check(network, container_id, ifname)
        try:
            entry, _ = self._parse(self._intent_path(key), key, INTENT_KIND)
        except CacheError:
            return None
        return entry

    def scan(self, network: str | None = None, container_id: str | None = None) -> CacheScan:
        """Every entry in ``results/`` (optionally of one network and/or container), and problems.

        Entries are identified by their content, not by splitting file names (names may contain
        ``-``); a file whose content does not match its name, a legacy file (no identity), or a file
        that cannot be read or parsed is reported in ``problems``. Temporary files are ignored (and
        old ones removed).
        """
        return self._scan(self.results_dir, CACHE_KIND, network, container_id)

    def scan_intents(self, network: str | None = None) -> CacheScan:
        """Every intent record (an ADD that has not finished), optionally of one network."""
        return self._scan(self.intents_dir, INTENT_KIND, network, None)

    def _scan(self, directory: str, kind: str, network: str | None, container_id: str | None) -> CacheScan:
        if network is not None:
            validate_network_name(network)
        if container_id is not None:
            validate_container_id(container_id)
        try:
            with os.scandir(directory) as it:
                names = sorted(e.name for e in it)
        except FileNotFoundError:
            return self._scan_result([], [])
        except OSError as exc:
            raise os_failure(f"cannot list cache directory {directory}", exc) from None
        if any(n.startswith(".") for n in names):
            with contextlib.suppress(CacheError):
                sweep_temp_files(directory, TEMP_MAX_AGE)
        entries: list[CacheEntry] = []
        problems: list[CacheProblem] = []
        for name in names:
            # Temporary files start with "."; the prefilter is cheap, the content check is the real one.
            if name.startswith(".") or (network is not None and not name.startswith(f"{network}-")):
                continue
            if container_id is not None and f"-{container_id}-" not in name:
                continue
            entry = self._scan_one(os.path.join(directory, name), name, kind, problems)
            if entry is None or (network is not None and entry.network_name != network):
                continue
            if container_id is None or entry.container_id == container_id:
                entries.append(entry)
        return self._scan_result(entries, problems)

    @staticmethod
    def _scan_result(entries: list[Any], problems: list[Any]) -> CacheScan:
        from ._entry import CacheScan

        return CacheScan(tuple(entries), tuple(problems))

    def _scan_one(self, path: str, name: str, kind: str, problems: list[CacheProblem]) -> CacheEntry | None:
        try:
            data = read_regular(path)
            if data is None:
                return None  # deleted while we listed
            entry = self._entry_from(data, path, None, kind)
        except CacheError as exc:
            problems.append(self._problem(path, str(exc).removeprefix(f"{path}: ")))
            return None
        try:
            expected = self.intent_path_for(*entry.key) if kind == INTENT_KIND else self.path_for(*entry.key)
        except ValidationError as exc:
            problems.append(self._problem(path, f"names an unusable attachment: {exc}"))
            return None
        if os.path.basename(expected) != name:
            problems.append(self._problem(path, f"content names another attachment ({entry.file_name})"))
            return None
        return entry

    def entries(self, network: str | None = None, container_id: str | None = None) -> list[CacheEntry]:
        """The usable entries of :meth:`scan` (problem files are skipped)."""
        return list(self.scan(network, container_id).entries)

    # -- writing --

    def write(self, entry: CacheEntry, *, owner_checked: bool = False) -> str:
        """Write ``entry`` atomically (temp file, fsync, rename); return its path.

        A crash at any point leaves the old entry or the new one, never a torn or empty file. A
        valid entry of another attachment with the same file name is never replaced: that raises
        :class:`~cnilib.CacheError`, as does any failure (the temporary file is removed then).
        ``owner_checked=True`` skips reading the file for that when the caller has just read it
        under the attachment's lock.
        """
        path = self.path_for(*entry.key)
        data = self._serialize(entry, path)
        # Without a "-" in any name, no other attachment can have this file name.
        if not owner_checked and any("-" in part for part in entry.key):
            _, problem = self._parse(path, entry.key, CACHE_KIND)
            if problem is not None and problem.foreign:
                raise CacheError(f"cannot write cache file {path}: it {problem.message}")
        self._put(self.results_dir, path, data, entry, "cache file")
        return path

    def write_intent(self, entry: CacheEntry) -> str:
        """Record durably that an ADD of ``entry``'s attachment is starting; return the path."""
        path = self.intent_path_for(*entry.key)
        intent = entry.as_intent()
        self._put(self.intents_dir, path, self._serialize(intent, path), entry, "intent record")
        return path

    def _put(self, directory: str, path: str, data: bytes, entry: CacheEntry, what: str) -> None:
        # The temp file names the network and the attachment, for the DEL/GC that may clean it up.
        tag = attachment_tag(entry.container_id, entry.ifname)
        write_atomic(
            directory, path, data, durable=self.durable, what=what, network=entry.network_name, tag=tag
        )

    @staticmethod
    def _serialize(entry: CacheEntry, path: str) -> bytes:
        try:
            return entry.to_json_bytes()
        except (TypeError, ValueError, RecursionError) as exc:
            raise CacheError(f"cannot serialize the cache entry for {path}: {exc}") from None

    def delete(self, network: str, container_id: str, ifname: str, *, owner_checked: bool = False) -> bool:
        """Remove the attachment's entry; True if a file was removed. Idempotent.

        A valid entry that belongs to another attachment with the same file name is left alone;
        ``owner_checked=True`` skips reading the file for that when the caller has just read it
        (under the attachment's lock) and knows it is not foreign.
        """
        key = self._check(network, container_id, ifname)
        path = self._entry_path(key)
        if not owner_checked and any("-" in part for part in key):
            try:
                _, problem = self._parse(path, key, CACHE_KIND)
            except CacheError:
                problem = None  # unreadable (a FIFO, ...): let unlink decide
            if problem is not None and problem.foreign:
                return False
        return unlink(path, durable=self.durable)

    def drop_intent(self, network: str, container_id: str, ifname: str) -> bool:
        """Remove the attachment's intent record; True if there was one."""
        return unlink(
            self.intent_path_for(network, container_id, ifname), durable=self.durable, what="intent record"
        )

    def remove_stale_temp_files(self, older_than: float = TEMP_MAX_AGE) -> list[str]:
        """Delete temporary files that crashed writers left behind (older than ``older_than`` s).

        Writes and scans already do this now and then; this does it now.
        """
        removed = sweep_temp_files(self.results_dir, older_than)
        return sorted(removed + sweep_temp_files(self.intents_dir, older_than))

    def remove_temp_files_of(
        self, network: str, container_id: str | None = None, ifname: str | None = None
    ) -> list[str]:
        """Delete now, whatever their age, the temporary files of ``network``'s writers (of one
        attachment when ``container_id`` and ``ifname`` are given). Only safe under that lock (the
        network's exclusively for a whole network: GC; the attachment's: its DEL), when none of
        those writers can be running."""
        validate_network_name(network)
        tag = None
        if container_id is not None and ifname is not None:
            self._check(network, container_id, ifname)
            tag = attachment_tag(container_id, ifname)
        removed = sweep_temp_files_of(self.results_dir, network, tag)
        return sorted(removed + sweep_temp_files_of(self.intents_dir, network, tag))

    # -- locks --

    def _lock_request(
        self, network: str, container_id: str | None, ifname: str | None, exclusive: bool
    ) -> LockRequest:
        if (container_id is None) != (ifname is None):
            raise ValidationError("lock: give both container_id and ifname, or neither")
        if container_id is not None and ifname is not None:
            self._check(network, container_id, ifname)
            if exclusive:
                raise ValidationError("lock: an attachment lock holds its network shared, never exclusive")
            return LockRequest(self.lock_path_for(network), network, (container_id, ifname), False)
        return LockRequest(self.lock_path_for(network), network, None, exclusive)

    @contextlib.contextmanager
    def lock(
        self,
        network: str,
        container_id: str | None = None,
        ifname: str | None = None,
        *,
        exclusive: bool = False,
        timeout: float | None = None,
    ) -> Iterator[HeldLock]:
        """Hold a lock of ``network`` (across threads and processes) in a ``with`` block.

        With ``container_id`` and ``ifname``: the attachment's lock, which is what ADD, DEL and CHECK
        hold (the network lock shared, then the attachment's own lock exclusively). Without them:
        the network lock alone, shared, or with ``exclusive=True`` exclusively, which is what GC
        holds (it waits for every ADD/DEL/CHECK of the network and keeps new ones out).
        ``timeout`` None waits forever; otherwise :class:`~cnilib.LockError` after that many
        seconds. Not re-entrant: taking a lock twice in one thread deadlocks (or times out).
        """
        held = acquire(self._lock_request(network, container_id, ifname, exclusive), timeout)
        try:
            yield held
        finally:
            held.release()

    @contextlib.asynccontextmanager
    async def alock(
        self,
        network: str,
        container_id: str | None = None,
        ifname: str | None = None,
        *,
        exclusive: bool = False,
        timeout: float | None = None,
    ) -> AsyncIterator[HeldLock]:
        """:meth:`lock` for asyncio: polls without blocking the event loop; cancellable."""
        held = await acquire_async(self._lock_request(network, container_id, ifname, exclusive), timeout)
        try:
            yield held
        finally:
            held.release()
