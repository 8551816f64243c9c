"""The asyncio executor: plugins' pipes and pidfds in one epoll set per event loop, watched by the loop."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import subprocess
import time
import weakref
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

from .._base._operation import OPERATION, gone, spawning
from . import _proc
from ._discovery import find_plugin
from ._options import _Base
from ._proc import _CHUNK, _TXTBSY_DELAYS, _Capture, _close, _Drain, _killpg, _pipes
from ._protocol import ExecOutcome, ExecRequest


class AsyncSubprocessExecutor(_Base):
    """The asyncio executor: same behaviour and options as :class:`SubprocessExecutor`.

    The pipes and a pidfd are watched through the event loop (no child watcher, no thread per
    process). Cancelling the awaiting task terminates the plugin's process group before the
    cancellation propagates.
    """

    async def _spawn_async(
        self, path: str, env: Mapping[bytes, bytes], args: tuple[str, ...], fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        import asyncio  # imported here: the sync paths (and the CLI) never pay for it

        for delay in _TXTBSY_DELAYS:
            try:
                return self._popen(path, env, args, fds)
            except OSError as exc:
                if exc.errno != errno.ETXTBSY:
                    raise
            await asyncio.sleep(delay)  # never block the event loop while retrying
        return self._popen(path, env, args, fds)

    async def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return its outcome (never raises for plugin failures).

        Raises :class:`~cnilib.ValidationError` or :class:`~cnilib.PluginNotFoundError` before
        anything is started; cancellation kills the plugin's process group, then propagates.
        """
        import asyncio  # imported here: the sync paths (and the CLI) never pay for it

        path = find_plugin(request.plugin, request.search_path)
        started = time.monotonic()
        env = self.build_env(request.env)
        op = OPERATION.get()
        fds = spawning(op)
        try:
            try:
                proc = self._popen(path, env, request.args, fds)
            except OSError as exc:
                if exc.errno != errno.ETXTBSY:
                    raise
                # The binary is being replaced: retry.
                proc = await self._spawn_async(path, env, request.args, fds)
        except OSError as exc:
            gone(op)
            return self._start_failed(path, exc, started)
        run: _AsyncRun | None = None
        try:
            run = _AsyncRun(self, proc, request.stdin)
            how = await run.finish(None if timeout is None else started + timeout)
            if how is _TIMEOUT:
                await run.terminate()
            elif how is _LINGER:
                _killpg(proc.pid, signal.SIGKILL)
        except BaseException:
            # Cancellation (or any error): the plugin must not outlive the call.
            if run is not None:
                await asyncio.shield(run.terminate())
            raise
        finally:
            if run is not None:
                run.close()
            _close(proc.stdin, proc.stdout, proc.stderr)
            if proc.returncode is None:
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            gone(op)  # (not when the kill above was interrupted: then its locks stay with it)
        return self._outcome(
            proc,
            path=path,
            drain=run.drain,
            started=started,
            timeout=timeout,
            timed_out=how is _TIMEOUT,
        )


_DONE = "done"
_TIMEOUT = "timeout"
_LINGER = "linger"


class _Watcher:
    """The epoll set holding the descriptors (pipes, pidfds) of every run on one event loop.

    Only the set is registered with the loop, once, for as long as the loop lives: one
    ``add_reader``/``remove_reader`` pair per run was most of this executor's own per-call cost.
    """

    __slots__ = ("epoll", "loop", "runs")

    def __init__(self, loop: asyncio.AbstractEventLoop, *, own: bool) -> None:
        self.epoll = select.epoll()
        self.runs: dict[int, _AsyncRun] = {}
        # A watcher shared through _WATCHERS must not keep its loop (the key) alive.
        self.loop = loop if own else None
        loop.add_reader(self.epoll.fileno(), self._on_events)

    def register(self, fd: int, events: int, run: _AsyncRun) -> None:
        self.epoll.register(fd, events)
        self.runs[fd] = run

    def unregister(self, fd: int) -> None:
        if self.runs.pop(fd, None) is not None:
            try:  # noqa: SIM105 -- runs several times per plugin call; suppress() costs an object
                self.epoll.unregister(fd)
            except OSError:
                pass

    def _on_events(self) -> None:
        for fd, _ in self.epoll.poll(0):
            run = self.runs.get(fd)
            if run is not None:  # (an earlier event of this batch may have settled it)
                run.on_event(fd)

    def close(self) -> None:
        """Only for a watcher of one run (a loop that cannot be a weak key)."""
        if self.loop is not None:
            self.loop.remove_reader(self.epoll.fileno())
        self.epoll.close()


#: One watcher per event loop; it goes away with its loop.
_WATCHERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watcher] = weakref.WeakKeyDictionary()


def _watcher_for(loop: asyncio.AbstractEventLoop) -> tuple[_Watcher, bool]:
    """The loop's shared watcher, and whether it is shared (else the run must close it)."""
    try:
        watcher = _WATCHERS.get(loop)
        if watcher is None:
            watcher = _WATCHERS[loop] = _Watcher(loop, own=False)
    except TypeError:  # a loop type that cannot be weakly referenced: a watcher for this run
        return _Watcher(loop, own=True), False
    return watcher, True


