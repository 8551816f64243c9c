"""Drivers: short loops that carry out a plan's effects (``_effects``).

:class:`SyncDriver` runs them in the calling thread, :class:`AsyncDriver` on an event loop (plugin
processes watched by the loop, cache writes in a worker thread), :func:`dry_run` not at all: it
records each :class:`Run` as a :class:`PlannedCall`, performs reads (DEL and CHECK show the real
cached prevResult) and skips everything else, knowing from an effect's type alone what it does.
"""

from __future__ import annotations

import json
import threading
import time

from .._base._errors import CNIError
from .._base._operation import OPERATION, Operation
from .._cache._locks import LockRequest, acquire, acquire_async
from .._exec._discovery import find_plugin
from .._spec._version import Verb
from ._effects import (
    CacheRead,
    CacheWrite,
    Cancelled,
    Effect,
    Gather,
    Placeholder,
    Plan,
    Run,
    Simulated,
    Sleep,
    TakeLock,
)

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    import asyncio
    from typing import Any, Protocol, TypeVar

    from .._cache import HeldLock, ResultCache
    from .._exec import AsyncExecutor
    from .._exec._protocol import ExecRequest
    from .._spec._seam import Outcome
    from ._reports import PlannedCall

    class Runner(Protocol):
        """What the sync driver runs requests with: the library's executors (``cnilib.Executor``)
        and the command line's, which takes any request and makes outcomes of its own."""

        def run(self, request: ExecRequest, *, timeout: float | None = None) -> Outcome: ...

    T = TypeVar("T")

__all__ = ["AsyncDriver", "SyncDriver", "dry_run"]


class _Steps:
    """Advances a plan with the answers a driver gives; holds the plan's locks until it ends.

    The part of every driver's loop that does not depend on how effects are carried out.
    """

    __slots__ = ("_answer", "_error", "_plan", "held", "op", "value")

    def __init__(self, plan: Plan[Any]) -> None:
        self._plan = plan
        self._answer: Any = None
        self._error: BaseException | None = None
        self.held: list[HeldLock] = []
        # What the plan shares with its plugins (its locks) and a signal handler: set as OPERATION
        # around each run (see Operation).
        self.op = Operation()
        self.value: Any = None

    def next(self) -> Effect | None:
        """The next effect, or None once the plan has returned (its value in ``value``)."""
        try:
            if self._error is not None:
                effect = self._plan.throw(self._error)
            else:
                effect = self._plan.send(self._answer)
        except StopIteration as stop:
            self.value = stop.value
            return None
        self._answer, self._error = None, None
        return effect

    def answer(self, value: Any) -> None:
        self._answer = value

    def fail(self, exc: CNIError) -> None:
        self._error = exc

    def lock_request(self, store: ResultCache, effect: TakeLock) -> LockRequest:
        path = store.lock_path_for(effect.network)
        return LockRequest(path, effect.network, effect.attachment, effect.exclusive)

    def hold(self, lock: HeldLock) -> None:
        self.held.append(lock)
        if lock.locked:  # (a read-only or full cache holds no lock file: nothing to pass on)
            self.op.fds = (*self.op.fds, lock.fileno())

    def close(self) -> None:
        self._plan.close()
        # A plugin whose end was not seen (its kill was interrupted) keeps what it inherited until
        # it ends; otherwise the locks go for every holder, a daemon a plugin left included.
        unlock = self.op.pending == 0
        while self.held:
            self.held.pop().release(unlock=unlock)


