"""The plans of ADD and DEL: generators that yield effects (``_effects``) and never do I/O.

A plan owns everything about a verb but how its effects are carried out: the order of the plugins,
prevResult threading, the deadline, decoding each plugin's output, retries, the per-plugin report,
rollback, the intent record and the cache entry. Drivers (``_drivers``) carry the effects out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from .._base._errors import (
    CacheError,
    CNIError,
    MultiError,
    PluginError,
    PluginNotFoundError,
    PluginTimeoutError,
    ValidationError,
    VersionError,
)
from .._exec._discovery import check_plugin_name, find_plugin
from .._spec import Family
from .._spec._validate import validate_network_name
from .._spec._version import Verb, normalize_version, version_at_least
from ._effects import (
    Cancelled,
    DeleteEntry,
    DropIntent,
    Placeholder,
    Plan,
    ReadEntry,
    ReadIntent,
    Run,
    Simulated,
    Sleep,
    TakeLock,
    WriteEntry,
    WriteIntent,
)
from ._notes import add_note, report_run
from ._preflight import already_attached, check_netns, check_runtime_values
from ._rollback import Progress, rollback_add
from ._teardown import DROP_ENTRY, cache_step, forget, sandbox, sweep

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

    from typing_extensions import TypeVar

    from .._model._results import AnyResult
    from .._spec._seam import ConfList, Outcome, Plugin, Request, ResultDoc, Runtime
    from ._reports import PluginRun, RetryPolicy
    from ._values import Values

    #: The results of the planner's values (a bare ``Planner`` is the library's: the typed models').
    R = TypeVar("R", bound=ResultDoc, default=AnyResult)


__all__ = ["Planner"]

Key = tuple[str, str, str]
_NOTHING_APPLIED = "ADD refused before any plugin ran: nothing was applied"


class Deadline(float):
    """A :func:`time.monotonic` deadline that remembers the limit it was made from, so a plugin
    killed at it is reported as timed out after that limit (not after the time it had left)."""

    __slots__ = ("limit",)
    limit: float

    def __new__(cls, limit: float) -> Deadline:
        self = super().__new__(cls, time.monotonic() + limit)
        self.limit = limit
        return self


class Planner(Family["R"]):
    """Configuration every plan needs, and the plans of ADD and DEL (``_admin`` has the rest).

    ``values`` makes and reads the values the plans pass around (requests, results, cache
    entries): the typed models (``_values.TypedValues``) for the library, plain validated JSON on the
    command line's fast path (``cnilib._cli._fast``). ``resolve``: pre-flight ADD looks every plugin
    up (False for fake executors, which have no files). ``local_netns``: netns paths mean here what
    they mean to the plugins (``_teardown.sees_plugin_paths``): only then does pre-flight ADD check
    that the netns is a network namespace, and DEL judge whether the sandbox is gone. The defaults
    are :class:`~cnilib.CNI`'s.
    """

    def __init__(
        self,
        *,
        plugin_dirs: tuple[str, ...],
        timeout: float | None = None,
        timeouts: Mapping[Verb, float] | None = None,
        rollback: bool = False,
        retry: RetryPolicy | None = None,
        cleanup_on_timeout: bool = False,
        cleanup_timeout: float | None = None,
        lock_timeout: float | None = None,
        on_plugin: Callable[[PluginRun], None] | None = None,
        resolve: bool = True,
        values: Values[R],
        local_netns: bool = True,
    ) -> None:
        self.plugin_dirs = plugin_dirs
        self.timeout = timeout
        self.timeouts: Mapping[Verb, float] = timeouts or {}
        self.rollback = rollback
        self.retry = retry
        self.cleanup_on_timeout = cleanup_on_timeout
        self.cleanup_timeout = cleanup_timeout
        self.lock_timeout = lock_timeout
        self.on_plugin = on_plugin
        self.resolve = resolve
        self.local_netns = local_netns
        self.values: Values[R] = values

    # -- helpers --

    def deadline(self, verb: Verb, timeout: float | None) -> float | None:
        limit = timeout if timeout is not None else self.timeouts.get(verb, self.timeout)
        return None if limit is None else Deadline(limit)

    def cleanup_deadline(self) -> float | None:
        limit = self.cleanup_timeout
        if limit is None:
            limit = self.timeouts.get(Verb.DEL, self.timeout)
        return None if limit is None else Deadline(limit)

    @staticmethod
    def version_of(conflist: ConfList) -> str:
        return normalize_version(conflist.cni_version)

    def check_list(self, conflist: ConfList) -> str:
        validate_network_name(conflist.name)
        if not conflist.plugins:
            raise VersionError(f"network {conflist.name!r} has no plugins")
        return self.version_of(conflist)

    def lock_key(self, conflist: ConfList, rt: Runtime) -> Key:
        """Validate what builds file paths (every verb, unlike libcni) and return the key."""
        validate_network_name(conflist.name)
        rt.validate()
        return (conflist.name, rt.container_id, rt.ifname)

    def lock_wait(self, deadline: float | None) -> float | None:
        """How long a lock may be waited for: ``lock_timeout``, or less when the operation's
        deadline (which starts before its first wait) comes sooner."""
        left = self.time_left(deadline)
        if left is None:
            return self.lock_timeout
        return left if self.lock_timeout is None else min(self.lock_timeout, left)

    @staticmethod
    def time_left(deadline: float | None) -> float | None:
        """The timeout that ends at ``deadline`` (for a plan that computes its own from it)."""
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def take_lock(self, key: Key, deadline: float | None) -> TakeLock:
        return TakeLock(key[0], (key[1], key[2]), exclusive=False, timeout=self.lock_wait(deadline))

    def request(
        self,
        verb: Verb,
        conflist: ConfList,
        plugin: Plugin,
        rt: Runtime,
        *,
        version: str,
        prev: Any,
    ) -> Request:
        return self.values.request(
            verb, conflist, plugin, rt, version=version, search_path=self.plugin_dirs, prev=prev
        )

    # -- one plugin call: deadline, decoding, report, retries --

    def run_once(
        self, req: Request, deadline: float | None, where: tuple[str, int], attempt: int
    ) -> Plan[Any]:
        started = time.monotonic()
        outcome: Outcome | None = None
        expired = deadline is not None and deadline <= started
        try:
            if expired:
                # The deadline passed before this plugin could start: report it as a timeout.
                outcome = self.values.expired()
            else:
                answer = yield Run(req, None if deadline is None else deadline - started, where[1])
                if isinstance(answer, Simulated):
                    return answer.value  # a dry run: nothing ran, nothing to report
                outcome = answer
            value = self.values.decode(req, outcome)
        except CNIError as exc:
            if isinstance(exc, PluginTimeoutError) and isinstance(deadline, Deadline):
                exc._name_limit(deadline.limit, started=not expired)  # noqa: SLF001 - the error's own module's rule
            report_run(self.on_plugin, (*where, attempt, started), req, outcome, exc)
            raise
        report_run(self.on_plugin, (*where, attempt, started), req, outcome, None)
        return value

    def invoke(self, req: Request, deadline: float | None, network: str, index: int) -> Plan[Any]:
        """Run one request, retrying code 11 when a retry policy is set."""
        attempt = 1
        while True:
            try:
                return (yield from self.run_once(req, deadline, (network, index), attempt))
            except PluginError as exc:
                retry = self.retry
                if retry is None or not exc.temporary or attempt >= retry.attempts:
                    raise
                pause = retry.delay(attempt)
                if deadline is not None and time.monotonic() + pause >= deadline:
                    add_note(exc, f"not retried: no time left for attempt {attempt + 1}")
                    raise
                yield Sleep(pause)
                attempt += 1

    # -- ADD --

    def preflight(self, conflist: ConfList, rt: Runtime, *, resolve: bool) -> str:
        """Everything that can be known before a plugin runs; the error says nothing was applied."""
        try:
            version = self.check_list(conflist)
            check_runtime_values(rt)
            if resolve and self.resolve:  # (fakes run nothing in a namespace; dry runs plan ahead)
                for plugin in conflist.plugins:
                    check_plugin_name(plugin.type)
                    find_plugin(plugin.type, self.plugin_dirs)
                if self.local_netns:
                    check_netns(rt.netns)
        except CNIError as exc:
            exc.args = (f"{exc.args[0] if exc.args else exc} ({_NOTHING_APPLIED})", *exc.args[1:])
            raise
        return version

    def add(
        self,
        conflist: ConfList,
        rt: Runtime,
        *,
        timeout: float | None,
        rollback: bool,
        live: bool = True,
    ) -> Plan[R]:
        version = self.preflight(conflist, rt, resolve=live)
        key = (conflist.name, rt.container_id, rt.ifname)
        deadline = self.deadline(Verb.ADD, timeout)  # the lock's wait is part of the operation
        yield self.take_lock(key, deadline)
        entry, problem = yield ReadEntry(key)
        if problem is not None and problem.foreign:
            raise CacheError(f"{problem} ({_NOTHING_APPLIED})")
        if entry is not None:
            # The spec forbids a second ADD without a DEL; the plugins would fail half way and a
            # rollback's DEL would then tear the live attachment down. (A corrupt entry or a bare
            # intent record is no attachment: the ADD goes on.)
            raise already_attached(entry, key, probe=self.resolve and self.local_netns)
        # What a rollback must leave alone: the intent record of an earlier ADD that did not finish.
        undoes = rollback or self.cleanup_on_timeout
        done = Progress(earlier=undoes and (yield ReadIntent(key)) is not None)
        try:
            yield from self.add_locked(conflist, rt, version=version, deadline=deadline, done=done)
        except CNIError as exc:
            # Whatever failed after the intent record was written (a plugin, the cache, a
            # cancellation): the record stays for GC/recover(), or the rollback undoes it all.
            if rollback or (isinstance(exc, (PluginTimeoutError, Cancelled)) and self.cleanup_on_timeout):
                yield from rollback_add(self, conflist, rt, version=version, done=done, exc=exc)
            raise
        prev = done.result
        if self.values.is_result(prev):
            return prev
        # A plugin may answer null (libcni tolerates it): the caller still gets a Result, empty.
        return self.values.empty_result(version)

    def add_locked(
        self,
        conflist: ConfList,
        rt: Runtime,
        *,
        version: str,
        deadline: float | None,
        done: Progress,
    ) -> Plan[None]:
        """The intent record, every plugin in order, the entry; ``done`` says how far it got."""
        key = (conflist.name, rt.container_id, rt.ifname)
        # Recorded before the first plugin runs: after a crash, GC and recover() DEL from this.
        yield WriteIntent(self.values.entry(conflist, rt, None, intent=True))
        for i, plugin in enumerate(conflist.plugins):
            req = self.request(Verb.ADD, conflist, plugin, rt, version=version, prev=done.result)
            done.last = i  # the failing plugin is DELeted too (it may be half done)...
            try:
                done.result = yield from self.invoke(req, deadline, conflist.name, i)
            except (PluginNotFoundError, ValidationError):
                done.last = i - 1  # ...unless it never ran
                raise
        if not isinstance(done.result, Placeholder):  # (a dry run has no result to write)
            # Read under this lock at the start: the file is this attachment's or there is none.
            # (Set first: a cancellation's answer comes once the write in its thread has ended.
            # The file was no attachment's before: empty or corrupt, or none.)
            done.wrote = True
            yield WriteEntry(self.values.entry(conflist, rt, done.result), owner_checked=True)
            yield DropIntent(key)

    # -- DEL --

    def delete(self, conflist: ConfList, rt: Runtime, *, timeout: float | None) -> Plan[None]:
        self.check_list(conflist)
        key = self.lock_key(conflist, rt)
        deadline = self.deadline(Verb.DEL, timeout)  # the lock's wait is part of the operation
        yield self.take_lock(key, deadline)
        # The deadline itself, not the time left: a plugin killed at it is named with the limit.
        yield from self.delete_locked(conflist, rt, timeout=self.time_left(deadline), deadline=deadline)

    def delete_locked(
        self,
        conflist: ConfList,
        rt: Runtime,
        *,
        timeout: float | None,
        cached: bool = False,
        deadline: float | None = None,
    ) -> Plan[None]:
        """DEL with the attachment (or the whole network, for GC) already locked. ``cached``: ``rt``
        is the cache's (GC, recover()), not a caller's (see ``_teardown.sandbox``). ``deadline``:
        the operation's, when it started before (its lock's wait); else one of ``timeout``."""
        version = self.check_list(conflist)
        rt.validate()
        if deadline is None:
            deadline = self.deadline(Verb.DEL, timeout)
        key = (conflist.name, rt.container_id, rt.ifname)
        entry, problem = yield ReadEntry(key)
        # A file owned by another attachment with the same name (``foreign``) is left alone.
        foreign = problem is not None and problem.foreign
        drop = problem is not None and not foreign
        prev: ResultDoc | None = None
        if entry is not None and entry.result is not None and version_at_least(version, "0.4.0"):
            # prevResult on DEL exists from 0.4.0 on: the cached result in the list's version.
            try:
                prev = self.values.cached_result(entry, version)
            except CNIError:
                drop = True  # unparseable or not convertible to the list's version
        cache_errors: dict[str, BaseException] = {}  # (a read-only cache never stops the plugins)
        if drop:
            # A corrupt cache must never block DEL: drop it and go on without prevResult.
            yield from cache_step(DeleteEntry(key, owner_checked=True), DROP_ENTRY, cache_errors)
        # An ADD of this attachment that did not finish (its arguments serve when there is no entry).
        intent = yield ReadIntent(key)
        recorded = entry if entry is not None else intent
        rt = self.values.with_cached_args(rt, recorded)
        rt, gone = yield from sandbox(self.values, rt, recorded, cached=cached, local=self.local_netns)
        failures = yield from self.del_plugins(
            conflist, rt, version, prev, deadline, last=len(conflist.plugins) - 1
        )
        if gone and recorded is not None:
            yield from sweep(self, conflist, rt, recorded, deadline, failures)
        if failures:
            failures.update(cache_errors)
            # Kept: a later DEL (or GC) can finish the job with the same prevResult and arguments.
            raise MultiError(
                f"DEL of {rt.container_id}/{rt.ifname} from network {conflist.name!r} did not finish "
                "(every plugin's DEL was run; the cache entry is kept for a later DEL)",
                failures,
            )
        # What a killed writer of this attachment half-wrote (none runs while we hold its lock). An
        # ADD writes while its intent record exists or before there is an entry: a finished
        # attachment has nothing to sweep, and its DEL lists no directory (a re-ADD killed while
        # writing its intent record is left to GC and to the hourly sweep).
        temp = entry is None or intent is not None or problem is not None
        yield from forget(conflist, rt, temp=temp, entry=not foreign, errors=cache_errors)

    def del_plugins(
        self,
        conflist: ConfList,
        rt: Runtime,
        version: str,
        prev: ResultDoc | None,
        deadline: float | None,
        *,
        last: int,
    ) -> Plan[dict[str, BaseException]]:
        """DEL plugins ``last``..0 in reverse, every one even when some fail; the failures."""
        failures: dict[str, BaseException] = {}
        for i in range(last, -1, -1):
            plugin = conflist.plugins[i]
            try:
                req = self.request(Verb.DEL, conflist, plugin, rt, version=version, prev=prev)
                yield from self.invoke(req, deadline, conflist.name, i)
            except Cancelled:
                raise  # a cancelled DEL stops: its entry stays for a later DEL
            except CNIError as exc:
                failures[f"plugins[{i}] ({plugin.type})"] = exc
        return failures
