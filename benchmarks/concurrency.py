"""Many containers at once: the engine's default concurrency limit against no limit.

COUNT containers (default 200), each with a network namespace of its own, are all ADDed at once,
then all DELeted at once, by :class:`cnilib.AsyncCNI` (one ``asyncio.gather`` per phase) and by
:class:`cnilib.CNI` called from COUNT threads -- once with the default limit (``concurrency`` not
given: 16 operations at a time) and once unlimited (``concurrency=None``), in the same run. The
chain is ptp + host-local (``--chain ptp``, the default) or bridge + host-local + portmap with a
port mapping per container (``--chain bridge``).

Everything runs inside network namespaces made here (a sandbox "host" namespace where the plugins,
veths and iptables rules live, and the container namespaces), removed at the end, also on failure.
Each measured run is a fresh process started inside the host namespace (``nsenter --net``).
Variants are interleaved round by round; medians are reported, with the ratio
unlimited / default (above 1: the limit is faster).

Run as root: ``.venv/bin/python benchmarks/concurrency.py [--count 200] [--rounds 1] [--chain ptp]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PLUGIN_DIR = "/usr/lib/cni"
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FRONTS = ("asyncio", "threads")
LIMITS = ("default", "unlimited")


def chain_plugins(chain: str, work: Path) -> list[dict[str, Any]]:
    """The plugin configurations of ``chain``; host-local's store lives under ``work``."""
    ipam = {"type": "host-local", "subnet": "10.241.0.0/16", "dataDir": str(work / "ipam")}
    if chain == "ptp":
        return [{"type": "ptp", "ipam": ipam}]
    return [
        {"type": "bridge", "bridge": "cnibench-cc", "isGateway": True, "ipMasq": True, "ipam": ipam},
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
    ]


# -- the worker (its own process, inside the sandbox host namespace) ------------------------------


def worker(spec: dict[str, Any]) -> dict[str, float]:
    """Run one variant; return the seconds its ADD and DEL phases took."""
    from cnilib import CNI, AsyncCNI, NetworkConfigList, RuntimeConfig

    net = NetworkConfigList.from_file(spec["conf"])
    rts = [
        RuntimeConfig(
            container_id=f"bench-{i}",
            netns=path,
            capability_args=(
                {"portMappings": [{"hostPort": 30000 + i, "containerPort": 80, "protocol": "tcp"}]}
                if spec["chain"] == "bridge"
                else {}
            ),
        )
        for i, path in enumerate(spec["netns"])
    ]
    # Not passing ``concurrency`` is the point of the "default" variant.
    kwargs: dict[str, Any] = {} if spec["limit"] == "default" else {"concurrency": None}
    timings: dict[str, float] = {}
    if spec["front"] == "asyncio":
        acni = AsyncCNI([PLUGIN_DIR], spec["cache"], timeout=600, **kwargs)

        async def phase(verb: str) -> None:
            op = acni.add if verb == "ADD" else acni.delete
            await asyncio.gather(*(op(net, rt) for rt in rts))

        for verb in ("ADD", "DEL"):
            started = time.perf_counter()
            asyncio.run(phase(verb))
            timings[verb] = time.perf_counter() - started
        return timings

    cni = CNI([PLUGIN_DIR], spec["cache"], timeout=600, **kwargs)
    with ThreadPoolExecutor(max_workers=len(rts)) as pool:
        for verb in ("ADD", "DEL"):
            op = cni.add if verb == "ADD" else cni.delete
            started = time.perf_counter()
            list(pool.map(lambda rt, op=op: op(net, rt), rts))
            timings[verb] = time.perf_counter() - started
    return timings


# -- the orchestrator -----------------------------------------------------------------------------


def ip_batch(commands: list[str], *, force: bool = False) -> None:
    argv = ["ip", "-force", "-batch", "-"] if force else ["ip", "-batch", "-"]
    text = "".join(f"{c}\n" for c in commands)
    subprocess.run(argv, input=text, text=True, capture_output=True, check=not force)


