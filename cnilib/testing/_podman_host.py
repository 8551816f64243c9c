"""What a :class:`~cnilib.testing.podman.PrivatePodman` writes and finds on the host: its
configuration files, the mount namespace holding its private ``/var/lib`` (the "node view"), the
runc wrapper, and how its processes, network namespaces and host-local reservations are found.
Also its error and the network and container it describes (re-exported by ``cnilib.testing.podman``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import attrs

from ._dockerd_host import _cgroup_pids, _cmdline, _kill_and_wait

#: Where podman, libcni and host-local keep their state on a node; inside the view it is private.
NODE_CACHE_DIR = "/var/lib/cni"

# podman names the namespaces it makes netns-<uuid>; nothing else is ever unmounted or removed.
_PODMAN_NETNS = re.compile(r"/run/netns/netns-[0-9a-f-]{36}")
_READY_TIMEOUT = 30.0
_BUSYBOX = "/bin/busybox"  # Debian's busybox-static: runs in a root file system of its own


class PodmanError(RuntimeError):
    """The private podman could not be started, asked or cleaned up."""


@attrs.frozen
class PodmanNetwork:
    """A network made by :meth:`PrivatePodman.create_network`.

    ``config_path`` is the configuration list podman wrote (in its ``network_config_dir``).
    """

    name: str
    subnet: str
    gateway: str
    bridge: str
    config_path: str


@attrs.frozen
class PodmanContainer:
    """A container started by :meth:`PrivatePodman.run_container`, as ``podman inspect`` saw it then.

    ``id`` is podman's full id, which is also the CNI container id; ``netns`` the network namespace
    path (``/run/netns/netns-<uuid>``); ``address`` its IPv4 address on ``network``; ``pid`` the
    container's first process and ``conmon_pid`` its monitor, both as seen from the host.
    """

    name: str
    id: str
    network: str
    netns: str
    address: str
    pid: int
    conmon_pid: int
    ifname: str = "eth0"


def _container_from_inspect(info: dict[str, Any], name: str, network: str) -> PodmanContainer:
    settings, state = info["NetworkSettings"], info["State"]
    # A container that already exited has no namespace, address or processes any more.
    return PodmanContainer(
        name=name,
        id=info["Id"],
        network=network,
        netns=settings.get("SandboxKey") or "",
        address=(settings.get("Networks") or {}).get(network, {}).get("IPAddress") or "",
        pid=state.get("Pid") or 0,
        conmon_pid=state.get("ConmonPid") or 0,
    )


def _binary(name: str, *fallbacks: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((p for p in fallbacks if os.access(p, os.X_OK)), None)


def _overlay_supported() -> bool:
    try:
        with open("/proc/filesystems", encoding="utf-8") as f:
            return any(line.split()[-1] == "overlay" for line in f if line.strip())
    except OSError:
        return False


def _netns_dir_shared() -> bool:
    """Whether ``/run/netns`` is a shared mount (``ip netns add`` makes it one): then the namespaces
    podman mounts there from the node view appear on the host too."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split(" - ")[0].split()
            if fields[4] == "/run/netns" and any(o.startswith("shared:") for o in fields[6:]):
                return True
    return False


def podman_available() -> bool:
    """Whether a :class:`PrivatePodman` can run here (root, podman, conmon, runc, busybox, overlay)."""
    return (
        os.geteuid() == 0
        and _binary("podman") is not None
        and _binary("conmon", "/usr/libexec/podman/conmon") is not None
        and _binary("runc", "/usr/sbin/runc") is not None
        and all(shutil.which(t) for t in ("nsenter", "unshare", "findmnt", "mount", "umount"))
        and os.access(_BUSYBOX, os.X_OK)
        and _overlay_supported()
    )


