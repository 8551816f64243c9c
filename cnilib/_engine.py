"""Running configuration lists: ADD/DEL/CHECK/STATUS/GC/VERSION, one planner and two thin drivers.

Each operation is written once, as a generator (the *plan*) that yields effects -- run this plugin
request, do this blocking file work, sleep -- and receives their outcome. :class:`CNI` drives plans in the
calling thread; :class:`AsyncCNI` drives the same plans on an event loop. The dry-run driver behind
``explain`` drives them without running anything. libcni's semantics are the floor (see the docs'
"Behaviour" page); everything beyond libcni (rollback, retry, cleanup after a timeout, multi-network
attach) is opt-in.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal, TypeAlias, TypeVar

import attrs

from ._cache import CacheEntry, ResultCache
from ._errors import (
    CacheError,
    CNIError,
    MultiError,
    PluginError,
    PluginTimeoutError,
    ResultError,
    VersionError,
)
from ._exec import AsyncExecutor, AsyncSubprocessExecutor, Executor, SubprocessExecutor, find_plugin
from ._models import GCAttachment, NetworkConfigList, PluginConfig, RuntimeConfig, VersionInfo
from ._protocol import (
    ExecOutcome,
    ExecRequest,
    build_gc_request,
    build_request,
    build_status_request,
    build_version_request,
    decode_outcome,
)
from ._results import AnyResult
from ._validate import validate_network_name
from ._version import Verb, check_verb_supported, normalize_version, version_at_least

__all__ = [
    "CNI",
    "AsyncCNI",
    "PlannedCall",
    "PluginReport",
    "PluginRun",
    "RetryPolicy",
    "ValidationReport",
]

T = TypeVar("T")

DEFAULT_PLUGIN_DIRS: tuple[str, ...] = ("/opt/cni/bin", "/usr/libexec/cni", "/usr/lib/cni")


# -- public value types ----------------------------------------------------------------------------


@attrs.frozen
class RetryPolicy:
    """Retry a plugin that answers code 11 ("try again later"): ``attempts`` in all, with backoff."""

    attempts: int = 3
    backoff: float = 0.1
    max_backoff: float = 2.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based retries)."""
        base = min(self.backoff * (2 ** (attempt - 1)), self.max_backoff)
        return base * (1 + random.uniform(-self.jitter, self.jitter))


@attrs.frozen
class PluginRun:
    """What one plugin invocation did; handed to the ``on_plugin`` hook after every run."""

    network: str
    verb: Verb
    index: int
    plugin: str
    request: ExecRequest
    outcome: ExecOutcome | None
    duration: float
    error: CNIError | None = None
    attempt: int = 1


@attrs.frozen
class PlannedCall:
    """One plugin call that ``explain`` would make: the CNI variables and the stdin object."""

    index: int
    plugin: str
    verb: Verb
    plugin_path: str | None
    env: Mapping[str, str]
    stdin: Mapping[str, Any]
    problem: str | None = None


@attrs.frozen
class PluginReport:
    """Per-plugin part of a :class:`ValidationReport`."""

    index: int
    plugin: str
    path: str | None
    version_info: VersionInfo | None
    supports_list_version: bool
    capabilities: tuple[str, ...]
    problems: tuple[str, ...]


