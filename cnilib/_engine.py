"""Running configuration lists: ADD/DEL/CHECK/STATUS/GC/VERSION, one planner and two thin drivers.

Each operation is written once, as a generator (the *plan*) that yields effects -- run this plugin
request, do this blocking file work, sleep -- and receives their outcome. :class:`CNI` drives plans
in the calling thread; :class:`AsyncCNI` drives the same plans on an event loop. The dry-run driver
behind ``explain`` drives them without running anything. libcni's semantics are the floor (see the
docs' "Behaviour" page); everything beyond libcni (rollback, retry, cleanup after a timeout,
multi-network attach) is opt-in.

Import cost matters (the CLI starts in tens of milliseconds): ``asyncio``, ``concurrent.futures``
and ``random`` are imported by the functions that need them, never at module level.
"""

from __future__ import annotations

import os
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import (
    AbstractContextManager,
    asynccontextmanager,
    contextmanager,
)
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar, cast

import attrs

from ._cache import (
    CacheEntry,
    HeldLock,
    ResultCache,
)
from ._errors import (
    CacheError,
    CNIError,
    MultiError,
    PluginError,
    PluginNotFoundError,
    PluginTimeoutError,
    ResultError,
    ValidationError,
    VersionError,
)
from ._exec import Executor, SubprocessExecutor, find_plugin
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
from ._results import AnyResult, Result
from ._validate import validate_network_name
from ._version import Verb, check_verb_supported, normalize_version, version_at_least

if TYPE_CHECKING:
    from ._exec import AsyncExecutor

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


# -- public value types ---------------------------------------------------------------------------


@attrs.frozen
class RetryPolicy:
    """Retry a plugin that answers code 11 ("try again later"): ``attempts`` in all, with backoff.

    The pause before retry ``n`` (1-based) is ``backoff * 2**(n-1)``, capped at ``max_backoff``,
    scaled by a random factor in ``[1 - jitter, 1 + jitter]``. A retry that would start after the
    operation's deadline is not made: the plugin's error is raised instead.
    """

    attempts: int = 3
    backoff: float = 0.1
    max_backoff: float = 2.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1-based)."""
        import random  # (import cost: only retries need it)

        base: float = min(self.backoff * (2 ** (attempt - 1)), self.max_backoff)
        return base * (1 + random.uniform(-self.jitter, self.jitter))


@attrs.frozen
class PluginRun:
    """What one plugin invocation did; handed to the ``on_plugin`` hook after every run.

    ``duration`` covers starting the plugin, waiting for it and decoding its output (seconds);
    ``started`` is the :func:`time.monotonic` value when it was started. ``outcome`` is None when
    the plugin could not be looked up or its deadline had passed before it could start.
    ``attempt`` counts retries of code 11 (1 for the first run).
    """

    network: str
    verb: Verb
    index: int
    plugin: str
    request: ExecRequest
    outcome: ExecOutcome | None
    duration: float
    error: CNIError | None = None
    attempt: int = 1
    started: float = 0.0


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
    """What :meth:`CNI.validate` found: every problem of every plugin, and enabled capabilities."""

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


# -- effects a plan yields ------------------------------------------------------------------------
# Plain slotted classes: one is made per plugin run and per file operation, so they stay cheap.


class _Exec:
    """Run one plugin request and send back its decoded outcome (or throw its error)."""

    __slots__ = ("attempt", "deadline", "index", "network", "request")

    def __init__(
        self, request: ExecRequest, deadline: float | None, network: str, index: int, attempt: int
    ) -> None:
        self.request = request
        self.deadline = deadline
        self.network = network
        self.index = index
        self.attempt = attempt


class _Blocking:
    """Blocking file work (cache I/O). ``mutates``: a dry run must not do it. ``quick``: reading
    one small file, which the asyncio driver does inline rather than in a worker thread (the
    hand-off costs more than the read); writes (fsync) and directory scans go to a thread."""

    __slots__ = ("fn", "mutates", "quick")

    def __init__(self, fn: Callable[[], Any], *, mutates: bool = False, quick: bool = False) -> None:
        self.fn = fn
        self.mutates = mutates
        self.quick = quick


class _Sleep:
    """Pause (retry backoff)."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds


_Effect: TypeAlias = _Exec | _Blocking | _Sleep
Plan: TypeAlias = Generator[_Effect, Any, T]


