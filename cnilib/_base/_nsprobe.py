"""Is a path a live network namespace? Evidence for "the sandbox is gone", never a guess.

A live namespace path (``/run/netns/x``, ``/proc/PID/ns/net``, Docker's SandboxKey) is an inode of
``nsfs``, the kernel's one namespace filesystem. After a reboot a bind-mounted namespace leaves an
empty regular file at its path (the mount is gone, the file on the underlying filesystem is not);
a removed one leaves nothing. Every nsfs inode carries the device number of that one filesystem, so
comparing ``st_dev`` with ``/proc/self/ns/net``'s tells nsfs apart without ``statfs`` (which
Python's standard library lacks); ``NS_GET_NSTYPE`` then tells a network namespace from another
kind. Only positive evidence makes a path gone: a path that cannot be examined is ``UNKNOWN``.

Free of attrs and typing: the command line's fast path uses it.
"""

from __future__ import annotations

import errno
import os

__all__ = [
    "GONE",
    "LIVE",
    "MISSING",
    "NOT_NETNS",
    "RUN_NETNS",
    "UNKNOWN",
    "is_gone",
    "missing_hint",
    "netns_state",
]

#: The path is a network namespace.
LIVE = "live"
#: Nothing is at the path (or a directory on the way is missing).
MISSING = "missing"
#: Something is at the path, but not a network namespace (an empty file left by a reboot, a
#: directory, another kind of namespace).
NOT_NETNS = "not a network namespace"
#: The path could not be examined (permissions): no evidence either way.
UNKNOWN = "unknown"
#: The states that are evidence of a gone sandbox.
GONE = frozenset({MISSING, NOT_NETNS})
#: Where ``ip netns add NAME`` puts a namespace.
RUN_NETNS = "/run/netns"

_NS_GET_NSTYPE = 0xB703  # ioctl on a namespace file: its CLONE_NEW* type
_CLONE_NEWNET = 0x40000000
_nsfs_dev: int | None = None


def _nsfs_device() -> int | None:
    global _nsfs_dev
    if _nsfs_dev is None:
        try:
            _nsfs_dev = os.stat("/proc/self/ns/net").st_dev
        except OSError:
            return None  # no /proc: nothing can be told
    return _nsfs_dev


def _ns_type(path: str) -> int | None:
    """The namespace type of an nsfs path, or None when it cannot be asked."""
    import fcntl  # (only for paths that are nsfs)

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return fcntl.ioctl(fd, _NS_GET_NSTYPE)
    except OSError:
        return None  # a kernel older than 4.11
    finally:
        os.close(fd)


def netns_state(path: str) -> str:
    """:data:`LIVE`, :data:`MISSING`, :data:`NOT_NETNS` or :data:`UNKNOWN` for ``path``
    (symbolic links are followed, as the plugins follow them)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return MISSING
    except NotADirectoryError:
        return NOT_NETNS  # a regular file where a directory of the path should be
    except OSError as exc:
        return MISSING if exc.errno == errno.ENOENT else UNKNOWN
    nsfs = _nsfs_device()
    if nsfs is None:
        return UNKNOWN
    if st.st_dev != nsfs:
        return NOT_NETNS
    kind = _ns_type(path)
    if kind is None or kind == _CLONE_NEWNET:
        return LIVE  # nsfs whose type cannot be asked: no evidence that it is not a netns
    return NOT_NETNS


def is_gone(path: str) -> bool:
    """True when there is evidence that ``path`` is no (longer a) network namespace: nothing is
    there, or something that is not one. An empty path is not evidence: say so with ``""``."""
    return bool(path) and netns_state(path) in GONE


def missing_hint(path: str) -> str:
    """Words, in parentheses, for a netns ``path`` that names no namespace (missing, or relative):
    the namespace of its last component under ``/run/netns`` when there is one (a name given for a
    path), else what a netns path looks like."""
    name = os.path.basename(path.rstrip("/"))
    if name in ("", ".", ".."):
        name = "NAME"
    candidate = f"{RUN_NETNS}/{name}"
    if candidate != path and netns_state(candidate) == LIVE:
        return f"(did you mean {candidate}?)"
    if candidate == path:
        return f"(`ip netns add {name}` makes it)"
    return f"(a network namespace path is expected, such as {candidate} made by `ip netns add {name}`)"
