"""The invoker: the sans-IO plugin protocol (``_protocol``: requests and outcomes) and the only place
that starts processes: plugin discovery and the sync/asyncio subprocess executors (``_tracing``
wraps them in spans and logs).

Each plugin runs in its own process group, with argv never going through a shell. stdin is written
while stdout and stderr are drained concurrently, each capped so a runaway plugin cannot exhaust
memory. On a deadline (or asyncio cancellation) the whole group gets SIGTERM, a short grace, then
SIGKILL, and the call returns even if a grandchild escaped holding the pipes. A plugin that exited
while a child it left behind still holds the pipes is waited for ``linger`` seconds, then that child
is killed with the group. A plugin started for an operation of the engine inherits the
descriptors of the locks that operation holds (see ``cnilib._base._operation``): killing the runtime
never frees an attachment whose plugin still runs.

Names are loaded on first use: the command line's fast path imports ``_discovery`` and ``_proc``
without the attrs-based executors and protocol.
"""

from __future__ import annotations

from .._base._lazy import lazy_getattr
from ._discovery import check_plugin_name, find_plugin
from ._proc import DEFAULT_ENV_ALLOW

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from ._async import AsyncSubprocessExecutor
    from ._options import AsyncExecutor, Executor
    from ._sync import SubprocessExecutor

__all__ = [
    "DEFAULT_ENV_ALLOW",
    "AsyncExecutor",
    "AsyncSubprocessExecutor",
    "Executor",
    "SubprocessExecutor",
    "check_plugin_name",
    "find_plugin",
]

_LAZY = {
    "AsyncExecutor": "._options",
    "Executor": "._options",
    "AsyncSubprocessExecutor": "._async",
    "SubprocessExecutor": "._sync",
}


__getattr__ = lazy_getattr(globals(), _LAZY)
