"""Per-call cost of running one plugin with cnilib against a bare ``subprocess.run``.

Both sides run the same plugin binary with the same stdin bytes and the same environment; cnilib's side
also decodes the outcome (``decode_outcome``), as the engine does. Scenarios:

* VERSION of ``loopback``, sequential;
* ADD then DEL of ``host-local`` (as the main plugin, with its data directory in a temporary
  directory and distinct container ids), sequential;
* the same, 8-way concurrent: a thread pool of bare runs against ``asyncio.gather`` of cnilib.

Nothing touches a network namespace: VERSION reads nothing, host-local only writes files in its data
directory. Measurements are interleaved (methods alternate call by call, or batch by batch) and medians
are reported, because the machine may be busy with other work.

Run: ``/work/venv/bin/python benchmarks/invoke.py [--calls 200] [--rounds 30]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor

from cnilib import PluginConfig, RuntimeConfig, Verb
from cnilib._exec import AsyncSubprocessExecutor, SubprocessExecutor, find_plugin
from cnilib._protocol import ExecRequest, build_request, build_version_request, decode_outcome

PLUGIN_DIR = "/usr/lib/cni"
CONCURRENCY = 8


def _bare(path: str, request: ExecRequest, env: Mapping[bytes, bytes]) -> None:
    proc = subprocess.run([path], input=request.stdin, env=env, capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bare run failed: {proc.stdout!r} {proc.stderr!r}")


class Bench:
    """One scenario's three ways of running a request; each returns elapsed seconds."""

    def __init__(self, env_builder: SubprocessExecutor) -> None:
        self.sync = SubprocessExecutor()
        self.aio = AsyncSubprocessExecutor()
        self.env_builder = env_builder
        self.loop = asyncio.new_event_loop()

    def close(self) -> None:
        self.loop.close()

    def bare(self, request: ExecRequest) -> float:
        # The bare run gets the environment cnilib would pass, computed outside the timing.
        path = find_plugin(request.plugin, request.search_path)
        env = self.env_builder.build_env(request.env)
        t0 = time.perf_counter()
        _bare(path, request, env)
        return time.perf_counter() - t0

    def cnilib_sync(self, request: ExecRequest) -> float:
        t0 = time.perf_counter()
        decode_outcome(request, self.sync.run(request))
        return time.perf_counter() - t0

    async def _one_async(self, request: ExecRequest) -> float:
        t0 = time.perf_counter()
        decode_outcome(request, await self.aio.run(request))
        return time.perf_counter() - t0

    def cnilib_async(self, request: ExecRequest) -> float:
        # Timed inside the coroutine: an asyncio application is already in its loop.
        return self.loop.run_until_complete(self._one_async(request))


def sequential(
    methods: Mapping[str, Callable[[ExecRequest], float]],
    make_requests: Callable[[str, int], list[ExecRequest]],
    calls: int,
) -> dict[str, list[float]]:
    """Per-call times; methods alternate call by call (rotating who goes first)."""
    times: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for i in range(calls):
        order = names[i % len(names) :] + names[: i % len(names)]
        for name in order:
            elapsed = 0.0
            for req in make_requests(name, i):
                elapsed += methods[name](req)
            times[name].append(elapsed)
    return times


def concurrent_rounds(
    bench: Bench,
    make_requests: Callable[[str, int], list[ExecRequest]],
    rounds: int,
    batch: int,
) -> dict[str, list[float]]:
    """Wall time per operation of batches run 8-way concurrently; batches of each method alternate."""
    counter = itertools.count()
    times: dict[str, list[float]] = {"bare threads": [], "cnilib asyncio": [], "cnilib threads": []}
    pool = ThreadPoolExecutor(CONCURRENCY)

    def bare_op(i: int) -> None:
        for req in make_requests("bare threads", i):
            bench.bare(req)

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

    def run_threads(fn: Callable[[int], None], ids: list[int]) -> None:
        for fut in [pool.submit(fn, i) for i in ids]:
            fut.result()

    def aio_timed(ids: list[int]) -> float:
        async def timed() -> float:
            t0 = time.perf_counter()
            await aio_batch(ids)
            return time.perf_counter() - t0

        return bench.loop.run_until_complete(timed())

    runners: dict[str, Callable[[list[int]], float]] = {
        "bare threads": lambda ids: _timed(lambda: run_threads(bare_op, ids)),
        "cnilib asyncio": aio_timed,
        "cnilib threads": lambda ids: _timed(lambda: run_threads(sync_op, ids)),
    }
    names = list(runners)
    try:
        for r in range(rounds):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                ids = [next(counter) for _ in range(batch)]
                times[name].append(runners[name](ids) / batch)
    finally:
        pool.shutdown()
    return times


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.3f}"


