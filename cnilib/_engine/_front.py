"""The public front ends: :class:`CNI` (synchronous) and :class:`AsyncCNI` (asyncio).

Both share one constructor, the plans and the cache helpers (:class:`Common`); they differ only
in the driver that carries the plans out. Each verb is one line: build the plan, drive it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .._cache import CacheEntry, ResultCache
from .._exec import AsyncExecutor, AsyncSubprocessExecutor, Executor, SubprocessExecutor
from .._exec._tracing import AsyncTracingExecutor, TracingExecutor
from .._model._models import GCAttachment, NetworkConfigList, RuntimeConfig, VersionInfo
from .._model._results import AnyResult
from .._spec._leftover_items import Leftover
from .._spec._schemas import SchemaSource, catalog_from
from .._spec._version import Verb
from . import _admin, _teardown
from ._common import Common
from ._drivers import AsyncDriver, SyncDriver
from ._guarded import Guard, guarded_delete
from ._reports import ValidationReport

__all__ = ["CNI", "AsyncCNI"]


class CNI(Common[Executor]):
    __doc__ = "Run CNI plugins for configuration lists (the synchronous front end).\n\n" + (
        Common.__doc__ or ""
    )

    _driver: SyncDriver

    def _default_executor(self, kwargs: dict[str, Any]) -> Executor:
        return SubprocessExecutor(**kwargs)

    def _make_driver(self, executor: Executor, cache: ResultCache, limit: int | None) -> SyncDriver:
        return SyncDriver(executor, cache, limit)

    def _traced(self, executor: Executor) -> Executor:
        return TracingExecutor(executor)

    def add(
        self,
        conflist: NetworkConfigList,
        rt: RuntimeConfig,
        *,
        timeout: float | None = None,
        rollback: bool | None = None,
    ) -> AnyResult:
        """ADD: pre-flight checks, an intent record, every plugin in order with prevResult
        threading; cache and return the last result (an empty one if the last plugin printed null).

        A missing plugin, an unusable runtime value or a netns that is no network namespace
        (:class:`~cnilib.NetnsPathError`) fails before any plugin runs, and so does an attachment
        the cache says exists (:class:`~cnilib.AlreadyAttachedError`: DEL it first). Stops at the
        first failure without writing the cache; with ``rollback`` (default: the instance's) what
        this ADD applied is DELeted first. The error carries notes saying so. Without rollback, the
        intent record stays so that :meth:`gc` or :meth:`recover` can undo the partial ADD.
        """
        return self._driver.drive(self._add(conflist, rt, timeout, rollback))

    def delete(self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None) -> None:
        """DEL: every plugin in reverse with the cached result; the cache entry goes on success.

        CNI_ARGS and capability args default to the cached ones (explicit values win). Every
        plugin's DEL runs even when one fails; then a :class:`~cnilib.MultiError` names each failure
        and the entry is kept for a later DEL. A corrupt cache entry never blocks DEL; DEL twice
        succeeds. A netns that is missing or not a network namespace (a reboot's empty file) is
        gone: the plugins get an empty one, then what they leave without it is removed. A cache
        that cannot be written never stops the plugins: a :class:`~cnilib.CacheError` after them.
        """
        self._driver.drive(self._delete(conflist, rt, timeout))

    def check(self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None) -> None:
        """CHECK (>= 0.4.0; a no-op with ``disableCheck``): every plugin with the cached result."""
        self._driver.drive(self._check(conflist, rt, timeout))

    def status(self, conflist: NetworkConfigList, *, timeout: float | None = None) -> None:
        """STATUS (>= 1.1.0; nothing runs for older lists): raises the first plugin's error."""
        self._driver.drive(self._status(conflist, timeout))

    def gc(
        self,
        conflist: NetworkConfigList,
        valid_attachments: Iterable[GCAttachment] = (),
        *,
        timeout: float | None = None,
    ) -> list[CacheEntry]:
        """GC: DEL every cached attachment and every unfinished ADD of the network not in
        ``valid_attachments`` (for any version, as libcni), then (>= 1.1.0) send GC to every plugin.
        A no-op with ``disableGC``. Returns the cache entries and intent records (``is_intent``)
        it DELeted.

        Holds the network's lock exclusively: it waits for every ADD/DEL/CHECK of the network in
        progress (in any process) and none starts meanwhile. Failures are collected in a
        :class:`~cnilib.MultiError`.
        """
        return self._driver.drive(self._gc(conflist, tuple(valid_attachments), timeout))

    def recover(
        self,
        conflist: NetworkConfigList | None = None,
        *,
        container_id: str | None = None,
        timeout: float | None = None,
    ) -> list[CacheEntry]:
        """DEL every unfinished ADD (an intent record whose ADD crashed or failed without rollback)
        of ``conflist``'s network, or of every network with the list the ADD recorded; return the
        intent records undone. An ADD still running (its attachment lock is held) is skipped; one
        that was killed after its cache entry was written only loses its record.
        ``container_id``: only that container's (a runtime sharing the cache directory with
        others recovers its own)."""
        plan = _admin.recover(self._planner, conflist, container_id=container_id, timeout=timeout)
        return self._driver.drive(plan, bounded=False)

    def version_info(self, plugin: str, *, timeout: float | None = None) -> VersionInfo:
        """VERSION of one plugin type, with libcni's rules for plugins older than VERSION."""
        return self._driver.drive(_admin.version_info(self._planner, plugin, timeout=timeout))

    def validate(
        self,
        conflist: NetworkConfigList,
        *,
        timeout: float | None = None,
        schemas: SchemaSource | None = None,
    ) -> ValidationReport:
        """Probe every plugin's VERSION, check every plugin's fields against its schema and report
        every problem (the list's version unsupported, a plugin missing, a value the plugin would
        reject, a key it would ignore, ...) and the enabled capabilities. Does not raise for
        problems: see ``ok``.

        The schemas of the reference plugins ship with cnilib; ``schemas`` adds (or replaces) some:
        a mapping of plugin type to JSON Schema, or a directory of ``TYPE.json`` files. A plugin
        without a schema is not field-checked. A schema cnilib cannot use raises
        :class:`~cnilib.ConfigError`."""
        catalog = catalog_from(schemas)
        return self._driver.drive(_admin.validate(self._planner, conflist, timeout=timeout, catalog=catalog))

    def add_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        rollback: bool = True,
        timeout: float | None = None,
    ) -> list[AnyResult]:
        """Attach one container to several networks concurrently (ifnames ``eth0``..``ethN``
        unless given); results in the order of ``networks``. On any failure the other networks
        are detached again (unless ``rollback=False``) and a :class:`~cnilib.MultiError` names
        every failure (keys ``"<network>/<ifname>"``)."""
        return self._driver.drive(self._networks(networks, rt, ifnames, rollback, timeout), bounded=False)

    def delete_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """DEL one container from several networks concurrently; failures aggregated."""
        self._driver.drive(self._networks(networks, rt, ifnames, None, timeout), bounded=False)

    # -- cnilib.doctor's (private) --

    def _delete_guarded(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, guard: Guard, *, timeout: float | None = None
    ) -> bool:
        """:meth:`delete` only while the attachment's cache records are what ``guard`` expects
        (``_guarded.Guard``, checked under the attachment's lock): False when neither is left,
        ``_guarded.RecordChanged`` when they changed; nothing runs then."""
        plan = guarded_delete(self._planner, conflist, rt, guard, timeout=timeout)
        return self._driver.drive(self._op("delete", conflist, rt, plan))

    def _remove_leftovers(
        self, key: tuple[str, str, str], items: Sequence[Leftover], *, timeout: float | None = None
    ) -> None:
        """Remove the owned ``items`` (``cnilib._spec._leftovers``) of the attachment ``key`` (network,
        container id, ifname) with the sweep program, through the executor, as DEL does for a gone
        sandbox (the caller holds the lock it needs); a failure raises."""
        p = self._planner
        self._driver.drive(_teardown.remove(p, items, key, p.deadline(Verb.DEL, timeout)))


class AsyncCNI(Common[AsyncExecutor]):
    __doc__ = (
        "The asyncio front end: the same verbs as :class:`CNI`, as coroutines; the same plans.\n\n"
        "Plugin processes are watched by the event loop, cache writes run in a worker thread, and "
        "cancelling a call kills the running plugin's process group; a cancelled ADD is then "
        "treated as a failed one (rolled back when ``rollback`` or, for a caller's timeout, "
        "``cleanup_on_timeout`` asks for it), a cancelled DEL stops with its entry kept. "
        "Usable as ``async with``.\n\n" + (Common.__doc__ or "")
    )

    _driver: AsyncDriver

    def _default_executor(self, kwargs: dict[str, Any]) -> AsyncExecutor:
        return AsyncSubprocessExecutor(**kwargs)

    def _make_driver(self, executor: AsyncExecutor, cache: ResultCache, limit: int | None) -> AsyncDriver:
        return AsyncDriver(executor, cache, limit)

    def _traced(self, executor: AsyncExecutor) -> AsyncExecutor:
        return AsyncTracingExecutor(executor)

    async def __aenter__(self) -> AsyncCNI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def add(
        self,
        conflist: NetworkConfigList,
        rt: RuntimeConfig,
        *,
        timeout: float | None = None,
        rollback: bool | None = None,
    ) -> AnyResult:
        """ADD (see :meth:`CNI.add`)."""
        return await self._driver.drive(self._add(conflist, rt, timeout, rollback))

    async def delete(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None
    ) -> None:
        """DEL (see :meth:`CNI.delete`)."""
        await self._driver.drive(self._delete(conflist, rt, timeout))

    async def check(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None
    ) -> None:
        """CHECK (see :meth:`CNI.check`)."""
        await self._driver.drive(self._check(conflist, rt, timeout))

    async def status(self, conflist: NetworkConfigList, *, timeout: float | None = None) -> None:
        """STATUS (see :meth:`CNI.status`)."""
        await self._driver.drive(self._status(conflist, timeout))

    async def gc(
        self,
        conflist: NetworkConfigList,
        valid_attachments: Iterable[GCAttachment] = (),
        *,
        timeout: float | None = None,
    ) -> list[CacheEntry]:
        """GC (see :meth:`CNI.gc`); the entries and intent records it DELeted."""
        return await self._driver.drive(self._gc(conflist, tuple(valid_attachments), timeout))

    async def recover(
        self,
        conflist: NetworkConfigList | None = None,
        *,
        container_id: str | None = None,
        timeout: float | None = None,
    ) -> list[CacheEntry]:
        """Undo unfinished ADDs (see :meth:`CNI.recover`)."""
        plan = _admin.recover(self._planner, conflist, container_id=container_id, timeout=timeout)
        return await self._driver.drive(plan, bounded=False)

    async def version_info(self, plugin: str, *, timeout: float | None = None) -> VersionInfo:
        """VERSION (see :meth:`CNI.version_info`)."""
        return await self._driver.drive(_admin.version_info(self._planner, plugin, timeout=timeout))

    async def validate(
        self,
        conflist: NetworkConfigList,
        *,
        timeout: float | None = None,
        schemas: SchemaSource | None = None,
    ) -> ValidationReport:
        """Validate (see :meth:`CNI.validate`)."""
        import asyncio

        catalog = await asyncio.to_thread(catalog_from, schemas)  # (it may read a directory)
        plan = _admin.validate(self._planner, conflist, timeout=timeout, catalog=catalog)
        return await self._driver.drive(plan)

    async def add_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        rollback: bool = True,
        timeout: float | None = None,
    ) -> list[AnyResult]:
        """Attach to several networks concurrently (see :meth:`CNI.add_networks`)."""
        return await self._driver.drive(
            self._networks(networks, rt, ifnames, rollback, timeout), bounded=False
        )

    async def delete_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """DEL from several networks concurrently (see :meth:`CNI.delete_networks`)."""
        await self._driver.drive(self._networks(networks, rt, ifnames, None, timeout), bounded=False)
