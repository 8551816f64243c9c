"""A private, throw-away Podman (CNI backend) for tests of what container runtimes leave on a node.

:class:`PrivatePodman` runs Debian's ``podman`` (4.3, which still has the CNI network backend)
inside a network namespace made by the test, with every piece of its state in a work directory,
so neither the machine's network nor its own podman containers, images, networks or CNI state are
touched::

    from cnilib import netns
    from cnilib.testing.podman import PrivatePodman

    with netns.create(loopback_up=True) as host_ns, PrivatePodman(netns=host_ns.path) as node:
        node.build_busybox_image()                    # offline: podman import of busybox
        net = node.create_network()                   # podman network create --subnet ...
        web = node.run_container("web", net)          # busybox httpd: web.id, web.netns, web.address
        node.crash_container(web)                     # conmon and the container SIGKILLed, netns gone
        node.run(["cnilib", "cache", "list"])         # run on "the node": podman's /var/lib/cni

What it takes (podman 4.3.1, runc, conmon, as root):

- a ``containers.conf`` (``CONTAINERS_CONF``: the CNI backend; network configurations, temporary
  files, events, volumes and file locks in the work directory, not ``/etc/cni/net.d``,
  ``/run/libpod`` or ``/dev/shm``) and a ``storage.conf`` (``CONTAINERS_STORAGE_CONF``, a vfs
  store). Both are in :attr:`PrivatePodman.env`: a podman command run with it (a doctor's too)
  sees this podman's containers and nothing else.
- podman 4.3 has no setting for libcni's cache (``/var/lib/cni``) nor host-local's store
  (``/var/lib/cni/networks``), so podman runs in a "node view": a mount namespace where
  ``/var/lib`` is an overlay written to a tmpfs of the view and ``/var/lib/cni`` is the work
  directory's ``cni/`` (:attr:`PrivatePodman.cache_dir` from outside). ``/run/netns`` stays shared
  with the host: podman's namespaces (``/run/netns/netns-<uuid>``) are host paths, as on a node.
- runc's state in the work directory (a wrapper passes ``--root``), not ``/run/runc``; containers
  in ``--cgroup-parent=/cnilib-podman-XXXX`` (conmon in its ``conmon`` child), so everything left
  after a crash can be found and killed.
- ``nsenter --net``, not ``ip netns exec``, which remounts ``/sys``: podman then finds no cgroups.

Give it a network namespace of its own: bridges, veths and iptables rules, and what a crash leaves
of them, vanish with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from . import _podman_host
from ._dockerd_host import _busybox_rootfs_tar, _kill_and_wait, _pid_alive, _remove_cgroups
from ._podman_host import (
    _BUSYBOX,
    PodmanContainer,
    PodmanError,
    PodmanNetwork,
    _binary,
    _close_holder,
    _container_from_inspect,
    _containers_conf,
    _netns_dir_shared,
    _remove_netns_file,
    _reservations,
    _runc_wrapper,
    _start_holder,
    _storage_conf,
    _sweep,
    podman_available,
)
from .dockerd import HTTPD_CMD, INDEX_HTML

__all__ = [
    "DEFAULT_IMAGE",
    "NODE_CACHE_DIR",
    "SLEEP_CMD",
    "PodmanContainer",
    "PodmanError",
    "PodmanNetwork",
    "PrivatePodman",
    "podman_available",
]

#: Tag of the image :meth:`PrivatePodman.build_busybox_image` builds (``HTTPD_CMD`` by default).
DEFAULT_IMAGE = "localhost/cnilib-busybox:latest"
#: libcni's default cache directory, podman's inside the node view (:attr:`PrivatePodman.cache_dir`
#: is the same directory seen from outside).
NODE_CACHE_DIR = _podman_host.NODE_CACHE_DIR
#: A command that keeps a container running without serving anything.
SLEEP_CMD: tuple[str, ...] = ("/bin/busybox", "sleep", "600")


class PrivatePodman:
    """A podman of the test's own, usable as a context manager (start on enter, stop on exit).

    ``netns`` is the path of the network namespace podman and its networks live in. ``base_dir``
    is where the work directory is made (default: the system temp dir; keep it short, conmon's
    sockets live under it). Useful attributes: :attr:`env`, :attr:`cache_dir`,
    :attr:`network_config_dir`, ``workdir``, ``cgroup_parent``, ``holder_pid``.
    """

    def __init__(
        self,
        *,
        netns: str,
        base_dir: str | os.PathLike[str] | None = None,
        cgroup_parent: str | None = None,
    ) -> None:
        self.netns = netns
        self.base_dir = None if base_dir is None else os.fspath(base_dir)
        self.token = secrets.token_hex(4)
        self.cgroup_parent = cgroup_parent or f"/cnilib-podman-{self.token}"
        self.workdir: Path | None = None
        self.holder_pid: int | None = None
        self._holder: subprocess.Popen[bytes] | None = None
        self._networks: list[PodmanNetwork] = []
        self._netns_paths: set[str] = set()
        self._containers: dict[str, bool] = {}  # full id -> crashed

    # -- paths ------------------------------------------------------------------------------------

    def _w(self) -> Path:
        if self.workdir is None:
            raise PodmanError("the private podman is not started")
        return self.workdir

    @property
    def env(self) -> dict[str, str]:
        """What makes a podman command (or a cnilib command) use this podman and its networks."""
        w = self._w()
        return {
            "CONTAINERS_CONF": str(w / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(w / "storage.conf"),
            "TMPDIR": str(w / "tmp"),
            # podman's configuration directory, as /etc/cni/net.d is on a node
            "NETCONFPATH": self.network_config_dir,
        }

    @property
    def network_config_dir(self) -> str:
        """Where podman writes its networks' configuration lists (``<name>.conflist``)."""
        return str(self._w() / "net.d")

    @property
    def cache_dir(self) -> str:
        """The CNI cache podman uses, from outside: :data:`NODE_CACHE_DIR` inside the node view.

        ``results/<network>-<container id>-<ifname>`` are libcni's cache entries,
        ``networks/<network>/`` host-local's reservations.
        """
        return str(self._w() / "cni")

    @property
    def runc_root(self) -> str:
        """runc's state directory (``/run/runc`` without the wrapper)."""
        return str(self._w() / "runc")

    def cache_entry(self, container: PodmanContainer) -> Path:
        """Path of the container's libcni cache entry (from outside the node view)."""
        name = f"{container.network}-{container.id}-{container.ifname}"
        return Path(self.cache_dir) / "results" / name

    def reservations(self, network: PodmanNetwork | str) -> dict[str, tuple[str, str]]:
        """host-local's reservations on ``network``: address -> (container id, ifname)."""
        name = network.name if isinstance(network, PodmanNetwork) else network
        return _reservations(Path(self.cache_dir) / "networks" / name)

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> PrivatePodman:
        """Write the configuration, start the node view and check podman answers; on failure
        clean up and raise."""
        if self.workdir is not None:
            raise PodmanError("the private podman is already started")
        if os.geteuid() != 0:
            raise PodmanError("a private podman needs root")
        if not os.path.exists(self.netns):
            raise PodmanError(f"network namespace {self.netns} does not exist")
        if not _netns_dir_shared():
            raise PodmanError("/run/netns is not a shared mount: make the namespace with `ip netns add`")
        runc = _binary("runc", "/usr/sbin/runc")
        if _binary("podman") is None or runc is None:
            raise PodmanError("podman and runc are not installed (Debian: apt-get install podman)")
        self.workdir = Path(tempfile.mkdtemp(prefix="cnilib-podman-", dir=self.base_dir))
        try:
            w = self.workdir
            for sub in ("bin", "cni", "net.d", "tmp", "run", "runc", "storage", "varlib"):
                (w / sub).mkdir()
            wrapper = w / "bin" / "runc"
            wrapper.write_text(_runc_wrapper(runc, w / "runc"))
            wrapper.chmod(0o755)
            (w / "containers.conf").write_text(_containers_conf(w, wrapper))
            (w / "storage.conf").write_text(_storage_conf(w))
            self._holder = _start_holder(self.netns, w)
            self.holder_pid = self._holder.pid  # nsenter and unshare exec in place
            backend = self.podman("info", "--format", "{{.Host.NetworkBackend}}").stdout.strip()
            if backend != "cni":
                raise PodmanError(f"podman uses the {backend!r} network backend, not cni")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Remove every trace: containers, networks, processes, namespaces, cgroups and files.

        Idempotent, and safe after a failed start or with hard-crashed containers.
        """
        w = self.workdir
        problems: list[str] = []
        try:
            if self._holder is not None and self._holder.poll() is None:
                with contextlib.suppress(PodmanError):
                    self._remove_everything()
            if w is not None:
                problems = self._sweep(w)
        finally:
            if self._holder is not None:
                _close_holder(self._holder)
                self._holder = None
            _remove_cgroups(self.cgroup_parent)
            if w is not None:
                shutil.rmtree(w, ignore_errors=True)
            self.workdir = None
            self.holder_pid = None
            self._networks.clear()
            self._netns_paths.clear()
            self._containers.clear()
        if problems:
            raise PodmanError("; ".join(problems))

    def _remove_everything(self) -> None:
        # Podman's own teardown for the containers that are still whole (it removes their namespaces
        # and iptables rules). Crashed ones are left to the sweep: `podman rm` of one waits 5 s for
        # an exit file that never comes, and its network state is what it leaves anyway.
        for cid, crashed in list(self._containers.items()):
            if not crashed:
                self.podman("rm", "--force", "--ignore", "--time", "0", cid, check=False)
        for net in self._networks:
            self.podman("network", "rm", net.name, check=False)

    def _sweep(self, w: Path) -> list[str]:
        bridges = [net.bridge for net in self._networks]
        return _sweep(w, self.cgroup_parent, self.holder_pid, self.netns, self._netns_paths, bridges)

    def __enter__(self) -> PrivatePodman:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- running things on the node ----------------------------------------------------------------

    def enter_argv(self) -> list[str]:
        """argv prefix that runs a program on the node: the view's mount namespace, podman's network
        namespace, the caller's working directory. Give it :attr:`env` too."""
        if self.holder_pid is None:
            raise PodmanError("the private podman is not started")
        return ["nsenter", f"--target={self.holder_pid}", "--mount", "--net", f"--wd={os.getcwd()}", "--"]

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` on the node with :attr:`env` (plus ``env``) and return it (text output).

        The caller's ``CNI_*`` and ``CONTAINER*`` variables are dropped, so a cnilib or podman
        command sees the node's defaults and this podman.
        """
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CNI_", "CONTAINER"))}
        full_env = {**base, **self.env, **(env or {})}
        try:
            proc = subprocess.run(
                [*self.enter_argv(), *argv],
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout,
                env=full_env,
                input=input,
            )
        except subprocess.TimeoutExpired as exc:
            raise PodmanError(f"`{' '.join(argv)}` timed out after {timeout:g}s") from exc
        if check and proc.returncode != 0:
            raise PodmanError(f"`{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def podman(
        self, *args: str, check: bool = True, timeout: float = 120.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``podman ARGS`` on the node, with this podman's configuration."""
        return self.run([_binary("podman") or "podman", *args], check=check, timeout=timeout)

    # -- images, networks, containers --------------------------------------------------------------

    def build_busybox_image(self, tag: str = DEFAULT_IMAGE, *, busybox: str = _BUSYBOX) -> str:
        """Build ``tag`` offline (``podman import``) from a root file system holding only static
        busybox (the same as :meth:`cnilib.testing.dockerd.PrivateDockerd.build_busybox_image`'s:
        ``httpd`` serves :data:`~cnilib.testing.dockerd.INDEX_HTML`). Returns ``tag``."""
        tar = self._w() / "tmp" / "busybox-rootfs.tar"
        tar.write_bytes(_busybox_rootfs_tar(busybox, INDEX_HTML))
        try:
            self.podman("import", "--change", f"CMD {json.dumps(list(HTTPD_CMD))}", str(tar), tag)
        finally:
            tar.unlink()
        return tag

    def create_network(self, name: str | None = None, *, subnet: str | None = None) -> PodmanNetwork:
        """``podman network create --subnet SUBNET NAME`` (a bridge with host-local IPAM, ipMasq,
        portmap, firewall and tuning, as podman writes it). ``subnet`` defaults to
        ``10.213.N.0/24``, N counting this podman's networks."""
        index = len(self._networks)
        name = name or f"cnilib-{self.token}-{index}"
        subnet = subnet or f"10.213.{index}.0/24"
        self.podman("network", "create", "--subnet", subnet, name)
        path = Path(self.network_config_dir) / f"{name}.conflist"
        plugin: dict[str, Any] = json.loads(path.read_text())["plugins"][0]
        network = PodmanNetwork(
            name=name,
            subnet=subnet,
            gateway=plugin["ipam"]["ranges"][0][0]["gateway"],
            bridge=plugin["bridge"],
            config_path=str(path),
        )
        self._networks.append(network)
        return network

    def inspect(self, container: str) -> dict[str, Any]:
        """``podman container inspect``'s answer for one container."""
        out = self.podman("container", "inspect", container).stdout
        found: list[dict[str, Any]] = json.loads(out)
        return found[0]

    def run_container(
        self,
        name: str,
        network: PodmanNetwork | str,
        image: str = DEFAULT_IMAGE,
        cmd: Sequence[str] = HTTPD_CMD,
        *,
        extra_args: Sequence[str] = (),
    ) -> PodmanContainer:
        """``podman run -d --name NAME --network NETWORK IMAGE CMD`` in this podman's cgroup parent."""
        net = network.name if isinstance(network, PodmanNetwork) else network
        cid = self.podman(
            "run", "-d", "--name", name, "--network", net, f"--cgroup-parent={self.cgroup_parent}",
            *extra_args, image, *cmd,
        ).stdout.strip()  # fmt: skip
        container = _container_from_inspect(self.inspect(cid), name, net)
        self._containers[container.id] = False
        if container.netns:
            self._netns_paths.add(container.netns)
        return container

    def exists(self, container: str) -> bool:
        """``podman container exists`` (which still answers when ``podman ps`` fails after a crash)."""
        proc = self.podman("container", "exists", container, check=False)
        if proc.returncode not in (0, 1):
            raise PodmanError(f"podman container exists {container} failed: {proc.stderr.strip()}")
        return proc.returncode == 0

    def crash_container(self, container: PodmanContainer) -> None:
        """Crash ``container`` as a node does when its runtime dies hard: conmon SIGKILLed, then the
        container's process, then its network namespace unmounted and removed.

        conmon goes first: seeing the container exit, it would run podman's cleanup, which tears the
        network down. What stays is what a node doctor looks for: the cache entry, the host-local
        reservation, the iptables rules; podman still thinks the container is running.
        """
        if container.pid <= 0 or container.conmon_pid <= 0:  # kill(0) would hit our own group
            raise PodmanError(f"container {container.name} was not running when it was started")
        self._containers[container.id] = True
        for pid in (container.conmon_pid, container.pid):
            _kill_and_wait({pid})
            if _pid_alive(pid):
                raise PodmanError(f"process {pid} of container {container.name} survived SIGKILL")
        problem = _remove_netns_file(container.netns)
        if problem:
            raise PodmanError(problem)

    def remove_container(self, container: PodmanContainer | str) -> int:
        """``podman rm --force`` until it is gone; returns how many calls that took.

        A hard-crashed container needs two: the first fails (after waiting 5 s for the exit file
        conmon never wrote, or because runc says stopped where podman's database says running).
        """
        ref = container.id if isinstance(container, PodmanContainer) else container
        last = ""
        for attempt in (1, 2):
            proc = self.podman("rm", "--force", "--ignore", "--time", "0", ref, check=False)
            if proc.returncode == 0:
                self._containers.pop(ref, None)
                return attempt
            last = proc.stderr.strip()
        raise PodmanError(f"podman rm --force {ref} failed twice: {last}")
