"""The locks that serialize the cache's users: byte ranges of one lock file per network.

``<cache_dir>/locks/<network>.lock`` holds, as open-file-description record locks
(``F_OFD_SETLK``), which serialize threads of one process as well as processes and vanish with
their holder::

    byte 0        the network lock: ADD/DEL/CHECK hold it shared, GC exclusive
    byte 1        the GC gate: GC holds it while it waits, so ADD/DEL cannot starve it
    byte 2 + h    one attachment (h: a 32-bit hash of container id and ifname), exclusive

One file per network, created once, instead of one per attachment: creating a file costs more
than the rest of a loopback ADD. Lock files are opened with ``O_NOFOLLOW``: never through a symlink.

A cache whose filesystem is read-only (a root filesystem remounted read-only after errors) or full
cannot hold a lock file: the lock is then not taken (a WARNING says so) and the operation goes on,
as libcni, which has no locks, would. Nothing can write such a cache, so nothing races a DEL or a
GC there; an ADD fails writing its intent record, before any plugin runs.
"""

from __future__ import annotations

import binascii
import contextlib
import errno
import fcntl
import os
import struct
import sys
import time
from collections.abc import Generator

from .._base._errors import CacheError, LockError
from ._files import make_dir, open_regular, os_failure

__all__ = ["HeldLock", "LockRequest", "acquire", "acquire_async"]

_POLL_FIRST = 0.001
_POLL_MAX = 0.05
# struct flock on 64-bit Linux: l_type, l_whence, (pad), l_start, l_len, l_pid, (pad).
_FLOCK = struct.Struct("hh4xqqi4x")
_NETWORK_BYTE = 0
_GATE_BYTE = 1
_FIRST_ATTACHMENT_BYTE = 2


