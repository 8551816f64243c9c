"""The executor protocols and the subprocess executors' options (attrs fields)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, Protocol

import attrs

from ._proc import Spawner
from ._protocol import ExecOutcome, ExecRequest, _str_tuple

__all__ = ["AsyncExecutor", "Executor"]


class Executor(Protocol):
    """Runs one :class:`ExecRequest` to completion (the seam a fake executor replaces)."""

    def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return what happened; never raises for plugin failures."""
        ...


class AsyncExecutor(Protocol):
    """The asyncio flavour of :class:`Executor`."""

    async def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return what happened; cancellation kills the plugin's group."""
        ...


@attrs.define
class _Base(Spawner[ExecOutcome]):
    # The defaults are Spawner's (the command line's executor has them too).
    env: Literal["inherit", "clean"] = Spawner.env
    env_allow: tuple[str, ...] = attrs.field(default=Spawner.env_allow, converter=_str_tuple)
    extra_env: Mapping[str, str] = attrs.field(factory=dict)
    argv_prefix: tuple[str, ...] = attrs.field(default=Spawner.argv_prefix, converter=_str_tuple)
    output_limit: int = Spawner.output_limit
    kill_grace: float = Spawner.kill_grace
    linger: float = Spawner.linger
    parent_env: Callable[[], Mapping[bytes, bytes]] | None = Spawner.parent_env

    def _make_outcome(self, **fields: Any) -> ExecOutcome:
        return ExecOutcome(**fields)