class _Placeholder:
    """Stands for a result that only exists once an earlier plugin has run (dry runs)."""

    def __init__(self, index: int, plugin: str) -> None:
        self.text = f"<result of plugins[{index}] ({plugin})>"


def _note(exc: BaseException, text: str) -> None:
    # BaseException.add_note is 3.11+; on 3.10 keep the note where 3.11 tooling looks for it.
    add = getattr(exc, "add_note", None)
    if add is not None:
        add(text)
    else:  # pragma: no cover - Python 3.10
        notes = getattr(exc, "__notes__", None)
        if notes is None:
            notes = []
            exc.__notes__ = notes  # type: ignore[attr-defined]
        notes.append(text)


# -- the planner ----------------------------------------------------------------------------------


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

    def cleanup_deadline(self) -> float | None:
        limit = self.cleanup_timeout
        if limit is None:
            limit = self.timeouts.get(Verb.DEL, self.timeout)
        return None if limit is None else time.monotonic() + limit

    @staticmethod
    def version_of(conflist: NetworkConfigList) -> str:
        return normalize_version(conflist.cni_version)

    def check_list(self, conflist: NetworkConfigList) -> str:
        validate_network_name(conflist.name)
        if not conflist.plugins:
            raise VersionError(f"network {conflist.name!r} has no plugins")
        return self.version_of(conflist)

    def lock_key(self, conflist: NetworkConfigList, rt: RuntimeConfig) -> tuple[str, str, str]:
        """Validate what builds file paths (every verb, unlike libcni) and return the lock key."""
        validate_network_name(conflist.name)
        rt.validate()
        return (conflist.name, rt.container_id, rt.ifname)

    def _invoke(
        self, req: ExecRequest, deadline: float | None, network: str, index: int
    ) -> Plan[AnyResult | VersionInfo | None]:
        """Run one request, retrying code 11 when a retry policy is set."""
        attempt = 1
        while True:
            try:
                value = yield _Exec(req, deadline, network, index, attempt)
                return cast("AnyResult | VersionInfo | None", value)
            except PluginError as exc:
                retry = self.retry
                if retry is None or not exc.temporary or attempt >= retry.attempts:
                    raise
                pause = retry.delay(attempt)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    _note(exc, f"not retried: no time left for attempt {attempt + 1}")
                    raise
                yield _Sleep(pause)
                attempt += 1

    def request(
        self,
        verb: Verb,
        conflist: NetworkConfigList,
        plugin: PluginConfig,
        rt: RuntimeConfig,
        *,
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
            # A stand-in object keeps prevResult where the real one would be in stdin's key order.
            prev_result={} if placeholder else prev,
        )
        if placeholder is not None:
            req = _with_placeholder(req, placeholder)
        return req

    # -- plans --

    def plan_add(
        self,
        conflist: NetworkConfigList,
        rt: RuntimeConfig,
        *,
        timeout: float | None,
        rollback: bool,
    ) -> Plan[AnyResult | None]:
        version = self.check_list(conflist)
        rt.validate()
        deadline = self.deadline(Verb.ADD, timeout)
        name = conflist.name
        prev: Any = None
        for i, plugin in enumerate(conflist.plugins):
            req = self.request(Verb.ADD, conflist, plugin, rt, version=version, prev=prev)
            try:
                result = yield from self._invoke(req, deadline, name, i)
            except CNIError as exc:
                timed_out = isinstance(exc, PluginTimeoutError)
                if rollback or (timed_out and self.cleanup_on_timeout):
                    # The failing plugin is DELeted too (it may be half done) unless it never ran.
                    last = i - 1 if isinstance(exc, (PluginNotFoundError, ValidationError)) else i
                    yield from self._rollback(conflist, rt, version=version, applied=prev, last=last, exc=exc)
                raise
            prev = result
        if isinstance(prev, _Placeholder):
            return None
        entry = CacheEntry.create(conflist, rt, prev)
        yield _Blocking(lambda: self.cache.write(entry), mutates=True)
        return cast("AnyResult | None", prev)

    def _rollback(
        self,
        conflist: NetworkConfigList,
        rt: RuntimeConfig,
        *,
        version: str,
        applied: Any,
        last: int,
        exc: CNIError,
    ) -> Plan[None]:
        """DEL plugins ``last``..0 in reverse, best effort, under a fresh deadline; the outcome
        becomes a note on ``exc``."""
        if last < 0:
            _note(exc, "nothing to roll back: no plugin of the ADD had run")
            return
        prev = None
        if version_at_least(version, "0.4.0") and isinstance(applied, Result):
            try:
                prev = applied.convert_to(version)
            except ResultError:
                prev = None
        # The original deadline may be what just expired: cleanup gets one of its own.
        deadline = self.cleanup_deadline()
        failures: list[str] = []
        for j in range(last, -1, -1):
            plugin = conflist.plugins[j]
            req = self.request(Verb.DEL, conflist, plugin, rt, version=version, prev=prev)
            try:
                yield from self._invoke(req, deadline, conflist.name, j)
            except CNIError as err:
                failures.append(f"plugins[{j}] ({plugin.type}): {err}")
        if failures:
            _note(exc, "cleanup DEL after the failed ADD also failed: " + "; ".join(failures))
            return
        _note(exc, f"the partly applied ADD was rolled back with DEL (plugins[{last}]..plugins[0])")
        # The attachment is gone: an entry left by an earlier ADD would now lie.
        key = (conflist.name, rt.container_id, rt.ifname)
        try:
            yield _Blocking(lambda: self.cache.delete(*key), mutates=True)
        except CacheError as err:
            _note(exc, f"the stale cache entry could not be removed: {err}")

    def plan_del(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None
    ) -> Plan[None]:
        version = self.check_list(conflist)
        rt.validate()
        deadline = self.deadline(Verb.DEL, timeout)
        key = (conflist.name, rt.container_id, rt.ifname)
        prev: Result | None = None
        foreign = owner_checked = False
        if version_at_least(version, "0.4.0"):
            # prevResult on DEL exists from 0.4.0 on: the cached result in the list's version.
            entry, problem = yield _Blocking(lambda: self.cache.read_tolerant(*key), quick=True)
            # A file owned by another attachment with the same name (``foreign``) is left alone.
            foreign = problem is not None and problem.foreign
            drop = problem is not None and not foreign
            if entry is not None and entry.result is not None:
                try:
                    prev = entry.parsed_result(version)
                except CNIError:
                    drop = True  # unparseable or not convertible to the list's version
            if drop:
                # A corrupt cache must never block DEL: drop it and go on without prevResult.
                prev = None
                yield _Blocking(lambda: self.cache.delete(*key, owner_checked=True), mutates=True)
            owner_checked = not foreign  # just read under the attachment lock: no second read
        yield from self._del_plugins(conflist, rt, version, prev, deadline)
        if not foreign:
            yield _Blocking(lambda: self.cache.delete(*key, owner_checked=owner_checked), mutates=True)

    def _del_plugins(
        self,
        conflist: NetworkConfigList,
        rt: RuntimeConfig,
        version: str,
        prev: Result | None,
        deadline: float | None,
    ) -> Plan[None]:
        for i in range(len(conflist.plugins) - 1, -1, -1):
            plugin = conflist.plugins[i]
            req = self.request(Verb.DEL, conflist, plugin, rt, version=version, prev=prev)
            yield from self._invoke(req, deadline, conflist.name, i)

    def plan_check(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None
    ) -> Plan[None]:
        version = self.check_list(conflist)
        check_verb_supported(Verb.CHECK, version)
        rt.validate()
        if conflist.disable_check:
            return
        deadline = self.deadline(Verb.CHECK, timeout)
        key = (conflist.name, rt.container_id, rt.ifname)
        # Unlike DEL, an unreadable cache is an error here (CacheError from read()).
        entry = yield _Blocking(lambda: self.cache.read(*key), quick=True)
        prev: Result | None = None
        if entry is not None and entry.result is not None:
            try:
                prev = entry.parsed_result(version)
            except ResultError as exc:
                raise CacheError(f"cached result for {conflist.name!r} is unusable: {exc}") from None
        for i, plugin in enumerate(conflist.plugins):
            req = self.request(Verb.CHECK, conflist, plugin, rt, version=version, prev=prev)
            yield from self._invoke(req, deadline, conflist.name, i)

    def plan_status(self, conflist: NetworkConfigList, *, timeout: float | None) -> Plan[None]:
        version = self.check_list(conflist)
        if not version_at_least(version, "1.1.0"):
            return  # STATUS does not exist before 1.1.0: nothing to ask, nothing is wrong
        deadline = self.deadline(Verb.STATUS, timeout)
        for i, plugin in enumerate(conflist.plugins):
            req = build_status_request(
                plugin,
                network_name=conflist.name,
                cni_version=version,
                search_path=self.plugin_dirs,
            )
            yield from self._invoke(req, deadline, conflist.name, i)

    def plan_gc(
        self,
        conflist: NetworkConfigList,
        valid: Sequence[GCAttachment],
        *,
        timeout: float | None,
    ) -> Plan[None]:
        # libcni: the stale-attachment DELs happen for every version; the GC verb from 1.1.0 on.
        version = self.check_list(conflist)
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
        if version_at_least(version, "1.1.0"):
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

    def plan_validate(self, conflist: NetworkConfigList, *, timeout: float | None) -> Plan[ValidationReport]:
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
            network=conflist.name,
            cni_version=version,
            plugins=tuple(reports),
            problems=tuple(problems),
        )


