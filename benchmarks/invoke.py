"""Per-call cost of running one plugin with cnilib against a bare ``subprocess.run``.

Both sides run the same plugin binary with the same stdin bytes and the same environment; cnilib's
side also decodes the outcome (``decode_outcome``), as the engine does. Scenarios:

* VERSION of ``loopback``, sequential;
* ADD, then DEL, of ``host-local`` as the main plugin (its store in a temporary directory, distinct
  container ids), sequential;
* the same, 8-way concurrent: a thread pool of bare runs against ``asyncio.gather`` of cnilib
  (and, for reference, a thread pool of cnilib's sync executor).

Sequential rows give the median wall time per call and the median CPU time this process spent per
call: the plugin's own run time dominates the wall time and varies with the machine's load, while
the CPU time is what the calling side itself costs. Concurrent rows give wall time per operation of
whole batches. Methods alternate call by call (batch by batch when concurrent), so load changes hit
them alike. Nothing touches a network namespace: VERSION reads nothing, host-local only writes files
in its own data directory.

Run: ``/work/venv/bin/python benchmarks/invoke.py [--calls 200] [--rounds 30] [--batch 32]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from cnilib import PluginConfig, RuntimeConfig, Verb
from cnilib._exec import AsyncSubprocessExecutor, SubprocessExecutor, find_plugin
from cnilib._exec._protocol import ExecRequest, build_request, build_version_request, decode_outcome

PLUGIN_DIR = "/usr/lib/cni"
CONCURRENCY = 8

#: (wall seconds, CPU seconds of this process) of one call.
Sample = tuple[float, float]


class Bench:
    """The three ways of running one request, each timed from the caller's side."""

    def __init__(self) -> None:
        self.sync = SubprocessExecutor()
        self.aio = AsyncSubprocessExecutor()
        self.loop = asyncio.new_event_loop()
        self._prepared: dict[int, tuple[str, Mapping[bytes, bytes]]] = {}

    def close(self) -> None:
        self.loop.close()

    def prepare(self, request: ExecRequest) -> tuple[str, Mapping[bytes, bytes]]:
        """Path and environment for the bare run: exactly what cnilib passes, computed untimed."""
        key = id(request)
        if key not in self._prepared:
            path = find_plugin(request.plugin, request.search_path)
            self._prepared[key] = (path, self.sync.build_env(request.env))
        return self._prepared[key]

    def bare_once(self, request: ExecRequest) -> None:
        path, env = self.prepare(request)
        proc = subprocess.run([path], input=request.stdin, env=env, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"bare run failed: {proc.stdout!r} {proc.stderr!r}")

    def bare(self, request: ExecRequest) -> Sample:
        self.prepare(request)
        c0, t0 = time.process_time(), time.perf_counter()
        self.bare_once(request)
        return time.perf_counter() - t0, time.process_time() - c0

    def cnilib_sync(self, request: ExecRequest) -> Sample:
        c0, t0 = time.process_time(), time.perf_counter()
        decode_outcome(request, self.sync.run(request))
        return time.perf_counter() - t0, time.process_time() - c0

    async def _one_async(self, request: ExecRequest) -> Sample:
        c0, t0 = time.process_time(), time.perf_counter()
        decode_outcome(request, await self.aio.run(request))
        return time.perf_counter() - t0, time.process_time() - c0

    def cnilib_async(self, request: ExecRequest) -> Sample:
        # Timed inside the coroutine: an asyncio application is already running its loop.
        return self.loop.run_until_complete(self._one_async(request))


def sequential(
    methods: Mapping[str, Callable[[ExecRequest], Sample]],
    make_requests: Callable[[str, int], list[ExecRequest]],
    calls: int,
) -> dict[str, list[Sample]]:
    """Samples per call; methods alternate call by call, rotating which one goes first."""
    samples: dict[str, list[Sample]] = {name: [] for name in methods}
    names = list(methods)
    for i in range(calls):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            wall = cpu = 0.0
            for req in make_requests(name, i):
                w, c = methods[name](req)
                wall += w
                cpu += c
            samples[name].append((wall, cpu))
    return samples


def concurrent_rounds(
    bench: Bench,
    make_requests: Callable[[str, int], list[ExecRequest]],
    rounds: int,
    batch: int,
) -> dict[str, list[Sample]]:
    """Wall (and CPU) time per operation of batches run 8-way concurrently; methods alternate."""
    counter = itertools.count()
    pool = ThreadPoolExecutor(CONCURRENCY)

    def bare_op(i: int) -> None:
        for req in make_requests("bare threads", i):
            bench.bare_once(req)

    def sync_op(i: int) -> None:
        for req in make_requests("cnilib threads", i):
            decode_outcome(req, bench.sync.run(req))

    async def aio_batch(ids: list[int]) -> None:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def op(i: int) -> None:
            async with sem:
                for req in make_requests("cnilib asyncio", i):
                    decode_outcome(req, await bench.aio.run(req))

        await asyncio.gather(*(op(i) for i in ids))

    def threads(fn: Callable[[int], None]) -> Callable[[list[int]], None]:
        def run(ids: list[int]) -> None:
            for fut in [pool.submit(fn, i) for i in ids]:
                fut.result()

        return run

    runners: dict[str, Callable[[list[int]], None]] = {
        "bare threads": threads(bare_op),
        "cnilib asyncio": lambda ids: bench.loop.run_until_complete(aio_batch(ids)),
        "cnilib threads": threads(sync_op),
    }
    samples: dict[str, list[Sample]] = {name: [] for name in runners}
    names = list(runners)
    try:
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                ids = [next(counter) for _ in range(batch)]
                for i in ids:  # requests (and the bare runs' env) are built before timing
                    for req in make_requests(name, i):
                        bench.prepare(req)
                c0, t0 = time.process_time(), time.perf_counter()
                runners[name](ids)
                wall, cpu = time.perf_counter() - t0, time.process_time() - c0
                samples[name].append((wall / batch, cpu / batch))
    finally:
        pool.shutdown()
    return samples