class _AsyncRun:
    """Event-loop callbacks for one process: drain pipes, feed stdin, notice exit and deadlines.

    The run's descriptors (pipes, pidfd) sit in the loop's :class:`_Watcher` set, registered
    with the event loop once, not once per run or per descriptor.
    """

    def __init__(self, owner: AsyncSubprocessExecutor, proc: subprocess.Popen[bytes], stdin: bytes) -> None:
        import asyncio  # imported here: the sync paths (and the CLI) never pay for it

        self.owner = owner
        self.proc = proc
        self.loop = asyncio.get_running_loop()
        self.drain = _Drain(stdin, owner.output_limit)
        self.result: asyncio.Future[str] = self.loop.create_future()
        self.exited: asyncio.Future[None] = self.loop.create_future()
        self.timers: list[asyncio.TimerHandle] = []
        self.readers: dict[int, _Capture] = {}
        self.stdin_fd: int | None = None
        self.pidfd: int | None = None
        self.fds: set[int] = set()
        self.watcher: _Watcher | None = None
        self.shared = True
        try:
            in_fd, out_fd, err_fd = _pipes(proc)
            self.watcher, self.shared = _watcher_for(self.loop)
            if self.drain.write_stdin(in_fd):
                _close(proc.stdin)
            else:
                self.stdin_fd = in_fd
                self._watch(in_fd, select.EPOLLOUT)
            for fd, buf in ((out_fd, self.drain.stdout), (err_fd, self.drain.stderr)):
                self.readers[fd] = buf
                self._watch(fd, select.EPOLLIN)
            self.pidfd = _proc.open_pidfd(proc.pid)
            if self.pidfd is not None:
                self._watch(self.pidfd, select.EPOLLIN)
            else:
                self._poll()
        except BaseException:
            self.close()  # no callback may outlive a half-built run
            raise

    def _watch(self, fd: int, events: int) -> None:
        assert self.watcher is not None
        self.watcher.register(fd, events, self)
        self.fds.add(fd)

    def on_event(self, fd: int) -> None:
        """One of this run's descriptors is ready."""
        if fd in self.readers:
            self._on_read(fd)
        elif fd == self.stdin_fd:
            self._on_write()
        elif fd == self.pidfd:
            self._on_exit()

    async def finish(self, deadline: float | None) -> str:
        """Wait for the plugin's exit and closed pipes: ``_DONE``, ``_TIMEOUT`` or ``_LINGER``."""

        if deadline is not None:
            self.timers.append(self.loop.call_later(max(0.0, deadline - time.monotonic()), self._on_deadline))
        return await self.result

    def _settle(self, how: str) -> None:
        if not self.result.done():
            self.result.set_result(how)

    def _on_read(self, fd: int) -> None:
        # Read until the pipe is empty: a plugin usually writes its answer and exits at once, and
        # reading on to EOF here saves a turn of the event loop (an epoll round) per stream.
        while True:
            try:
                data = os.read(fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                break
            self.readers[fd].feed(data)
        self._forget(fd)
        del self.readers[fd]
        if not self.readers and self.proc.returncode is not None:
            self._settle(_DONE)

    def _on_write(self) -> None:
        if self.stdin_fd is not None and self.drain.write_stdin(self.stdin_fd):
            self._close_stdin()

    def _forget(self, fd: int) -> None:
        # Before the descriptor is closed: its number may be reused by the next run at once.
        if fd in self.fds and self.watcher is not None:
            self.fds.discard(fd)
            self.watcher.unregister(fd)

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None:
            self._forget(self.stdin_fd)
            self.stdin_fd = None
            _close(self.proc.stdin)

    def _on_exit(self) -> None:
        if self.pidfd is not None:
            self._forget(self.pidfd)
        self.proc.poll()
        # What the plugin wrote before exiting is in the pipes now: take it in this turn (at EOF
        # unless a child it left behind holds them), so the run settles without another epoll round.
        for fd in list(self.readers):
            self._on_read(fd)
        self._mark_exit()

    def _poll(self) -> None:
        if self.proc.poll() is None:
            self.timers.append(self.loop.call_later(0.02, self._poll))
        else:
            self._mark_exit()

    def _mark_exit(self) -> None:
        if self.proc.returncode is None or self.exited.done():
            return
        self.exited.set_result(None)
        if not self.readers:
            self._settle(_DONE)
        else:
            # A left-behind child holds the pipes: give it ``linger`` seconds, then it is killed.
            self.timers.append(self.loop.call_later(self.owner.linger, self._settle, _LINGER))

    def _on_deadline(self) -> None:
        # After the plugin exited, the deadline only cuts the linger short: not a timeout.
        self._settle(_LINGER if self.exited.done() else _TIMEOUT)

    async def terminate(self) -> None:
        """SIGTERM the group, wait the grace (or the exit), SIGKILL the group, reap the plugin."""
        import asyncio  # imported here: the sync paths (and the CLI) never pay for it

        if self.proc.returncode is None:
            _killpg(self.proc.pid, signal.SIGTERM)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.exited), self.owner.kill_grace)
        _killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.returncode is None:
            await self.exited

    def close(self) -> None:
        """Detach every callback and timer of this run and close its descriptors."""
        for fd in list(self.fds):
            self._forget(fd)
        if self.watcher is not None and not self.shared:
            self.watcher.close()
        self.watcher = None
        self.readers.clear()
        self._close_stdin()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