def _with_placeholder(req: ExecRequest, placeholder: _Placeholder) -> ExecRequest:
    import json  # (dry runs only)

    stdin = json.loads(req.stdin)
    stdin["prevResult"] = placeholder.text
    return attrs.evolve(req, stdin=json.dumps(stdin, separators=(",", ":")).encode())


def _report(
    planner: _Planner,
    effect: _Exec,
    outcome: ExecOutcome | None,
    error: CNIError | None,
    started: float,
) -> None:
    hook = planner.on_plugin
    if hook is None:
        return
    req = effect.request
    hook(
        PluginRun(
            network=effect.network,
            verb=req.verb,
            index=effect.index,
            plugin=req.plugin,
            request=req,
            outcome=outcome,
            duration=time.monotonic() - started,
            error=error,
            attempt=effect.attempt,
            started=started,
        )
    )


def _expired() -> ExecOutcome:
    # The operation's deadline passed before this plugin could start: report it as a timeout.
    return ExecOutcome(exit_status=None, timed_out=True, timeout=0.0)


# -- front ends -----------------------------------------------------------------------------------


def _plugin_dirs(dirs: Iterable[str] | str | None) -> tuple[str, ...]:
    if dirs is None:
        env = os.environ.get("CNI_PATH")
        return tuple(d for d in env.split(os.pathsep) if d) if env else DEFAULT_PLUGIN_DIRS
    if isinstance(dirs, str):
        return tuple(d for d in dirs.split(os.pathsep) if d)
    return tuple(os.fspath(d) for d in dirs)


