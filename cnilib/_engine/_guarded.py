"""The guarded DEL (``cnilib doctor``'s): under the attachment's lock, DEL only while the cache
entry and intent record are the ones the caller read, so that a runtime's DEL and re-ADD in between
is never undone."""

from __future__ import annotations

from .._base._errors import CNIError
from ._effects import ReadEntry, ReadIntent, TakeLock

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from .._spec._seam import ConfList, Entry, Runtime
    from ._effects import Plan
    from ._plans import Planner

__all__ = ["Guard", "RecordChanged", "guarded_delete"]

Key = tuple[str, str, str]


class RecordChanged(CNIError):
    """A guarded DEL refused: the attachment's cache entry or intent record is not what the caller
    read (a runtime DELeted and ADDed it again meanwhile, say). Nothing ran."""


class Guard:
    """What a guarded DEL expects under the attachment's lock: its cache entry and its intent
    record as the caller read them (None: absent), and how long to wait for the lock. The caller
    decided from them that the attachment is stale; they are what it decided about."""

    __slots__ = ("entry", "intent", "lock_timeout")

    def __init__(self, entry: Entry | None, intent: Entry | None, *, lock_timeout: float | None) -> None:
        self.entry = entry
        self.intent = intent
        self.lock_timeout = lock_timeout

    def lock(self, key: Key) -> TakeLock:
        """The attachment's lock, as DEL takes it, waiting at most ``lock_timeout``."""
        return TakeLock(key[0], (key[1], key[2]), exclusive=False, timeout=self.lock_timeout)

    def holds(self, key: Key) -> Plan[bool]:
        """Under the lock: True when the records are the expected ones (DEL goes on), False when
        neither is left (what the caller saw is gone: nothing to DEL); :class:`RecordChanged`
        otherwise. Records are compared by what they hold (every field of the file, parsed)."""
        entry, problem = yield ReadEntry(key)
        intent = yield ReadIntent(key)
        if problem is None and entry == self.entry and intent == self.intent:
            return True
        if problem is None and entry is None and intent is None:
            return False
        raise RecordChanged(
            f"DEL of {key[1]}/{key[2]} from network {key[0]!r} refused: its cache entry or intent "
            "record changed since it was read (nothing was run)"
        )


def guarded_delete(
    p: Planner, conflist: ConfList, rt: Runtime, guard: Guard, *, timeout: float | None
) -> Plan[bool]:
    """``Planner.delete`` under ``guard``: True when the DEL ran, False when neither record is left
    (nothing to DEL), :class:`RecordChanged` when they are not the expected ones."""
    p.check_list(conflist)
    key = p.lock_key(conflist, rt)
    yield guard.lock(key)
    if not (yield from guard.holds(key)):
        return False
    yield from p.delete_locked(conflist, rt, timeout=timeout)
    return True
