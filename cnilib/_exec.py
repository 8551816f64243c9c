"""The only place that starts processes: plugin discovery and the sync/asyncio subprocess executors.

Each plugin runs in its own process group, with argv never going through a shell. stdin is written
while stdout and stderr are drained concurrently, each capped so a runaway plugin cannot exhaust
memory. On a deadline (or asyncio cancellation) the whole group gets SIGTERM, a short grace, then
SIGKILL, and the call returns even if a grandchild escaped holding the pipes. A plugin that exited
while a child it left behind still holds the pipes is waited for ``linger`` seconds, then that child
is killed with the group.
"""

from __future__ import annotations

import contextlib
import errno
import io
import math
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

import attrs

if TYPE_CHECKING:
    import asyncio

from ._errors import PluginNotFoundError, ValidationError
from ._protocol import ExecOutcome, ExecRequest, _str_tuple
from ._security import check_not_writable_by_others
from ._validate import validate_path

__all__ = [
    "DEFAULT_ENV_ALLOW",
    "AsyncExecutor",
    "AsyncSubprocessExecutor",
    "Executor",
    "SubprocessExecutor",
    "check_plugin_name",
    "find_plugin",
]

#: Variables passed through in ``env="clean"`` mode: enough for plugins that run iptables/ip.
DEFAULT_ENV_ALLOW: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")

