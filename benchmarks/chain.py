"""Whole configuration lists: cnilib against a hand-rolled exec loop and against Go's libcni.

For each chain -- ``loopback``; ``bridge`` + ``host-local``; ``bridge`` + ``host-local`` +
``portmap`` + ``tuning`` -- COUNT containers (default 50, each with a network namespace of its
own) are ADDed, then DELeted, by:

* ``raw``: ``subprocess.run`` per plugin with the right environment and stdin, ``prevResult``
  threaded by hand, results kept in memory (no cache, no locks): the floor for any runtime;
* ``cnilib``: :class:`cnilib.CNI` / :class:`cnilib.AsyncCNI` (locks, atomic fsynced cache);
* ``go``: Go's libcni v1.1.2 (``cnigo bench``, tests/go/cnigo), when Go is installed;

sequentially and 8-way (threads, asyncio, goroutines). ``cnilib-nofsync`` is a diagnostic run
with ``os.fsync`` disabled, to show what crash safety costs (cnilib never does this by itself).

Everything runs inside network namespaces made here (a sandbox "host" namespace where the
plugins, the bridge and the iptables rules live, and the container namespaces), removed at the
end, also on failure. Each measured run is a fresh process started inside the host namespace
(``nsenter --net``), so every variant pays the same and no per-plugin wrapper is needed.
Variants are interleaved round by round; medians are reported.

Run as root: ``/work/venv/bin/python benchmarks/chain.py [--count 50] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PLUGIN_DIR = "/usr/lib/cni"
CONCURRENCY = 8
HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# -- the chains -----------------------------------------------------------------------------------


def chain_plugins(chain: str, work: Path, bridge: str, subnet: str) -> list[dict[str, Any]]:
    """The plugin configurations of ``chain``; state of host-local/tuning lives under ``work``."""
    if chain == "loopback":
        return [{"type": "loopback"}]
    plugins: list[dict[str, Any]] = [
        {
            "type": "bridge",
            "bridge": bridge,
            "isGateway": True,
            "ipMasq": True,
            "ipam": {
                "type": "host-local",
                "subnet": subnet,
                "dataDir": str(work / "ipam"),
                "routes": [{"dst": "0.0.0.0/0"}],
            },
        }
    ]
    if chain == "bridge+host-local+portmap+tuning":
        plugins += [
            {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
            {
                "type": "tuning",
                "sysctl": {"net.core.somaxconn": "512"},
                "dataDir": str(work / "tuning"),
            },
        ]
    return plugins


CHAINS = {
    "loopback": ("cnibench-lo", "10.240.0.0/24"),
    "bridge+host-local": ("cnibench-br", "10.240.1.0/24"),
    "bridge+host-local+portmap+tuning": ("cnibench-pm", "10.240.2.0/24"),
}


def capability_args(chain: str) -> dict[str, Any]:
    """The capability args of every container (cnigo takes one CAP_ARGS for all of them)."""
    if chain != "bridge+host-local+portmap+tuning":
        return {}
    return {"portMappings": [{"hostPort": 30080, "containerPort": 80, "protocol": "tcp"}]}


# -- workers (each runs in its own process, inside the sandbox host namespace) ------------------


def _raw_stdin(conf: dict[str, Any], plugin: dict[str, Any], prev: Any, caps: dict[str, Any]) -> bytes:
    obj = dict(plugin)
    obj["name"] = conf["name"]
    obj["cniVersion"] = conf["cniVersion"]
    if prev is not None:
        obj["prevResult"] = prev
    enabled = {k: v for k, v in caps.items() if plugin.get("capabilities", {}).get(k)}
    if enabled:
        obj["runtimeConfig"] = enabled
    return json.dumps(obj).encode()


def raw_attachment(
    conf: dict[str, Any], spec: dict[str, Any], i: int, verb: str, state: dict[int, Any]
) -> None:
    """The loop a runtime without a library would write: one subprocess.run per plugin."""
    plugins = conf["plugins"] if verb == "ADD" else list(reversed(conf["plugins"]))
    caps = capability_args(spec["chain"])
    env = dict(os.environ)
    env.update(
        CNI_COMMAND=verb,
        CNI_CONTAINERID=f"bench-{i}",
        CNI_NETNS=spec["netns"][i],
        CNI_IFNAME="eth0",
        CNI_ARGS="",
        CNI_PATH=PLUGIN_DIR,
    )
    prev = state.get(i) if verb == "DEL" else None
    for plugin in plugins:
        proc = subprocess.run(
            [os.path.join(PLUGIN_DIR, plugin["type"])],
            input=_raw_stdin(conf, plugin, prev, caps),
            env=env,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{verb} {plugin['type']} bench-{i}: {proc.stdout!r} {proc.stderr!r}")
        if verb == "ADD":
            prev = json.loads(proc.stdout)
    if verb == "ADD":
        state[i] = prev


async def raw_attachment_async(
    conf: dict[str, Any], spec: dict[str, Any], i: int, verb: str, state: dict[int, Any]
) -> None:
    plugins = conf["plugins"] if verb == "ADD" else list(reversed(conf["plugins"]))
    caps = capability_args(spec["chain"])
    env = dict(os.environ)
    env.update(CNI_COMMAND=verb, CNI_CONTAINERID=f"bench-{i}", CNI_NETNS=spec["netns"][i],
               CNI_IFNAME="eth0", CNI_ARGS="", CNI_PATH=PLUGIN_DIR)  # fmt: skip
    prev = state.get(i) if verb == "DEL" else None
    for plugin in plugins:
        proc = await asyncio.create_subprocess_exec(
            os.path.join(PLUGIN_DIR, plugin["type"]),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await proc.communicate(_raw_stdin(conf, plugin, prev, caps))
        if proc.returncode != 0:
            raise RuntimeError(f"{verb} {plugin['type']} bench-{i}: {out!r} {err!r}")
        if verb == "ADD":
            prev = json.loads(out)
    if verb == "ADD":
        state[i] = prev


def _cpu() -> float:
    """CPU seconds of this process (all threads), not of its children (the plugins)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _warm_up() -> None:
    from cnilib import CNI, NetworkConfigList, RuntimeConfig
    from cnilib.testing.fake import FakeExecutor, result_outcome

    fake = FakeExecutor()
    fake.script("*", "ADD", result_outcome({
        "cniVersion": "1.0.0", "interfaces": [{"name": "eth0", "sandbox": "/x"}],
        "ips": [{"address": "10.0.0.2/24", "interface": 0}], "routes": [{"dst": "0.0.0.0/0"}],
    }))  # fmt: skip
    net = NetworkConfigList.from_dict(
        {"cniVersion": "1.0.0", "name": "warm", "plugins": [{"type": "a"}, {"type": "b"}]}
    )
    with tempfile.TemporaryDirectory() as tmp:
        cni = CNI(["/nowhere"], tmp, executor=fake)
        rt = RuntimeConfig(container_id="warm", netns="/x")
        cni.add(net, rt)
        cni.check(net, rt)
        cni.delete(net, rt)