def report(title: str, samples: Mapping[str, list[Sample]], base: str) -> list[str]:
    """Rows: median wall ms and CPU ms per call, and what each adds over ``base``."""
    wall = {name: statistics.median(s[0] for s in ss) for name, ss in samples.items()}
    cpu = {name: statistics.median(s[1] for s in ss) for name, ss in samples.items()}
    rows = [title, f"  {'':<15} {'wall ms':>8} {'added':>8} {'ratio':>6}   {'CPU ms':>7} {'added':>8}"]
    for name in samples:
        if name == base:
            added_w = added_c = ratio = "-"
        else:
            added_w = f"{(wall[name] - wall[base]) * 1000:+.3f}"
            added_c = f"{(cpu[name] - cpu[base]) * 1000:+.3f}"
            ratio = f"{wall[name] / wall[base]:.3f}"
        rows.append(
            f"  {name:<15} {wall[name] * 1000:8.3f} {added_w:>8} {ratio:>6}   "
            f"{cpu[name] * 1000:7.3f} {added_c:>8}   (n={len(samples[name])})"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="sequential calls per method")
    parser.add_argument("--rounds", type=int, default=30, help="concurrent batches per method")
    parser.add_argument("--batch", type=int, default=32, help="operations per concurrent batch")
    args = parser.parse_args(argv)
    if not os.access(os.path.join(PLUGIN_DIR, "loopback"), os.X_OK):
        print(f"needs the Debian CNI plugins in {PLUGIN_DIR}", file=sys.stderr)
        return 2

    bench = Bench()
    with tempfile.TemporaryDirectory(prefix="cnilib-bench-") as tmp:
        version_req = build_version_request("loopback", search_path=[PLUGIN_DIR])
        hl_conf = {
            "cniVersion": "1.0.0",
            "name": "bench",
            "type": "host-local",
            "ipam": {"type": "host-local", "subnet": "10.99.0.0/16", "dataDir": tmp},
        }
        plugin = PluginConfig.from_dict(hl_conf)
        cache: dict[tuple[str, int, tuple[Verb, ...]], list[ExecRequest]] = {}

        def hl_requests(tag: str, i: int, verbs: tuple[Verb, ...]) -> list[ExecRequest]:
            # Built once per (method, call): a DEL pass reuses the ADD pass's container ids.
            key = (tag, i, verbs)
            if key not in cache:
                # host-local never opens CNI_NETNS; skel only requires it to be set for ADD.
                rt = RuntimeConfig(
                    container_id=f"bench-{tag.replace(' ', '-')}-{i}",
                    netns="/run/netns/cnilib-bench-unused",
                    ifname="eth0",
                )
                cache[key] = [
                    build_request(
                        verb,
                        plugin,
                        rt,
                        network_name="bench",
                        cni_version="1.0.0",
                        search_path=[PLUGIN_DIR],
                    )
                    for verb in verbs
                ]
            return cache[key]

        methods: dict[str, Callable[[ExecRequest], Sample]] = {
            "bare": bench.bare,
            "cnilib sync": bench.cnilib_sync,
            "cnilib asyncio": bench.cnilib_async,
        }
        for fn in methods.values():  # warm up: page cache, first-call imports
            for _ in range(10):
                fn(version_req)
        # Everything made so far is long-lived: keep the collector from rescanning it mid-run.
        gc.collect()
        gc.freeze()

        n = args.calls
        lines = [
            f"cnilib invoke benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
            "medians, interleaved",
            "",
        ]
        s = sequential(methods, lambda name, i: [version_req], n)
        lines += report(f"VERSION loopback, sequential (x{n})", s, "bare")
        s = sequential(methods, lambda name, i: hl_requests(f"s-{name}", i, (Verb.ADD,)), n)
        lines += report(f"ADD host-local, sequential (x{n})", s, "bare")
        s = sequential(methods, lambda name, i: hl_requests(f"s-{name}", i, (Verb.DEL,)), n)
        lines += report(f"DEL host-local, sequential (x{n})", s, "bare")

        batches = f"{args.rounds} batches of {args.batch}"
        s = concurrent_rounds(bench, lambda name, i: [version_req], args.rounds, args.batch)
        lines += report(
            f"VERSION loopback, {CONCURRENCY}-way concurrent ({batches}; per op)",
            s,
            "bare threads",
        )
        s = concurrent_rounds(
            bench,
            lambda name, i: hl_requests(f"c-{name}", i, (Verb.ADD, Verb.DEL)),
            args.rounds,
            args.batch,
        )
        lines += report(
            f"ADD+DEL host-local, {CONCURRENCY}-way concurrent ({batches}; per ADD+DEL pair)",
            s,
            "bare threads",
        )
        leftover = [f for f in os.listdir(os.path.join(tmp, "bench")) if f[:1].isdigit()]
        lines += ["", f"host-local addresses still allocated after the run: {len(leftover)}"]
    bench.close()
    print("\n".join(lines))
    return 1 if leftover else 0


if __name__ == "__main__":
    sys.exit(main())
