"""Helpers of the ``cnilib docker watch`` tests: the watcher as a process, and what "converged" means.

The watcher runs as a real process (``python -m cnilib docker watch``) inside the sandbox host
namespace (``nsenter --net``), exactly as a service would run on a host; the plugins it starts
inherit that namespace. :func:`problems` lists every difference between what runs (labelled
containers, per Docker) and what is attached (cache, watcher records, namespace pins, host-local's
store, veths, NAT chains, the interfaces inside each container).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from test_scenario import link_names, per_container_chains, store_ips

import cnilib
from cnilib import netns
from cnilib.testing.dockerd import PrivateDockerd

PLUGIN_DIR = "/usr/lib/cni"
#: Every container the watcher tests start carries this label, so teardown finds them all.
TEST_LABEL = "cnilib.test=watch"
#: How long a test waits for the watcher to converge before it fails (2 shared cores, 20
#: containers and their plugins starting at once: measured convergence is well below this).
CONVERGE_BOUND = 90.0


def write_networks(conf: Path, data_dir: Path) -> None:
    """The test networks: the founding ``mybridge``, ``second`` (another bridge), ``ports``
    (bridge + portmap), and ``broken`` (a plugin that does not exist)."""
    conf.mkdir(parents=True, exist_ok=True)

    def bridge(name: str, br: str, net: str, masq: bool) -> dict[str, Any]:
        return {
            "type": "bridge",
            "bridge": br,
            "isGateway": True,
            "ipMasq": masq,
            "ipam": {"type": "host-local", "subnet": f"{net}.0/24", "dataDir": str(data_dir)},
        }

    founding = json.loads((Path(__file__).parent.parent / "examples/net.d/10-mybridge.conf").read_text())
    founding["ipam"]["dataDir"] = str(data_dir)
    (conf / "10-mybridge.conf").write_text(json.dumps(founding))
    second = {
        "cniVersion": "1.0.0",
        "name": "second",
        "plugins": [bridge("second", "cni_w2", "10.15.31", False)],
    }
    (conf / "20-second.conflist").write_text(json.dumps(second))
    ports = {
        "cniVersion": "0.4.0",
        "name": "ports",
        "plugins": [
            bridge("ports", "cni_w3", "10.15.32", True),
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        ],
    }
    (conf / "30-ports.conflist").write_text(json.dumps(ports))
    broken = {"cniVersion": "1.0.0", "name": "broken", "plugins": [{"type": "cnilib-no-such-plugin"}]}
    (conf / "40-broken.conflist").write_text(json.dumps(broken))


#: Networks of write_networks(): name -> (bridge, ipMasq).
NETWORKS = {"mybridge": ("cni_bridge1", True), "second": ("cni_w2", False), "ports": ("cni_w3", True)}
BRIDGES = ("cni_bridge1", "cni_w2", "cni_w3")


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class WatchProc:
    """``cnilib docker watch`` as a process in the sandbox host namespace; its log in a file."""

    def __init__(
        self,
        host_ns: str,
        engine: PrivateDockerd,
        conf: Path,
        cache: Path,
        log: Path,
        *,
        resync: float = 30.0,
        extra: Sequence[str] = (),
    ) -> None:
        self.argv = [
            *netns.enter_argv(host_ns),
            sys.executable,
            "-m",
            "cnilib",
            "docker",
            "watch",
            "--conf-dir",
            str(conf),
            "--cni-path",
            PLUGIN_DIR,
            "--cache-dir",
            str(cache),
            "--docker-host",
            engine.host,
            "--resync",
            str(resync),
            *extra,
        ]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self) -> WatchProc:
        self._offset = self.log.stat().st_size if self.log.exists() else 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True
            )
        return self

    def text(self) -> str:
        """This run's log."""
        with open(self.log, encoding="utf-8", errors="replace") as f:
            f.seek(self._offset)
            return f.read()

    def lines(self, action: str) -> list[str]:
        return [line for line in self.text().splitlines() if f" action={action} " in f" {line} "]

    def wait_reconciled(self, count: int = 1) -> str:
        """Wait for the ``count``-th reconciliation line of this run; return it."""
        wait_for(
            lambda: len(self.lines("reconcile")) >= count or self.exited(), f"reconciliation #{count}", self
        )
        assert not self.exited(), f"the watcher exited ({self.returncode()}):\n{self.text()}"
        return self.lines("reconcile")[count - 1]

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def plugin_running(self) -> bool:
        """Whether a plugin the watcher started runs now (a child of it with CNI_COMMAND set)."""
        assert self.proc is not None
        pid = self.proc.pid
        children: list[str] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as f:
                    children += f.read().split()
        for child in children:
            try:
                with open(f"/proc/{child}/environ", "rb") as f:
                    if b"CNI_COMMAND=" in f.read():
                        return True
            except OSError:
                continue
        return False

    def sigkill(self) -> None:
        """SIGKILL the watcher process alone (plugins it started run on, orphaned)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def kill_all(self) -> None:
        """SIGKILL the watcher and every process it started, as a service manager kills a unit's
        control group: freeze the tree first so no new child escapes, then kill it all."""
        assert self.proc is not None
        stopped: set[int] = set()
        while True:
            tree = ({self.proc.pid} | descendants(self.proc.pid)) - stopped
            if not tree:
                break
            for pid in tree:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            stopped |= tree
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self, timeout: float = 120.0) -> int:
        """SIGTERM; wait for the clean exit and return its status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill_all()
            raise

    def __enter__(self) -> WatchProc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill_all()