def _containers_conf(w: Path, runc_wrapper: Path) -> str:
    """containers.conf: the CNI backend, and every directory podman writes to inside ``w``.

    No ``static_dir``: conmon's exit command (``podman container cleanup``) passes ``--root``, which
    puts the database in ``<root>/libpod`` whatever the configuration says; elsewhere the cleanup
    would not find the container and its network would never be torn down.
    """
    q = json.dumps  # TOML basic strings are JSON strings for these paths
    return f"""# Written by cnilib.testing.podman: podman's state lives in {w}.
[containers]
# The hard limit of open files on the CI machines is below podman's default ulimits.
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[network]
network_backend = "cni"
network_config_dir = {q(str(w / "net.d"))}
cni_plugin_dirs = ["/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = {q(str(w / "events.log"))}
tmp_dir = {q(str(w / "tmp"))}
volume_path = {q(str(w / "volumes"))}
image_copy_tmp_dir = {q(str(w / "tmp"))}
# File locks in tmp_dir instead of the machine-wide shared memory segment /dev/shm/libpod_lock.
lock_type = "file"

[engine.runtimes]
# runc keeps container state in /run/runc unless told otherwise; podman has no setting for it.
runc = [{q(str(runc_wrapper))}]
"""


def _storage_conf(w: Path) -> str:
    # vfs: plain directories, no overlay mounts to leak; the busybox image is 2 MB.
    return f"""[storage]
driver = "vfs"
graphroot = {json.dumps(str(w / "storage"))}
runroot = {json.dumps(str(w / "run"))}
"""


def _runc_wrapper(runc: str, root: Path) -> str:
    return f"""#!/bin/sh
# cnilib.testing.podman: runc with its state in the work directory instead of /run/runc.
exec {shlex.quote(runc)} --root {shlex.quote(str(root))} "$@"
"""


def _holder_script(w: Path) -> str:
    """The view's holder: its own mount namespace where ``/var/lib`` is an overlay (writes go to a
    tmpfs of the view) and ``/var/lib/cni`` is ``w/cni``; ``/run/netns`` stays shared with the host.

    It exits when its standard input closes, so a test run killed outright does not keep it.
    """
    cni, varlib = shlex.quote(str(w / "cni")), shlex.quote(str(w / "varlib"))
    return f"""set -e
# The mounts holding /var/lib and the work directory are shared with the host on some machines
# (systemd's default): make this namespace's copies slaves so that what is mounted below stays
# here. /run/netns, a separate shared mount, is untouched: podman's namespaces appear on the host.
mount --make-slave "$(findmnt -n -o TARGET -T /var/lib)"
mount --make-slave "$(findmnt -n -o TARGET -T {varlib})"
mount -t tmpfs -o mode=0700 cnilib-podman {varlib}
mkdir {varlib}/upper {varlib}/work
mount -t overlay cnilib-podman-varlib \\
  -o lowerdir=/var/lib,upperdir={varlib}/upper,workdir={varlib}/work /var/lib
mkdir -p {NODE_CACHE_DIR}
mount --bind {cni} {NODE_CACHE_DIR}
echo ready
exec cat >/dev/null
"""


