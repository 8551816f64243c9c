"""The watcher itself: :class:`Watcher`, its life cycle (the cache directory's lock, the
engine client) and its loops (follow the event stream, resync, one full :meth:`~Watcher.reconcile`
pass, drain on stop)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import cnilib
from cnilib import CNIError
from cnilib.docker._api import (
    DockerError,
)

from ..._base._defaults import DEFAULT_CACHE_DIR
from ._backend import _Backend, _Docker
from ._converge import _Converger
from ._state import ReconcileReport, _log, _one_line, _processes_with


class WatcherLockedError(DockerError):
    """Another watcher already serves this cache directory."""

    __module__ = "cnilib.docker"  # tracebacks name the public path


# -- the watcher ----------------------------------------------------------------------------------


class Watcher(_Converger):
    """Keep labelled containers attached; an asyncio object for embedding.

    ``conf_dir`` holds the network configurations (``NETCONFPATH``), ``plugin_dirs`` the plugins
    (``CNI_PATH``), ``cache_dir`` libcni's result cache. ``host`` is the Docker engine (default:
    ``DOCKER_HOST``, else ``/var/run/docker.sock``). ``argv_prefix`` is passed to the plugin
    executor (e.g. ``nsenter --net=...``). ``concurrency`` bounds the containers handled at once.

    Use as ``async with Watcher(...) as w: await w.run()``; entering takes the cache directory's
    lock (:class:`WatcherLockedError` if another watcher holds it). :meth:`stop` ends :meth:`run`
    after the operations in flight finished; :meth:`reconcile` is one full pass.
    """

    def __init__(
        self,
        *,
        conf_dir: str | os.PathLike[str],
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
        state_dir: str | os.PathLike[str] | None = None,
        host: str | None = None,
        timeout: float | None = 60.0,
        argv_prefix: Sequence[str] = (),
        resync_interval: float = 60.0,
        concurrency: int = 8,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.conf_dir = os.fspath(conf_dir)
        self.cache_dir = os.path.abspath(os.fspath(cache_dir))
        base = os.path.join(self.cache_dir, "docker-watch") if state_dir is None else os.fspath(state_dir)
        self.state_dir = os.path.abspath(base)
        self.host = host
        self.resync_interval = resync_interval
        self.shutdown_timeout = shutdown_timeout
        self._cni_kwargs: dict[str, Any] = {
            "plugin_dirs": plugin_dirs,
            "cache_dir": self.cache_dir,
            "timeout": timeout,
            "argv_prefix": argv_prefix,
        }
        self._concurrency = max(1, concurrency)
        self._lock_fd: int | None = None
        self._backend: _Backend | None = None
        self._docker: _Docker | None = None
        self._sem: asyncio.Semaphore | None = None
        self._stopping: asyncio.Event | None = None
        self._workers: dict[str, asyncio.Task[str]] = {}
        self._dirty: set[str] = set()
        self._complaints: dict[str, str] = {}
        # Containers whose attach failed: (not before, delay), so that a network that cannot work
        # is not set up and rolled back again at every pass.
        self._retry: dict[str, tuple[float, float]] = {}

    # -- life cycle --

    @property
    def lock_path(self) -> str:
        """The lock file that admits one watcher per cache directory."""
        return os.path.join(self.cache_dir, "docker-watch.lock")

    async def __aenter__(self) -> Watcher:
        self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def open(self) -> None:
        """Take the lock and prepare the state directory (done by ``async with``)."""
        os.makedirs(self.cache_dir, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WatcherLockedError(
                f"another cnilib docker watch (pid {holder}) serves cache directory {self.cache_dir} "
                f"(lock {self.lock_path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        for sub in ("containers", "netns"):
            os.makedirs(os.path.join(self.state_dir, sub), exist_ok=True)
        self._backend = _Backend(cnilib.AsyncCNI(**self._cni_kwargs))
        self._docker = _Docker(self.host, 10.0)
        self._sem = asyncio.Semaphore(self._concurrency)
        self._stopping = asyncio.Event()

    async def close(self) -> None:
        """Release the engine client and the lock."""
        if self._docker is not None:
            await self._docker.close()
            self._docker = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def stop(self) -> None:
        """Ask :meth:`run` to return once the operations in flight are done (signal-safe in the loop)."""
        if self._stopping is not None:
            self._stopping.set()

    async def run(self, *, on_ready: Callable[[], None] | None = None) -> None:
        """Follow events and reconcile until :meth:`stop`; reconnects when the engine goes away.

        ``on_ready`` is called once, after the first full reconciliation.
        """
        _, docker, _, stopping = self._parts()
        await self._startup()
        _log(logging.INFO, "start", cache_dir=self.cache_dir, conf_dir=self.conf_dir, engine=docker.sock)
        ready = [on_ready]
        follow = asyncio.ensure_future(self._follow(ready))
        resync = asyncio.ensure_future(self._resync_loop())
        stop_wait = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({follow, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (follow, resync, stop_wait):
                t.cancel()
            await asyncio.gather(follow, resync, stop_wait, return_exceptions=True)
            await self._drain()
        if follow.done() and not follow.cancelled() and follow.exception() is not None:
            raise follow.exception()  # type: ignore[misc]
        _log(logging.INFO, "stop", outcome="ok")

    async def _startup(self) -> None:
        # A previous watcher killed while plugins ran leaves them running, orphaned: wait until
        # they finish (or kill them after the plugin timeout) before deciding anything, or a
        # repair would race with an ADD or DEL still in progress.
        backend, _, _, _ = self._parts()
        marker = f"CNI_NETNS={self._pin_path('')}".encode()
        deadline = time.monotonic() + (self._cni_kwargs["timeout"] or 60.0)
        pids = _processes_with(marker)
        if pids:
            _log(logging.INFO, "wait", orphaned_plugins=len(pids))
        while pids and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            pids = _processes_with(marker)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for cid in sorted(self._recorded() & await backend.unfinished()):
            try:
                await backend.recover(cid)
            except CNIError as exc:  # the reconciliation DELs it again
                self._complain(cid, "recover", exc)

    async def _drain(self) -> None:
        pending = [t for t in self._workers.values() if not t.done()]
        if not pending:
            return
        _log(logging.INFO, "drain", in_flight=len(pending))
        self._dirty.clear()
        _, still = await asyncio.wait(pending, timeout=self.shutdown_timeout)
        for t in still:
            t.cancel()
        if still:
            await asyncio.wait(still)

    async def _follow(self, ready: list[Callable[[], None] | None]) -> None:
        _, docker, _, _ = self._parts()
        delay = 0.1

        async def opened() -> None:
            nonlocal delay
            _log(logging.INFO, "connected", engine=docker.sock)
            delay = 0.1
            await self.reconcile()
            callback, ready[0] = ready[0], None
            if callback is not None:
                callback()

        while True:
            try:
                await docker.events(opened, self._on_event)
                _log(logging.WARNING, "disconnected", engine=docker.sock, error="event stream ended")
            except DockerError as exc:
                _log(logging.WARNING, "disconnected", engine=docker.sock, error=_one_line(exc), retry_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_interval)
            try:
                await self.reconcile()
            except (CNIError, OSError) as exc:
                _log(logging.WARNING, "resync", outcome="error", error=_one_line(exc))

    def _on_event(self, cid: str) -> None:
        self._retry.pop(cid, None)  # a container that (re)starts is tried at once
        self._trigger(cid)

    def _trigger(self, cid: str) -> asyncio.Task[str]:
        self._dirty.add(cid)
        task = self._workers.get(cid)
        if task is None or task.done():
            task = asyncio.ensure_future(self._worker(cid))
            self._workers[cid] = task
        return task

    async def _worker(self, cid: str) -> str:
        outcome = "unchanged"
        try:
            while cid in self._dirty:
                self._dirty.discard(cid)
                outcome = await self._converge_logged(cid)
        finally:
            if self._workers.get(cid) is asyncio.current_task():
                del self._workers[cid]
        return outcome

    async def reconcile(self) -> ReconcileReport:
        """One full pass: attach every running labelled container that is not, detach every
        recorded attachment whose container does not run anymore, repair what a crash left."""
        _, docker, _, _ = self._parts()
        t0 = time.monotonic()
        running = await docker.labelled()
        recorded = self._recorded()
        self._remove_stray_pins(recorded)
        tasks = {cid: self._trigger(cid) for cid in sorted(set(running) | recorded)}
        if tasks:
            await asyncio.wait(tasks.values())
        by: dict[str, list[str]] = {}
        failed: dict[str, str] = {}
        for cid, task in tasks.items():
            outcome = "failed" if task.cancelled() or task.exception() else task.result()
            by.setdefault(outcome, []).append(cid)
            if outcome == "failed":
                failed[cid] = self._complaints.get(cid, "cancelled")
        report = ReconcileReport(
            attached=tuple(by.get("attached", ())),
            detached=tuple(by.get("detached", ())),
            repaired=tuple(by.get("repaired", ())),
            unchanged=tuple(by.get("unchanged", []) + by.get("ignored", [])),
            failed=failed,
        )
        _log(
            logging.INFO,
            "reconcile",
            running=len(running),
            recorded=len(recorded),
            attached=len(report.attached),
            detached=len(report.detached),
            repaired=len(report.repaired),
            failed=len(failed),
            duration_ms=(time.monotonic() - t0) * 1000,
        )
        return report
