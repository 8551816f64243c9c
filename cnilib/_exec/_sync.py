"""The sync executor: one plugin's pipes and exit watched with poll(2) in the calling thread."""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import time

import attrs

from .._protocol import ExecOutcome, ExecRequest
from . import _proc
from ._discovery import find_plugin
from ._proc import _CHUNK, _Base, _close, _Drain, _killpg, _pipes


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
        self.pidfd = _proc.open_pidfd(proc.pid)
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
