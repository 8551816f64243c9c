"""The locks a running operation hands to the plugins it starts (see :class:`OperationLocks`).

On the command line's fast path: no attrs, no typing (``contextvars`` is cheap).
"""

from __future__ import annotations

import contextvars


class OperationLocks:
    """The lock descriptors of the operation (a driven plan) that is running plugins.

    Every plugin it starts inherits them (``pass_fds``): the open file descriptions, and so their
    record locks, then live as long as the plugin and whatever it started with them, even when
    the runtime is killed, so GC and ``recover()`` never act on an attachment whose plugin still
    runs. ``pending`` counts the plugins started whose end was not seen (their group killed or
    the plugin reaped); the driver releases the locks explicitly (for every holder) only when it
    is 0, else it only closes its own descriptors and the locks end with the last holder.
    """

    __slots__ = ("fds", "pending")

    def __init__(self) -> None:
        self.fds: tuple[int, ...] = ()
        self.pending = 0


#: The running operation's locks, set by the drivers around ``executor.run`` (per thread and per
#: task), read by the subprocess executors when they spawn: the Executor protocol stays as it is.
OPERATION_LOCKS: contextvars.ContextVar[OperationLocks | None] = contextvars.ContextVar(
    "cnilib_operation_locks", default=None
)


def spawning(locks: OperationLocks | None) -> tuple[int, ...]:
    """Count a plugin about to be spawned; the descriptors it must inherit."""
    if locks is None:
        return ()
    locks.pending += 1
    return locks.fds


def gone(locks: OperationLocks | None) -> None:
    """The plugin counted by :func:`spawning` is gone (or never started)."""
    if locks is not None:
        locks.pending -= 1