class HeldLock:
    """A held lock (byte ranges of a network's lock file); the context manager that handed it out
    releases it. ``fd`` None: the cache could hold no lock file (read-only or full), nothing is
    locked (``locked`` is False) and the holder goes on without."""

    def __init__(self, fd: int | None, path: str, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._fd = fd
        self._held = True
        #: False when nothing could be locked (a read-only or full cache).
        self.locked = fd is not None

    @property
    def held(self) -> bool:
        """True until released."""
        return self._held

    def fileno(self) -> int:
        """The descriptor holding the record locks (-1 once released, or when nothing could be
        locked); plugins inherit it."""
        return -1 if self._fd is None else self._fd

    def release(self, *, unlock: bool = True) -> None:
        """Release the lock (idempotent).

        ``unlock``: drop the record locks of the open file description for every holder (a
        process a plugin left behind with the inherited descriptor included), then close it;
        False: only close this descriptor, so that a plugin that may still run keeps them.
        """
        fd, self._fd, self._held = self._fd, None, False
        if fd is not None:
            if unlock:
                with contextlib.suppress(OSError):
                    fcntl.fcntl(fd, fcntl.F_OFD_SETLK, _FLOCK.pack(fcntl.F_UNLCK, os.SEEK_SET, 0, 0, 0))
            os.close(fd)

    def __repr__(self) -> str:
        mode = "exclusive" if self.exclusive else "shared"
        state = "held" if self.held else "released"
        if not self.locked:
            state += ", nothing locked: the cache cannot hold a lock file"
        return f"<HeldLock {self.path} {mode} {state}>"


class LockRequest:
    """What to lock: a network (shared, or ``exclusive`` for GC), optionally with one attachment."""

    __slots__ = ("attachment", "exclusive", "network", "path")

    def __init__(self, path: str, network: str, attachment: tuple[str, str] | None, exclusive: bool) -> None:
        self.path = path
        self.network = network
        self.attachment = attachment
        self.exclusive = exclusive

    def steps(self) -> list[tuple[int, bool, str, bool]]:
        """(byte, exclusive, what, release-after) in the one order every taker uses."""
        net, excl = self.network, self.exclusive
        # GC holds the gate while it waits; the others only pass through it (shared).
        mode = "exclusive" if excl else "shared"
        steps = [
            (_GATE_BYTE, excl, f"GC gate of network {net}", not excl),
            (_NETWORK_BYTE, excl, f"{mode} network {net}", False),
        ]
        if self.attachment is not None:
            cid, ifname = self.attachment
            byte = _FIRST_ATTACHMENT_BYTE + binascii.crc32(f"{cid}\0{ifname}".encode())
            steps.append((byte, True, f"attachment {net}/{cid}/{ifname}", False))
        return steps


#: Why a lock file cannot be there: the filesystem is read-only, full, or over quota.
_NO_ROOM = (errno.EROFS, errno.ENOSPC, errno.EDQUOT)


def _open(path: str) -> int | None:
    """The lock file's descriptor; None when the cache can hold none (see the module docstring)."""
    # O_CLOEXEC (in open_regular): a plugin inheriting the descriptor would hold the lock.
    try:
        try:
            return open_regular(path, os.O_RDWR, what="lock file", create=True)
        except FileNotFoundError:
            make_dir(os.path.dirname(path))
            return open_regular(path, os.O_RDWR, what="lock file", create=True)
    except CacheError:
        raise
    except OSError as exc:
        if exc.errno in _NO_ROOM:
            _warn(f"cannot open lock file {path} ({exc.strerror}): going on without the lock")
            return None
        raise os_failure(f"cannot open lock file {path}", exc) from None


def _warn(text: str) -> None:
    # Logged only when the application uses logging (the command line's fast path never loads it).
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.getLogger("cnilib").warning("%s", text)


def _record_lock(fd: int, byte: int, mode: int, wait: bool) -> bool:
    """Lock (``F_WRLCK``/``F_RDLCK``) or unlock (``F_UNLCK``) one byte; False if it would block."""
    data = _FLOCK.pack(mode, os.SEEK_SET, byte, 1, 0)
    try:
        fcntl.fcntl(fd, fcntl.F_OFD_SETLKW if wait else fcntl.F_OFD_SETLK, data)
    except OSError as exc:
        if not wait and exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise CacheError(f"cannot lock: {exc.strerror or exc}") from None
    return True


class _Acquisition:
    """One acquisition: the bytes to take in order, the backoff and the deadline, shared by the
    sync and asyncio takers (which differ only in how they wait)."""

    def __init__(self, req: LockRequest, timeout: float | None) -> None:
        self.req = req
        self.timeout = timeout
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.delay = _POLL_FIRST
        self.held: HeldLock | None = None

    def steps(self) -> Generator[tuple[int, int, int, str], None, None]:
        """Each ``(fd, byte, mode, what)`` to take, in order; then ``held`` is set. Closing the
        generator early (a failure, a timeout, a cancellation) closes the descriptors."""
        req = self.req
        fd = _open(req.path)
        if fd is None:  # a read-only or full cache: nothing to lock
            self.held = HeldLock(None, req.path, req.exclusive or req.attachment is not None)
            return
        gate_fd: int | None = -1
        try:
            for byte, exclusive, what, passing in req.steps():
                mode = fcntl.F_WRLCK if exclusive else fcntl.F_RDLCK
                if byte == _GATE_BYTE and exclusive:
                    # GC's gate lives on its own descriptor so it can be dropped once GC holds byte 0.
                    gate_fd = _open(req.path)
                    if gate_fd is not None:
                        yield gate_fd, byte, mode, what
                    continue
                yield fd, byte, mode, what
                if passing:
                    _record_lock(fd, byte, fcntl.F_UNLCK, wait=False)
            self.held = HeldLock(fd, req.path, req.exclusive or req.attachment is not None)
            fd = -1
        finally:
            if fd >= 0:
                os.close(fd)
            if gate_fd is not None and gate_fd >= 0:
                os.close(gate_fd)

    def pause(self) -> float | None:
        """Seconds to wait before the next try; None once the deadline has passed."""
        wait = self.delay
        self.delay = min(self.delay * 2, _POLL_MAX)
        if self.deadline is None:
            return wait
        remaining = self.deadline - time.monotonic()
        return None if remaining <= 0 else min(wait, remaining)

    def timed_out(self, step: tuple[int, int, int, str]) -> LockError:
        """The error of a wait for ``step`` that timed out, naming who holds the byte (found in
        ``/proc``: a few milliseconds on a busy node, so only now)."""
        fd, byte, mode, what = step
        waited = round(self.timeout or 0.0, 2)
        text = f"timed out after {waited:g}s waiting for the {what} lock ({self.req.path})"
        holders: list[tuple[int, str]] = []
        if self.timeout:  # (0 only asks whether it is free: no one is told who holds it)
            from ._holders import describe_holders, lock_holders

            holders = lock_holders(fd, byte, mode == fcntl.F_WRLCK)
            text += describe_holders(holders)
        return LockError(text, holders=holders)

    def result(self) -> HeldLock:
        assert self.held is not None
        return self.held


def acquire(req: LockRequest, timeout: float | None) -> HeldLock:
    """Take ``req`` in the calling thread; LockError after ``timeout`` seconds (None: forever)."""
    acq = _Acquisition(req, timeout)
    with contextlib.closing(acq.steps()) as steps:
        for fd, byte, mode, what in steps:
            if timeout is None:
                _record_lock(fd, byte, mode, wait=True)  # blocks; PEP 475 retries after signals
            while timeout is not None and not _record_lock(fd, byte, mode, wait=False):
                wait = acq.pause()
                if wait is None:
                    raise acq.timed_out((fd, byte, mode, what))
                time.sleep(wait)
    return acq.result()


async def acquire_async(req: LockRequest, timeout: float | None) -> HeldLock:
    """Take ``req`` without blocking the event loop (polling; cancellable)."""
    import asyncio  # the sync paths (and the CLI) never pay for it

    acq = _Acquisition(req, timeout)
    with contextlib.closing(acq.steps()) as steps:
        for fd, byte, mode, what in steps:
            while not _record_lock(fd, byte, mode, wait=False):
                wait = acq.pause()
                if wait is None and not timeout:
                    raise acq.timed_out((fd, byte, mode, what))  # ("only if free": no look-up)
                if wait is None:  # (reading /proc: not on the event loop)
                    raise await asyncio.to_thread(acq.timed_out, (fd, byte, mode, what))
                await asyncio.sleep(wait)
    return acq.result()