_CHUNK = 65536
# The plugin gets a process group of its own, so that the whole group can be killed. Not a new
# session (setsid): with the kernel's scheduler autogroups, every session is a scheduling group of
# its own, and on a busy machine a fresh one made each plugin start several milliseconds later.
_OWN_GROUP: dict[str, Any] = (
    {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
)
_TXTBSY_DELAYS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


def check_plugin_name(plugin: str) -> None:
    """Reject a plugin type that is empty or could name a file outside the search path."""
    if not isinstance(plugin, str) or not plugin or plugin in (".", ".."):
        raise ValidationError(f"invalid plugin name {plugin!r}")
    if "/" in plugin or "\0" in plugin or (os.altsep and os.altsep in plugin):
        raise ValidationError(f"invalid plugin name {plugin!r}: it must not contain a path separator")


def find_plugin(plugin: str, dirs: Iterable[str], *, strict_permissions: bool = False) -> str:
    """The first executable regular file named ``plugin`` in ``dirs``, in order.

    A searched directory holding a control character is a :class:`~cnilib.ValidationError`. The binary
    found, its directory and every directory searched before it must not be writable by group or
    other users: a :class:`~cnilib.CNISecurityWarning` says so, or with ``strict_permissions`` an
    :class:`~cnilib.UnsafePermissionsError` refuses the plugin.
    """
    check_plugin_name(plugin)
    searched = []
    for d in dirs:
        if not d:
            continue
        validate_path(d, "plugin directory")
        searched.append(d)
        path = os.path.join(d, plugin)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_mode & 0o170000 == 0o100000 and os.access(path, os.X_OK):
            for directory in searched:
                check_not_writable_by_others(directory, "plugin directory", strict=strict_permissions)
            check_not_writable_by_others(path, "plugin", strict=strict_permissions)
            return path
    raise PluginNotFoundError(plugin, searched)


class Executor(Protocol):
    """Runs one :class:`ExecRequest` to completion (the seam a fake executor replaces)."""

    def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return what happened; never raises for plugin failures."""
        ...


class AsyncExecutor(Protocol):
    """The asyncio flavour of :class:`Executor`."""

    async def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return what happened; cancellation kills the plugin's group."""
        ...


class _Capture:
    """One output stream, kept up to ``limit`` bytes; the rest is still read, then dropped."""

    __slots__ = ("buf", "dropped", "room")

    def __init__(self, limit: int) -> None:
        # BytesIO.getvalue() hands over its buffer without a copy: peak memory stays ~limit.
        self.buf = io.BytesIO()
        self.room = limit
        self.dropped = False

    def feed(self, data: bytes) -> None:
        if len(data) > self.room:
            # Keep draining so the plugin never blocks on a full pipe, but drop the excess.
            self.dropped = True
            data = data[: self.room]
        if data:
            self.room -= self.buf.write(data)

    def value(self) -> bytes:
        return self.buf.getvalue()


class _Drain:
    """The I/O state of one run: stdin still to write, and the two captured output streams."""

    __slots__ = ("stderr", "stdin", "stdout")

    def __init__(self, stdin: bytes, limit: int) -> None:
        self.stdin = memoryview(stdin)
        self.stdout = _Capture(limit)
        self.stderr = _Capture(limit)

    def write_stdin(self, fd: int) -> bool:
        """Write what the pipe takes; True when stdin is finished (all written or plugin gone)."""
        try:
            n = os.write(fd, self.stdin)
        except BlockingIOError:
            return False
        except OSError:  # EPIPE: the plugin exited or closed stdin without reading everything
            return True
        self.stdin = self.stdin[n:]
        return not self.stdin


def _pidfd(pid: int) -> int | None:
    # A pidfd turns "the plugin exited" into a readable descriptor: no polling, no SIGCHLD handler.
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return None


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _status(returncode: int | None) -> tuple[int | None, int | None]:
    if returncode is None:
        return None, None
    if returncode < 0:
        return None, -returncode
    return returncode, None


def _pipes(proc: subprocess.Popen[bytes]) -> tuple[int, int, int]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert proc.stderr is not None
    fds = (proc.stdin.fileno(), proc.stdout.fileno(), proc.stderr.fileno())
    for fd in fds:
        os.set_blocking(fd, False)
    return fds


@attrs.define
class _Base:
    env: Literal["inherit", "clean"] = "inherit"
    env_allow: tuple[str, ...] = attrs.field(default=DEFAULT_ENV_ALLOW, converter=_str_tuple)
    extra_env: Mapping[str, str] = attrs.field(factory=dict)
    argv_prefix: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    output_limit: int = 16 * 1024 * 1024
    kill_grace: float = 0.5
    linger: float = 1.0
    parent_env: Callable[[], Mapping[bytes, bytes]] | None = None

    def build_env(self, cni_vars: Mapping[str, str]) -> dict[bytes, bytes]:
        """The plugin's environment: parent env (or its allow-listed part), extras, then CNI vars.

        Built as bytes: the parent's variables are copied without decoding and re-encoding each.
        """
        parent = _environb() if self.parent_env is None else self.parent_env()
        if self.env == "inherit":
            env = dict(parent)
        else:
            env = {}
            for name in self.env_allow:
                key = os.fsencode(name)
                if key in parent:
                    env[key] = parent[key]
        for name, value in self.extra_env.items():
            env[os.fsencode(name)] = os.fsencode(value)
        for name, value in cni_vars.items():
            env[name.encode()] = os.fsencode(value)
        return env

    def _popen(self, path: str, env: Mapping[bytes, bytes]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*self.argv_prefix, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
            **_OWN_GROUP,
        )

    def _spawn(self, path: str, env: Mapping[bytes, bytes]) -> subprocess.Popen[bytes]:
        for delay in _TXTBSY_DELAYS:
            try:
                return self._popen(path, env)
            except OSError as exc:
                # A plugin binary being replaced is briefly "text file busy": libcni retries too.
                if exc.errno != errno.ETXTBSY:
                    raise
            time.sleep(delay)
        return self._popen(path, env)

    def _start_failed(self, path: str, exc: OSError, started: float) -> ExecOutcome:
        # With an argv_prefix the program that failed may be the wrapper (nsenter), not the plugin.
        failed = os.fsdecode(exc.filename) if exc.filename is not None else path
        return ExecOutcome(
            exit_status=None,
            plugin_path=path,
            start_error=f"{exc.strerror or exc} ({failed})",
            duration=time.monotonic() - started,
        )

    def _outcome(
        self,
        proc: subprocess.Popen[bytes],
        *,
        path: str,
        drain: _Drain,
        started: float,
        timeout: float | None,
        timed_out: bool,
    ) -> ExecOutcome:
        exit_status, sig = _status(proc.returncode)
        return ExecOutcome(
            exit_status=exit_status,
            signal=sig,
            stdout=drain.stdout.value(),
            stderr=drain.stderr.value(),
            plugin_path=path,
            timed_out=timed_out,
            timeout=timeout,
            duration=time.monotonic() - started,
            stdout_truncated=drain.stdout.dropped,
        )


def _environb() -> Mapping[bytes, bytes]:
    # os.environb's backing dict, when present, is kept in sync with os.environ by CPython.
    data = getattr(os.environb, "_data", None)
    return data if isinstance(data, dict) else os.environb


def _close(*files: IO[bytes] | None) -> None:
    for f in files:
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()


class _PollLoop:
    """One plugin's pipes and exit, watched with poll(2) in the calling thread."""

    def __init__(self, proc: subprocess.Popen[bytes], drain: _Drain) -> None:
        self.proc = proc
        self.drain = drain
        in_fd, out_fd, err_fd = _pipes(proc)
        # select.poll rather than a selectors object: no epoll descriptor to create per call.
        self.poller = select.poll()
        self.in_fd = in_fd
        # Most configs fit in the pipe buffer: write at once and skip a poll round.
        if drain.write_stdin(in_fd):
            self._stdin_done()
        else:
            self.poller.register(in_fd, select.POLLOUT)
        self.buffers = {out_fd: drain.stdout, err_fd: drain.stderr}
        self.poller.register(out_fd, select.POLLIN)
        self.poller.register(err_fd, select.POLLIN)
        self.pidfd = _pidfd(proc.pid)
        if self.pidfd is not None:
            self.poller.register(self.pidfd, select.POLLIN)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)

    def _stdin_done(self) -> None:
        _close(self.proc.stdin)
        self.in_fd = -1

    def run(self, deadline: float | None, linger: float) -> bool:
        """Pump until the plugin exited and its pipes closed; True when ``deadline`` passed first."""
        proc = self.proc
        exited_at: float | None = None
        while self.buffers or proc.returncode is None:
            now = time.monotonic()
            end = deadline
            if exited_at is not None:
                # The plugin is done; only a left-behind child holds the pipes. Not a timeout even
                # when the deadline cuts this short: the plugin's exit status is reported.
                linger_end = exited_at + linger
                end = linger_end if end is None else min(end, linger_end)
                if now >= end:
                    return False
            elif end is not None and now >= end:
                return True
            self._poll_once(-1 if end is None else math.ceil((end - now) * 1000))
            if exited_at is None and proc.returncode is not None:
                exited_at = time.monotonic()
        return False

    def _poll_once(self, wait_ms: int) -> None:
        if self.pidfd is None:  # no exit notification: poll for it
            wait_ms = 20 if wait_ms < 0 else min(wait_ms, 20)
        for fd, _ in self.poller.poll(wait_ms):
            if fd in self.buffers:
                self._read(fd)
            elif fd == self.in_fd:
                if self.drain.write_stdin(fd):
                    self.poller.unregister(fd)
                    self._stdin_done()
            elif fd == self.pidfd:
                self.poller.unregister(fd)
                self.proc.wait()  # readable pidfd: it has exited, this only reaps it
        if self.proc.returncode is None and self.pidfd is None:
            self.proc.poll()

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.buffers[fd].feed(data)
        else:
            self.poller.unregister(fd)
            del self.buffers[fd]


