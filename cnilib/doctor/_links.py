"""Host-side veths on the configured bridges, and which namespaces anything can still reach.

A veth's peer lives in the namespace the host knows by ``link_netnsid``. A namespace is reachable
when a process or thread is in it, a descriptor holds it, or an nsfs mount (in any mount namespace)
pins it; a peer whose namespace is none of these is in a namespace nothing uses any more (held
only by the kernel, e.g. by a leaked socket): its veth is an orphan. Anything that cannot be read
counts as reachable: only evidence makes an orphan.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator

import attrs

from ._host import Host
from ._model import DoctorError

__all__ = ["Veth", "bridge_veths", "reachable_nsids"]

_OCTAL = re.compile(r"\\([0-7]{3})")


@attrs.frozen
class Veth:
    """A host-side veth enslaved to a bridge."""

    name: str
    ifindex: int
    master: str
    #: The host's id of the peer's namespace (None: the peer is in the host's own namespace).
    peer_nsid: int | None
    #: Its MAC address, lower case ("" when ``ip`` shows none).
    mac: str = ""


def bridge_veths(host: Host, bridges: Iterable[str]) -> list[Veth] | None:
    """The veths enslaved to ``bridges`` (None when ``ip`` cannot say)."""
    wanted = set(bridges)
    if not wanted:
        return []
    try:
        proc = host.run(["ip", "-d", "-j", "link", "show", "type", "veth"])
    except DoctorError:
        return None  # no iproute2: nothing can be told
    if proc.returncode != 0:
        return None
    try:
        links = json.loads(proc.stdout or "[]")
    except ValueError:
        return None
    out = []
    for link in links:
        if not isinstance(link, dict) or link.get("master") not in wanted:
            continue
        nsid = link.get("link_netnsid")
        out.append(
            Veth(
                name=str(link.get("ifname")),
                ifindex=int(link.get("ifindex", 0)),
                master=str(link["master"]),
                peer_nsid=nsid if isinstance(nsid, int) and nsid >= 0 else None,
                mac=str(link.get("address") or "").lower(),
            )
        )
    return out


def _pids() -> list[str]:
    try:
        return [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return []


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _net_link(path: str) -> str | None:
    try:
        target = os.readlink(path)
    except OSError:
        return None
    return target if target.startswith("net:[") else None


def _handles() -> Iterator[str]:
    """A path to each namespace that something holds: processes, threads, descriptors, mounts."""
    mount_namespaces: set[str] = set()
    for pid in _pids():
        base = f"/proc/{pid}"
        yield f"{base}/ns/net"
        for tid in _listdir(f"{base}/task"):
            if tid != pid:
                yield f"{base}/task/{tid}/ns/net"
        for fd in _listdir(f"{base}/fd"):
            if _net_link(f"{base}/fd/{fd}") is not None:
                yield f"{base}/fd/{fd}"
        try:
            mnt = os.readlink(f"{base}/ns/mnt")
        except OSError:
            continue
        if mnt not in mount_namespaces:
            mount_namespaces.add(mnt)
            yield from _nsfs_mounts(base)


def _nsfs_mounts(base: str) -> Iterator[str]:
    try:
        with open(f"{base}/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    for line in lines:
        left, sep, right = line.partition(" - ")
        if sep and right.split(" ", 1)[0] == "nsfs":
            point = _OCTAL.sub(lambda m: chr(int(m[1], 8)), left.split(" ")[4])  # \040: a space
            yield f"{base}/root{point}"


def reachable_nsids(host: Host) -> set[int] | None:
    """The host's ids of every reachable network namespace (None when they cannot be known)."""
    found: set[int] = set()
    seen: set[tuple[int, int]] = set()
    try:
        for path in _handles():
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                nsid = host.nsid_of(fd)
            finally:
                os.close(fd)
            if nsid is not None:
                found.add(nsid)
    except OSError:
        return None
    return found
