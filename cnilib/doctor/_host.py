"""The node's network namespace: commands run there, and the ids it gives other namespaces.

The doctor looks at the namespace where the plugins put bridges, veths and NAT rules: its own by
default, or ``host_netns`` (a path), entered with ``nsenter --net`` for commands and with
``setns(2)`` in a short-lived thread for the one netlink socket it needs.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Sequence

from ._model import DoctorError

__all__ = ["Host"]

_CLONE_NEWNET = 0x40000000
_NETLINK_ROUTE = 0
_RTM_NEWNSID, _RTM_GETNSID = 88, 90
_NLMSG_ERROR = 2
_NLM_F_REQUEST = 1
_NETNSA_NSID, _NETNSA_FD = 1, 3
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_ATTR = struct.Struct("=HH")


class Host:
    """Where the plugins' host-side state lives: ``netns`` (a path) or this process's namespace."""

    def __init__(self, netns: str | None = None, *, timeout: float = 30.0) -> None:
        self.netns = netns
        self.timeout = timeout
        self._nl: socket.socket | None = None
        self._seq = 0

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as run in the namespace."""
        if self.netns is None:
            return list(argv)
        return ["nsenter", f"--net={self.netns}", "--", *argv]

    def run(self, argv: Sequence[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` there; a program that cannot be started is a :class:`DoctorError`."""
        full = self.argv(argv)
        try:
            return subprocess.run(
                full, input=stdin, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DoctorError(f"cannot run {' '.join(full)}: {exc}") from None

    # -- namespace ids (RTM_GETNSID) --

    def _socket(self) -> socket.socket:
        if self._nl is None:
            self._nl = _socket_in(self.netns)
        return self._nl

    def nsid_of(self, fd: int) -> int | None:
        """The id this namespace gives the network namespace open at ``fd`` (None: none assigned,
        or not a network namespace)."""
        sock = self._socket()
        self._seq += 1
        attr = _ATTR.pack(8, _NETNSA_FD) + struct.pack("=I", fd)
        body = struct.pack("B3x", socket.AF_UNSPEC) + attr
        sock.send(_HEADER.pack(_HEADER.size + len(body), _RTM_GETNSID, _NLM_F_REQUEST, self._seq, 0) + body)
        data = sock.recv(65536)
        _, kind, _, _, _ = _HEADER.unpack_from(data)
        if kind != _RTM_NEWNSID:
            return None  # NLMSG_ERROR: not a network namespace (or a kernel without the call)
        offset = _HEADER.size + 4
        while offset + _ATTR.size <= len(data):
            length, atype = _ATTR.unpack_from(data, offset)
            if length < _ATTR.size:
                break
            if atype == _NETNSA_NSID:
                (nsid,) = struct.unpack_from("=i", data, offset + _ATTR.size)
                return nsid if nsid >= 0 else None
            offset += (length + 3) & ~3
        return None

    def close(self) -> None:
        """Close the netlink socket, if one was opened."""
        if self._nl is not None:
            self._nl.close()
            self._nl = None


def _socket_in(netns: str | None) -> socket.socket:
    """A NETLINK_ROUTE socket of ``netns``: a socket belongs to the namespace it was made in, so a
    thread of its own enters it (setns changes only the calling thread), makes it, and ends."""
    if netns is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE)
    made: list[socket.socket] = []
    failed: list[str] = []

    def enter_and_make() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            failed.append(f"cannot open {netns}: {exc.strerror}")
            return
        try:
            if libc.setns(fd, _CLONE_NEWNET) != 0:
                failed.append(f"cannot enter {netns}: {os.strerror(ctypes.get_errno() or errno.EINVAL)}")
                return
            made.append(socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE))
        finally:
            os.close(fd)

    # The thread ends inside the namespace; nothing else ever runs on it.
    thread = threading.Thread(target=enter_and_make, name="cnilib-doctor-netns")
    thread.start()
    thread.join()
    if not made:
        raise DoctorError(failed[0] if failed else f"cannot open a netlink socket in {netns}")
    return made[0]
