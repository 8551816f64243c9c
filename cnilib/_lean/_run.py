"""ADD and DEL on the fast path: the engine's own plans and sync driver, with the fast path's
values, an executor and a store that make and read those values."""

from __future__ import annotations

from collections.abc import Mapping

from .._cache._format import parse_entry
from .._cache._store import ResultCache
from .._defaults import DEFAULT_CONCURRENCY, plugin_dirs_from
from .._engine._drivers import SyncDriver
from .._engine._plans import Planner
from .._exec._proc import DEFAULT_ENV_ALLOW, KILL_GRACE, LINGER, OUTPUT_LIMIT, SyncRunner
from ._values import LeanConfList, LeanEntry, LeanOutcome, LeanProblem, LeanRuntime, LeanValues

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["LeanEngine"]


class LeanExecutor(SyncRunner):
    """:class:`~cnilib.SubprocessExecutor` with its default options, making fast-path outcomes."""

    __slots__ = (
        "argv_prefix",
        "env",
        "env_allow",
        "extra_env",
        "kill_grace",
        "linger",
        "output_limit",
        "parent_env",
    )

    def __init__(self) -> None:
        # SubprocessExecutor's defaults (tests/test_lean.py compares every field).
        self.env = "inherit"
        self.env_allow = DEFAULT_ENV_ALLOW
        self.extra_env: Mapping[str, str] = {}
        self.argv_prefix: tuple[str, ...] = ()
        self.output_limit = OUTPUT_LIMIT
        self.kill_grace = KILL_GRACE
        self.linger = LINGER
        self.parent_env = None

    def _make_outcome(self, **fields: Any) -> Any:
        return LeanOutcome(**fields)


class LeanStore(ResultCache):
    """The result cache, reading entries as fast-path values (same files, same checks)."""

    def _entry_from(self, data: bytes, path: str, key: tuple[str, str, str] | None, kind: str) -> Any:
        return LeanEntry(**parse_entry(data, path=path, key=key, kind=kind), path=path)

    def _problem(self, path: str, message: str, *, foreign: bool = False) -> Any:
        return LeanProblem(path, message, foreign=foreign)


class LeanEngine:
    """What ``cnilib.CNI(plugin_dirs, cache_dir, timeout)`` does for ADD and DEL, on fast-path values."""

    def __init__(self, plugin_dirs: list[str] | None, cache_dir: str, timeout: float | None) -> None:
        self.values = LeanValues()
        self.timeout = timeout
        self.planner = Planner(plugin_dirs=plugin_dirs_from(plugin_dirs), timeout=timeout, values=self.values)
        self.store = LeanStore(cache_dir)
        self.driver = SyncDriver(LeanExecutor(), self.store, DEFAULT_CONCURRENCY)

    # The plans are annotated with the typed models; these values have the same attributes.

    def add(self, conflist: LeanConfList, rt: LeanRuntime) -> Any:
        """ADD (no rollback, as ``cnilib.CNI``'s default); the result."""
        net: Any = conflist
        runtime: Any = rt
        return self.driver.drive(self.planner.add(net, runtime, timeout=None, rollback=False))

    def cached_result(self, conflist: LeanConfList, rt: LeanRuntime) -> Any:
        """:meth:`cnilib.CNI.cached_result`."""
        net: Any = conflist
        runtime: Any = rt
        entry: Any = self.store.read(*self.planner.lock_key(net, runtime))
        if entry is None or entry.result is None:
            return None
        return self.values.cached_result(entry, self.planner.version_of(net))

    def delete(self, conflist: LeanConfList, rt: LeanRuntime) -> None:
        """DEL."""
        net: Any = conflist
        runtime: Any = rt
        self.driver.drive(self.planner.delete(net, runtime, timeout=None))