def wait_for(predicate: Callable[[], object], what: str, watcher: WatchProc | None = None) -> None:
    """Poll ``predicate`` until true; fail after :data:`CONVERGE_BOUND` seconds."""
    deadline = time.monotonic() + CONVERGE_BOUND
    while not predicate():
        if time.monotonic() > deadline:
            log = f"\nwatcher log:\n{watcher.text()[-6000:]}" if watcher is not None else ""
            raise AssertionError(f"{what}: not reached within {CONVERGE_BOUND:g}s{log}")
        time.sleep(0.1)


def labelled_running(engine: PrivateDockerd) -> dict[str, tuple[str, ...]]:
    """Running containers labelled cnilib.networks: full id -> networks."""
    out = engine.docker(
        "ps",
        "--no-trunc",
        "--filter",
        "label=cnilib.networks",
        "--format",
        '{{.ID}} {{.Label "cnilib.networks"}}',
    ).stdout
    found = {}
    for line in out.splitlines():
        cid, _, nets = line.partition(" ")
        found[cid] = tuple(nets.split(","))
    return found


def container_links(engine: PrivateDockerd, cid: str) -> list[str]:
    pid = engine.docker("inspect", "--format", "{{.State.Pid}}", cid).stdout.strip()
    return link_names(f"/proc/{pid}/ns/net") if pid not in ("", "0") else []


def _result_addresses(entry: cnilib.CacheEntry) -> set[str]:
    return {a.split("/")[0] for a in entry.parsed_result().all_addresses}


def _container_problems(
    engine: PrivateDockerd, want: dict[str, tuple[str, ...]], entries: list[cnilib.CacheEntry]
) -> list[str]:
    found: list[str] = []
    got: dict[str, set[tuple[str, str]]] = {}
    for e in entries:
        got.setdefault(e.container_id, set()).add((e.network_name, e.ifname))
    for cid, nets in want.items():
        expected = {(n, f"eth{i}") for i, n in enumerate(nets)}
        if got.get(cid, set()) != expected:
            found.append(f"{cid[:12]}: cache has {sorted(got.get(cid, set()))}, want {sorted(expected)}")
        links = container_links(engine, cid)
        if sorted(links) != sorted(["lo", *(f"eth{i}" for i in range(len(nets)))]):
            found.append(f"{cid[:12]}: links {links}")
    found += [f"{cid[:12]}: cache entries of a container not running" for cid in set(got) - set(want)]
    return found


def _state_problems(cache: Path, want: dict[str, tuple[str, ...]]) -> list[str]:
    found: list[str] = []
    state = cache / "docker-watch"
    for sub, suffix in (("containers", ".json"), ("netns", "")):
        d = state / sub
        names = {n.removesuffix(suffix) for n in os.listdir(d)} if d.is_dir() else set()
        if names != set(want):
            found.append(f"{sub}: {sorted(n[:12] for n in names)} vs running {sorted(c[:12] for c in want)}")
    intents = cache / "intents"
    if intents.is_dir() and os.listdir(intents):
        found.append(f"intent records left: {os.listdir(intents)}")
    return found


def _host_problems(host: str, data_dir: Path, entries: list[cnilib.CacheEntry]) -> list[str]:
    found: list[str] = []
    by_net: dict[str, set[str]] = {}
    for e in entries:
        by_net.setdefault(e.network_name, set()).update(_result_addresses(e))
    for net in NETWORKS:
        if store_ips(data_dir, net) != by_net.get(net, set()):
            found.append(
                f"{net}: host-local holds {sorted(store_ips(data_dir, net))}, "
                f"cache {sorted(by_net.get(net, ()))}"
            )
    veths = [n for n in link_names(host) if n.startswith("veth")]
    if len(veths) != len(entries):
        found.append(f"{len(veths)} veths on the host side for {len(entries)} attachments")
    # bridge's ipMasq makes one chain per attachment, portmap one (CNI-DN-...) per attachment with
    # port mappings.
    masq = sum(1 for e in entries if NETWORKS.get(e.network_name, ("", False))[1])
    dnat = sum(1 for e in entries if e.capability_args.get("portMappings"))
    chains = per_container_chains(host)
    if len(chains) != masq + dnat:
        found.append(
            f"{len(chains)} per-container NAT chains for {masq} ipMasq and {dnat} portmap attachments"
        )
    return found


def problems(
    engine: PrivateDockerd,
    host: str,
    cache: Path,
    data_dir: Path,
    *,
    expect: dict[str, tuple[str, ...]] | None = None,
) -> list[str]:
    """Every difference between the labelled running containers (or ``expect``) and the
    attachments: cache entries, records, pins, IPAM store, veths, NAT chains, container links."""
    want = labelled_running(engine) if expect is None else expect
    entries = cnilib.ResultCache(cache).entries()
    return (
        _container_problems(engine, want, entries)
        + _state_problems(cache, want)
        + _host_problems(host, data_dir, entries)
    )


@contextlib.contextmanager
def labelled_containers(engine: PrivateDockerd) -> Iterator[None]:
    """Remove every container the test started (by :data:`TEST_LABEL`), also on failure."""
    try:
        yield
    finally:
        ids = engine.docker("ps", "-aq", "--filter", f"label={TEST_LABEL}").stdout.split()
        if ids:
            engine.docker("rm", "-f", *ids, check=False)


def unpin_all(cache: Path) -> None:
    """Unmount namespace pins a failed test left (tmp_path cannot be removed over mounts)."""
    d = cache / "docker-watch" / "netns"
    if d.is_dir():
        for name in os.listdir(d):
            subprocess.run(["umount", "-l", str(d / name)], capture_output=True, check=False)
