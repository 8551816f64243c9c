"""``cnilib doctor`` on a node with many stale and many live attachments, against one ``cnilib del``
process per stale attachment.

The node is synthesized (real ADDs of 2,000 attachments would take minutes and measure the plugins):
``--networks`` networks (default 10) whose list is Debian's ``loopback`` then ``host-local`` (an
IPAM plugin run as a plugin of its own: its DEL releases addresses from its files), ``--live``
cache entries whose netns is a live namespace and ``--stale`` whose netns path is missing, spread
round robin over the networks, each with the address host-local holds for it (a file named by the
address holding ``id\\r\\neth0``, as host-local writes it). The entries are what cnilib's ADD writes
(``CacheEntry.create``). host-local's DEL reads every file of its store (twice when nothing
matches), so with every attachment in one network (``--networks 1``) each DEL costs about 130 ms
of the plugin's own time here, the same for both ways of cleaning up, which hides what is measured.

Measured, in this order, each once on the same node:

* ``doctor``: ``cnilib doctor --json`` (the examination; aim: under 2 s);
* ``doctor --fix``: ``cnilib doctor --fix --json``: the examination and every stale attachment's
  DEL in one process, through the engine, concurrently and bounded;
* ``cnilib del`` x N: the same cleanup done the way a script would without the doctor, one
  ``CNI_CONTAINERID=ID cnilib del benchnet NETNS`` process per stale attachment, on a node
  synthesized again.

Each cleanup is verified (every stale address and entry gone, every live one kept). The closing
line gives the repair's speed-up over one process per DEL (aim: at least 5x). Each row also gives
its CPU time (user + system of the processes it ran, from ``getrusage(RUSAGE_CHILDREN)``): on a
machine shared with other work it moves much less than the wall time. As root everything runs
inside a network namespace this script creates and deletes (nothing needs root otherwise).

Run: ``.venv/bin/python benchmarks/doctor.py [--stale 1000] [--live 1000]``
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import cnilib  # noqa: E402
from cnilib import netns  # noqa: E402

PLUGIN_DIR = "/usr/lib/cni"
CNILIB = Path(sys.executable).parent / "cnilib"
LIVE_NETNS = "/proc/self/ns/net"  # a live network namespace wherever the doctor runs


def _cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Node:
    """The synthesized node: configuration, cache and host-local's store in a temporary directory."""

    def __init__(self, root: Path, stale: int, live: int, networks: int, prefix: list[str]) -> None:
        self.root = root
        self.stale = stale
        self.live = live
        self.prefix = prefix
        self.confdir = root / "net.d"
        self.cache_dir = root / "cache"
        self.confdir.mkdir(mode=0o755)
        self.conflists = []
        for n in range(networks):
            conf = {
                "cniVersion": "1.0.0",
                "name": f"bench{n}",
                "plugins": [
                    {"type": "loopback"},
                    {"type": "host-local", "ipam": {"type": "host-local", "subnet": f"10.{200 + n}.0.0/16",
                                                    "dataDir": str(root / "ipam")}},
                ],
            }  # fmt: skip
            (self.confdir / f"10-bench{n}.conflist").write_text(json.dumps(conf, indent=2))
            self.conflists.append(cnilib.load_network(self.confdir, f"bench{n}"))

    def network(self, i: int) -> cnilib.NetworkConfigList:
        """Attachment ``i``'s network: round robin."""
        return self.conflists[i % len(self.conflists)]

    def synthesize(self) -> None:
        """Every attachment's cache entry and reservation (live ones kept from an earlier call)."""
        cache = cnilib.ResultCache(self.cache_dir)
        for i in range(self.live + self.stale):
            conflist, cid = self.network(i), self.cid(i)
            n = self.conflists.index(conflist)
            address = ipaddress.ip_address(f"10.{200 + n}.0.0") + 2 + i  # .1: the gateway
            netns_path = LIVE_NETNS if i < self.live else str(self.root / "gone" / cid)
            rt = cnilib.RuntimeConfig(container_id=cid, netns=netns_path, ifname="eth0")
            result = {"cniVersion": "1.0.0", "ips": [{"address": f"{address}/16"}]}
            cache.write(cnilib.CacheEntry.create(conflist, rt, result))
            store = self.root / "ipam" / conflist.name
            store.mkdir(parents=True, exist_ok=True)
            (store / str(address)).write_text(f"{cid}\r\neth0")

    def cid(self, i: int) -> str:
        return f"live-{i:05d}" if i < self.live else f"stale-{i:05d}"

    def check_clean(self) -> None:
        """Every stale attachment gone, every live one kept."""
        held = {
            p.read_text().split()[0] for p in (self.root / "ipam").glob("bench*/*") if p.name[0].isdigit()
        }
        entries = set(os.listdir(self.cache_dir / "results"))
        live = {self.cid(i) for i in range(self.live)}
        assert held == live, f"{len(held - live)} stale reservations left, {len(live - held)} live lost"
        assert entries == {f"{self.network(i).name}-{self.cid(i)}-eth0" for i in range(self.live)}

    def doctor(self, *args: str) -> tuple[tuple[float, float], dict[str, object]]:
        """``cnilib doctor --json ARGS``: (wall, CPU) seconds and the report."""
        argv = [*self.prefix, str(CNILIB), "doctor", "--json", "--conf-dir", str(self.confdir),
                "--cache-dir", str(self.cache_dir), "--cni-path", PLUGIN_DIR, *args]  # fmt: skip
        cpu, started = _cpu(), time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - started
        if proc.returncode not in (0, 1) or not proc.stdout:
            raise RuntimeError(f"cnilib doctor failed ({proc.returncode}): {proc.stderr}")
        report: dict[str, object] = json.loads(proc.stdout)
        return (elapsed, _cpu() - cpu), report

    def del_each(self) -> tuple[float, float]:
        """One ``cnilib del`` per stale attachment: (wall, CPU) seconds."""
        env = {**os.environ, "NETCONFPATH": str(self.confdir), "CNI_PATH": PLUGIN_DIR,
               "CNI_CACHE_DIR": str(self.cache_dir)}  # fmt: skip
        cpu, started = _cpu(), time.perf_counter()
        for i in range(self.live, self.live + self.stale):
            cid, network = self.cid(i), self.network(i).name
            argv = [*self.prefix, str(CNILIB), "del", network, str(self.root / "gone" / cid)]
            proc = subprocess.run(argv, env={**env, "CNI_CONTAINERID": cid}, capture_output=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(f"cnilib del {cid} failed: {proc.stderr.decode()}")
        return time.perf_counter() - started, _cpu() - cpu


def _count(report: dict[str, object], key: str) -> int:
    findings = report["findings"]
    assert isinstance(findings, list)
    return sum(1 for f in findings if f.get(key))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stale", type=int, default=1000, help="stale attachments (default 1000)")
    parser.add_argument("--live", type=int, default=1000, help="live attachments (default 1000)")
    parser.add_argument(
        "--networks", type=int, default=10, help="networks the attachments are spread over (default 10)"
    )
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args(argv)
    for plugin in ("loopback", "host-local"):
        if not os.access(os.path.join(PLUGIN_DIR, plugin), os.X_OK):
            print(f"needs Debian's {plugin} in {PLUGIN_DIR}", file=sys.stderr)
            return 1
    ns = netns.create() if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="cnilib-bench-doctor-"))
    try:
        node = Node(root, args.stale, args.live, args.networks, netns.enter_argv(ns.path) if ns else [])
        node.synthesize()
        examine, report = node.doctor()
        assert _count(report, "fixable") == args.stale, "the doctor did not find every stale attachment"
        repair, report = node.doctor("--fix")
        assert _count(report, "fixed") == args.stale, "the repair did not fix everything"
        node.check_clean()
        node.synthesize()
        baseline = node.del_each()
        node.check_clean()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        if ns is not None:
            ns.delete()
    numbers = {
        "stale": args.stale,
        "live": args.live,
        "networks": args.networks,
        "doctor_s": round(examine[0], 3),
        "doctor_fix_s": round(repair[0], 3),
        "del_per_process_s": round(baseline[0], 3),
        "speedup": round(baseline[0] / repair[0], 2),
        "doctor_cpu_s": round(examine[1], 3),
        "doctor_fix_cpu_s": round(repair[1], 3),
        "del_per_process_cpu_s": round(baseline[1], 3),
        "cpu_ratio": round(baseline[1] / repair[1], 2),
    }
    if args.json:
        print(json.dumps(numbers))
        return 0
    where = f"{args.networks} network(s) (loopback, host-local)"
    each = baseline[0] / args.stale * 1000
    print(f"node: {args.stale} stale + {args.live} live attachments on {where}")
    print(f"cnilib doctor               {examine[0]:8.2f} s  {examine[1]:8.2f} s CPU   (aim: under 2 s)")
    print(f"cnilib doctor --fix         {repair[0]:8.2f} s  {repair[1]:8.2f} s CPU")
    print(
        f"cnilib del x {args.stale:<14} {baseline[0]:8.2f} s  {baseline[1]:8.2f} s CPU   ({each:.1f} ms each)"
    )
    print(
        f"doctor --fix is {baseline[0] / repair[0]:.1f}x faster than one process per DEL (aim: at least 5x); "
        f"it uses {baseline[1] / repair[1]:.1f}x less CPU"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
