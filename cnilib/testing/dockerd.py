"""A private, throw-away Docker engine for tests that attach real containers to CNI networks.

:class:`PrivateDockerd` starts ``dockerd`` with every piece of state in its own work directory and
with all of Docker's own networking switched off, optionally inside a network namespace made by the
test, so it cannot touch the machine's network or a system Docker daemon::

    from cnilib import netns
    from cnilib.testing.dockerd import PrivateDockerd, docker_available

    with netns.create() as host_ns, PrivateDockerd(netns=host_ns.path) as engine:
        image = engine.build_busybox_image()               # offline: docker import of busybox
        cid = engine.run_container("web", image)           # busybox httpd on :80, --net=none
        ...                                                # DOCKER_HOST=engine.host

What it takes on a cgroup v1 host without systemd as PID 1 (the CI machines):

- ``--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false
  --userland-proxy=false``: no docker0, no iptables rules, no sysctls, no docker-proxy.
- ``--data-root``/``--exec-root``/``--pidfile``/``-H unix://`` in the work dir and ``--config-file``
  holding only ``deprecated-key-path``, so neither ``/var/lib/docker``, ``/run/docker.sock``,
  ``/etc/docker/key.json`` nor ``/etc/docker/daemon.json`` is used. dockerd still creates the
  empty ``/run/docker/plugins`` and containerd's shim sockets live in ``/run/containerd/s`` (both
  hard-coded); :meth:`PrivateDockerd.stop` removes what it created there.
- ``--cgroup-parent=/cnilib-dockerd-XXXX`` (cgroupfs driver): containers land in a cgroup of their
  own instead of the shared ``/docker``, so two private engines never mix and every leftover
  container process can be found and killed after a crash. No other cgroup setting was needed.
- enter the namespace with ``nsenter --net`` only; ``ip netns exec`` remounts ``/sys`` in a private
  mount namespace, where dockerd fails with "Devices cgroup isn't mounted".
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from ._dockerd_host import (
    _busybox_rootfs_tar,
    _dockerd_argv,
    _kill_leftovers,
    _mounts_under,
    _remove_cgroups,
    _remove_run_dirs,
)

__all__ = [
    "DEFAULT_IMAGE",
    "INDEX_HTML",
    "HTTPD_CMD",
    "DockerdError",
    "PrivateDockerd",
    "docker_available",
    "docker_cli",
    "dockerd_binary",
]

#: Tag of the image :meth:`PrivateDockerd.build_busybox_image` builds.
DEFAULT_IMAGE = "cnilib-busybox:latest"
#: Body of ``/www/index.html`` in that image: what an HTTP GET of the container returns.
INDEX_HTML = "hello from cnilib busybox httpd\n"
#: Default command of :meth:`PrivateDockerd.run_container`: a web server on port 80.
HTTPD_CMD: tuple[str, ...] = ("busybox", "httpd", "-f", "-p", "80", "-h", "/www")

_BUSYBOX = "/bin/busybox"  # Debian's busybox-static: a static binary that runs in an empty rootfs
_UNIX_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL


class DockerdError(RuntimeError):
    """The private Docker engine could not be started, asked or stopped."""


def dockerd_binary() -> str | None:
    """Return the path of ``dockerd`` (Debian puts it in ``/usr/sbin``, often not on PATH)."""
    found = shutil.which("dockerd")
    if found:
        return found
    return "/usr/sbin/dockerd" if os.access("/usr/sbin/dockerd", os.X_OK) else None


def docker_cli() -> str | None:
    """Return the Docker client to use: ``/usr/bin/docker`` first (PATH may hold another client)."""
    if os.access("/usr/bin/docker", os.X_OK):
        return "/usr/bin/docker"
    return shutil.which("docker")


def docker_available() -> bool:
    """Whether a :class:`PrivateDockerd` can run here (root, dockerd, containerd, busybox)."""
    return (
        os.geteuid() == 0
        and dockerd_binary() is not None
        and docker_cli() is not None
        and shutil.which("containerd") is not None
        and shutil.which("nsenter") is not None
        and os.access(_BUSYBOX, os.X_OK)
    )


class PrivateDockerd:
    """A ``dockerd`` of the test's own, usable as a context manager (start on enter, stop on exit).

    ``netns`` is the path of a network namespace to run the engine in (``nsenter --net``);
    containers with ``--net=host`` then share that namespace, never the machine's. ``base_dir`` is
    where the work directory is made (default: the system temp dir; keep it short, unix socket
    paths are limited to 107 bytes). Attributes useful to tests: ``host`` (``unix://…/docker.sock``,
    for ``DOCKER_HOST``), ``workdir``, ``exec_root`` (SandboxKeys are ``exec_root/netns/<id>``),
    ``pid``, ``log_path``.
    """

    def __init__(
        self,
        *,
        netns: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        cgroup_parent: str | None = None,
        start_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.netns = netns
        self.base_dir = None if base_dir is None else os.fspath(base_dir)
        self.token = secrets.token_hex(4)
        self.cgroup_parent = cgroup_parent or f"/cnilib-dockerd-{self.token}"
        self.start_timeout = start_timeout
        self.extra_args = tuple(extra_args)
        self.workdir: Path | None = None
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: io.BufferedWriter | None = None
        self._preexisting_run_dirs: set[str] = set()

    # -- paths ------------------------------------------------------------------------------------

    def _w(self) -> Path:
        if self.workdir is None:
            raise DockerdError("the private dockerd is not started")
        return self.workdir

    @property
    def socket_path(self) -> str:
        """Path of the engine's API socket."""
        return str(self._w() / "docker.sock")

    @property
    def host(self) -> str:
        """The engine's address, for ``docker -H``, ``DOCKER_HOST`` or ``cnilib.docker``'s host=."""
        return f"unix://{self.socket_path}"

    @property
    def exec_root(self) -> str:
        """dockerd's ``--exec-root``; container SandboxKeys live in its ``netns/`` directory."""
        return str(self._w() / "exec")

    @property
    def data_root(self) -> str:
        """dockerd's ``--data-root`` (images, container layers)."""
        return str(self._w() / "data")

    @property
    def log_path(self) -> str:
        """File receiving dockerd's (and containerd's) output."""
        return str(self._w() / "dockerd.log")

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of dockerd's log, for error messages."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except (OSError, DockerdError):
            return ""

    # -- lifecycle --------------------------------------------------------------------------------

    def argv(self) -> list[str]:
        """The command line starting the engine (under ``nsenter --net`` when ``netns`` is set)."""
        w = self._w()
        dockerd = dockerd_binary()
        if dockerd is None:
            raise DockerdError("dockerd is not installed (Debian: apt-get install docker.io)")
        cmd = _dockerd_argv(dockerd, self.host, w, self.cgroup_parent, self.extra_args)
        if self.netns is not None:
            from cnilib.netns import enter_argv

            cmd = [*enter_argv(self.netns), *cmd]
        return cmd

    def start(self) -> PrivateDockerd:
        """Start dockerd and wait until its API answers; on failure clean up and raise."""
        if self._proc is not None:
            raise DockerdError("the private dockerd is already started")
        if os.geteuid() != 0:
            raise DockerdError("a private dockerd needs root")
        if self.netns is not None and not os.path.exists(self.netns):
            raise DockerdError(f"network namespace {self.netns} does not exist")
        self.workdir = Path(tempfile.mkdtemp(prefix="cnilib-dockerd-", dir=self.base_dir))
        try:
            if len(self.socket_path) > _UNIX_PATH_MAX - 10:
                raise DockerdError(f"work directory path too long for a unix socket: {self.workdir}")
            self._preexisting_run_dirs = {d for d in ("/run/docker", "/run/containerd") if os.path.exists(d)}
            (self.workdir / "daemon.json").write_text(
                json.dumps({"deprecated-key-path": str(self.workdir / "key.json")})
            )
            (self.workdir / "cli").mkdir()
            self._log = open(self.log_path, "ab")  # noqa: SIM115  # closed in stop()
            self._spawn()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        last = ""
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise DockerdError(
                    f"dockerd exited with status {self._proc.returncode} while starting; "
                    f"log tail:\n{self.log_tail()}"
                )
            if os.path.exists(self.socket_path):
                proc = self.docker("version", "--format", "{{.Server.Version}}", check=False)
                if proc.returncode == 0:
                    return
                last = proc.stderr.strip()
            if time.monotonic() > deadline:
                raise DockerdError(
                    f"dockerd did not answer within {self.start_timeout:g}s ({last}); "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def restart(self) -> None:
        """Stop dockerd as a service manager does (SIGTERM) and start it again on the same state.

        Its containers are stopped with it; those with ``--restart=always`` come back.
        """
        if self._proc is None or self._log is None:
            raise DockerdError("the private dockerd is not started")
        self._terminate_dockerd()
        self._spawn()
        self._wait_ready()

    def _spawn(self) -> None:
        assert self._log is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self._proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            # Own session: a Ctrl-C aimed at pytest must not reach dockerd before stop() runs.
            start_new_session=True,
        )
        # nsenter execs dockerd in place, so this is dockerd's pid.
        self.pid = self._proc.pid

    def stop(self) -> None:
        """Stop the engine and remove every trace: containers, processes, mounts, cgroups, files.

        Idempotent and safe to call after a failed start or a crashed dockerd.
        """
        w = self.workdir
        try:
            if self._proc is not None and self._proc.poll() is None:
                # Killing containers first makes dockerd's shutdown immediate instead of waiting
                # its 10 s per container (httpd as pid 1 ignores SIGTERM).
                with contextlib.suppress(Exception):
                    self._remove_all_containers()
                self._terminate_dockerd()
            if w is not None:
                _kill_leftovers(w, self.cgroup_parent)
                for point in sorted(_mounts_under(w), key=len, reverse=True):
                    subprocess.run(["umount", "-l", point], capture_output=True, check=False)
            _remove_cgroups(self.cgroup_parent)
            _remove_run_dirs(self._preexisting_run_dirs)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            if w is not None:
                shutil.rmtree(w, ignore_errors=True)
            self._proc = None
            self.pid = None
            self.workdir = None

    def _terminate_dockerd(self) -> None:
        proc = self._proc
        assert proc is not None
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> PrivateDockerd:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- client -----------------------------------------------------------------------------------

    def docker(
        self, *args: str, check: bool = True, input: bytes | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``/usr/bin/docker -H <this engine> ARGS`` and return it (text output)."""
        cli = docker_cli()
        if cli is None:
            raise DockerdError("the docker client is not installed")
        # Never let the caller's DOCKER_HOST/DOCKER_CONTEXT or ~/.docker steer the client elsewhere.
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        env["DOCKER_CONFIG"] = str(self._w() / "cli")
        argv = [cli, "-H", self.host, *args]
        try:
            proc = subprocess.run(
                argv, input=input, capture_output=True, check=False, timeout=timeout, env=env
            )
        except subprocess.TimeoutExpired as exc:
            raise DockerdError(f"`docker {' '.join(args)}` timed out after {timeout:g}s") from exc
        out = subprocess.CompletedProcess(
            argv,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )
        if check and out.returncode != 0:
            raise DockerdError(f"`docker {' '.join(args)}` failed ({out.returncode}): {out.stderr.strip()}")
        return out

    def build_busybox_image(self, tag: str = DEFAULT_IMAGE, *, busybox: str = _BUSYBOX) -> str:
        """Build ``tag`` offline (``docker import``) from a rootfs holding only static busybox.

        The rootfs has ``/bin/busybox``, applet symlinks (``sh``, ``httpd``, ``ip``, ``wget`` ...)
        and ``/www/index.html`` containing :data:`INDEX_HTML`. Returns ``tag``.
        """
        data = _busybox_rootfs_tar(busybox, INDEX_HTML)
        self.docker(
            "import",
            "--change",
            f"CMD {json.dumps(list(HTTPD_CMD))}",
            "-",
            tag,
            input=data,
        )
        return tag

    def run_container(
        self,
        name: str,
        image: str = DEFAULT_IMAGE,
        cmd: Sequence[str] = HTTPD_CMD,
        *,
        net: str = "none",
        extra_args: Sequence[str] = (),
    ) -> str:
        """``docker run -d --name NAME --net NET IMAGE CMD``; returns the full container id."""
        proc = self.docker("run", "-d", "--name", name, f"--network={net}", *extra_args, image, *cmd)
        return proc.stdout.strip()

    def stop_container(self, container: str) -> None:
        """Stop a container at once (``docker stop -t 0``: SIGKILL without grace)."""
        self.docker("stop", "-t", "0", container)

    def remove_container(self, container: str) -> None:
        """Force-remove a container; one that does not exist is not an error."""
        proc = self.docker("rm", "-f", container, check=False)
        if proc.returncode != 0 and "No such container" not in proc.stderr:
            raise DockerdError(f"docker rm -f {container} failed: {proc.stderr.strip()}")

    def _remove_all_containers(self) -> None:
        ids = self.docker("ps", "-aq", timeout=10).stdout.split()
        if ids:
            self.docker("rm", "-f", *ids, timeout=30)