@attrs.define
class SubprocessExecutor(_Base):
    """Runs plugins with :mod:`subprocess` in the calling thread.

    ``env``: ``"inherit"`` passes the whole parent environment (libcni's behaviour, so PATH
    reaches plugins that call iptables); ``"clean"`` passes only ``env_allow``. ``extra_env`` is
    added either way, and the CNI variables override both. ``argv_prefix`` runs plugins through a
    wrapper, e.g. ``cnilib.netns.enter_argv(path)`` to run them in another network namespace.
    ``output_limit`` caps what is kept of stdout and of stderr (the rest is read and dropped).
    On a timeout the plugin's process group gets SIGTERM, ``kill_grace`` seconds, then SIGKILL.
    ``linger``: how long to wait for the pipes to close after the plugin exited (a left-behind
    child holding them is then killed with the group; the plugin's exit status is reported).
    """

    def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return its outcome (never raises for plugin failures).

        Raises :class:`~cnilib.ValidationError` or :class:`~cnilib.PluginNotFoundError` before
        anything is started when the plugin type is unusable or not found.
        """
        path = find_plugin(request.plugin, request.search_path)
        started = time.monotonic()
        try:
            proc = self._spawn(path, self.build_env(request.env))
        except OSError as exc:
            return self._start_failed(path, exc, started)
        try:
            drain, timed_out = self._drive(proc, request.stdin, started, timeout)
        finally:
            _close(proc.stdin, proc.stdout, proc.stderr)
            if proc.returncode is None:  # only on an unexpected error (or KeyboardInterrupt)
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        return self._outcome(
            proc, path=path, drain=drain, started=started, timeout=timeout, timed_out=timed_out
        )

    def _drive(
        self, proc: subprocess.Popen[bytes], stdin: bytes, started: float, timeout: float | None
    ) -> tuple[_Drain, bool]:
        deadline = None if timeout is None else started + timeout
        loop = _PollLoop(proc, _Drain(stdin, self.output_limit))
        try:
            timed_out = loop.run(deadline, self.linger)
            if timed_out:
                self._terminate(proc, loop.pidfd)
            elif loop.buffers:
                _killpg(proc.pid, signal.SIGKILL)
        finally:
            loop.close()
        return loop.drain, timed_out

    def _terminate(self, proc: subprocess.Popen[bytes], pidfd: int | None) -> None:
        _killpg(proc.pid, signal.SIGTERM)
        if proc.returncode is None:
            if pidfd is not None:
                poller = select.poll()
                poller.register(pidfd, select.POLLIN)
                poller.poll(math.ceil(self.kill_grace * 1000))
                proc.poll()
            else:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(self.kill_grace)
        # SIGKILL the group even if the leader left: grandchildren may have ignored SIGTERM.
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@attrs.define
class AsyncSubprocessExecutor(_Base):
    """The asyncio executor: same behaviour and options as :class:`SubprocessExecutor`.

    The pipes and a pidfd are watched through the event loop (no child watcher, no thread per
    process). Cancelling the awaiting task terminates the plugin's process group before the
    cancellation propagates.
    """

    async def _spawn_async(self, path: str, env: Mapping[bytes, bytes]) -> subprocess.Popen[bytes]:
        import asyncio  # imported here: the sync paths (and the CLI) never pay for it

        for delay in _TXTBSY_DELAYS:
            try:
                return self._popen(path, env)
            except OSError as exc:
                if exc.errno != errno.ETXTBSY:
                    raise
            await asyncio.sleep(delay)  # never block the event loop while retrying
        return self._popen(path, env)

    async def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return its outcome (never raises for plugin failures).

        Raises :class:`~cnilib.ValidationError` or :class:`~cnilib.PluginNotFoundError` before
        anything is started; cancellation kills the plugin's process group, then propagates.
        """
        import asyncio  # imported here: the sync paths (and the CLI) never pay for it

        path = find_plugin(request.plugin, request.search_path)
        started = time.monotonic()
        try:
            proc = await self._spawn_async(path, self.build_env(request.env))
        except OSError as exc:
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


