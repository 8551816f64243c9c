"""Network namespace helpers: create, delete, find and enter Linux network namespaces.

Named namespaces are made with ``ip netns add`` and live at ``/run/netns/NAME`` (a bind mount of an
``nsfs`` inode), which is the path CNI plugins expect in ``CNI_NETNS``::

    from cnilib import netns

    with netns.create() as ns:                       # cnilib-1a2b3c4d, removed on exit
        netns.run(ns.path, ["ip", "link", "set", "lo", "up"])
        print(netns.run(ns.path, ["ip", "-br", "addr"]).stdout)

Commands are entered with ``nsenter --net=PATH`` rather than ``ip netns exec``: ``nsenter``
switches the network namespace only, while ``ip netns exec`` also unshares the mount namespace and
remounts ``/sys``. That private mount namespace breaks a Docker engine started inside it ("Devices
cgroup isn't mounted") and hides namespace files that dockerd bind-mounts later (``SandboxKey``)
from the process.

Everything here needs root (``CAP_SYS_ADMIN``) and the ``ip`` (iproute2) and ``nsenter``
(util-linux) programs. Failures raise :class:`NetnsError`.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from collections.abc import Mapping, Sequence
from types import TracebackType

import attrs

from cnilib._base._errors import CNIError

__all__ = [
    "NETNS_RUN_DIR",
    "NetNS",
    "NetnsError",
    "create",
    "delete",
    "enter_argv",
    "exists",
    "path_of",
    "path_of_pid",
    "run",
]

#: Where ``ip netns`` keeps the bind mounts of named namespaces.
NETNS_RUN_DIR = "/run/netns"

# `ip netns` accepts any file name; stay stricter so a name can never escape NETNS_RUN_DIR or
# need quoting anywhere (the kernel's IFNAMSIZ-like limits do not apply, but 64 keeps it sane).
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

_IP_TIMEOUT = 30.0


class NetnsError(CNIError):
    """A network namespace could not be created, found, deleted or entered."""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise NetnsError(
            f"invalid network namespace name {name!r}: use 1-64 characters from "
            "[A-Za-z0-9_.-], starting with a letter or digit"
        )
    return name


def path_of(name: str) -> str:
    """Return the path of the named namespace (``/run/netns/NAME``); it need not exist."""
    return os.path.join(NETNS_RUN_DIR, _check_name(name))


def exists(name: str) -> bool:
    """Return whether the named namespace ``/run/netns/NAME`` exists."""
    return os.path.exists(path_of(name))


def _ip(args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=_IP_TIMEOUT)
    except FileNotFoundError as exc:
        raise NetnsError("the `ip` program (iproute2) is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"`{' '.join(argv)}` timed out after {_IP_TIMEOUT:g}s") from exc


@attrs.frozen
class NetNS:
    """A named network namespace made by :func:`create`.

    Usable as a context manager that deletes the namespace on exit. ``path`` is what goes into a
    :class:`cnilib.RuntimeConfig` as ``netns``.
    """

    name: str
    path: str

    def delete(self) -> None:
        """Delete the namespace; deleting one that is already gone is not an error."""
        delete(self.name)

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float | None = 30.0,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside this namespace; see :func:`run`."""
        return run(self.path, argv, check=check, timeout=timeout, input=input, env=env)

    def __enter__(self) -> NetNS:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.delete()


def create(name: str | None = None, *, loopback_up: bool = False) -> NetNS:
    """Create a named network namespace with ``ip netns add`` and return it.

    Without ``name`` a fresh ``cnilib-XXXXXXXX`` name is chosen. An existing namespace of that name
    is an error (it would silently be shared otherwise). With ``loopback_up`` the namespace's ``lo``
    is brought up, which is what most tests want before anything else is wired in.
    """
    if name is None:
        # Retry on the (astronomically rare) collision instead of failing the caller.
        for _ in range(16):
            candidate = f"cnilib-{secrets.token_hex(4)}"
            if not exists(candidate):
                name = candidate
                break
        else:  # pragma: no cover
            raise NetnsError("could not find an unused network namespace name")
    _check_name(name)
    if exists(name):
        raise NetnsError(f"network namespace {name!r} already exists")
    proc = _ip(["netns", "add", name])
    if proc.returncode != 0:
        raise NetnsError(f"ip netns add {name} failed: {proc.stderr.strip() or proc.returncode}")
    ns = NetNS(name=name, path=path_of(name))
    if loopback_up:
        try:
            run(ns.path, ["ip", "link", "set", "lo", "up"])
        except BaseException:
            delete(name)
            raise
    return ns


def delete(name: str) -> None:
    """Delete the named namespace with ``ip netns del``; a missing namespace is not an error."""
    _check_name(name)
    if not exists(name):
        return
    proc = _ip(["netns", "del", name])
    # Lost a race with another deleter: the outcome is what the caller wanted.
    if proc.returncode != 0 and exists(name):
        raise NetnsError(f"ip netns del {name} failed: {proc.stderr.strip() or proc.returncode}")


def path_of_pid(pid: int) -> str:
    """Return ``/proc/PID/ns/net`` for a running process, checking that it is accessible.

    Unlike a Docker ``SandboxKey`` this path works from any mount namespace.
    """
    if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
        raise NetnsError(f"invalid pid {pid!r}")
    path = f"/proc/{pid}/ns/net"
    try:
        os.stat(path)
    except FileNotFoundError as exc:
        raise NetnsError(f"no process with pid {pid}") from exc
    except OSError as exc:
        raise NetnsError(f"cannot access {path}: {exc.strerror}") from exc
    return path


def enter_argv(path: str) -> list[str]:
    """Return the argv prefix that runs a program inside the network namespace at ``path``.

    ``nsenter`` only switches the network namespace and then execs the program in place, so the pid
    and process group stay the program's (a timeout can kill it like any child).
    """
    return ["nsenter", f"--net={path}", "--"]


def run(
    ns_path: str,
    argv: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = 30.0,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in the network namespace at ``ns_path`` and return the completed process.

    Output is captured as text. With ``check`` a non-zero exit raises :class:`NetnsError` carrying
    the command's stderr; a timeout always raises.
    """
    if not argv:
        raise NetnsError("empty command")
    if not os.path.exists(ns_path):
        raise NetnsError(f"network namespace {ns_path} does not exist")
    full = [*enter_argv(ns_path), *argv]
    try:
        proc = subprocess.run(
            full,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            input=input,
            env=None if env is None else dict(env),
        )
    except FileNotFoundError as exc:
        raise NetnsError("the `nsenter` program (util-linux) is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise NetnsError(f"{' '.join(argv)!r} in {ns_path} timed out after {timeout}s") from exc
    if check and proc.returncode != 0:
        raise NetnsError(
            f"{' '.join(argv)!r} in {ns_path} exited with status {proc.returncode}: {proc.stderr.strip()}"
        )
    return proc