def worker(spec: dict[str, Any]) -> dict[str, float]:
    """Run one variant; return the seconds its ADD and DEL phases took, and the CPU it used."""
    if not spec["variant"].startswith("raw"):
        _warm_up()  # import and first-use costs (cattrs code generation) are not measured
    cpu0 = _cpu()
    timings = _worker(spec)
    timings["CPU"] = _cpu() - cpu0
    return timings


def _worker(spec: dict[str, Any]) -> dict[str, float]:
    variant: str = spec["variant"]
    count: int = spec["count"]
    conf = json.loads(Path(spec["conf"]).read_bytes())
    ids = range(count)
    timings: dict[str, float] = {}

    if variant.startswith("raw"):
        state: dict[int, Any] = {}
        for verb in ("ADD", "DEL"):
            started = time.perf_counter()
            if variant == "raw-seq":
                for i in ids:
                    raw_attachment(conf, spec, i, verb, state)
            elif variant == "raw-threads8":
                with ThreadPoolExecutor(CONCURRENCY) as pool:
                    list(pool.map(lambda i, v=verb: raw_attachment(conf, spec, i, v, state), ids))
            else:

                async def run_all(v: str) -> None:
                    sem = asyncio.Semaphore(CONCURRENCY)

                    async def one(i: int) -> None:
                        async with sem:
                            await raw_attachment_async(conf, spec, i, v, state)

                    await asyncio.gather(*(one(i) for i in ids))

                asyncio.run(run_all(verb))
            timings[verb] = time.perf_counter() - started
        return timings

    if variant.endswith("nofsync"):
        os.fsync = lambda fd: None  # diagnostic only: measures what fsync costs

    from cnilib import CNI, AsyncCNI, NetworkConfigList, RuntimeConfig

    net = NetworkConfigList.from_file(spec["conf"])
    rts = [
        RuntimeConfig(container_id=f"bench-{i}", netns=spec["netns"][i], ifname="eth0",
                      capability_args=capability_args(spec["chain"]))
        for i in ids
    ]  # fmt: skip
    if variant.startswith("cnilib-asyncio"):
        acni = AsyncCNI([PLUGIN_DIR], spec["cache"], timeout=120)

        async def phase(verb: str) -> None:
            sem = asyncio.Semaphore(CONCURRENCY)

            async def one(rt: RuntimeConfig) -> None:
                async with sem:
                    if verb == "ADD":
                        await acni.add(net, rt)
                    else:
                        await acni.delete(net, rt)

            await asyncio.gather(*(one(rt) for rt in rts))

        for verb in ("ADD", "DEL"):
            started = time.perf_counter()
            asyncio.run(phase(verb))
            timings[verb] = time.perf_counter() - started
        return timings

    cni = CNI([PLUGIN_DIR], spec["cache"], timeout=120)
    ops: dict[str, Callable[[RuntimeConfig], object]] = {
        "ADD": lambda rt: cni.add(net, rt),
        "DEL": lambda rt: cni.delete(net, rt),
    }
    for verb in ("ADD", "DEL"):
        started = time.perf_counter()
        if variant.startswith("cnilib-seq"):
            for rt in rts:
                ops[verb](rt)
        else:
            with ThreadPoolExecutor(CONCURRENCY) as pool:
                list(pool.map(ops[verb], rts))
        timings[verb] = time.perf_counter() - started
    return timings


