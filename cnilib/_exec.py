"""The only place that starts processes: plugin discovery and the sync/asyncio subprocess executors.

Each plugin runs in its own process group (a new session), with argv never going through a shell. stdin
is written while stdout and stderr are drained concurrently, each capped so a runaway plugin cannot
exhaust memory. On a deadline (or asyncio cancellation) the whole group gets SIGTERM, a short grace,
then SIGKILL, and the call returns even if a grandchild escaped holding the pipes.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Literal, Protocol

import attrs

from ._errors import PluginNotFoundError, ValidationError
from ._protocol import ExecOutcome, ExecRequest

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
_STDIN = object()  # selector tags
_EXIT = object()
_TXTBSY_DELAYS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


def check_plugin_name(plugin: str) -> None:
    """Reject a plugin type that is empty or could name a file outside the search path."""
    if not isinstance(plugin, str) or not plugin or plugin in (".", ".."):
        raise ValidationError(f"invalid plugin name {plugin!r}")
    if "/" in plugin or "\0" in plugin or (os.altsep and os.altsep in plugin):
        raise ValidationError(f"invalid plugin name {plugin!r}: it must not contain a path separator")


def find_plugin(plugin: str, dirs: Iterable[str]) -> str:
    """The first executable regular file named ``plugin`` in ``dirs``, in order."""
    check_plugin_name(plugin)
    searched = []
    for d in dirs:
        if not d:
            continue
        searched.append(d)
        path = os.path.join(d, plugin)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_mode & 0o170000 == 0o100000 and os.access(path, os.X_OK):
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


@attrs.define
class _Drain:
    """Buffers of one run: stdin still to write, stdout/stderr kept up to ``limit`` bytes each."""

    stdin: memoryview
    limit: int
    stdout: bytearray = attrs.field(factory=bytearray)
    stderr: bytearray = attrs.field(factory=bytearray)
    truncated: bool = False

    def feed(self, which: bytearray, data: bytes) -> None:
        room = self.limit - len(which)
        if len(data) > room:
            # Keep draining so the plugin never blocks on a full pipe, but drop the excess.
            if which is self.stdout:
                self.truncated = True
            data = data[: max(room, 0)]
        which += data

    def write_stdin(self, fd: int) -> bool:
        """Write what the pipe takes; True when stdin is finished (all written or plugin gone)."""
        try:
            n = os.write(fd, self.stdin[:_CHUNK])
        except BlockingIOError:
            return False
        except (BrokenPipeError, OSError):
            return True
        self.stdin = self.stdin[n:]
        return not self.stdin


def _set_nonblocking(f: IO[bytes] | None) -> int:
    assert f is not None
    fd = f.fileno()
    os.set_blocking(fd, False)
    return fd


def _pidfd(pid: int) -> int | None:
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


@attrs.define
class _Base:
    env: Literal["inherit", "clean"] = "inherit"
    env_allow: tuple[str, ...] = attrs.field(default=DEFAULT_ENV_ALLOW, converter=tuple)
    extra_env: Mapping[str, str] = attrs.field(factory=dict)
    argv_prefix: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    output_limit: int = 16 * 1024 * 1024
    kill_grace: float = 0.5
    linger: float = 1.0
    parent_env: Callable[[], Mapping[bytes, bytes]] | None = None

    def build_env(self, cni_vars: Mapping[str, str]) -> dict[bytes, bytes]:
        """The plugin's environment: parent env (or its allow-listed part), extras, then CNI vars.

        Built as bytes: the parent's variables are then copied without decoding and re-encoding each.
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

    def _spawn(self, path: str, env: Mapping[bytes, bytes]) -> subprocess.Popen[bytes]:
        argv = [*self.argv_prefix, path]
        for delay in (*_TXTBSY_DELAYS, None):
            try:
                return subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=env,
                    close_fds=True,
                    start_new_session=True,
                )
            except OSError as exc:
                # A plugin binary being replaced is briefly "text file busy": libcni retries too.
                if exc.errno != errno.ETXTBSY or delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _start_failed(self, path: str | None, exc: OSError, started: float) -> ExecOutcome:
        return ExecOutcome(
            exit_status=None,
            plugin_path=path,
            start_error=f"{exc.strerror or exc} ({path})",
            duration=time.monotonic() - started,
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


@attrs.define
class SubprocessExecutor(_Base):
    """Runs plugins with :mod:`subprocess` in the calling thread.

    ``env``: ``"inherit"`` passes the whole parent environment (libcni's behaviour, so PATH reaches
    plugins that call iptables); ``"clean"`` passes only ``env_allow``. ``extra_env`` is added either way.
    ``argv_prefix`` runs plugins through a wrapper, e.g. ``cnilib.netns.enter_argv(path)`` to run them in
    another network namespace. ``linger``: how long to wait for the pipes to close after the plugin exited
    (a left-behind child holding them is then killed with the group).
    """

    def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return its outcome (never raises for plugin failures)."""
        path = find_plugin(request.plugin, request.search_path)
        started = time.monotonic()
        try:
            proc = self._spawn(path, self.build_env(request.env))
        except OSError as exc:
            return self._start_failed(path, exc, started)
        try:
            return self._drive(proc, path, request.stdin, started, timeout)
        finally:
            _close(proc.stdin, proc.stdout, proc.stderr)
            if proc.returncode is None:  # only on an unexpected error inside _drive
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def _drive(
        self,
        proc: subprocess.Popen[bytes],
        path: str,
        stdin: bytes,
        started: float,
        timeout: float | None,
    ) -> ExecOutcome:
        deadline = None if timeout is None else started + timeout
        drain = _Drain(stdin=memoryview(stdin), limit=self.output_limit)
        out_fd = _set_nonblocking(proc.stdout)
        err_fd = _set_nonblocking(proc.stderr)
        pidfd = _pidfd(proc.pid)
        sel = selectors.DefaultSelector()
        try:
            if drain.stdin:
                sel.register(_set_nonblocking(proc.stdin), selectors.EVENT_WRITE, _STDIN)
            else:
                _close(proc.stdin)
            sel.register(out_fd, selectors.EVENT_READ, drain.stdout)
            sel.register(err_fd, selectors.EVENT_READ, drain.stderr)
            if pidfd is not None:
                sel.register(pidfd, selectors.EVENT_READ, _EXIT)
            open_pipes = 2
            exited_at: float | None = None
            timed_out = False
            while open_pipes or proc.returncode is None:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    timed_out = True
                    break
                if exited_at is not None and now >= exited_at + self.linger:
                    break  # a left-behind child holds the pipes; it is killed below
                wait = None if deadline is None else deadline - now
                if exited_at is not None:
                    wait = min(wait or self.linger, exited_at + self.linger - now)
                if pidfd is None:
                    wait = 0.02 if wait is None else min(wait, 0.02)
                for key, _ in sel.select(wait):
                    tag = key.data
                    if tag is _STDIN:
                        if drain.write_stdin(key.fd):
                            sel.unregister(key.fd)
                            _close(proc.stdin)
                    elif tag is _EXIT:
                        sel.unregister(key.fd)
                        proc.wait()
                    else:
                        try:
                            data = os.read(key.fd, _CHUNK)
                        except BlockingIOError:
                            continue
                        if data:
                            drain.feed(tag, data)
                        else:
                            sel.unregister(key.fd)
                            open_pipes -= 1
                if proc.returncode is None and (pidfd is None or not open_pipes):
                    proc.poll()
                if proc.returncode is not None and exited_at is None:
                    exited_at = time.monotonic()
            if timed_out:
                self._terminate(proc)
            elif open_pipes:
                _killpg(proc.pid, signal.SIGKILL)
        finally:
            sel.close()
            if pidfd is not None:
                os.close(pidfd)
        exit_status, sig = _status(proc.returncode)
        return ExecOutcome(
            exit_status=exit_status,
            signal=sig,
            stdout=bytes(drain.stdout),
            stderr=bytes(drain.stderr),
            plugin_path=path,
            timed_out=timed_out,
            timeout=timeout,
            duration=time.monotonic() - started,
            stdout_truncated=drain.truncated,
        )

    def _terminate(self, proc: subprocess.Popen[bytes]) -> None:
        _killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(self.kill_grace)
        except subprocess.TimeoutExpired:
            pass
        # SIGKILL the group even if the leader left: grandchildren may have ignored SIGTERM.
        _killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@attrs.define
class AsyncSubprocessExecutor(_Base):
    """The asyncio executor: same behaviour as :class:`SubprocessExecutor`, driven by the event loop.

    The pipes and a pidfd are watched with ``loop.add_reader`` (no child-watcher thread per process).
    Cancelling the awaiting task terminates the plugin's process group before the cancellation propagates.
    """

    async def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run the plugin and return its outcome (never raises for plugin failures)."""
        path = find_plugin(request.plugin, request.search_path)
        started = time.monotonic()
        try:
            proc = self._spawn(path, self.build_env(request.env))
        except OSError as exc:
            return self._start_failed(path, exc, started)
        run = _AsyncRun(self, proc, request.stdin)
        try:
            timed_out = await run.wait(timeout, started)
            if timed_out:
                await run.terminate()
            elif run.open_pipes:
                _killpg(proc.pid, signal.SIGKILL)
        except BaseException:
            # Cancellation (or any error): the plugin must not outlive the call.
            await asyncio.shield(run.terminate())
            raise
        finally:
            run.close()
        exit_status, sig = _status(proc.returncode)
        return ExecOutcome(
            exit_status=exit_status,
            signal=sig,
            stdout=bytes(run.drain.stdout),
            stderr=bytes(run.drain.stderr),
            plugin_path=path,
            timed_out=timed_out,
            timeout=timeout,
            duration=time.monotonic() - started,
            stdout_truncated=run.drain.truncated,
        )


class _AsyncRun:
    """Event-loop callbacks for one process: drain pipes, feed stdin, notice the exit."""

    def __init__(
        self, owner: AsyncSubprocessExecutor, proc: subprocess.Popen[bytes], stdin: bytes
    ) -> None:
        self.owner = owner
        self.proc = proc
        self.loop = asyncio.get_running_loop()
        self.drain = _Drain(stdin=memoryview(stdin), limit=owner.output_limit)
        self.changed = asyncio.Event()
        self.open_pipes = 2
        self.fds: list[int] = []
        self.pidfd = _pidfd(proc.pid)
        self.exited_at: float | None = None
        self._poller: asyncio.TimerHandle | None = None
        for f, buf in ((proc.stdout, self.drain.stdout), (proc.stderr, self.drain.stderr)):
            fd = _set_nonblocking(f)
            self.loop.add_reader(fd, self._on_read, fd, buf)
            self.fds.append(fd)
        if self.drain.stdin:
            fd = _set_nonblocking(proc.stdin)
            self.loop.add_writer(fd, self._on_write, fd)
            self.stdin_fd: int | None = fd
        else:
            self.stdin_fd = None
            _close(proc.stdin)
        if self.pidfd is not None:
            self.loop.add_reader(self.pidfd, self._on_exit)
        else:
            self._poll()

    def _on_read(self, fd: int, buf: bytearray) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.drain.feed(buf, data)
            return
        self.loop.remove_reader(fd)
        self.fds.remove(fd)
        self.open_pipes -= 1
        self.changed.set()

    def _on_write(self, fd: int) -> None:
        if self.drain.write_stdin(fd):
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self.stdin_fd is not None:
            self.loop.remove_writer(self.stdin_fd)
            self.stdin_fd = None
            _close(self.proc.stdin)

    def _on_exit(self) -> None:
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
        self.proc.poll()
        self._mark_exit()

    def _poll(self) -> None:
        if self.proc.poll() is None:
            self._poller = self.loop.call_later(0.02, self._poll)
        else:
            self._mark_exit()

    def _mark_exit(self) -> None:
        if self.proc.returncode is not None and self.exited_at is None:
            self.exited_at = time.monotonic()
            self.changed.set()

    async def wait(self, timeout: float | None, started: float) -> bool:
        """Wait until the plugin exited and its pipes closed; True on timeout."""
        deadline = None if timeout is None else started + timeout
        linger = self.owner.linger
        while self.open_pipes or self.proc.returncode is None:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return True
            if self.exited_at is not None and now >= self.exited_at + linger:
                return False
            wait = None if deadline is None else deadline - now
            if self.exited_at is not None:
                wait = min(wait or linger, self.exited_at + linger - now)
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), wait)
        return False

    async def terminate(self) -> None:
        """SIGTERM the group, wait the grace, SIGKILL the group, reap the plugin."""
        proc = self.proc
        if proc.returncode is None:
            _killpg(proc.pid, signal.SIGTERM)
            end = time.monotonic() + self.owner.kill_grace
            while proc.poll() is None and time.monotonic() < end:
                await asyncio.sleep(0.01)
        _killpg(proc.pid, signal.SIGKILL)
        while proc.poll() is None:
            await asyncio.sleep(0.005)
        self._mark_exit()

    def close(self) -> None:
        """Detach every callback and close every descriptor of this run."""
        for fd in self.fds:
            self.loop.remove_reader(fd)
        self.fds.clear()
        self._close_stdin()
        if self.pidfd is not None:
            self.loop.remove_reader(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = None
        if self._poller is not None:
            self._poller.cancel()
        _close(self.proc.stdout, self.proc.stderr)
        if self.proc.returncode is None:
            _killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
