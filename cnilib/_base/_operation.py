"""The operation (a driven plan) on whose behalf the subprocess executors start plugins: a leaf
module shared by the executors, the drivers and the command line's signal handling.

On the command line's fast path: no attrs, no typing (``contextvars`` is cheap).
"""

from __future__ import annotations

import contextvars


class Operation:
    """What the running operation shares with the plugins it starts, and with a signal handler.

    ``fds``: the descriptors of its locks. Every plugin it starts inherits them (``pass_fds``):
    the open file descriptions, and so their record locks, then live as long as the plugin and
    whatever it started with them, even when the runtime is killed, so GC and ``recover()`` never
    act on an attachment whose plugin still runs.

    ``pending``: plugins started whose end was not seen (reaped, or their group killed). The driver
    releases the locks for every holder only when it is 0; otherwise it merely closes its own
    descriptors, and the locks end with the last holder.

    ``stop``: set by a signal handler that arrived while a plugin ran (``pending``) instead of
    raising in the middle of it: the plugin finishes, then the driver raises ``stop``. A plugin
    killed half-way may leave what its DEL cannot undo (bridge deletes the veth before the
    masquerade rules it finds through the veth's addresses).
    """

    __slots__ = ("fds", "pending", "stop")

    def __init__(self) -> None:
        self.fds: tuple[int, ...] = ()
        self.pending = 0
        self.stop: BaseException | None = None


#: The operation running in this thread or task: set by the drivers around ``executor.run``, read
#: by the subprocess executors when they spawn. The Executor protocol stays as it is.
OPERATION: contextvars.ContextVar[Operation | None] = contextvars.ContextVar("cnilib_operation", default=None)


def spawning(op: Operation | None) -> tuple[int, ...]:
    """Count a plugin about to be spawned; the descriptors it must inherit."""
    if op is None:
        return ()
    op.pending += 1
    return op.fds


def gone(op: Operation | None) -> None:
    """The plugin counted by :func:`spawning` is gone (or never started)."""
    if op is not None:
        op.pending -= 1
