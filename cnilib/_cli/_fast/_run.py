"""ADD and DEL on the fast path: the engine's own plans and sync driver, with the fast path's
values, an executor and a store that make and read those values."""

from __future__ import annotations

from ..._base._defaults import DEFAULT_CONCURRENCY, plugin_dirs_from
from ..._cache._format import parse_entry
from ..._cache._store import ResultCache
from ..._engine._drivers import SyncDriver
from ..._engine._plain import LeanConfList, LeanEntry, LeanOutcome, LeanProblem, LeanRuntime, LeanValues
from ..._engine._plans import Planner
from ..._exec._proc import SyncRunner

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

    from ..._engine._plain import LeanAnswer
    from ..._spec._seam import ResultDoc

__all__ = ["LeanEngine"]


class LeanExecutor(SyncRunner[LeanOutcome]):
    """:class:`~cnilib.SubprocessExecutor` with its default options (Spawner's), making fast-path
    outcomes."""

    __slots__ = ()

    def _make_outcome(self, **fields: Any) -> LeanOutcome:
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

    def add(self, conflist: LeanConfList, rt: LeanRuntime) -> LeanAnswer:
        """ADD (no rollback, as ``cnilib.CNI``'s default); the result."""
        return self.driver.drive(self.planner.add(conflist, rt, timeout=None, rollback=False))

    def cached_result(self, conflist: LeanConfList, rt: LeanRuntime) -> ResultDoc | None:
        """:meth:`cnilib.CNI.cached_result`."""
        entry = self.store.read(*self.planner.lock_key(conflist, rt))
        if entry is None or entry.result is None:
            return None
        return self.values.cached_result(entry, self.planner.version_of(conflist))

    def delete(self, conflist: LeanConfList, rt: LeanRuntime) -> None:
        """DEL."""
        self.driver.drive(self.planner.delete(conflist, rt, timeout=None))
