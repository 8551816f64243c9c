"""Serialization: one (network, container, ifname) at a time across threads, asyncio tasks and
processes; different attachments in parallel; GC exclusive of ADD/DEL/CHECK on its network.

Proof by timestamps: the plugin (``engine_support.interval_plugin``) sleeps and appends its start
and end times to a shared file; intervals of one attachment must never overlap.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import LIVE_NETNS, conflist, interval_plugin, overlapping, read_intervals

from cnilib import (
    CNI,
    AlreadyAttachedError,
    AsyncCNI,
    GCAttachment,
    LockError,
    NetworkConfigList,
    RuntimeConfig,
)

SLEEP = 0.1


class Rig:
    def __init__(self, tmp_path: Path, version: str = "1.0.0") -> None:
        self.bindir = tmp_path / "bin"
        self.log = tmp_path / "intervals.log"
        self.cache_dir = tmp_path / "cache"
        interval_plugin(self.bindir, "slow", self.log, sleep=SLEEP)
        self.net = conflist(version, [{"type": "slow"}], name="cnet")

    def cni(self, **kw: object) -> CNI:
        return CNI([str(self.bindir)], self.cache_dir, timeout=60, **kw)  # type: ignore[arg-type]

    def acni(self) -> AsyncCNI:
        return AsyncCNI([str(self.bindir)], self.cache_dir, timeout=60)

    def intervals(self, key: Callable[[str, str, str], bool] | None = None) -> list[tuple[int, int]]:
        return [
            (s, e) for verb, cid, ifname, _, s, e in read_intervals(self.log)
            if key is None or key(verb, cid, ifname)
        ]  # fmt: skip


def rt(cid: str, ifname: str = "eth0") -> RuntimeConfig:
    return RuntimeConfig(container_id=cid, netns=LIVE_NETNS, ifname=ifname)


def cycle(
    cni: CNI, net: NetworkConfigList, runtime: RuntimeConfig, n: int, refused: list[str] | None = None
) -> None:
    """``n`` times ADD, CHECK, DEL; an ADD that finds another cycle's attachment in place (its DEL
    not run yet) is refused before any plugin runs, and counted in ``refused`` when given."""
    for _ in range(n):
        try:
            cni.add(net, runtime)
        except AlreadyAttachedError:
            if refused is None:
                raise
            refused.append(runtime.container_id)
        cni.check(net, runtime)
        cni.delete(net, runtime)


def run_threads(targets: list[Callable[[], None]]) -> None:
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def inner() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)

        return inner

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


def test_threads_same_attachment_are_serialized(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    cni = rig.cni()  # one instance shared by the threads
    refused: list[str] = []
    run_threads([lambda: cycle(cni, rig.net, rt("same"), 2, refused) for _ in range(4)])
    intervals = rig.intervals()
    assert len(intervals) == 4 * 2 * 3 - len(refused)
    assert overlapping(intervals) == []


def test_threads_different_attachments_run_in_parallel(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    run_threads([
        lambda i=i: cycle(rig.cni(), rig.net, rt(f"c{i}"), 1)  # type: ignore[misc]
        for i in range(4)
    ])  # fmt: skip
    assert overlapping(rig.intervals()) != []
    # ... while each attachment on its own is still serialized.
    for i in range(4):
        assert overlapping(rig.intervals(lambda _v, c, _i, i=i: c == f"c{i}")) == []  # type: ignore[misc]


def test_same_container_different_ifnames_run_in_parallel(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    cni = rig.cni()
    run_threads([lambda n=n: cycle(cni, rig.net, rt("one", n), 1) for n in ("eth0", "eth1")])  # type: ignore[misc]
    assert overlapping(rig.intervals()) != []


def test_asyncio_tasks_same_attachment_are_serialized(tmp_path: Path) -> None:
    rig = Rig(tmp_path)

    refused: list[str] = []

    async def acycle(cni: AsyncCNI, runtime: RuntimeConfig, n: int) -> None:
        for _ in range(n):
            try:
                await cni.add(rig.net, runtime)
            except AlreadyAttachedError:
                refused.append(runtime.container_id)  # (see cycle)
            await cni.check(rig.net, runtime)
            await cni.delete(rig.net, runtime)

    async def main() -> None:
        cni = rig.acni()
        await asyncio.gather(*(acycle(cni, rt("same"), 2) for _ in range(4)))
        await asyncio.gather(*(acycle(cni, rt(f"d{i}"), 1) for i in range(4)))

    asyncio.run(main())
    same = rig.intervals(lambda _v, c, _i: c == "same")
    assert len(same) == 24 - refused.count("same")
    assert [c for c in refused if c != "same"] == []
    assert overlapping(same) == []
    assert overlapping(rig.intervals(lambda _v, c, _i: c != "same")) != []


WORKER = textwrap.dedent(
    """
    import sys
    from cnilib import AlreadyAttachedError, CNI, NetworkConfigList, RuntimeConfig, GCAttachment
    bindir, cache, conf, mode, cid, n = sys.argv[1:7]
    net = NetworkConfigList.from_file(conf)
    cni = CNI([bindir], cache, timeout=60)
    if mode == "gc":
        for _ in range(int(n)):
            cni.gc(net, [GCAttachment(c, "eth0") for c in cid.split(",")])
        sys.exit(0)
    rt = RuntimeConfig(container_id=cid, netns="/proc/self/ns/net", ifname="eth0")
    for _ in range(int(n)):
        try:
            cni.add(net, rt)
        except AlreadyAttachedError:
            print("refused")  # another process's attachment, not DELeted yet (see cycle)
        cni.delete(net, rt)
    """
)


def spawn(rig: Rig, tmp_path: Path, mode: str, cid: str, n: int) -> subprocess.Popen[bytes]:
    conf = tmp_path / "net.conflist"
    if not conf.exists():
        conf.write_bytes(rig.net.bytes)
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(rig.bindir), str(rig.cache_dir), str(conf), mode,
         cid, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def wait_all(procs: list[subprocess.Popen[bytes]]) -> int:
    """Wait for the workers; how many of their ADDs were refused."""
    refused = 0
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        refused += out.decode().split().count("refused")
    return refused


def test_processes_same_attachment_are_serialized(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    procs = [spawn(rig, tmp_path, "cycle", "same", 3) for _ in range(4)]
    # Threads of this process join in on the same attachment.
    cni = rig.cni()
    refused: list[str] = []
    run_threads([lambda: cycle(cni, rig.net, rt("same"), 2, refused) for _ in range(2)])
    refused_elsewhere = wait_all(procs)
    intervals = rig.intervals()
    assert len(intervals) == 4 * 3 * 2 + 2 * 2 * 3 - len(refused) - refused_elsewhere
    assert overlapping(intervals) == []


def test_processes_different_attachments_run_in_parallel(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    wait_all([spawn(rig, tmp_path, "cycle", f"p{i}", 2) for i in range(4)])
    assert overlapping(rig.intervals()) != []
    for i in range(4):
        assert overlapping(rig.intervals(lambda _v, c, _i, i=i: c == f"p{i}")) == []  # type: ignore[misc]


def gc_vs_others(rig: Rig, intervals: list[tuple[str, str, str, str, int, int]]) -> None:
    gcs = [(s, e) for verb, _, _, _, s, e in intervals if verb == "GC"]
    others = [(s, e) for verb, _, _, _, s, e in intervals if verb != "GC"]
    assert gcs, "GC never ran"
    assert others
    for g in gcs:
        clash = [o for o in others if o[0] < g[1] and g[0] < o[1]]
        assert clash == [], f"GC {g} overlaps ADD/DEL/CHECK {clash}"
    # GC really ran in the middle of the traffic, not before or after all of it.
    first_gc = min(s for s, _ in gcs)
    assert any(e <= first_gc for _, e in others)
    assert any(s >= first_gc for s, _ in others)


def test_gc_is_exclusive_of_add_and_del_threads(tmp_path: Path) -> None:
    rig = Rig(tmp_path, version="1.1.0")
    stop = time.monotonic() + 1.5
    cids = [f"g{i}" for i in range(4)]

    def traffic(cid: str) -> None:
        cni = rig.cni()
        while time.monotonic() < stop:
            cycle(cni, rig.net, rt(cid), 1)

    def collector() -> None:
        time.sleep(0.3)
        cni = rig.cni()
        for _ in range(3):
            cni.gc(rig.net, [GCAttachment(c, "eth0") for c in cids])
            time.sleep(0.2)

    run_threads([*(lambda c=c: traffic(c) for c in cids), collector])  # type: ignore[misc]
    gc_vs_others(rig, read_intervals(rig.log))


def test_gc_is_exclusive_across_processes_and_tasks(tmp_path: Path) -> None:
    rig = Rig(tmp_path, version="1.1.0")
    cids = [f"h{i}" for i in range(3)]

    async def traffic() -> None:
        cni = rig.acni()

        async def one(cid: str) -> None:
            for _ in range(4):
                await cni.add(rig.net, rt(cid))  # (one task per attachment: never refused)
                await cni.delete(rig.net, rt(cid))

        await asyncio.gather(*(one(c) for c in cids))

    gc_proc = None

    def start_gc() -> None:
        nonlocal gc_proc
        time.sleep(0.3)
        gc_proc = spawn(rig, tmp_path, "gc", ",".join(cids), 3)

    starter = threading.Thread(target=start_gc)
    starter.start()
    asyncio.run(traffic())
    starter.join()
    assert gc_proc is not None
    wait_all([gc_proc])
    gc_vs_others(rig, read_intervals(rig.log))


def test_lock_timeouts(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    cni = rig.cni(lock_timeout=0.2)
    with cni.cache.lock("cnet", "busy", "eth0"), pytest.raises(LockError):
        cni.add(rig.net, rt("busy"))
    with cni.cache.lock("cnet", exclusive=True), pytest.raises(LockError):
        cni.delete(rig.net, rt("other"))
    with cni.cache.lock("cnet", exclusive=False), pytest.raises(LockError):
        cni.gc(rig.net, [])

    async def main() -> None:
        acni = AsyncCNI([str(rig.bindir)], rig.cache_dir, lock_timeout=0.2)
        with cni.cache.lock("cnet", "busy", "eth0"), pytest.raises(LockError):
            await acni.add(rig.net, rt("busy"))

    asyncio.run(main())
    assert not rig.log.exists()  # nothing ran