@attrs.frozen
class ValidationReport:
    """What :meth:`CNI.validate` found: every problem of every plugin, and the enabled capabilities."""

    network: str
    cni_version: str
    plugins: tuple[PluginReport, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def capabilities(self) -> tuple[str, ...]:
        """Capabilities any plugin of the list enables, in first-seen order."""
        seen: dict[str, None] = {}
        for p in self.plugins:
            for cap in p.capabilities:
                seen.setdefault(cap)
        return tuple(seen)


# -- effects a plan yields -----------------------------------------------------------------------


@attrs.frozen
class _Exec:
    request: ExecRequest
    deadline: float | None
    network: str
    index: int


@attrs.frozen
class _Blocking:
    fn: Callable[[], Any]


@attrs.frozen
class _Sleep:
    seconds: float


_Effect: TypeAlias = _Exec | _Blocking | _Sleep
Plan: TypeAlias = Generator[_Effect, Any, T]


class _Placeholder:
    """Stands for a result that only exists once an earlier plugin has run (dry runs)."""

    def __init__(self, index: int, plugin: str) -> None:
        self.text = f"<result of plugins[{index}] ({plugin})>"


# -- the planner -----------------------------------------------------------------------------------


@attrs.define
class _Planner:
    """Everything both drivers share: configuration and the plans of every verb."""

    plugin_dirs: tuple[str, ...]
    cache: ResultCache
    timeout: float | None
    timeouts: Mapping[Verb, float]
    rollback: bool
    retry: RetryPolicy | None
    cleanup_on_timeout: bool
    cleanup_timeout: float | None
    lock_timeout: float | None
    on_plugin: Callable[[PluginRun], None] | None

    # -- helpers --

    def deadline(self, verb: Verb, timeout: float | None) -> float | None:
        limit = timeout if timeout is not None else self.timeouts.get(verb, self.timeout)
        return None if limit is None else time.monotonic() + limit

    def version_of(self, conflist: NetworkConfigList) -> str:
        return normalize_version(conflist.cni_version)

    def check_list(self, conflist: NetworkConfigList) -> str:
        validate_network_name(conflist.name)
        if not conflist.plugins:
            raise VersionError(f"network {conflist.name!r} has no plugins")
        return self.version_of(conflist)

    def _invoke(
        self, req: ExecRequest, deadline: float | None, network: str, index: int
    ) -> Plan[AnyResult | VersionInfo | None]:
        """Run one request, retrying code 11 when a retry policy is set."""
        attempt = 1
        while True:
            try:
                value = yield _Exec(req, deadline, network, index)
                return value  # type: ignore[no-any-return]
            except PluginError as exc:
                if not (self.retry and exc.temporary and attempt < self.retry.attempts):
                    raise
                pause = self.retry.delay(attempt)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    raise
                yield _Sleep(pause)
                attempt += 1

    # -- plans --

    def plan_add(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None, rollback: bool
    ) -> Plan[AnyResult | None]:
        version = self.check_list(conflist)
        rt.validate()
        deadline = self.deadline(Verb.ADD, timeout)
        prev: Any = None
        applied_result: Any = None
        for i, plugin in enumerate(conflist.plugins):
            req = self.request(Verb.ADD, conflist, plugin, rt, version, prev)
            try:
                prev = yield from self._invoke(req, deadline, conflist.name, i)
            except CNIError as exc:
                timed_out = isinstance(exc, PluginTimeoutError)
                if rollback or (timed_out and self.cleanup_on_timeout):
                    # DEL what was applied, the failing plugin included (it may be half done),
                    # under a fresh deadline: the original one may be what just expired.
                    try:
                        yield from self._del_plugins(
                            conflist, rt, version, applied_result, upto=i,
                            deadline=self.cleanup_deadline(),
                        )
                    except CNIError as cleanup_exc:
                        exc.add_note(f"cleanup DEL after the failed ADD also failed: {cleanup_exc}")
                    else:
                        exc.add_note("the partly applied ADD was rolled back with DEL")
                raise
            applied_result = prev
        if isinstance(prev, _Placeholder):
            return None
        entry = CacheEntry.create(conflist, rt, prev)
        yield _Blocking(lambda: self.cache.write(entry))
        return prev  # type: ignore[no-any-return]

    def cleanup_deadline(self) -> float | None:
        limit = self.cleanup_timeout if self.cleanup_timeout is not None else self.timeouts.get(
            Verb.DEL, self.timeout
        )
        return None if limit is None else time.monotonic() + limit

    def request(
        self,
        verb: Verb,
        conflist: NetworkConfigList,
        plugin: PluginConfig,
        rt: RuntimeConfig,
        version: str,
        prev: Any,
    ) -> ExecRequest:
        placeholder = prev if isinstance(prev, _Placeholder) else None
        req = build_request(
            verb,
            plugin,
            rt,
            network_name=conflist.name,
            cni_version=version,
            search_path=self.plugin_dirs,
            prev_result=None if placeholder else prev,
        )
        if placeholder is not None:
            req = _with_placeholder(req, placeholder)
        return req

    def _del_plugins(
        self,
        conflist: NetworkConfigList,
        rt: RuntimeConfig,
        version: str,
        prev: Any,
        *,
        upto: int | None = None,
        deadline: float | None,
    ) -> Plan[None]:
        plugins = list(enumerate(conflist.plugins))
        if upto is not None:
            plugins = plugins[: upto + 1]
        if not version_at_least(version, "0.4.0"):
            prev = None  # prevResult on DEL exists from 0.4.0 on
        for i, plugin in reversed(plugins):
            req = self.request(Verb.DEL, conflist, plugin, rt, version, prev)
            yield from self._invoke(req, deadline, conflist.name, i)

    def plan_del(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None
    ) -> Plan[None]:
        version = self.check_list(conflist)
        rt.validate()
        deadline = self.deadline(Verb.DEL, timeout)
        prev: AnyResult | None = None
        if version_at_least(version, "0.4.0"):
            entry, problem = yield _Blocking(
                lambda: self.cache.read_tolerant(conflist.name, rt.container_id, rt.ifname)
            )
            if entry is not None and entry.result is not None:
                try:
                    prev = entry.parsed_result(version)
                except CNIError:
                    problem = "cached result cannot be used"
            if problem is not None:
                # libcni: a corrupt cache must never block DEL; drop it and go on without prevResult.
                prev = None
                yield _Blocking(lambda: self.cache.delete(conflist.name, rt.container_id, rt.ifname))
        yield from self._del_plugins(conflist, rt, version, prev, deadline=deadline)
        yield _Blocking(lambda: self.cache.delete(conflist.name, rt.container_id, rt.ifname))

    def plan_check(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None
    ) -> Plan[None]:
        version = self.check_list(conflist)
        check_verb_supported(Verb.CHECK, version)
        rt.validate()
        if conflist.disable_check:
            return
        deadline = self.deadline(Verb.CHECK, timeout)
        entry = yield _Blocking(lambda: self.cache.read(conflist.name, rt.container_id, rt.ifname))
        prev: AnyResult | None = None
        if entry is not None and entry.result is not None:
            try:
                prev = entry.parsed_result(version)
            except ResultError as exc:
                raise CacheError(f"cached result for {conflist.name!r} is unusable: {exc}") from None
        for i, plugin in enumerate(conflist.plugins):
            req = self.request(Verb.CHECK, conflist, plugin, rt, version, prev)
            yield from self._invoke(req, deadline, conflist.name, i)

    def plan_status(self, conflist: NetworkConfigList, *, timeout: float | None) -> Plan[None]:
        version = self.check_list(conflist)
        if not version_at_least(version, "1.1.0"):
            return  # STATUS does not exist before 1.1.0: nothing to ask, nothing is wrong
        deadline = self.deadline(Verb.STATUS, timeout)
        for i, plugin in enumerate(conflist.plugins):
            req = build_status_request(
                plugin, network_name=conflist.name, cni_version=version, search_path=self.plugin_dirs
            )
            yield from self._invoke(req, deadline, conflist.name, i)

    def plan_gc(
        self,
        conflist: NetworkConfigList,
        valid: Sequence[GCAttachment],
        *,
        timeout: float | None,
    ) -> Plan[None]:
        version = self.check_list(conflist)
        check_verb_supported(Verb.GC, version)
        if conflist.disable_gc:
            return
        keep = {(a.container_id, a.ifname) for a in valid}
        entries: list[CacheEntry] = yield _Blocking(lambda: self.cache.entries(network=conflist.name))
        errors: dict[str, BaseException] = {}
        for entry in entries:
            if (entry.container_id, entry.ifname) in keep:
                continue
            rt = entry.runtime_config()
            try:
                yield from self.plan_del(conflist, rt, timeout=timeout)
            except CNIError as exc:
                errors[f"DEL {entry.container_id}/{entry.ifname}"] = exc
        deadline = self.deadline(Verb.GC, timeout)
        for i, plugin in enumerate(conflist.plugins):
            req = build_gc_request(
                plugin,
                network_name=conflist.name,
                cni_version=version,
                search_path=self.plugin_dirs,
                valid_attachments=valid,
            )
            try:
                yield from self._invoke(req, deadline, conflist.name, i)
            except CNIError as exc:
                errors[f"GC {plugin.type} (plugins[{i}])"] = exc
        if errors:
            raise MultiError(f"GC of network {conflist.name!r} failed", errors)

    def plan_version(self, plugin: str, *, timeout: float | None) -> Plan[VersionInfo]:
        req = build_version_request(plugin, search_path=self.plugin_dirs)
        info = yield from self._invoke(req, self.deadline(Verb.VERSION, timeout), "", 0)
        assert isinstance(info, VersionInfo)
        return info

    def plan_validate(
        self, conflist: NetworkConfigList, *, timeout: float | None
    ) -> Plan[ValidationReport]:
        problems: list[str] = []
        try:
            validate_network_name(conflist.name)
        except CNIError as exc:
            problems.append(str(exc))
        try:
            version = self.version_of(conflist)
        except VersionError as exc:
            problems.append(str(exc))
            version = conflist.cni_version
        if not conflist.plugins:
            problems.append(f"network {conflist.name!r} has no plugins")
        reports = []
        for i, plugin in enumerate(conflist.plugins):
            mine: list[str] = []
            path: str | None = None
            info: VersionInfo | None = None
            try:
                path = find_plugin(plugin.type, self.plugin_dirs)
                info = yield from self.plan_version(plugin.type, timeout=timeout)
            except CNIError as exc:
                mine.append(str(exc))
            supports = info is not None and info.supports(version)
            if info is not None and not supports:
                mine.append(
                    f"plugin {plugin.type!r} does not support config version {version!r} "
                    f"(it supports {', '.join(info.supported_versions)})"
                )
            if plugin.cni_version and plugin.cni_version != conflist.cni_version:
                mine.append(
                    f"plugins[{i}] declares cniVersion {plugin.cni_version!r}; "
                    f"the list's {conflist.cni_version!r} is what it will receive"
                )
            reports.append(
                PluginReport(
                    index=i,
                    plugin=plugin.type,
                    path=path,
                    version_info=info,
                    supports_list_version=supports,
                    capabilities=plugin.enabled_capabilities,
                    problems=tuple(mine),
                )
            )
            problems.extend(f"plugins[{i}] ({plugin.type}): {p}" for p in mine)
        return ValidationReport(
            network=conflist.name, cni_version=version, plugins=tuple(reports), problems=tuple(problems)
        )

    # -- locks --

    def lock_key(self, conflist: NetworkConfigList, rt: RuntimeConfig) -> tuple[str, str, str]:
        validate_network_name(conflist.name)
        rt.validate()
        return (conflist.name, rt.container_id, rt.ifname)


def _with_placeholder(req: ExecRequest, placeholder: _Placeholder) -> ExecRequest:
    import json

    stdin = json.loads(req.stdin)
    stdin["prevResult"] = placeholder.text
    return attrs.evolve(req, stdin=json.dumps(stdin, separators=(",", ":")).encode())


# -- front ends -------------------------------------------------------------------------------------


def _plugin_dirs(dirs: Iterable[str] | str | None) -> tuple[str, ...]:
    if dirs is None:
        env = os.environ.get("CNI_PATH")
        return tuple(d for d in env.split(os.pathsep) if d) if env else DEFAULT_PLUGIN_DIRS
    if isinstance(dirs, str):
        return tuple(d for d in dirs.split(os.pathsep) if d)
    return tuple(dirs)


class _Common:
    """Configuration shared by :class:`CNI` and :class:`AsyncCNI`."""

    _planner: _Planner

    def _setup(
        self,
        plugin_dirs: Iterable[str] | str | None,
        cache_dir: str | os.PathLike[str],
        timeout: float | None,
        timeouts: Mapping[Verb | str, float] | None,
        rollback: bool,
        retry: RetryPolicy | None,
        cleanup_on_timeout: bool,
        cleanup_timeout: float | None,
        lock_timeout: float | None,
        on_plugin: Callable[[PluginRun], None] | None,
    ) -> None:
        self._planner = _Planner(
            plugin_dirs=_plugin_dirs(plugin_dirs),
            cache=ResultCache(cache_dir),
            timeout=timeout,
            timeouts={Verb(k): v for k, v in (timeouts or {}).items()},
            rollback=rollback,
            retry=retry,
            cleanup_on_timeout=cleanup_on_timeout,
            cleanup_timeout=cleanup_timeout,
            lock_timeout=lock_timeout,
            on_plugin=on_plugin,
        )

    @property
    def plugin_dirs(self) -> tuple[str, ...]:
        """Directories searched for plugin executables, in order."""
        return self._planner.plugin_dirs

    @property
    def cache(self) -> ResultCache:
        """The on-disk result cache (libcni's format)."""
        return self._planner.cache

    def cached_result(self, conflist: NetworkConfigList, rt: RuntimeConfig) -> AnyResult | None:
        """The cached result of an attachment, converted to the list's version; None if not cached."""
        key = self._planner.lock_key(conflist, rt)
        entry = self.cache.read(*key)
        if entry is None or entry.result is None:
            return None
        return entry.parsed_result(self._planner.version_of(conflist))

    def cached_config(
        self, conflist: NetworkConfigList, rt: RuntimeConfig
    ) -> tuple[bytes, RuntimeConfig] | None:
        """The cached list bytes and runtime config (args, capability args) of an attachment."""
        key = self._planner.lock_key(conflist, rt)
        entry = self.cache.read(*key)
        if entry is None:
            return None
        cached_rt = entry.runtime_config()
        return entry.config, attrs.evolve(rt, args=cached_rt.args, capability_args=cached_rt.capability_args)

    def cached_attachments(
        self, container_id: str | None = None, *, network: str | None = None
    ) -> list[CacheEntry]:
        """Every cached attachment (optionally of one container and/or network)."""
        return self.cache.entries(network=network, container_id=container_id)

    def explain(
        self,
        verb: Verb | str,
        conflist: NetworkConfigList,
        rt: RuntimeConfig | None = None,
        *,
        valid_attachments: Sequence[GCAttachment] = (),
    ) -> list[PlannedCall]:
        """A dry run: every plugin call ``verb`` would make, with its CNI variables and stdin.

        Nothing is executed. Where stdin depends on an earlier plugin's output (ADD's prevResult),
        a placeholder string stands for it; DEL and CHECK show the real cached result.
        """
        verb = Verb(verb)
        plan = self._plan(verb, conflist, rt, valid_attachments=valid_attachments, timeout=None)
        return _dry_run(plan, self._planner)

    def _plan(
        self,
        verb: Verb,
        conflist: NetworkConfigList,
        rt: RuntimeConfig | None,
        *,
        valid_attachments: Sequence[GCAttachment] = (),
        timeout: float | None,
        rollback: bool = False,
    ) -> Plan[Any]:
        p = self._planner
        if verb in (Verb.ADD, Verb.DEL, Verb.CHECK) and rt is None:
            raise VersionError(f"{verb.value} needs a runtime configuration")
        if verb is Verb.ADD:
            assert rt is not None
            return p.plan_add(conflist, rt, timeout=timeout, rollback=rollback)
        if verb is Verb.DEL:
            assert rt is not None
            return p.plan_del(conflist, rt, timeout=timeout)
        if verb is Verb.CHECK:
            assert rt is not None
            return p.plan_check(conflist, rt, timeout=timeout)
        if verb is Verb.STATUS:
            return p.plan_status(conflist, timeout=timeout)
        if verb is Verb.GC:
            return p.plan_gc(conflist, valid_attachments, timeout=timeout)
        return p.plan_validate(conflist, timeout=timeout)


def _dry_run(plan: Plan[Any], planner: _Planner) -> list[PlannedCall]:
    import json

    calls: list[PlannedCall] = []
    send: Any = None
    while True:
        try:
            effect = plan.send(send)
        except StopIteration:
            return calls
        send = None
        if isinstance(effect, _Exec):
            req = effect.request
            path: str | None = None
            problem = None
            try:
                path = find_plugin(req.plugin, req.search_path)
            except CNIError as exc:
                problem = str(exc)
            calls.append(
                PlannedCall(
                    index=effect.index,
                    plugin=req.plugin,
                    verb=req.verb,
                    plugin_path=path,
                    env=dict(req.env),
                    stdin=json.loads(req.stdin),
                    problem=problem,
                )
            )
            if req.verb is Verb.ADD:
                send = _Placeholder(effect.index, req.plugin)
        elif isinstance(effect, _Blocking):
            fn = effect.fn
            name = getattr(fn, "__name__", "")
            # Reads are safe to do for real (DEL/CHECK show the true cached prevResult); writes are not.
            if name == "<lambda>":
                code = fn.__code__.co_names
                if any(n in code for n in ("write", "delete")):
                    continue
            send = fn()


class CNI(_Common):
    """Run CNI plugins for configuration lists (the synchronous front end).

    ``plugin_dirs`` defaults to ``$CNI_PATH`` (else ``/opt/cni/bin``, ``/usr/libexec/cni``,
    ``/usr/lib/cni``). ``timeout`` bounds a whole operation (all plugins of a verb);
    ``timeouts`` overrides it per verb. ``rollback``: a failed ADD runs DEL for what was applied.
    ``retry``: retry plugins answering code 11. ``cleanup_on_timeout``: after a timed-out ADD, DEL under a
    fresh deadline (``cleanup_timeout``). ``on_plugin`` is called after every plugin run with timings.
    Operations on one (network, container, ifname) are serialized across threads and processes; GC
    excludes ADD/DEL on its network.
    """

    def __init__(
        self,
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = "/var/lib/cni",
        timeout: float | None = None,
        *,
        executor: Executor | None = None,
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
        on_plugin: Callable[[PluginRun], None] | None = None,
    ) -> None:
        self._setup(
            plugin_dirs, cache_dir, timeout, timeouts, rollback, retry,
            cleanup_on_timeout, cleanup_timeout, lock_timeout, on_plugin,
        )
        if executor is None:
            kwargs: dict[str, Any] = {"env": env, "extra_env": dict(extra_env or {}),
                                      "argv_prefix": tuple(argv_prefix)}
            if env_allow is not None:
                kwargs["env_allow"] = tuple(env_allow)
            executor = SubprocessExecutor(**kwargs)
        self.executor: Executor = executor

    # -- verbs --

    def add(
        self,
        conflist: NetworkConfigList,
        rt: RuntimeConfig,
        *,
        timeout: float | None = None,
        rollback: bool | None = None,
    ) -> AnyResult | None:
        """ADD: run every plugin in order with prevResult threading; cache and return the last result."""
        plan = self._planner.plan_add(
            conflist, rt, timeout=timeout, rollback=self._planner.rollback if rollback is None else rollback
        )
        with self._locked(conflist, rt):
            return self._drive(plan)

    def delete(self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None) -> None:
        """DEL: every plugin in reverse with the cached result; the cache entry goes on success."""
        plan = self._planner.plan_del(conflist, rt, timeout=timeout)
        with self._locked(conflist, rt):
            self._drive(plan)

    def check(self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None) -> None:
        """CHECK (>= 0.4.0; a no-op with ``disableCheck``): every plugin with the cached result."""
        plan = self._planner.plan_check(conflist, rt, timeout=timeout)
        with self._locked(conflist, rt):
            self._drive(plan)

    def status(self, conflist: NetworkConfigList, *, timeout: float | None = None) -> None:
        """STATUS (>= 1.1.0; nothing runs for older lists): raises the first plugin's error."""
        self._drive(self._planner.plan_status(conflist, timeout=timeout))

    def gc(
        self,
        conflist: NetworkConfigList,
        valid_attachments: Iterable[GCAttachment] = (),
        *,
        timeout: float | None = None,
    ) -> None:
        """GC (>= 1.1.0): DEL cached attachments not in ``valid_attachments``, then GC every plugin."""
        valid = tuple(valid_attachments)
        plan = self._planner.plan_gc(conflist, valid, timeout=timeout)
        with self.cache.network_lock(conflist.name, exclusive=True, timeout=self._planner.lock_timeout):
            self._drive(plan)

    def version_info(self, plugin: str, *, timeout: float | None = None) -> VersionInfo:
        """VERSION of one plugin type, with libcni's rules for plugins older than VERSION."""
        return self._drive(self._planner.plan_version(plugin, timeout=timeout))

    def validate(self, conflist: NetworkConfigList, *, timeout: float | None = None) -> ValidationReport:
        """Probe every plugin's VERSION and report every problem (the list's version unsupported, a
        plugin missing, ...) and the enabled capabilities. Does not raise for problems: see ``ok``."""
        return self._drive(self._planner.plan_validate(conflist, timeout=timeout))

    def add_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        rollback: bool = True,
        timeout: float | None = None,
    ) -> list[AnyResult | None]:
        """Attach one container to several networks concurrently (ifnames ``eth0``..``ethN`` unless
        given). On any failure the others are rolled back (unless ``rollback=False``) and a
        :class:`~cnilib.MultiError` names every failure."""
        rts = _per_network(networks, rt, ifnames)
        with ThreadPoolExecutor(max_workers=max(1, len(networks))) as pool:
            futures = [
                pool.submit(self.add, net, r, timeout=timeout, rollback=rollback)
                for net, r in zip(networks, rts)
            ]
            outcomes = [_result_or_error(f.result) for f in futures]
        return _settle_multi(
            networks, rts, outcomes, rollback,
            lambda net, r: self.delete(net, r, timeout=timeout),
        )

    def delete_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """DEL one container from several networks concurrently; failures aggregated."""
        rts = _per_network(networks, rt, ifnames)
        with ThreadPoolExecutor(max_workers=max(1, len(networks))) as pool:
            futures = [pool.submit(self.delete, net, r, timeout=timeout) for net, r in zip(networks, rts)]
            errors = {
                f"{net.name}/{r.ifname}": err
                for net, r, f in zip(networks, rts, futures)
                if (err := f.exception()) is not None
            }
        if errors:
            raise MultiError("detaching from several networks failed", errors)

    # -- driver --

    @contextmanager
    def _locked(self, conflist: NetworkConfigList, rt: RuntimeConfig) -> Iterator[None]:
        key = self._planner.lock_key(conflist, rt)
        lt = self._planner.lock_timeout
        with self.cache.network_lock(conflist.name, exclusive=False, timeout=lt), self.cache.lock(
            *key, timeout=lt
        ):
            yield

    def _drive(self, plan: Plan[T]) -> T:
        send: Any = None
        throw: BaseException | None = None
        try:
            while True:
                try:
                    effect = plan.throw(throw) if throw is not None else plan.send(send)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                send, throw = None, None
                try:
                    if isinstance(effect, _Exec):
                        send = self._exec(effect)
                    elif isinstance(effect, _Blocking):
                        send = effect.fn()
                    else:
                        time.sleep(effect.seconds)
                except CNIError as exc:
                    throw = exc
        finally:
            plan.close()

    def _exec(self, effect: _Exec) -> AnyResult | VersionInfo | None:
        remaining = None if effect.deadline is None else max(effect.deadline - time.monotonic(), 0.0)
        return _finish(self._planner, effect, lambda: self.executor.run(effect.request, timeout=remaining),
                       remaining)