class _AsyncRun:
    """Event-loop callbacks for one process: drain pipes, feed stdin, notice exit and deadlines.

    The run's descriptors (pipes, pidfd) sit in an epoll set of their own, and only that set is
    registered with the event loop: one ``add_reader`` per run instead of one per descriptor, which
    is most of asyncio's per-call cost.
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
        self.epoll: select.epoll | None = None
        try:
            in_fd, out_fd, err_fd = _pipes(proc)
            self.epoll = ep = select.epoll(4)
            if self.drain.write_stdin(in_fd):
                _close(proc.stdin)
            else:
                self.stdin_fd = in_fd
                ep.register(in_fd, select.EPOLLOUT)
            for fd, buf in ((out_fd, self.drain.stdout), (err_fd, self.drain.stderr)):
                self.readers[fd] = buf
                ep.register(fd, select.EPOLLIN)
            self.pidfd = _pidfd(proc.pid)
            if self.pidfd is not None:
                ep.register(self.pidfd, select.EPOLLIN)
            else:
                self._poll()
            self.loop.add_reader(ep.fileno(), self._on_events)
        except BaseException:
            self.close()  # no callback may outlive a half-built run
            raise

    def _on_events(self) -> None:
        if self.epoll is None:  # closed while this callback was already queued
            return
        for fd, _ in self.epoll.poll(0):
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
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.readers[fd].feed(data)
            return
        self._forget(fd)
        del self.readers[fd]
        if not self.readers and self.proc.returncode is not None:
            self._settle(_DONE)

    def _on_write(self) -> None:
        if self.stdin_fd is not None and self.drain.write_stdin(self.stdin_fd):
            self._close_stdin()

    def _forget(self, fd: int) -> None:
        if self.epoll is not None:
            with contextlib.suppress(OSError):
                self.epoll.unregister(fd)

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None:
            self._forget(self.stdin_fd)
            self.stdin_fd = None
            _close(self.proc.stdin)

    def _on_exit(self) -> None:
        if self.pidfd is not None:
            self._forget(self.pidfd)
        self.proc.poll()
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
        if self.epoll is not None:
            self.loop.remove_reader(self.epoll.fileno())
            self.epoll.close()  # forgets every descriptor still registered in it
            self.epoll = None
        self.readers.clear()
        self._close_stdin()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