class SyncDriver:
    """Carries out effects in the calling thread; ``limit`` bounds how many plans run at once."""

    def __init__(self, executor: Runner, store: ResultCache, limit: int | None) -> None:
        self.executor = executor
        self.store = store
        self.limit = limit
        self._slots = None if limit is None else threading.BoundedSemaphore(limit)

    def drive(self, plan: Plan[T], *, bounded: bool = True) -> T:
        """Run ``plan`` to its end; ``bounded``: in one of the ``limit`` slots (a plan that only
        gathers others, whose sub-plans take slots of their own, is driven unbounded)."""
        slots = self._slots if bounded else None
        if slots is not None:
            slots.acquire()
        steps = _Steps(plan)
        try:
            while (effect := steps.next()) is not None:
                try:
                    steps.answer(self._do(effect, steps))
                except CNIError as exc:
                    steps.fail(exc)
            value: T = steps.value
            return value
        finally:
            steps.close()
            if slots is not None:
                slots.release()

    def _do(self, effect: Effect, steps: _Steps) -> Any:
        if type(effect) is Run:
            token = OPERATION.set(steps.op)
            try:
                # (one family: see _effects' _FAMILY_NOTE)
                outcome = self.executor.run(effect.request, timeout=effect.timeout)  # type: ignore[arg-type]
            finally:
                OPERATION.reset(token)
            if steps.op.stop is not None:  # a signal that let the plugin finish: stop now
                raise steps.op.stop
            return outcome
        if isinstance(effect, (CacheRead, CacheWrite)):
            return effect.apply(self.store)
        if type(effect) is TakeLock:
            steps.hold(acquire(steps.lock_request(self.store, effect), effect.timeout))
            return None
        if type(effect) is Gather:
            return self._gather(effect)
        assert isinstance(effect, Sleep)  # what is left
        time.sleep(effect.seconds)
        return None

    def _gather(self, effect: Gather) -> list[Any]:
        from concurrent.futures import ThreadPoolExecutor  # (import cost)

        workers = max(1, min(len(effect.plans), self.limit or len(effect.plans)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [pool.submit(_outcome, self.drive, plan) for plan in effect.plans]
            return [f.result() for f in futures]


def _outcome(drive: Any, plan: Plan[Any]) -> Any:
    try:
        return drive(plan)
    except CNIError as exc:
        return exc


class AsyncDriver:
    """Carries out effects on the running event loop; ``limit`` bounds how many plans run at once."""

    def __init__(self, executor: AsyncExecutor, store: ResultCache, limit: int | None) -> None:
        self.executor = executor
        self.store = store
        self.limit = limit
        self._slots: dict[object, Any] = {}  # one semaphore per event loop

    def _slot(self) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        sem = self._slots.get(loop)
        if sem is None:
            assert self.limit is not None  # (drive only asks for a slot when bounded)
            sem = self._slots[loop] = asyncio.Semaphore(self.limit)
        return sem

    async def drive(self, plan: Plan[T], *, bounded: bool = True) -> T:
        if bounded and self.limit is not None:
            async with self._slot():
                return await self._loop(plan)
        return await self._loop(plan)

    async def _loop(self, plan: Plan[T]) -> T:
        import asyncio  # (import cost; already loaded when a loop runs)

        steps = _Steps(plan)
        cancelled: asyncio.CancelledError | None = None
        try:
            # On a cancellation the plan still decides what to undo (an ADD rolls back when asked
            # to), then the cancellation goes on: the effect it interrupted fails with
            # ``Cancelled`` (a plugin's group is already killed, a cache write in its thread has
            # ended), and a gathering hears every sub-plan's outcome (the cancelled ones as
            # failures). Cancelled again while cleaning up, it goes on at once.
            while (effect := steps.next()) is not None:
                try:
                    answer = await self._do(effect, steps)
                except CNIError as exc:
                    steps.fail(exc)
                    continue
                except asyncio.CancelledError as exc:
                    if cancelled is not None:
                        raise
                    cancelled = exc
                    steps.fail(Cancelled(_cancelled_text(effect)))
                    continue
                if type(answer) is _Interrupted:
                    if cancelled is not None:
                        raise answer.cancellation
                    cancelled, answer = answer.cancellation, answer.outcomes
                steps.answer(answer)
        except CNIError as exc:
            if cancelled is None:
                raise
            raise cancelled from exc  # (the plan's error carries the rollback's notes)
        finally:
            steps.close()
        if cancelled is not None:
            raise cancelled
        value: T = steps.value
        return value

    async def _do(self, effect: Effect, steps: _Steps) -> Any:
        import asyncio  # (import cost; already loaded when a loop runs)

        if type(effect) is Run:
            token = OPERATION.set(steps.op)  # (the task's context: concurrent plans apart)
            try:
                # (one family: see _effects' _FAMILY_NOTE)
                outcome = await self.executor.run(effect.request, timeout=effect.timeout)  # type: ignore[arg-type]
            finally:
                OPERATION.reset(token)
            if steps.op.stop is not None:  # (see SyncDriver)
                raise steps.op.stop
            return outcome
        if isinstance(effect, CacheRead) and effect.quick:
            return effect.apply(self.store)
        if isinstance(effect, (CacheRead, CacheWrite)):
            # Writes fsync and scans list directories: a worker thread keeps the loop free. A
            # cancellation waits for the thread: the plan must know what is on disk.
            work = asyncio.get_running_loop().run_in_executor(None, effect.apply, self.store)
            try:
                return await asyncio.shield(work)
            except asyncio.CancelledError:
                await asyncio.wait([work])
                if not work.cancelled():
                    work.exception()  # (seen: the plan hears of the cancellation instead)
                raise
        if type(effect) is TakeLock:
            steps.hold(await acquire_async(steps.lock_request(self.store, effect), effect.timeout))
            return None
        if type(effect) is Gather:
            return await self._gather(effect)
        assert isinstance(effect, Sleep)  # what is left
        await asyncio.sleep(effect.seconds)
        return None

    async def _gather(self, effect: Gather) -> list[Any] | _Interrupted:
        import asyncio

        tasks = [asyncio.ensure_future(self.drive(p)) for p in effect.plans]
        try:
            return await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError as exc:
            # gather cancelled the sub-plans still running: each finishes its own cleanup, then
            # the plan hears every outcome.
            if tasks:
                await asyncio.wait(tasks)
            return _Interrupted(exc, [_ended(t) for t in tasks])


def _cancelled_text(effect: Effect) -> str:
    if type(effect) is Run:
        return f"{effect.request.verb.value} of plugin {effect.request.plugin!r} cancelled"
    return f"cancelled while waiting for {type(effect).__name__}"


class _Interrupted:
    """A :class:`Gather` that was cancelled: the cancellation, and every sub-plan's outcome once
    they all ended."""

    __slots__ = ("cancellation", "outcomes")

    def __init__(self, cancellation: asyncio.CancelledError, outcomes: list[Any]) -> None:
        self.cancellation = cancellation
        self.outcomes = outcomes


def _ended(task: asyncio.Future[Any]) -> Any:
    if task.cancelled():
        return Cancelled("cancelled")
    exc = task.exception()
    if exc is None:
        return task.result()
    # A sub-plan re-raises its cancellation once it has cleaned up: a failure to the gathering.
    return exc if isinstance(exc, CNIError) else Cancelled(f"cancelled ({type(exc).__name__})")


def dry_run(plan: Plan[Any], store: ResultCache) -> list[PlannedCall]:
    """The plugin calls ``plan`` would make; reads are done, nothing is run, written or locked."""
    calls: list[PlannedCall] = []
    steps = _Steps(plan)
    try:
        while (effect := steps.next()) is not None:
            if type(effect) is Run:
                calls.append(_planned(effect))
                steps.answer(_simulated(effect))
            elif isinstance(effect, CacheRead):
                steps.answer(effect.apply(store))
            elif type(effect) is Gather:
                for sub in effect.plans:
                    calls.extend(dry_run(sub, store))
                steps.answer([None] * len(effect.plans))
            # CacheWrite, TakeLock, Sleep: skipped (answered with None).
    finally:
        steps.close()
    return calls


def _planned(effect: Run) -> PlannedCall:
    from ._reports import PlannedCall  # (dry runs only: the fast path never loads attrs models)

    req = effect.request
    path: str | None = None
    problem = None
    try:
        path = find_plugin(req.plugin, req.search_path)
    except CNIError as exc:
        problem = str(exc)
    return PlannedCall(
        index=effect.index,
        plugin=req.plugin,
        verb=req.verb,
        plugin_path=path,
        env=dict(req.env),
        stdin=json.loads(req.stdin),
        problem=problem,
    )


def _simulated(effect: Run) -> Simulated:
    req = effect.request
    if req.verb is Verb.ADD:
        return Simulated(Placeholder(effect.index, req.plugin))
    if req.verb is Verb.VERSION:
        from .._model._models import VersionInfo

        return Simulated(VersionInfo(cni_version="", supported_versions=()))
    return Simulated(None)