def _finish(
    planner: _Planner,
    effect: _Exec,
    run: Callable[[], ExecOutcome],
    remaining: float | None,
) -> AnyResult | VersionInfo | None:
    req = effect.request
    started = time.monotonic()
    outcome: ExecOutcome | None = None
    error: CNIError | None = None
    try:
        if remaining is not None and remaining <= 0:
            outcome = ExecOutcome(exit_status=None, timed_out=True, timeout=0.0)
        else:
            outcome = run()
        return decode_outcome(req, outcome)
    except CNIError as exc:
        error = exc
        raise
    finally:
        if planner.on_plugin is not None:
            planner.on_plugin(
                PluginRun(
                    network=effect.network,
                    verb=req.verb,
                    index=effect.index,
                    plugin=req.plugin,
                    request=req,
                    outcome=outcome,
                    duration=time.monotonic() - started,
                    error=error,
                )
            )


def _per_network(
    networks: Sequence[NetworkConfigList], rt: RuntimeConfig, ifnames: Sequence[str] | None
) -> list[RuntimeConfig]:
    names = list(ifnames) if ifnames is not None else [f"eth{i}" for i in range(len(networks))]
    if len(names) != len(networks):
        raise VersionError(f"{len(networks)} networks but {len(names)} interface names")
    return [attrs.evolve(rt, ifname=n) for n in names]


