"""host-local's store: one file per address, named by the address, holding ``id\\r\\nifname``.

host-local keeps a network's reservations in ``<dataDir>/<network>/`` (``dataDir`` defaults to
``/var/lib/cni/networks``), next to ``last_reserved_ip.<range>`` and ``lock``. Its DEL releases by
container id and interface name (or, for files an older version wrote, by id alone): the doctor
only reads the store and leaves releasing to host-local's own DEL.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import stat
from collections.abc import Iterable

import attrs

from .._model._models import NetworkConfigList
from .._spec._leftover_items import Reservations
from .._spec._leftovers import list_leftovers
from ._model import DoctorError

__all__ = ["Reservation", "host_local_dirs", "read_store"]

_MAX_FILE = 4096


@attrs.frozen
class Reservation:
    """An address host-local holds for a container."""

    network: str
    address: str
    path: str
    container_id: str
    #: "" for a file an older host-local wrote (the id alone).
    ifname: str
    #: The file's modification time (when the address was reserved).
    mtime: float


def host_local_dirs(conflist: NetworkConfigList) -> list[str]:
    """The store directories the list's host-local IPAM configurations use (absolute only), as
    ``cnilib._spec._leftovers`` knows them."""
    items = list_leftovers([p.raw for p in conflist.plugins], conflist.name, "", "", None)
    return [i.directory for i in items if isinstance(i, Reservations) and os.path.isabs(i.directory)]


def _read_small(path: str) -> tuple[bytes, float] | None:
    # Never follow a symlink or block on a FIFO someone left in the store.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return None
        return os.read(fd, _MAX_FILE), st.st_mtime
    except OSError:
        return None
    finally:
        os.close(fd)


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def read_store(network: str, directories: Iterable[str]) -> list[Reservation]:
    """Every reservation in the network's store directories."""
    out: list[Reservation] = []
    for directory in directories:
        try:
            names = sorted(os.listdir(directory))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                continue
            raise DoctorError(f"cannot list host-local's store {directory}: {exc.strerror}") from None
        for name in names:
            if not _is_address(name):
                continue  # lock, last_reserved_ip.*, anything else
            path = os.path.join(directory, name)
            read = _read_small(path)
            if read is None:
                continue
            text = read[0].decode("utf-8", "replace").strip()
            cid, _, ifname = text.partition("\n")
            if cid.strip():
                out.append(Reservation(network, name, path, cid.strip(), ifname.strip(), read[1]))
    return out
