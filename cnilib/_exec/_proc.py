"""What both executors share: the executor protocols, output capture, the process helpers, the options."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any, Literal, Protocol

import attrs

from .._protocol import ExecOutcome, ExecRequest, _str_tuple

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