def _result_or_error(get: Callable[[], T]) -> T | BaseException:
    try:
        return get()
    except CNIError as exc:
        return exc


def _settle_multi(
    networks: Sequence[NetworkConfigList],
    rts: Sequence[RuntimeConfig],
    outcomes: Sequence[AnyResult | None | BaseException],
    rollback: bool,
    undo: Callable[[NetworkConfigList, RuntimeConfig], None],
) -> list[AnyResult | None]:
    errors = {
        f"{net.name}/{r.ifname}": o
        for net, r, o in zip(networks, rts, outcomes)
        if isinstance(o, BaseException)
    }
    if not errors:
        return [o for o in outcomes if not isinstance(o, BaseException)]
    if rollback:
        for net, r, o in zip(networks, rts, outcomes):
            if not isinstance(o, BaseException):
                try:
                    undo(net, r)
                except CNIError as exc:
                    errors[f"rollback {net.name}/{r.ifname}"] = exc
    raise MultiError("attaching to several networks failed", errors)


class AsyncCNI(_Common):
    """The asyncio front end: the same verbs as :class:`CNI`, as coroutines.

    Plans are the same as :class:`CNI`'s; plugin processes are watched by the event loop, blocking cache
    I/O runs in a worker thread, and cancelling a call kills the running plugin's process group.
    Usable as ``async with AsyncCNI(...) as cni:`` (no resources are held; it is there for symmetry).
    """

    def __init__(
        self,
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = "/var/lib/cni",
        timeout: float | None = None,
        *,
        executor: AsyncExecutor | None = None,
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
        on_plugin: Callable[[PluginRun], None] | None = None,
    ) -> None:
        self._setup(
            plugin_dirs, cache_dir, timeout, timeouts, rollback, retry,
            cleanup_on_timeout, cleanup_timeout, lock_timeout, on_plugin,
        )
        if executor is None:
            kwargs: dict[str, Any] = {"env": env, "extra_env": dict(extra_env or {}),
                                      "argv_prefix": tuple(argv_prefix)}
            if env_allow is not None:
                kwargs["env_allow"] = tuple(env_allow)
            executor = AsyncSubprocessExecutor(**kwargs)
        self.executor: AsyncExecutor = executor

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
    ) -> AnyResult | None:
        """ADD (see :meth:`CNI.add`)."""
        plan = self._planner.plan_add(
            conflist, rt, timeout=timeout, rollback=self._planner.rollback if rollback is None else rollback
        )
        async with self._locked(conflist, rt):
            return await self._drive(plan)

    async def delete(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None
    ) -> None:
        """DEL (see :meth:`CNI.delete`)."""
        plan = self._planner.plan_del(conflist, rt, timeout=timeout)
        async with self._locked(conflist, rt):
            await self._drive(plan)

    async def check(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None
    ) -> None:
        """CHECK (see :meth:`CNI.check`)."""
        plan = self._planner.plan_check(conflist, rt, timeout=timeout)
        async with self._locked(conflist, rt):
            await self._drive(plan)

    async def status(self, conflist: NetworkConfigList, *, timeout: float | None = None) -> None:
        """STATUS (see :meth:`CNI.status`)."""
        await self._drive(self._planner.plan_status(conflist, timeout=timeout))

    async def gc(
        self,
        conflist: NetworkConfigList,
        valid_attachments: Iterable[GCAttachment] = (),
        *,
        timeout: float | None = None,
    ) -> None:
        """GC (see :meth:`CNI.gc`)."""
        valid = tuple(valid_attachments)
        plan = self._planner.plan_gc(conflist, valid, timeout=timeout)
        async with self.cache.anetwork_lock(
            conflist.name, exclusive=True, timeout=self._planner.lock_timeout
        ):
            await self._drive(plan)

    async def version_info(self, plugin: str, *, timeout: float | None = None) -> VersionInfo:
        """VERSION (see :meth:`CNI.version_info`)."""
        return await self._drive(self._planner.plan_version(plugin, timeout=timeout))

    async def validate(
        self, conflist: NetworkConfigList, *, timeout: float | None = None
    ) -> ValidationReport:
        """Validate (see :meth:`CNI.validate`)."""
        return await self._drive(self._planner.plan_validate(conflist, timeout=timeout))

    async def add_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        rollback: bool = True,
        timeout: float | None = None,
    ) -> list[AnyResult | None]:
        """Attach to several networks concurrently (see :meth:`CNI.add_networks`)."""
        rts = _per_network(networks, rt, ifnames)
        outcomes = await asyncio.gather(
            *(self.add(n, r, timeout=timeout, rollback=rollback) for n, r in zip(networks, rts)),
            return_exceptions=True,
        )
        for o in outcomes:
            if isinstance(o, BaseException) and not isinstance(o, CNIError):
                raise o
        undone: list[tuple[NetworkConfigList, RuntimeConfig]] = []
        try:
            return _settle_multi(networks, rts, outcomes, False, lambda n, r: None)
        except MultiError as exc:
            if not rollback:
                raise
            for net, r, o in zip(networks, rts, outcomes):
                if not isinstance(o, BaseException):
                    undone.append((net, r))
            errors = dict(exc.errors)
            for net, r in undone:
                try:
                    await self.delete(net, r, timeout=timeout)
                except CNIError as err:
                    errors[f"rollback {net.name}/{r.ifname}"] = err
            raise MultiError("attaching to several networks failed", errors) from None

    async def delete_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """DEL from several networks concurrently (see :meth:`CNI.delete_networks`)."""
        rts = _per_network(networks, rt, ifnames)
        outcomes = await asyncio.gather(
            *(self.delete(n, r, timeout=timeout) for n, r in zip(networks, rts)), return_exceptions=True
        )
        errors: dict[str, BaseException] = {}
        for net, r, o in zip(networks, rts, outcomes):
            if isinstance(o, CNIError):
                errors[f"{net.name}/{r.ifname}"] = o
            elif isinstance(o, BaseException):
                raise o
        if errors:
            raise MultiError("detaching from several networks failed", errors)

    # -- driver --

    @asynccontextmanager
    async def _locked(self, conflist: NetworkConfigList, rt: RuntimeConfig) -> AsyncIterator[None]:
        key = self._planner.lock_key(conflist, rt)
        lt = self._planner.lock_timeout
        async with self.cache.anetwork_lock(conflist.name, exclusive=False, timeout=lt), self.cache.alock(
            *key, timeout=lt
        ):
            yield

    async def _drive(self, plan: Plan[T]) -> T:
        send: Any = None
        throw: BaseException | None = None
        try:
            while True:
                try:
                    effect = plan.throw(throw) if throw is not None else plan.send(send)
                except StopIteration as stop:
                    return stop.value  # type: ignore[no-any-return]
                send, throw = None, None
                try:
                    if isinstance(effect, _Exec):
                        send = await self._exec(effect)
                    elif isinstance(effect, _Blocking):
                        send = await _to_thread(effect.fn)
                    else:
                        await asyncio.sleep(effect.seconds)
                except CNIError as exc:
                    throw = exc
        finally:
            plan.close()

    async def _exec(self, effect: _Exec) -> AnyResult | VersionInfo | None:
        remaining = None if effect.deadline is None else max(effect.deadline - time.monotonic(), 0.0)
        outcome: ExecOutcome | None = None
        if remaining is None or remaining > 0:
            outcome = await self.executor.run(effect.request, timeout=remaining)
        got = outcome
        return _finish(self._planner, effect, lambda: got or ExecOutcome(exit_status=None), remaining)


async def _to_thread(fn: Callable[[], T]) -> T:
    # Cache I/O (fsync) would stall the loop; a worker thread keeps other attachments moving.
    return await asyncio.get_running_loop().run_in_executor(None, fn)