def _start_holder(netns: str, w: Path) -> subprocess.Popen[bytes]:
    """Start the view's holder in the network namespace ``netns`` and wait for its ``ready``."""
    from cnilib.netns import enter_argv

    argv = [*enter_argv(netns), "unshare", "--mount", "--propagation", "unchanged", "--"]
    holder = subprocess.Popen(
        [*argv, "sh", "-c", _holder_script(w)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # a ^C aimed at the test run must not reach it before stop()
    )
    assert holder.stdout is not None
    assert holder.stderr is not None
    ready, _, _ = select.select([holder.stdout], [], [], _READY_TIMEOUT)
    if not ready or holder.stdout.readline().strip() != b"ready":
        holder.kill()
        err = holder.stderr.read().decode(errors="replace").strip()
        _close_holder(holder)
        raise PodmanError(f"the node view did not start: {err or 'no answer'}")
    return holder


def _close_holder(holder: subprocess.Popen[bytes]) -> None:
    for pipe in (holder.stdin, holder.stdout, holder.stderr):
        if pipe is not None:
            pipe.close()  # the holder's `cat` ends: the view's last process exits
    try:
        holder.wait(timeout=10)
    except subprocess.TimeoutExpired:
        holder.kill()
        holder.wait(timeout=10)


def _mount_ns(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/mnt").st_ino
    except OSError:
        return None


def _view_pids(holder: int) -> set[int]:
    """Every process in the holder's mount namespace (podman, conmon, plugins, cleanup runs)."""
    ns = _mount_ns(holder)
    found: set[int] = set()
    if ns is None:
        return found
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != holder and _mount_ns(int(entry)) == ns:
            found.add(int(entry))
    return found


def _runc_pids(root: Path) -> set[int]:
    """Init processes of the containers runc knows under ``root`` (also those of other cgroups)."""
    pids: set[int] = set()
    for state in root.glob("*/state.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            pid = json.loads(state.read_text()).get("init_process_pid")
            if isinstance(pid, int) and pid > 0:
                pids.add(pid)
    return pids


def _processes_mentioning(text: str) -> set[int]:
    """Processes whose command line names ``text`` (conmon and cleanup runs name the work dir)."""
    return {int(e) for e in os.listdir("/proc") if e.isdigit() and any(text in a for a in _cmdline(int(e)))}


def _cached_sandboxes(cache_dir: Path) -> set[str]:
    """Network namespace paths named by the cached results (podman's own, ``netns-<uuid>``)."""
    paths: set[str] = set()
    for entry in (cache_dir / "results").glob("*"):
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            result = json.loads(entry.read_text()).get("result") or {}
            paths.update(str(i["sandbox"]) for i in result.get("interfaces", []) if i.get("sandbox"))
    return {p for p in paths if _PODMAN_NETNS.fullmatch(p)}


def _kill_leftovers(w: Path, cgroup_parent: str, holder: int | None) -> None:
    """Kill conmon and podman processes of the view first (one seeing its container die would start
    podman's cleanup), then the containers: those in the cgroup parent and those runc knows."""

    for containers_too in (False, True):
        found = _processes_mentioning(str(w))
        if holder is not None:
            found |= _view_pids(holder)
        if containers_too:
            found |= _cgroup_pids(cgroup_parent) | _runc_pids(w / "runc")
        found.discard(os.getpid())
        if found:
            _kill_and_wait(found)


def _sweep(
    w: Path, cgroup_parent: str, holder: int | None, netns: str, netns_paths: set[str], bridges: list[str]
) -> list[str]:
    """Kill what is left of a podman, remove its namespaces and bridges; returns what failed."""
    _kill_leftovers(w, cgroup_parent, holder)
    paths = sorted(netns_paths | _cached_sandboxes(w / "cni"))
    problems = [p for p in map(_remove_netns_file, paths) if p]
    if os.path.exists(netns):
        from cnilib.netns import run

        for bridge in bridges:
            run(netns, ["ip", "link", "del", bridge], check=False)
    return problems


def _remove_netns_file(path: str) -> str | None:
    """Unmount and remove one of podman's ``/run/netns/netns-<uuid>`` (never any other path);
    returns what went wrong, if anything."""
    if not _PODMAN_NETNS.fullmatch(path) or not os.path.lexists(path):
        return None
    # From the host: /run/netns is shared with the node view, so the unmount reaches it too.
    proc = subprocess.run(["umount", path], capture_output=True, text=True, check=False)
    with contextlib.suppress(OSError):  # EBUSY when the unmount failed: reported below
        os.unlink(path)
    if os.path.lexists(path):
        return f"could not remove the network namespace {path}: {proc.stderr.strip()}"
    return None


def _reservations(store: Path) -> dict[str, tuple[str, str]]:
    """host-local's reservations in one network's store: address -> (container id, ifname)."""
    found: dict[str, tuple[str, str]] = {}
    if not store.is_dir():
        return found
    for entry in store.iterdir():
        if entry.name == "lock" or entry.name.startswith("last_reserved_ip"):
            continue
        with contextlib.suppress(OSError):
            lines = entry.read_text().splitlines()
            lines += ["", ""]
            found[entry.name] = (lines[0].strip(), lines[1].strip())
    return found