# -- the orchestrator -----------------------------------------------------------------------------


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=True)


class Sandbox:
    """The host namespace and COUNT container namespaces; removed by :meth:`close`."""

    def __init__(self, count: int) -> None:
        tag = secrets.token_hex(3)
        self.names: list[str] = []
        self.host = self._add(f"cnibench-{tag}-host")
        sh("ip", "-n", self.host, "link", "set", "lo", "up")
        self.ctrs = [self._add(f"cnibench-{tag}-c{i}") for i in range(count)]

    def _add(self, name: str) -> str:
        sh("ip", "netns", "add", name)
        self.names.append(name)
        return name

    def path(self, name: str) -> str:
        return f"/run/netns/{name}"

    def close(self) -> None:
        for name in reversed(self.names):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def run_variant(sandbox: Sandbox, spec: dict[str, Any], go: Path | None) -> dict[str, float]:
    prefix = ["nsenter", f"--net={sandbox.path(sandbox.host)}", "--"]
    if spec["variant"].startswith("go"):
        assert go is not None
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "NETCONFPATH": str(Path(spec["conf"]).parent),
            "CNI_PATH": PLUGIN_DIR,
            "CNI_CACHE_DIR": spec["cache"],
        }
        caps = capability_args(spec["chain"])
        if caps:
            env["CAP_ARGS"] = json.dumps(caps)
        workers = "1" if spec["variant"] == "go-seq" else str(CONCURRENCY)
        proc = subprocess.run(
            [*prefix, str(go), "bench", str(spec["count"]), workers, spec["name"],
             *spec["netns"]],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"cnigo bench failed: {proc.stderr}")
        out = json.loads(proc.stdout)
        return {"ADD": out["add_seconds"], "DEL": out["del_seconds"]}
    proc = subprocess.run(
        [*prefix, sys.executable, __file__, "--worker", json.dumps(spec)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"{spec['variant']} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def build_go(dest: Path) -> Path | None:
    sys.path.insert(0, str(REPO / "tests"))
    try:
        import gotools
    except ImportError:
        return None
    if not gotools.go_available():
        return None
    return gotools.build_cnigo(dest)


VARIANTS = [
    "raw-seq", "cnilib-seq", "cnilib-seq-nofsync", "go-seq",
    "raw-threads8", "cnilib-threads8", "raw-asyncio8", "cnilib-asyncio8", "go-8",
]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chains", default=",".join(CHAINS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    chains = args.chains.split(",")
    work = Path(tempfile.mkdtemp(prefix="cnilib-bench-"))
    try:
        go = build_go(work / "bin")  # from gotools' build cache: cheap, and removed with the work dir
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    variants = [v for v in VARIANTS if go is not None or not v.startswith("go")]
    sandbox = Sandbox(args.count)
    samples: dict[tuple[str, str], list[dict[str, float]]] = {}
    try:
        netns_paths = [sandbox.path(n) for n in sandbox.ctrs]
        run_no = 0
        for chain in chains:
            bridge, subnet = CHAINS[chain]
            for rnd in range(-1, args.rounds):  # round -1 warms up (creates the bridge, caches)
                order = variants[rnd % len(variants) :] + variants[: rnd % len(variants)]
                for variant in order if rnd >= 0 else ["raw-seq"]:
                    run_no += 1
                    run_dir = work / f"run{run_no}"
                    (run_dir / "conf").mkdir(parents=True)
                    name = "bench"
                    conf = {"cniVersion": "1.0.0", "name": name,
                            "plugins": chain_plugins(chain, run_dir, bridge, subnet)}  # fmt: skip
                    conf_path = run_dir / "conf" / f"{name}.conflist"
                    conf_path.write_text(json.dumps(conf))
                    spec = {
                        "variant": variant, "chain": chain, "count": args.count, "name": name,
                        "conf": str(conf_path), "cache": str(run_dir / "cache"),
                        "netns": netns_paths,
                    }  # fmt: skip
                    result = run_variant(sandbox, spec, go)
                    if rnd >= 0:
                        samples.setdefault((chain, variant), []).append(result)
                    shutil.rmtree(run_dir, ignore_errors=True)
        report(chains, variants, samples, args.count)
    finally:
        sandbox.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(
    chains: list[str],
    variants: list[str],
    samples: dict[tuple[str, str], list[dict[str, float]]],
    count: int,
) -> None:
    """Print the table: medians per variant, overhead over the raw loop, ratio to Go."""

    def med(chain: str, variant: str, key: str) -> float:
        runs = samples[(chain, variant)]
        if key == "wall":
            return statistics.median(r["ADD"] + r["DEL"] for r in runs)
        return statistics.median(r.get(key, float("nan")) for r in runs)

    mode_of = {"seq": "seq", "threads8": "threads8", "asyncio8": "asyncio8"}
    rounds = len(next(iter(samples.values())))
    print(
        f"{count} containers ADDed then DELeted; medians of {rounds} rounds. "
        "ovh = (cnilib - raw loop of the same concurrency) / plugin runs; "
        "cpu = the runtime process's own CPU (plugins excluded); vs Go = wall / Go's wall "
        "(8-way compared with 8 goroutines)."
    )
    head = (
        f"{'chain':33} {'variant':19} {'wall s':>7} {'ADD s':>6} {'DEL s':>6} {'cpu s':>6} "
        f"{'ovh ms':>7} {'cpu ovh ms':>10} {'vs Go':>6}"
    )
    print(head)
    print("-" * len(head))
    for chain in chains:
        runs = count * len(chain.split("+")) * 2
        for variant in variants:
            if (chain, variant) not in samples:
                continue
            wall = med(chain, variant, "wall")
            cpu = med(chain, variant, "CPU")
            mode = mode_of.get(variant.split("-")[1], "") if "-" in variant else ""
            ovh = cpu_ovh = ratio = ""
            if variant.startswith("cnilib"):
                raw = f"raw-{mode}"
                if (chain, raw) in samples:
                    ovh = f"{(wall - med(chain, raw, 'wall')) / runs * 1000:+.3f}"
                    cpu_ovh = f"{(cpu - med(chain, raw, 'CPU')) / runs * 1000:+.3f}"
                go = "go-seq" if mode == "seq" else "go-8"
                if (chain, go) in samples:
                    ratio = f"{wall / med(chain, go, 'wall'):.3f}"
            cpu_text = "" if math.isnan(cpu) else f"{cpu:6.3f}"  # Go reports no CPU
            print(
                f"{chain:33} {variant:19} {wall:7.3f} {med(chain, variant, 'ADD'):6.3f} "
                f"{med(chain, variant, 'DEL'):6.3f} {cpu_text:>6} {ovh:>7} {cpu_ovh:>10} {ratio:>6}"
            )
        print()


if __name__ == "__main__":
    sys.exit(main())