def report(title: str, times: Mapping[str, list[float]], base: str) -> list[str]:
    """Table rows: median ms per call, added ms against ``base``, ratio."""
    med = {name: statistics.median(ts) for name, ts in times.items()}
    rows = [f"{title}"]
    for name, m in med.items():
        if name == base:
            rows.append(f"  {name:<16} {_ms(m)} ms/call  (n={len(times[name])})")
        else:
            added = m - med[base]
            rows.append(
                f"  {name:<16} {_ms(m)} ms/call  added {added * 1000:+7.3f} ms  "
                f"ratio {m / med[base]:5.3f}  (n={len(times[name])})"
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="sequential calls per method")
    parser.add_argument("--rounds", type=int, default=30, help="concurrent batches per method")
    parser.add_argument("--batch", type=int, default=32, help="operations per concurrent batch")
    args = parser.parse_args(argv)
    if not os.access(os.path.join(PLUGIN_DIR, "loopback"), os.X_OK):
        print(f"needs the Debian CNI plugins in {PLUGIN_DIR}", file=sys.stderr)
        return 2

    env_builder = SubprocessExecutor()
    bench = Bench(env_builder)
    with tempfile.TemporaryDirectory(prefix="cnilib-bench-") as tmp:
        version_req = build_version_request("loopback", search_path=[PLUGIN_DIR])
        hl_conf = {
            "cniVersion": "1.0.0",
            "name": "bench",
            "type": "host-local",
            "ipam": {"type": "host-local", "subnet": "10.99.0.0/16", "dataDir": tmp},
        }
        plugin = PluginConfig.from_dict(hl_conf)

        def hl_requests(tag: str, i: int, verbs: tuple[Verb, ...]) -> list[ExecRequest]:
            # host-local never opens CNI_NETNS; skel only requires it to be non-empty for ADD.
            rt = RuntimeConfig(
                container_id=f"bench-{tag.replace(' ', '-')}-{i}",
                netns="/run/netns/cnilib-bench-unused",
                ifname="eth0",
            )
            return [
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

        methods: dict[str, Callable[[ExecRequest], float]] = {
            "bare": bench.bare,
            "cnilib sync": bench.cnilib_sync,
            "cnilib asyncio": bench.cnilib_async,
        }
        # Warm up (page cache, first-call imports).
        for fn in methods.values():
            for _ in range(5):
                fn(version_req)

        lines = [
            f"cnilib invoke benchmark: python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
            f"medians, interleaved",
            "",
        ]
        t = sequential(methods, lambda name, i: [version_req], args.calls)
        lines += report(f"VERSION loopback, sequential (x{args.calls})", t, "bare")
        hl_add = sequential(
            methods, lambda name, i: hl_requests(f"s-{name}", i, (Verb.ADD,)), args.calls
        )
        lines += report(f"ADD host-local, sequential (x{args.calls})", hl_add, "bare")
        hl_del = sequential(
            methods, lambda name, i: hl_requests(f"s-{name}", i, (Verb.DEL,)), args.calls
        )
        lines += report(f"DEL host-local, sequential (x{args.calls})", hl_del, "bare")

        t = concurrent_rounds(bench, lambda name, i: [version_req], args.rounds, args.batch)
        lines += report(
            f"VERSION loopback, {CONCURRENCY}-way concurrent "
            f"({args.rounds} batches of {args.batch}; wall ms per op)",
            t,
            "bare threads",
        )
        t = concurrent_rounds(
            bench,
            lambda name, i: hl_requests(f"c-{name}", i, (Verb.ADD, Verb.DEL)),
            args.rounds,
            args.batch,
        )
        lines += report(
            f"ADD+DEL host-local, {CONCURRENCY}-way concurrent "
            f"({args.rounds} batches of {args.batch}; wall ms per ADD+DEL pair)",
            t,
            "bare threads",
        )
        leftover = sorted(f for f in os.listdir(os.path.join(tmp, "bench")) if f[:1].isdigit())
        lines.append("")
        lines.append(f"host-local addresses still allocated after the run: {len(leftover)}")
    bench.close()
    print("\n".join(lines))
    print(json.dumps({"ok": not leftover}))
    return 0 if not leftover else 1


if __name__ == "__main__":
    sys.exit(main())
