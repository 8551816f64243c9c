"""The effects a plan yields: plain data, interpreted by a driver.

A plan (``_plans``) is a generator. It yields one of these objects and receives the outcome (or has
the driver's :class:`~cnilib.CNIError` thrown in). Nothing here does I/O by itself except the cache
effects' ``apply``, which a driver calls with its store. A driver tells what an effect does from its
TYPE alone: :class:`Run` starts a plugin, :class:`Sleep` waits, :class:`TakeLock` locks (held until
the plan ends), :class:`Gather` runs sub-plans concurrently, a :class:`CacheRead` only reads (a dry
run performs it for real) and a :class:`CacheWrite` changes the disk (a dry run skips it).
Slotted classes, not attrs: one is made per plugin run and per file operation.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence

from .._base._errors import CNIError

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any, TypeAlias, TypeVar

    from .._cache import CacheEntry, CacheProblem, CacheScan, ResultCache
    from .._spec._leftover_items import Leftover
    from .._spec._seam import Entry, Request

__all__ = [
    "CacheRead",
    "Cancelled",
    "CacheWrite",
    "DeleteEntry",
    "DropIntent",
    "Effect",
    "Gather",
    "Placeholder",
    "ProbeLeftovers",
    "Plan",
    "ProbeNetns",
    "ReadEntry",
    "ReadIntent",
    "Run",
    "ScanEntries",
    "ScanIntents",
    "Simulated",
    "SweepTemp",
    "Sleep",
    "TakeLock",
    "WriteEntry",
    "WriteIntent",
]

Key = tuple[str, str, str]
# _FAMILY_NOTE: effects carry the values of the plan's family (cnilib._spec._seam): the typed
# models, or the command line's plain values. The driver hands them to its executor and store,
# which are of the same family; the type checker cannot follow that through a plan's yields.


class Run:
    """Run ``request`` with at most ``timeout`` seconds; the answer is its :class:`ExecOutcome`.

    The plan itself computes the timeout from its deadline, decodes the outcome and reports the run.
    """

    __slots__ = ("index", "request", "timeout")

    def __init__(self, request: Request, timeout: float | None, index: int = 0) -> None:
        self.request = request
        self.timeout = timeout
        self.index = index


class Cancelled(CNIError):
    """Thrown into a plan by the asyncio driver when the task awaiting a :class:`Run` is cancelled
    (the plugin's process group is already killed). Plans treat it as a failed plugin: an ADD rolls
    back when asked to; a DEL stops. Never seen by callers: the driver raises the
    :class:`asyncio.CancelledError` again once the plan has ended."""


class Simulated:
    """A dry run's answer to :class:`Run`: ``value`` stands for the decoded outcome."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value


class Placeholder:
    """Stands for a result that only exists once an earlier plugin has run (dry runs)."""

    def __init__(self, index: int, plugin: str) -> None:
        self.text = f"<result of plugins[{index}] ({plugin})>"


class Sleep:
    """Pause ``seconds`` (retry backoff)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


class TakeLock:
    """Take a lock of ``network`` (an attachment's when ``attachment`` is given, else the network
    lock, ``exclusive`` for GC); the driver holds it until the plan ends. ``timeout`` 0 means
    "only if free" (:class:`~cnilib.LockError` otherwise)."""

    __slots__ = ("attachment", "exclusive", "network", "timeout")

    def __init__(
        self, network: str, attachment: tuple[str, str] | None, *, exclusive: bool, timeout: float | None
    ) -> None:
        self.network = network
        self.attachment = attachment
        self.exclusive = exclusive
        self.timeout = timeout


class Gather:
    """Run ``plans`` concurrently; the answer lists each one's value or :class:`~cnilib.CNIError`."""

    __slots__ = ("plans",)

    def __init__(self, plans: Sequence[Plan[Any]]) -> None:
        self.plans = tuple(plans)


class CacheRead:
    """Base of effects that only read the cache. ``quick``: one small file, done inline even on
    an event loop (a worker thread hand-off would cost more)."""

    __slots__ = ()
    quick = True

    def apply(self, store: ResultCache) -> Any:
        """Do the read."""
        raise NotImplementedError


class CacheWrite:
    """Base of effects that change the cache (fsync: never on an event loop; skipped by dry runs)."""

    __slots__ = ()

    def apply(self, store: ResultCache) -> Any:
        """Do the write."""
        raise NotImplementedError


class ReadEntry(CacheRead):
    """The attachment's entry and any problem with its file: ``(entry, problem)``."""

    __slots__ = ("key",)

    def __init__(self, key: Key) -> None:
        self.key = key

    def apply(self, store: ResultCache) -> tuple[CacheEntry | None, CacheProblem | None]:
        return store.read_tolerant(*self.key)


class ReadIntent(CacheRead):
    """The attachment's intent record, or None."""

    __slots__ = ("key",)

    def __init__(self, key: Key) -> None:
        self.key = key

    def apply(self, store: ResultCache) -> CacheEntry | None:
        return store.read_intent(*self.key)


class ProbeNetns(CacheRead):
    """Whether ``path`` is a live network namespace (``cnilib._base._nsprobe``'s states): a read of the
    node, not of the cache, but like one to a driver (done inline, by dry runs too: one stat)."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def apply(self, store: ResultCache) -> str:  # noqa: ARG002 (the node, not the store)
        from .._base._nsprobe import netns_state

        return netns_state(self.path)


class ProbeLeftovers(CacheRead):
    """Which of ``items`` (owned leftovers of a gone sandbox) may still be on the node: files and
    host-local's reservations are looked at, chains and links may be (``_sweep.may_remain``). A
    read of the node, like one of the cache to a driver (a worker thread on asyncio: a
    reservation directory is listed), and performed by dry runs too."""

    __slots__ = ("items",)
    quick = False

    def __init__(self, items: Sequence[Leftover]) -> None:
        self.items = tuple(items)

    def apply(self, store: ResultCache) -> list[Leftover]:  # noqa: ARG002 (the node, not the store)
        from ._sweep import may_remain

        return [item for item in self.items if may_remain(item.to_dict())]


class ScanEntries(CacheRead):
    """Every entry of ``network`` (a :class:`CacheScan`)."""

    __slots__ = ("network",)
    quick = False

    def __init__(self, network: str) -> None:
        self.network = network

    def apply(self, store: ResultCache) -> CacheScan:
        return store.scan(network=self.network)


class ScanIntents(CacheRead):
    """Every intent record of ``network`` (of every network for None), a :class:`CacheScan`."""

    __slots__ = ("network",)
    quick = False

    def __init__(self, network: str | None) -> None:
        self.network = network

    def apply(self, store: ResultCache) -> CacheScan:
        return store.scan_intents(network=self.network)


class WriteEntry(CacheWrite):
    """Write the attachment's entry (never over another attachment's; ``owner_checked``: the plan
    read the file under the attachment's lock and knows it is not another attachment's)."""

    __slots__ = ("entry", "owner_checked")

    def __init__(self, entry: Entry, *, owner_checked: bool = False) -> None:
        self.entry = entry
        self.owner_checked = owner_checked

    def apply(self, store: ResultCache) -> str:
        # The plan's values and the driver's store are of one family (_FAMILY_NOTE).
        return store.write(self.entry, owner_checked=self.owner_checked)  # type: ignore[arg-type]


class DeleteEntry(CacheWrite):
    """Remove the attachment's entry (``owner_checked``: it was just read and is its own)."""

    __slots__ = ("key", "owner_checked")

    def __init__(self, key: Key, *, owner_checked: bool) -> None:
        self.key = key
        self.owner_checked = owner_checked

    def apply(self, store: ResultCache) -> bool:
        return store.delete(*self.key, owner_checked=self.owner_checked)


