"""What both executors share: output capture, the process helpers, the spawning; and the sync run loop.

Free of attrs (like every module on the command line's fast path, see ``cnilib._cli._fast``): the
executors' options and protocols are in ``_options``.
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
from collections.abc import Callable, Mapping
from types import MappingProxyType

from .._base._operation import OPERATION, gone, spawning
from .._spec import Family
from ._discovery import find_plugin

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import IO, Any, Literal

    from typing_extensions import TypeVar

    from .._spec._seam import Outcome, Request
    from ._protocol import ExecOutcome

    #: The outcomes a runner makes: the library's, or the command line's plain ones.
    O = TypeVar("O", bound=Outcome, default=ExecOutcome)  # noqa: E741

#: Variables passed through in ``env="clean"`` mode: enough for plugins that run iptables/ip.
DEFAULT_ENV_ALLOW: tuple[str, ...] = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")
#: The executors' other defaults: what is kept of each output stream, the grace between SIGTERM
#: and SIGKILL, how long to wait for the pipes after the plugin exited.
OUTPUT_LIMIT = 16 * 1024 * 1024
KILL_GRACE = 0.5
LINGER = 1.0

_CHUNK = 65536
# The plugin gets a process group of its own, so that the whole group can be killed. Not a new
# session (setsid): with the kernel's scheduler autogroups, every session is a scheduling group of
# its own, and on a busy machine a fresh one made each plugin start several milliseconds later.
_OWN_GROUP: dict[str, Any] = (
    {"process_group": 0} if sys.version_info >= (3, 11) else {"start_new_session": True}
)
_TXTBSY_DELAYS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.4)


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


def open_pidfd(pid: int) -> int | None:
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


class Spawner(Family["O"]):
    """The executors' process start: environment, argv, text-file-busy retries, the outcome.

    A mixin without state of its own: the attributes it reads are the executors' options, whose
    defaults are these (:class:`~cnilib.SubprocessExecutor`'s fields take them as theirs).
    """

    __slots__ = ()
    env: Literal["inherit", "clean"] = "inherit"
    env_allow: tuple[str, ...] = DEFAULT_ENV_ALLOW
    extra_env: Mapping[str, str] = MappingProxyType({})
    argv_prefix: tuple[str, ...] = ()
    output_limit: int = OUTPUT_LIMIT
    kill_grace: float = KILL_GRACE
    linger: float = LINGER
    parent_env: Callable[[], Mapping[bytes, bytes]] | None = None

    def _make_outcome(self, **fields: Any) -> O:
        raise NotImplementedError

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

    def _popen(
        self, path: str, env: Mapping[bytes, bytes], args: tuple[str, ...], fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*self.argv_prefix, path, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
            pass_fds=fds,
            **_OWN_GROUP,
        )

    def _spawn(
        self, path: str, env: Mapping[bytes, bytes], args: tuple[str, ...], fds: tuple[int, ...]
    ) -> subprocess.Popen[bytes]:
        for delay in _TXTBSY_DELAYS:
            try:
                return self._popen(path, env, args, fds)
            except OSError as exc:
                # A plugin binary being replaced is briefly "text file busy": libcni retries too.
                if exc.errno != errno.ETXTBSY:
                    raise
            time.sleep(delay)
        return self._popen(path, env, args, fds)

    def _start_failed(self, path: str, exc: OSError, started: float) -> O:
        # With an argv_prefix the program that failed may be the wrapper (nsenter), not the plugin.
        failed = os.fsdecode(exc.filename) if exc.filename is not None else path
        return self._make_outcome(
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
    ) -> O:
        exit_status, sig = _status(proc.returncode)
        return self._make_outcome(
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
        self.pidfd = open_pidfd(proc.pid)
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


class SyncRunner(Spawner["O"]):
    """The sync executors' run: one plugin's pipes and exit watched with poll(2) in the calling thread."""

    __slots__ = ()

    def run(self, request: Request, *, timeout: float | None = None) -> O:
        """Run the plugin and return its outcome (never raises for plugin failures).

        Raises :class:`~cnilib.ValidationError` or :class:`~cnilib.PluginNotFoundError` before
        anything is started when the plugin type is unusable or not found.
        """
        path = find_plugin(request.plugin, request.search_path)
        started = time.monotonic()
        env = self.build_env(request.env)
        op = OPERATION.get()
        try:
            proc = self._spawn(path, env, request.args, spawning(op))
        except OSError as exc:
            gone(op)
            return self._start_failed(path, exc, started)
        try:
            drain, timed_out = self._drive(proc, request.stdin, started, timeout)
        finally:
            _close(proc.stdin, proc.stdout, proc.stderr)
            if proc.returncode is None:  # only on an unexpected error (or KeyboardInterrupt)
                _killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            # Not reached when the kill above was interrupted: the plugin may still run, and the
            # locks it inherited then stay until it ends.
            gone(op)
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
