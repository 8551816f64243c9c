"""Who holds a byte of a lock file: for a :class:`~cnilib.LockError` that names the holder.

Open-file-description locks have no owning process: ``F_OFD_GETLK`` and ``/proc/locks`` report
pid -1. ``/proc/PID/fdinfo/FD`` lists the locks held through that descriptor's open file
description (``lock: 1: OFDLCK ADVISORY WRITE -1 fe:00:2146697 5 5``), so the processes holding a
descriptor of the lock file's inode with a lock covering the byte are its holders (a plugin that
inherited the descriptor counts too). Only read after a wait has timed out; what cannot be read
(another user's process, one that exited meanwhile) is skipped.

Free of attrs and typing: the command line's fast path imports the lock module.
"""

from __future__ import annotations

import os

__all__ = ["describe_holders", "lock_holders"]

_MAX_COMMAND = 120


def _covers(line: str, device: str, byte: int, exclusive: bool) -> bool:
    """Whether an fdinfo ``lock:`` line is a lock on ``device`` (``maj:min:ino``) covering
    ``byte`` that conflicts with a request (``exclusive``: any lock does; shared: a write lock)."""
    fields = line.split()
    # lock: N: OFDLCK ADVISORY WRITE -1 maj:min:ino start end
    if len(fields) < 9 or fields[6] != device:
        return False
    if not exclusive and fields[4] != "WRITE":
        return False
    try:
        start = int(fields[7])
        end = None if fields[8] == "EOF" else int(fields[8])
    except ValueError:
        return False
    return start <= byte and (end is None or byte <= end)


def _command(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read(4096).rstrip(b"\0").split(b"\0")
    except OSError:
        argv = []
    text = " ".join(a.decode("utf-8", "replace") for a in argv if a)
    if not text:
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                text = f.read().decode("utf-8", "replace").strip()
        except OSError:
            return "?"
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= _MAX_COMMAND else text[: _MAX_COMMAND - 3] + "..."


def _holds(pid: str, name: str, device: str, byte: int, exclusive: bool) -> bool:
    """Whether one of ``pid``'s descriptors of a file named ``name`` holds a conflicting lock."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if not os.readlink(f"/proc/{pid}/fd/{fd}").endswith(name):
                continue  # (cheap: only descriptors of a file with the lock file's name are read)
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = f.read()
        except OSError:
            continue
        if any(
            _covers(line, device, byte, exclusive) for line in info.splitlines() if line.startswith("lock:")
        ):
            return True
    return False


def lock_holders(fd: int, byte: int, exclusive: bool) -> list[tuple[int, str]]:
    """``(pid, command)`` of every visible process holding a lock on ``byte`` of the file open as
    ``fd`` that conflicts with the request (``exclusive`` or shared), by pid."""
    try:
        st = os.fstat(fd)
        name = "/" + os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    found = [(int(p), _command(p)) for p in pids if _holds(p, name, device, byte, exclusive)]
    return sorted(found)


def describe_holders(holders: list[tuple[int, str]]) -> str:
    """``"; held by pid 12 (cnilib add net /run/netns/x)"`` for :func:`lock_holders`' answer, or
    ``""`` when no holder is visible."""
    if not holders:
        return ""
    me = os.getpid()
    names = [f"pid {pid} ({cmd}{', this process' if pid == me else ''})" for pid, cmd in holders]
    return "; held by " + ", ".join(names)