def _verb(key: Verb | str) -> Verb:
    return key if isinstance(key, Verb) else Verb(key.upper())


def _executor_kwargs(
    env: str,
    env_allow: Sequence[str] | None,
    extra_env: Mapping[str, str] | None,
    argv_prefix: Sequence[str],
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "env": env,
        "extra_env": dict(extra_env or {}),
        "argv_prefix": tuple(argv_prefix),
    }
    if env_allow is not None:
        kwargs["env_allow"] = tuple(env_allow)
    return kwargs


class _Common:
    """Configuration shared by :class:`CNI` and :class:`AsyncCNI`."""

    _planner: _Planner

    def _setup(
        self,
        *,
        plugin_dirs: Iterable[str] | str | None,
        cache_dir: str | os.PathLike[str],
        timeout: float | None,
        timeouts: Mapping[Verb | str, float] | None,
        rollback: bool,
        retry: RetryPolicy | None,
        cleanup_on_timeout: bool,
        cleanup_timeout: float | None,
        lock_timeout: float | None,
        durable_cache: bool,
        on_plugin: Callable[[PluginRun], None] | None,
    ) -> None:
        self._planner = _Planner(
            plugin_dirs=_plugin_dirs(plugin_dirs),
            cache=ResultCache(cache_dir, durable=durable_cache),
            timeout=timeout,
            timeouts={_verb(k): v for k, v in (timeouts or {}).items()},
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
        """The cached result of an attachment, converted to the list's version; None if not cached.

        Raises :class:`~cnilib.CacheError` for an unreadable entry.
        """
        key = self._planner.lock_key(conflist, rt)
        entry = self.cache.read(*key)
        if entry is None or entry.result is None:
            return None
        return cast("AnyResult", entry.parsed_result(self._planner.version_of(conflist)))

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

        Nothing is executed and nothing is written. Where stdin depends on an earlier plugin's
        output (ADD's prevResult), a placeholder string stands for it; DEL and CHECK show the real
        cached result. ``VERSION`` shows the calls :meth:`CNI.validate` makes.
        """
        verb = _verb(verb)
        plan = self._plan(verb, conflist, rt, valid_attachments=valid_attachments, timeout=None)
        return _dry_run(plan)

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
        if verb in (Verb.ADD, Verb.DEL, Verb.CHECK):
            if rt is None:
                raise ValidationError(f"{verb.value} needs a runtime configuration")
            if verb is Verb.ADD:
                return p.plan_add(conflist, rt, timeout=timeout, rollback=rollback)
            if verb is Verb.DEL:
                return p.plan_del(conflist, rt, timeout=timeout)
            return p.plan_check(conflist, rt, timeout=timeout)
        if verb is Verb.STATUS:
            return p.plan_status(conflist, timeout=timeout)
        if verb is Verb.GC:
            return p.plan_gc(conflist, valid_attachments, timeout=timeout)
        return p.plan_validate(conflist, timeout=timeout)


def _dry_run(plan: Plan[Any]) -> list[PlannedCall]:
    import json  # (dry runs only)

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
            elif req.verb is Verb.VERSION:
                send = VersionInfo(cni_version="", supported_versions=())
        elif isinstance(effect, _Blocking) and not effect.mutates:
            # Reads are done for real (DEL/CHECK show the true cached prevResult); writes are not.
            send = effect.fn()


class CNI(_Common):
    """Run CNI plugins for configuration lists (the synchronous front end).

    ``plugin_dirs`` defaults to ``$CNI_PATH`` (else ``/opt/cni/bin``, ``/usr/libexec/cni``,
    ``/usr/lib/cni``). ``timeout`` bounds a whole operation (all plugins of a verb);
    ``timeouts`` overrides it per verb. ``rollback``: a failed ADD runs DEL for what was applied.
    ``retry``: retry plugins answering code 11. ``cleanup_on_timeout``: after a timed-out ADD, DEL
    under a fresh deadline (``cleanup_timeout``). ``on_plugin`` is called after every plugin run
    with timings (in the thread that ran it; an exception it raises propagates).
    ``env``/``env_allow``/``extra_env``/``argv_prefix`` configure the default executor (see
    :class:`~cnilib.SubprocessExecutor`); ``executor`` replaces it (e.g. a fake).
    Operations on one (network, container, ifname) are serialized across threads and processes;
    GC excludes ADD/DEL/CHECK on its network (``lock_timeout`` bounds the waits).
    Cache entries are fsynced before they replace the old ones; ``durable_cache`` also fsyncs the
    directory, so that the rename itself survives a power loss.
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
        durable_cache: bool = False,
        on_plugin: Callable[[PluginRun], None] | None = None,
    ) -> None:
        self._setup(
            plugin_dirs=plugin_dirs,
            cache_dir=cache_dir,
            timeout=timeout,
            timeouts=timeouts,
            rollback=rollback,
            retry=retry,
            cleanup_on_timeout=cleanup_on_timeout,
            cleanup_timeout=cleanup_timeout,
            lock_timeout=lock_timeout,
            durable_cache=durable_cache,
            on_plugin=on_plugin,
        )
        if executor is None:
            executor = SubprocessExecutor(**_executor_kwargs(env, env_allow, extra_env, argv_prefix))
        from ._tracing import TracingExecutor  # spans and log records per plugin call

        self.executor: Executor = TracingExecutor(executor)

    # -- verbs --

    def add(
        self,
        conflist: NetworkConfigList,
        rt: RuntimeConfig,
        *,
        timeout: float | None = None,
        rollback: bool | None = None,
    ) -> AnyResult | None:
        """ADD: every plugin in order with prevResult threading; cache and return the last result.

        Stops at the first failure without writing the cache; with ``rollback`` (default: the
        instance's) what was applied is DELeted first. The error carries notes saying so.
        """
        planner = self._planner
        plan = planner.plan_add(
            conflist,
            rt,
            timeout=timeout,
            rollback=planner.rollback if rollback is None else rollback,
        )
        with _op("add", conflist, rt), self._locked(conflist, rt):
            return self._drive(plan)

    def delete(self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None) -> None:
        """DEL: every plugin in reverse with the cached result; the cache entry goes on success.

        A missing, empty or corrupt cache entry never blocks DEL. DEL twice succeeds.
        """
        plan = self._planner.plan_del(conflist, rt, timeout=timeout)
        with _op("delete", conflist, rt), self._locked(conflist, rt):
            self._drive(plan)

    def check(self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None) -> None:
        """CHECK (>= 0.4.0; a no-op with ``disableCheck``): every plugin with the cached result."""
        plan = self._planner.plan_check(conflist, rt, timeout=timeout)
        with _op("check", conflist, rt), self._locked(conflist, rt):
            self._drive(plan)

    def status(self, conflist: NetworkConfigList, *, timeout: float | None = None) -> None:
        """STATUS (>= 1.1.0; nothing runs for older lists): raises the first plugin's error."""
        with _op("status", conflist, None):
            self._drive(self._planner.plan_status(conflist, timeout=timeout))

    def gc(
        self,
        conflist: NetworkConfigList,
        valid_attachments: Iterable[GCAttachment] = (),
        *,
        timeout: float | None = None,
    ) -> None:
        """GC: DEL every cached attachment of the network not in ``valid_attachments`` (for any
        version, as libcni), then (>= 1.1.0) send GC to every plugin. A no-op with ``disableGC``.

        Holds the network's lock exclusively: no ADD/DEL/CHECK of the network runs meanwhile.
        Failures are collected in a :class:`~cnilib.MultiError`.
        """
        valid = tuple(valid_attachments)
        plan = self._planner.plan_gc(conflist, valid, timeout=timeout)
        lt = self._planner.lock_timeout
        with _op("gc", conflist, None), self.cache.network_lock(conflist.name, exclusive=True, timeout=lt):
            self._drive(plan)

    def version_info(self, plugin: str, *, timeout: float | None = None) -> VersionInfo:
        """VERSION of one plugin type, with libcni's rules for plugins older than VERSION."""
        return self._drive(self._planner.plan_version(plugin, timeout=timeout))

    def validate(self, conflist: NetworkConfigList, *, timeout: float | None = None) -> ValidationReport:
        """Probe every plugin's VERSION and report every problem (the list's version unsupported,
        a plugin missing, ...) and the enabled capabilities. Does not raise for problems: see
        ``ok``."""
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
        """Attach one container to several networks concurrently (ifnames ``eth0``..``ethN``
        unless given); results in the order of ``networks``. On any failure the other networks
        are detached again (unless ``rollback=False``) and a :class:`~cnilib.MultiError` names
        every failure (keys ``"<network>/<ifname>"``)."""
        from concurrent.futures import ThreadPoolExecutor  # (import cost)

        rts = _per_network(networks, rt, ifnames)
        with ThreadPoolExecutor(max_workers=max(1, len(networks))) as pool:
            futures = [
                pool.submit(self.add, net, r, timeout=timeout, rollback=rollback)
                for net, r in zip(networks, rts, strict=True)
            ]
            outcomes = [_result_or_error(f.result) for f in futures]
        errors = _failures(networks, rts, outcomes)
        if not errors:
            return cast("list[AnyResult | None]", outcomes)
        if rollback:
            for net, r, o in zip(networks, rts, outcomes, strict=True):
                if not isinstance(o, BaseException):
                    try:
                        self.delete(net, r, timeout=timeout)
                    except CNIError as exc:
                        errors[f"rollback {net.name}/{r.ifname}"] = exc
        raise MultiError("attaching to several networks failed", errors)

    def delete_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """DEL one container from several networks concurrently; failures aggregated."""
        from concurrent.futures import ThreadPoolExecutor  # (import cost)

        rts = _per_network(networks, rt, ifnames)
        with ThreadPoolExecutor(max_workers=max(1, len(networks))) as pool:
            futures = [
                pool.submit(self.delete, net, r, timeout=timeout)
                for net, r in zip(networks, rts, strict=True)
            ]
            outcomes = [_result_or_error(f.result) for f in futures]
        errors = _failures(networks, rts, outcomes)
        if errors:
            raise MultiError("detaching from several networks failed", errors)

    # -- driver --

    @contextmanager
    def _locked(self, conflist: NetworkConfigList, rt: RuntimeConfig) -> Iterator[HeldLock]:
        key = self._planner.lock_key(conflist, rt)
        with self.cache.attachment_lock(*key, timeout=self._planner.lock_timeout) as held:
            yield held

    def _drive(self, plan: Plan[T]) -> T:
        send: Any = None
        throw: BaseException | None = None
        try:
            while True:
                try:
                    effect = plan.throw(throw) if throw is not None else plan.send(send)
                except StopIteration as stop:
                    return cast("T", stop.value)
                send, throw = None, None
                try:
                    if type(effect) is _Exec:
                        send = self._exec(effect)
                    elif type(effect) is _Blocking:
                        send = effect.fn()
                    else:
                        time.sleep(cast("_Sleep", effect).seconds)
                except CNIError as exc:
                    throw = exc
        finally:
            plan.close()

    def _exec(self, effect: _Exec) -> AnyResult | VersionInfo | None:
        req = effect.request
        started = time.monotonic()
        outcome: ExecOutcome | None = None
        error: CNIError | None = None
        try:
            if effect.deadline is None:
                outcome = self.executor.run(req, timeout=None)
            elif effect.deadline > started:
                outcome = self.executor.run(req, timeout=effect.deadline - started)
            else:
                outcome = _expired()
            return decode_outcome(req, outcome)
        except CNIError as exc:
            error = exc
            raise
        finally:
            if self._planner.on_plugin is not None:
                _report(self._planner, effect, outcome, error, started)


def _op(
    operation: str, conflist: NetworkConfigList, rt: RuntimeConfig | None
) -> AbstractContextManager[None]:
    # One trace span per operation (a shared no-op when tracing is off; see cnilib._tracing).
    from ._tracing import operation_span

    return operation_span(operation, network=conflist.name, container_id=rt.container_id if rt else None)


def _per_network(
    networks: Sequence[NetworkConfigList], rt: RuntimeConfig, ifnames: Sequence[str] | None
) -> list[RuntimeConfig]:
    names = list(ifnames) if ifnames is not None else [f"eth{i}" for i in range(len(networks))]
    if len(names) != len(networks):
        raise ValidationError(f"{len(networks)} networks but {len(names)} interface names")
    keys = [(net.name, n) for net, n in zip(networks, names, strict=True)]
    if len(set(keys)) != len(keys):
        raise ValidationError("the same network and interface name are given twice")
    return [attrs.evolve(rt, ifname=n) for n in names]


def _result_or_error(get: Callable[[], T]) -> T | CNIError:
    try:
        return get()
    except CNIError as exc:
        return exc


def _failures(
    networks: Sequence[NetworkConfigList],
    rts: Sequence[RuntimeConfig],
    outcomes: Sequence[object],
) -> dict[str, BaseException]:
    return {
        f"{net.name}/{r.ifname}": o
        for net, r, o in zip(networks, rts, outcomes, strict=True)
        if isinstance(o, BaseException)
    }


class AsyncCNI(_Common):
    """The asyncio front end: the same verbs as :class:`CNI`, as coroutines.

    Plans are the same as :class:`CNI`'s; plugin processes are watched by the event loop, blocking
    cache I/O runs in a worker thread, and cancelling a call kills the running plugin's process
    group. Usable as ``async with AsyncCNI(...) as cni:`` (no resources are held; it is there for
    symmetry).
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
        durable_cache: bool = False,
        on_plugin: Callable[[PluginRun], None] | None = None,
    ) -> None:
        self._setup(
            plugin_dirs=plugin_dirs,
            cache_dir=cache_dir,
            timeout=timeout,
            timeouts=timeouts,
            rollback=rollback,
            retry=retry,
            cleanup_on_timeout=cleanup_on_timeout,
            cleanup_timeout=cleanup_timeout,
            lock_timeout=lock_timeout,
            durable_cache=durable_cache,
            on_plugin=on_plugin,
        )
        if executor is None:
            from ._exec import AsyncSubprocessExecutor

            executor = AsyncSubprocessExecutor(**_executor_kwargs(env, env_allow, extra_env, argv_prefix))
        from ._tracing import AsyncTracingExecutor  # spans and log records per plugin call

        self.executor: AsyncExecutor = AsyncTracingExecutor(executor)

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
        planner = self._planner
        plan = planner.plan_add(
            conflist,
            rt,
            timeout=timeout,
            rollback=planner.rollback if rollback is None else rollback,
        )
        with _op("add", conflist, rt):
            async with self._locked(conflist, rt):
                return await self._drive(plan)

    async def delete(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None
    ) -> None:
        """DEL (see :meth:`CNI.delete`)."""
        plan = self._planner.plan_del(conflist, rt, timeout=timeout)
        with _op("delete", conflist, rt):
            async with self._locked(conflist, rt):
                await self._drive(plan)

    async def check(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None = None
    ) -> None:
        """CHECK (see :meth:`CNI.check`)."""
        plan = self._planner.plan_check(conflist, rt, timeout=timeout)
        with _op("check", conflist, rt):
            async with self._locked(conflist, rt):
                await self._drive(plan)

    async def status(self, conflist: NetworkConfigList, *, timeout: float | None = None) -> None:
        """STATUS (see :meth:`CNI.status`)."""
        with _op("status", conflist, None):
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
        lt = self._planner.lock_timeout
        with _op("gc", conflist, None):
            async with self.cache.anetwork_lock(conflist.name, exclusive=True, timeout=lt):
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
        import asyncio  # (import cost)

        rts = _per_network(networks, rt, ifnames)
        outcomes = await asyncio.gather(
            *(self.add(n, r, timeout=timeout, rollback=rollback) for n, r in zip(networks, rts, strict=True)),
            return_exceptions=True,
        )
        for o in outcomes:
            if isinstance(o, BaseException) and not isinstance(o, CNIError):
                raise o
        errors = _failures(networks, rts, outcomes)
        if not errors:
            return cast("list[AnyResult | None]", outcomes)
        if rollback:
            for net, r, o in zip(networks, rts, outcomes, strict=True):
                if not isinstance(o, BaseException):
                    try:
                        await self.delete(net, r, timeout=timeout)
                    except CNIError as err:
                        errors[f"rollback {net.name}/{r.ifname}"] = err
        raise MultiError("attaching to several networks failed", errors)

    async def delete_networks(
        self,
        networks: Sequence[NetworkConfigList],
        rt: RuntimeConfig,
        *,
        ifnames: Sequence[str] | None = None,
        timeout: float | None = None,
    ) -> None:
        """DEL from several networks concurrently (see :meth:`CNI.delete_networks`)."""
        import asyncio  # (import cost)

        rts = _per_network(networks, rt, ifnames)
        outcomes = await asyncio.gather(
            *(self.delete(n, r, timeout=timeout) for n, r in zip(networks, rts, strict=True)),
            return_exceptions=True,
        )
        for o in outcomes:
            if isinstance(o, BaseException) and not isinstance(o, CNIError):
                raise o
        errors = _failures(networks, rts, outcomes)
        if errors:
            raise MultiError("detaching from several networks failed", errors)

    # -- driver --

    @asynccontextmanager
    async def _locked(self, conflist: NetworkConfigList, rt: RuntimeConfig) -> AsyncIterator[HeldLock]:
        key = self._planner.lock_key(conflist, rt)
        async with self.cache.aattachment_lock(*key, timeout=self._planner.lock_timeout) as held:
            yield held

    async def _drive(self, plan: Plan[T]) -> T:
        import asyncio  # (import cost; already loaded when a loop runs)

        loop = asyncio.get_running_loop()
        send: Any = None
        throw: BaseException | None = None
        try:
            while True:
                try:
                    effect = plan.throw(throw) if throw is not None else plan.send(send)
                except StopIteration as stop:
                    return cast("T", stop.value)
                send, throw = None, None
                try:
                    if type(effect) is _Exec:
                        send = await self._exec(effect)
                    elif type(effect) is _Blocking:
                        if effect.quick:
                            send = effect.fn()
                        else:
                            # Cache writes (fsync) would stall the loop: a worker thread does them.
                            send = await loop.run_in_executor(None, effect.fn)
                    else:
                        await asyncio.sleep(cast("_Sleep", effect).seconds)
                except CNIError as exc:
                    throw = exc
        finally:
            plan.close()

    async def _exec(self, effect: _Exec) -> AnyResult | VersionInfo | None:
        req = effect.request
        started = time.monotonic()
        outcome: ExecOutcome | None = None
        error: CNIError | None = None
        try:
            if effect.deadline is None:
                outcome = await self.executor.run(req, timeout=None)
            elif effect.deadline > started:
                outcome = await self.executor.run(req, timeout=effect.deadline - started)
            else:
                outcome = _expired()
            return decode_outcome(req, outcome)
        except CNIError as exc:
            error = exc
            raise
        finally:
            if self._planner.on_plugin is not None:
                _report(self._planner, effect, outcome, error, started)
