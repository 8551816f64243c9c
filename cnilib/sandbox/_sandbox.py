"""The :class:`Sandbox` itself (the public names are :mod:`cnilib.sandbox`'s): its namespaces and
holder (:mod:`._holder`), containers, commands run inside, and the inventory and leftovers
(:mod:`._state`, :mod:`._leftovers`)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from cnilib.sandbox._holder import _start_holder
from cnilib.sandbox._leftovers import Leftovers, split_leftovers
from cnilib.sandbox._state import (
    _CACHE_IN_SANDBOX,
    HOST,
    Container,
    Inventory,
    SandboxError,
    StateItem,
    _items,
    _probe_script,
    _probe_sections,
)

if TYPE_CHECKING:
    from cnilib import CNI, AsyncCNI

__all__ = ["Sandbox"]

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
_LINK_RE = re.compile(r"^(\d+): [^:@\s]+(?:@if(\d+)|@[^:\s]+)?:", re.MULTILINE)


def _links(text: str) -> dict[int, int | None]:
    """Each interface of ``ip -o link show`` output: its index, and its peer's index if shown."""
    return {int(m[1]): int(m[2]) if m[2] else None for m in _LINK_RE.finditer(text)}


class Sandbox:
    """A private network world for real plugins; see the module documentation.

    ``rootless``: use a user namespace (the default when not running as root; as root it can be
    forced for testing). ``timeout``: seconds any one command run in the sandbox may take.
    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, *, rootless: bool | None = None, timeout: float = 60.0) -> None:
        self.rootless = os.geteuid() != 0 if rootless is None else rootless
        self.timeout = timeout
        self._containers: dict[str, Container] = {}
        self._baselines: dict[str, Inventory] = {}
        self._closed = False
        self._holder = self._start_holder()
        try:
            #: The holder: the first process of the sandbox's PID namespace (unshare's child).
            self.pid = self._holder_child()
            self._mnt_ns = os.readlink(f"/proc/{self.pid}/ns/mnt")
            self._net_ns = os.readlink(f"/proc/{self.pid}/ns/net")
            self._baselines[HOST] = self._inventory_of([])
        except BaseException:
            self.close()
            raise

    # -- life cycle ------------------------------------------------------------------------------

    def _start_holder(self) -> subprocess.Popen[bytes]:
        try:
            return _start_holder(self.rootless)
        except SandboxError:
            self._closed = True
            raise

    def _holder_child(self) -> int:
        text = Path(f"/proc/{self._holder.pid}/task/{self._holder.pid}/children").read_text()
        children = [int(c) for c in text.split()]
        if len(children) != 1:
            raise SandboxError(f"the sandbox's holder process is missing (children {children})")
        return children[0]

    def _sandbox_pids(self) -> list[int]:
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) in (self.pid, self._holder.pid):
                continue
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{entry}/ns/mnt") == self._mnt_ns:
                    pids.append(int(entry))
        return pids

    def close(self) -> None:
        """Kill every process inside the sandbox and drop its namespaces; closing twice is fine."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(AttributeError):
            # Processes still inside (a daemon a plugin started, a hung command): they would keep
            # the mount namespace and its bind-mounted container namespaces alive.
            for _ in range(3):
                pids = self._sandbox_pids()
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.01)
        proc = self._holder
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for f in (proc.stdout, proc.stderr):
            if f is not None:
                f.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("the sandbox is closed")

    # -- running things inside -------------------------------------------------------------------

    @property
    def argv_prefix(self) -> tuple[str, ...]:
        """The argv prefix that runs a program in the sandbox's host namespace (``nsenter ...``)."""
        user = ("--user", "--preserve-credentials") if self.rootless else ()
        return ("nsenter", "-t", str(self.pid), *user, "--net", "--mount", "--pid", "--")

    @property
    def cache_dir(self) -> str:
        """The sandbox's private result cache, as a path usable from this process."""
        return f"/proc/{self.pid}/root{_CACHE_IN_SANDBOX}"

    def cni(self, plugin_dirs: Iterable[str] | str | None = None, **kwargs: Any) -> CNI:
        """A :class:`cnilib.CNI` that runs plugins inside the sandbox, with its private cache.

        Other keyword arguments go to :class:`cnilib.CNI` (``timeout``, ``extra_env``...).
        """
        from cnilib import CNI

        self._check_open()
        return CNI(plugin_dirs=plugin_dirs, cache_dir=self.cache_dir, argv_prefix=self.argv_prefix, **kwargs)

    def async_cni(self, plugin_dirs: Iterable[str] | str | None = None, **kwargs: Any) -> AsyncCNI:
        """The :class:`cnilib.AsyncCNI` equivalent of :meth:`cni`."""
        from cnilib import AsyncCNI

        self._check_open()
        return AsyncCNI(
            plugin_dirs=plugin_dirs, cache_dir=self.cache_dir, argv_prefix=self.argv_prefix, **kwargs
        )

    def run(
        self,
        argv: Sequence[str],
        *,
        netns: Container | str | None = None,
        check: bool = True,
        input: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the sandbox's host namespace, or in the container ``netns`` (a
        :class:`Container` or its name); output is captured as text. With ``check`` a non-zero
        exit raises :class:`SandboxError` with the command's stderr."""
        self._check_open()
        if not argv:
            raise SandboxError("empty command")
        full = [*self.argv_prefix]
        if netns is not None:
            full += ["nsenter", f"--net={self._container(netns).path}", "--"]
        full += list(argv)
        try:
            proc = subprocess.run(
                full,
                capture_output=True,
                text=True,
                check=False,
                timeout=self.timeout,
                input=input,
                env=None if env is None else dict(env),
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise SandboxError("the `nsenter` program (util-linux) is not installed") from exc
        except subprocess.TimeoutExpired as exc:
            raise SandboxError(f"{' '.join(argv)!r} timed out after {self.timeout:g}s") from exc
        if check and proc.returncode != 0:
            where = f" in container {self._container(netns).name}" if netns is not None else ""
            raise SandboxError(
                f"{' '.join(argv)!r}{where} exited with status {proc.returncode}: {proc.stderr.strip()}"
            )
        return proc

    # -- containers ------------------------------------------------------------------------------

    def _container(self, ref: Container | str) -> Container:
        name = ref.name if isinstance(ref, Container) else ref
        try:
            return self._containers[name]
        except KeyError:
            raise SandboxError(f"no container {name!r} in this sandbox") from None

    @property
    def containers(self) -> tuple[Container, ...]:
        """The container namespaces that exist now."""
        return tuple(self._containers.values())

    def container(self, name: str, *, loopback_up: bool = True) -> Container:
        """Create the container network namespace ``name`` (``/run/netns/NAME`` in the sandbox)."""
        self._check_open()
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or name == HOST:
            raise SandboxError(
                f"invalid container name {name!r}: 1-32 characters from [A-Za-z0-9_.-], not {HOST!r}"
            )
        if name in self._containers:
            raise SandboxError(f"container {name!r} already exists in this sandbox")
        self.run(["ip", "netns", "add", name])
        ctr = Container(name=name, path=f"/run/netns/{name}")
        self._containers[name] = ctr
        if loopback_up:
            self.run(["ip", "link", "set", "lo", "up"], netns=ctr)
        self._baselines[name] = Inventory(frozenset(self._net_state(ctr)))
        return ctr

    def remove_container(self, ctr: Container | str) -> None:
        """Delete a container namespace (what a runtime does when the container is gone)."""
        ctr = self._container(ctr)
        # The kernel destroys a namespace's interfaces after `ip netns del` returns (in a work
        # queue), so the host ends of its veths linger for a moment: wait until they are gone,
        # or what runs next (a DEL, an inventory) would see a half-removed container.
        ends = self._host_veth_ends(ctr)
        self.run(["ip", "netns", "del", ctr.name])
        del self._containers[ctr.name]
        deadline = time.monotonic() + 5.0
        while ends and time.monotonic() < deadline:
            ends &= set(self._links())
            if ends:
                time.sleep(0.01)

    def _host_veth_ends(self, ctr: Container) -> set[int]:
        """The host namespace's ifindexes of veths whose peer is in ``ctr`` (each end names the
        other's index: ``fk12@if2`` on the host, ``eth0@if12`` in the container)."""
        inside = self._links(ctr)
        host = self._links()
        return {index for index, peer in host.items() if peer is not None and inside.get(peer) == index}

    def _links(self, netns: Container | None = None) -> dict[int, int | None]:
        """The interfaces of the host namespace, or of ``netns``: see :func:`_links`."""
        return _links(self.run(["ip", "-o", "link", "show"], netns=netns, check=False).stdout)

    # -- inventory -------------------------------------------------------------------------------

    def _probe(self, ctrs: Sequence[Container], *, host: bool) -> dict[tuple[str, str], str]:
        """Every probe's output by (where, probe), from one process in the sandbox: a command per
        probe would cost an ``nsenter`` each, and an inventory is taken around every step."""
        targets = ([(HOST, "")] if host else []) + [(c.name, f"nsenter --net={c.path} -- ") for c in ctrs]
        script = _probe_script(targets, host=host)
        return _probe_sections(self.run(["sh", "-c", script], check=False).stdout)

    @staticmethod
    def _items(where: str, out: Mapping[tuple[str, str], str]) -> Iterator[StateItem]:
        return _items(where, out)

    def _net_state(self, ctr: Container) -> Iterator[StateItem]:
        return self._items(ctr.name, self._probe([ctr], host=False))

    def _inventory_of(self, ctrs: Sequence[Container]) -> Inventory:
        out = self._probe(ctrs, host=True)
        items = set(self._items(HOST, out))
        for ctr in ctrs:
            items.update(self._items(ctr.name, out))
        for line in out.get((HOST, "files"), "").splitlines():
            items.add(StateItem(HOST, "file", line))
        root = Path(self.cache_dir)
        for path in sorted(root.rglob("*")):
            # Per-network lock files are kept on purpose; results are the cache's entries.
            if path.is_file() and path.parent.name != "locks":
                items.add(StateItem(HOST, "cache", str(path.relative_to(root))))
        return Inventory(frozenset(items))

    def inventory(self) -> Inventory:
        """The sandbox's state now: its host namespace, every container, files and cache entries."""
        self._check_open()
        return self._inventory_of(list(self._containers.values()))

    def baseline(self) -> Inventory:
        """The state the sandbox is compared with: at creation (each container: at its creation),
        or when :meth:`mark_baseline` was last called."""
        items: set[StateItem] = set()
        for name, inv in self._baselines.items():
            if name == HOST or name in self._containers:
                items.update(inv.items)
        return Inventory(frozenset(items))

    def mark_baseline(self) -> Inventory:
        """Take the state now as the baseline (for instance after a warm-up attachment that
        created what a plugin keeps on purpose, like the bridge itself); return it."""
        inv = self.inventory()
        self._baselines = {HOST: inv}
        return inv

    def leftovers(self, baseline: Inventory | None = None) -> Leftovers:
        """What exists now that is not in ``baseline`` (default: :meth:`baseline`), split into what
        was left behind and what the plugins keep across attachments (:func:`split_leftovers`)."""
        now = self.inventory()
        return split_leftovers(now - (self.baseline() if baseline is None else baseline), now=now)

    def leaks(self, baseline: Inventory | None = None, *, strict: bool = False) -> list[StateItem]:
        """What was left behind since ``baseline`` (default: :meth:`baseline`), sorted: the
        ``left`` part of :meth:`leftovers`. ``strict``: everything new, what the plugins keep on
        purpose (a bridge, host-local's last-reserved file...) too."""
        if strict:
            return self.inventory() - (self.baseline() if baseline is None else baseline)
        return list(self.leftovers(baseline).left)