class WriteIntent(CacheWrite):
    """Record durably that an ADD starts (identity, netns, arguments, the list's bytes)."""

    __slots__ = ("entry",)

    def __init__(self, entry: Entry) -> None:
        self.entry = entry

    def apply(self, store: ResultCache) -> str:
        return store.write_intent(self.entry)  # type: ignore[arg-type]  # (see WriteEntry)


class DropIntent(CacheWrite):
    """Remove the attachment's intent record (the ADD finished, was rolled back or DELeted)."""

    __slots__ = ("key",)

    def __init__(self, key: Key) -> None:
        self.key = key

    def apply(self, store: ResultCache) -> bool:
        return store.drop_intent(*self.key)


class SweepTemp(CacheWrite):
    """Remove what killed writers half-wrote: the network's (GC, holding its lock exclusively) or
    one attachment's (its DEL, holding the attachment's lock); none of those writers is running."""

    __slots__ = ("attachment", "network")

    def __init__(self, network: str, attachment: tuple[str, str] | None = None) -> None:
        self.network = network
        self.attachment = attachment

    def apply(self, store: ResultCache) -> list[str]:
        return store.remove_temp_files_of(self.network, *(self.attachment or (None, None)))


Effect: TypeAlias = Run | Sleep | TakeLock | Gather | CacheRead | CacheWrite
if TYPE_CHECKING:
    T = TypeVar("T")
    Plan: TypeAlias = Generator[Effect, Any, T]
else:
    Plan = Generator  # (subscripted only in annotations, which are not evaluated)
