"""Configuration, plans and cache helpers shared by :class:`CNI` and :class:`AsyncCNI`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar, cast

from .._base._defaults import DEFAULT_CACHE_DIR, DEFAULT_CONCURRENCY, plugin_dirs_from
from .._base._errors import ValidationError
from .._cache import CacheEntry, ResultCache
from .._exec import AsyncExecutor, AsyncSubprocessExecutor, Executor, SubprocessExecutor
from .._exec._tracing import operation_span
from .._model._models import GCAttachment, NetworkConfigList, RuntimeConfig, cached_runtime
from .._model._results import AnyResult
from .._spec._version import Verb
from . import _admin
from ._drivers import dry_run
from ._effects import Plan
from ._plans import Planner
from ._reports import PlannedCall, PluginRun, RetryPolicy
from ._teardown import sees_plugin_paths
from ._values import TypedValues

__all__ = ["DEFAULT_CONCURRENCY", "Common"]

E = TypeVar("E", Executor, AsyncExecutor)
T = TypeVar("T")


def _verb(key: Verb | str) -> Verb:
    return key if isinstance(key, Verb) else Verb(key.upper())


class Common(Generic[E]):
    """Configuration, plans and cache helpers shared by :class:`CNI` and :class:`AsyncCNI`.

    ``plugin_dirs`` defaults to ``$CNI_PATH`` (else ``/opt/cni/bin``, ``/usr/libexec/cni``,
    ``/usr/lib/cni``). ``timeout`` bounds a whole operation (all plugins of a verb); ``timeouts``
    overrides it per verb. ``rollback``: a failed ADD runs DEL for what was applied. ``retry``: retry
    plugins answering code 11. ``cleanup_on_timeout``: after a timed-out ADD, DEL under a fresh
    deadline (``cleanup_timeout``). ``on_plugin`` is called after every plugin run with timings (an
    exception it raises propagates); every run is also logged to the ``cnilib`` logger (DEBUG, and
    WARNING for failures). ``env``/``env_allow``/``extra_env``/``argv_prefix`` configure the default
    executor (see :class:`~cnilib.SubprocessExecutor`); ``executor`` replaces it (e.g. a fake).
    ``concurrency`` bounds how many operations run at once (None: unlimited).
    Operations on one (network, container, ifname) are serialized across threads and processes; GC
    excludes ADD/DEL/CHECK on its network (``lock_timeout`` and the operation's timeout bound the
    waits: :class:`~cnilib.LockError` names who holds the lock). Cache entries are
    fsynced before they replace the old ones; ``durable_cache`` also fsyncs the directory.
    """

    _driver: Any

    def __init__(
        self,
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
        timeout: float | None = None,
        *,
        executor: E | None = None,
        env: Literal["inherit", "clean"] = "inherit",
        env_allow: Sequence[str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        argv_prefix: Sequence[str] = (),
        timeouts: Mapping[Verb | str, float] | None = None,
        rollback: bool = False,
        retry: RetryPolicy | None = None,
        cleanup_on_timeout: bool = False,
        cleanup_timeout: float | None = None,
        lock_timeout: float | None = None,
        durable_cache: bool = False,
        on_plugin: Callable[[PluginRun], None] | None = None,
        concurrency: int | None = DEFAULT_CONCURRENCY,
    ) -> None:
        if concurrency is not None and concurrency < 1:
            raise ValidationError(f"concurrency must be at least 1 (or None), not {concurrency}")
        # Fakes have no files to look up; the real executors do.
        real = executor is None or isinstance(executor, (SubprocessExecutor, AsyncSubprocessExecutor))
        prefix = tuple(argv_prefix) if executor is None else tuple(getattr(executor, "argv_prefix", ()))
        self._planner = Planner(
            plugin_dirs=plugin_dirs_from(plugin_dirs),
            timeout=timeout,
            timeouts={_verb(k): v for k, v in (timeouts or {}).items()},
            rollback=rollback,
            retry=retry,
            cleanup_on_timeout=cleanup_on_timeout,
            cleanup_timeout=cleanup_timeout,
            lock_timeout=lock_timeout,
            on_plugin=on_plugin,
            resolve=real,
            # Whether a netns path means here what it means where the plugins run (a fake's
            # paths are made up: never judged, an empty one is still the caller's word).
            local_netns=real and sees_plugin_paths(prefix),
            values=TypedValues(),
        )
        self._cache = ResultCache(cache_dir, durable=durable_cache)
        kwargs: dict[str, Any] = {
            "env": env,
            "extra_env": dict(extra_env or {}),
            "argv_prefix": tuple(argv_prefix),
        }
        if env_allow is not None:
            kwargs["env_allow"] = tuple(env_allow)
        self.executor: E = executor if executor is not None else self._default_executor(kwargs)
        self._driver = self._make_driver(self._traced(self.executor), self._cache, concurrency)

    def _default_executor(self, kwargs: dict[str, Any]) -> E:
        raise NotImplementedError

    def _traced(self, executor: E) -> E:
        # A span per plugin call when the application traces (see cnilib._exec._tracing); ``executor``
        # itself stays what the caller gave (a fake keeps its identity and recorded calls).
        raise NotImplementedError

    def _make_driver(self, executor: E, cache: ResultCache, limit: int | None) -> Any:
        raise NotImplementedError

    @property
    def plugin_dirs(self) -> tuple[str, ...]:
        """Directories searched for plugin executables, in order."""
        return self._planner.plugin_dirs

    @property
    def cache(self) -> ResultCache:
        """The on-disk result cache (libcni's format)."""
        return self._cache

    @property
    def concurrency(self) -> int | None:
        """How many operations run at once (None: unlimited)."""
        return cast("int | None", self._driver.limit)

    def cached_result(self, conflist: NetworkConfigList, rt: RuntimeConfig) -> AnyResult | None:
        """The cached result of an attachment, converted to the list's version; None if not cached.

        Raises :class:`~cnilib.CacheError` for an unreadable entry.
        """
        entry = self.cache.read(*self._planner.lock_key(conflist, rt))
        if entry is None or entry.result is None:
            return None
        return cast("AnyResult", entry.parsed_result(self._planner.version_of(conflist)))

    def cached_config(
        self, conflist: NetworkConfigList, rt: RuntimeConfig
    ) -> tuple[bytes, RuntimeConfig] | None:
        """The cached list bytes and runtime config (args, capability args) of an attachment."""
        entry = self.cache.read(*self._planner.lock_key(conflist, rt))
        if entry is None:
            return None
        return entry.config, cached_runtime(rt, args=entry.cni_args, capability_args=entry.capability_args)

    def cached_attachments(
        self, container_id: str | None = None, *, network: str | None = None
    ) -> list[CacheEntry]:
        """Every cached attachment (optionally of one container and/or network)."""
        return self.cache.entries(network=network, container_id=container_id)

    def unfinished_adds(self, network: str | None = None) -> list[CacheEntry]:
        """Intent records of ADDs that started and have not finished (running, or crashed)."""
        return list(self.cache.scan_intents(network).entries)

    def explain(
        self,
        verb: Verb | str,
        conflist: NetworkConfigList,
        rt: RuntimeConfig | None = None,
        *,
        valid_attachments: Sequence[GCAttachment] = (),
    ) -> list[PlannedCall]:
        """A dry run: every plugin call ``verb`` would make, with its CNI variables and stdin.

        Nothing is executed, written or locked. Where stdin depends on an earlier plugin's output
        (ADD's prevResult), a placeholder string stands for it; DEL and CHECK show the real cached
        result; GC shows the DELs of stale attachments and unfinished ADDs, for every version.
        ``VERSION`` shows the calls :meth:`CNI.validate` makes.
        """
        verb = _verb(verb)
        p = self._planner
        if verb in (Verb.ADD, Verb.DEL, Verb.CHECK) and rt is None:
            raise ValidationError(f"{verb.value} needs a runtime configuration")
        plans: dict[Verb, Callable[[], Plan[Any]]] = {
            Verb.ADD: lambda: p.add(
                conflist, cast("RuntimeConfig", rt), timeout=None, rollback=False, live=False
            ),
            Verb.DEL: lambda: p.delete(conflist, cast("RuntimeConfig", rt), timeout=None),
            Verb.CHECK: lambda: _admin.check(p, conflist, cast("RuntimeConfig", rt), timeout=None),
            Verb.STATUS: lambda: _admin.status(p, conflist, timeout=None),
            Verb.GC: lambda: _admin.gc(p, conflist, tuple(valid_attachments), timeout=None),
        }
        make = plans.get(verb, lambda: _admin.validate(p, conflist, timeout=None))
        return dry_run(make(), self.cache)

    # -- plans of the verbs (the front ends drive them) --

    @staticmethod
    def _op(name: str, conflist: NetworkConfigList, rt: RuntimeConfig | None, plan: Plan[T]) -> Plan[T]:
        """``plan`` inside one trace span (a shared no-op when tracing is off)."""
        container = rt.container_id if rt is not None else None
        with operation_span(name, network=conflist.name, container_id=container):
            return (yield from plan)

    def _add(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, timeout: float | None, rollback: bool | None
    ) -> Plan[AnyResult]:
        roll = self._planner.rollback if rollback is None else rollback
        return self._op("add", conflist, rt, self._planner.add(conflist, rt, timeout=timeout, rollback=roll))

    def _delete(self, conflist: NetworkConfigList, rt: RuntimeConfig, timeout: float | None) -> Plan[None]:
        return self._op("delete", conflist, rt, self._planner.delete(conflist, rt, timeout=timeout))

    def _check(self, conflist: NetworkConfigList, rt: RuntimeConfig, timeout: float | None) -> Plan[None]:
        return self._op("check", conflist, rt, _admin.check(self._planner, conflist, rt, timeout=timeout))

    def _status(self, conflist: NetworkConfigList, timeout: float | None) -> Plan[None]:
        return self._op("status", conflist, None, _admin.status(self._planner, conflist, timeout=timeout))

    def _gc(
        self, conflist: NetworkConfigList, valid: Sequence[GCAttachment], timeout: float | None
    ) -> Plan[list[CacheEntry]]:
        return self._op(
            "gc", conflist, None, _admin.gc(self._planner, conflist, tuple(valid), timeout=timeout)
        )

    def _networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        ifnames: Sequence[str] | None,
        rollback: bool | None,
        timeout: float | None,
    ) -> Plan[Any]:
        p = self._planner
        if rollback is None:
            return _admin.delete_networks(p, networks, rt, ifnames=ifnames, timeout=timeout)
        return _admin.add_networks(p, networks, rt, ifnames=ifnames, rollback=rollback, timeout=timeout)
