"""The rollback of a failed ADD: DEL the plugins that may have applied, then remove what this ADD
wrote to the cache, and nothing else (an earlier ADD's intent record stays for GC/recover())."""

from __future__ import annotations

from .._base._errors import CacheError, ResultError
from .._spec._version import version_at_least
from ._effects import DeleteEntry, DropIntent
from ._notes import add_note

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any, Protocol

    from .._base._errors import CNIError
    from .._model._results import Result
    from .._spec._seam import ConfList, Runtime
    from ._effects import Plan
    from ._values import Values

    class Planner(Protocol):
        """What the rollback needs of :class:`~cnilib._engine._plans.Planner` (which imports this
        module)."""

        values: Values[Any]

        def cleanup_deadline(self) -> float | None: ...

        def del_plugins(
            self,
            conflist: ConfList,
            rt: Runtime,
            version: str,
            prev: Result | None,
            deadline: float | None,
            *,
            last: int,
        ) -> Plan[dict[str, BaseException]]: ...


__all__ = ["Progress", "rollback_add"]


class Progress:
    """How far an ADD got: the last plugin's result, the last plugin that may have applied,
    whether it may have written the entry, and whether an earlier ADD's intent record was there before."""

    __slots__ = ("earlier", "last", "result", "wrote")

    def __init__(self, earlier: bool) -> None:
        self.result: Any = None
        self.last = -1
        self.wrote = False
        self.earlier = earlier


def rollback_add(
    p: Planner, conflist: ConfList, rt: Runtime, *, version: str, done: Progress, exc: CNIError
) -> Plan[None]:
    """DEL plugins ``done.last``..0 in reverse, best effort, under a fresh deadline (the ADD's may
    be what just expired), and remove what this ADD wrote; the outcome becomes a note on ``exc``."""
    key = (conflist.name, rt.container_id, rt.ifname)
    if done.last >= 0:
        prev = _prev(p, version, done.result)
        failures = yield from p.del_plugins(conflist, rt, version, prev, p.cleanup_deadline(), last=done.last)
        if failures:
            # The intent record stays: GC or recover() finishes the job.
            add_note(
                exc,
                "cleanup DEL after the failed ADD also failed: "
                + "; ".join(f"{k}: {v}" for k, v in failures.items()),
            )
            return
        add_note(exc, f"the partly applied ADD was rolled back with DEL (plugins[{done.last}]..plugins[0])")
    else:
        add_note(exc, "nothing to roll back: no plugin of the ADD had run")
    try:
        if done.wrote:  # (it failed at or after writing the entry, which would now lie)
            yield DeleteEntry(key, owner_checked=True)
        if done.earlier:
            # The record (now this ADD's) stays, so that what the earlier ADD applied is undone too.
            add_note(exc, "the intent record of an earlier unfinished ADD is kept for GC/recover()")
        else:
            yield DropIntent(key)
    except CacheError as err:
        add_note(exc, f"the cache could not be cleaned up: {err}")


def _prev(p: Planner, version: str, applied: Any) -> Any:
    """The prevResult of the rollback's DELs: the last result, in the list's version (0.4.0 on)."""
    if not (version_at_least(version, "0.4.0") and p.values.is_result(applied)):
        return None
    try:
        return p.values.convert(applied, version)
    except ResultError:
        return None