class Sandbox:
    """The host namespace and COUNT container namespaces (made in one ``ip -batch``)."""

    def __init__(self, count: int) -> None:
        tag = secrets.token_hex(3)
        self.host = f"cnicc-{tag}-host"
        self.ctrs = [f"cnicc-{tag}-c{i}" for i in range(count)]
        self.names = [self.host, *self.ctrs]
        try:
            ip_batch([f"netns add {n}" for n in self.names])
            subprocess.run(["ip", "-n", self.host, "link", "set", "lo", "up"], check=True)
        except BaseException:
            self.close()
            raise

    @staticmethod
    def path(name: str) -> str:
        return f"/run/netns/{name}"

    def close(self) -> None:
        ip_batch([f"netns del {n}" for n in reversed(self.names)], force=True)


def run_variant(sandbox: Sandbox, spec: dict[str, Any]) -> dict[str, float]:
    prefix = ["nsenter", f"--net={sandbox.path(sandbox.host)}", "--"]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [*prefix, sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['front']}/{spec['limit']} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--chain", choices=("ptp", "bridge"), default="ptp")
    parser.add_argument("--fronts", default=",".join(FRONTS), help="asyncio,threads")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    fronts = [f for f in args.fronts.split(",") if f]
    if args.count < 1 or not set(fronts) <= set(FRONTS):
        parser.error("--count must be positive and --fronts a subset of asyncio,threads")
    variants = [(f, lim) for f in fronts for lim in LIMITS]
    work = Path(tempfile.mkdtemp(prefix="cnilib-bench-cc-"))
    sandbox = Sandbox(args.count)
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        run_no = 0
        # One container first, alone: the bridge and portmap's shared chains get created (portmap
        # fails when many first ADDs race to create them), and the page cache gets warm.
        for rnd in range(-1, args.rounds):
            shift = rnd % len(variants)
            for front, limit in variants[shift:] + variants[:shift] if rnd >= 0 else variants[:1]:
                run_no += 1
                run_dir = work / f"run{run_no}"
                run_dir.mkdir()
                conf = {"cniVersion": "1.0.0", "name": "bench-cc",
                        "plugins": chain_plugins(args.chain, run_dir)}  # fmt: skip
                conf_path = run_dir / "bench-cc.conflist"
                conf_path.write_text(json.dumps(conf))
                spec = {
                    "front": front,
                    "limit": limit,
                    "chain": args.chain,
                    "conf": str(conf_path),
                    "cache": str(run_dir / "cache"),
                    "netns": [sandbox.path(n) for n in sandbox.ctrs[: args.count if rnd >= 0 else 1]],
                }
                result = run_variant(sandbox, spec)
                if rnd >= 0:
                    samples.setdefault((front, limit), []).append(result)
                shutil.rmtree(run_dir, ignore_errors=True)
        report(fronts, samples, args.count, args.chain)
    finally:
        sandbox.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(
    fronts: list[str], samples: dict[tuple[str, str], list[dict[str, float]]], count: int, chain: str
) -> None:
    """Print the table: median wall times per variant and the ratio unlimited / default."""

    def med(front: str, limit: str, key: str) -> float:
        runs = samples[(front, limit)]
        if key == "wall":
            return statistics.median(r["ADD"] + r["DEL"] for r in runs)
        return statistics.median(r[key] for r in runs)

    rounds = len(next(iter(samples.values())))
    print(
        f"{count} containers ({chain}) all ADDed at once, then all DELeted at once; medians of "
        f"{rounds} round(s). default = the engine's limit (concurrency not given), "
        "unlimited = concurrency=None; ratio = unlimited wall / default wall."
    )
    head = f"{'front':8} {'limit':10} {'wall s':>8} {'ADD s':>8} {'DEL s':>8} {'ratio':>6}"
    print(head)
    print("-" * len(head))
    for front in fronts:
        for limit in LIMITS:
            ratio = ""
            if limit == "unlimited":
                ratio = f"{med(front, 'unlimited', 'wall') / med(front, 'default', 'wall'):.2f}"
            print(
                f"{front:8} {limit:10} {med(front, limit, 'wall'):8.2f} {med(front, limit, 'ADD'):8.2f} "
                f"{med(front, limit, 'DEL'):8.2f} {ratio:>6}"
            )


if __name__ == "__main__":
    sys.exit(main())
