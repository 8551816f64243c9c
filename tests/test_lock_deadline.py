"""An operation's timeout covers its lock waits (issue 21): a hung ADD holding an attachment's lock
makes a timed DEL, CHECK or GC fail with a LockError naming the holder, instead of waiting for ever.

The hung ADD is a real ``cnilib add`` process whose fake plugin sleeps (it holds the attachment's
lock and the network's, shared); nothing needs root. No timed assertion: the waits are bounded by
the subprocess timeout, and the tests check that they returned and what they said.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import LIVE_NETNS, conflist
from test_cli import CLI, cnitool_id, one_line_error
from test_plans import NET, RT, Player, answers, planner

import cnilib
from cnilib import CNI, AsyncCNI, CacheEntry, GCAttachment, LockError, RuntimeConfig
from cnilib._cache import CacheScan
from cnilib._engine import _admin, _plans
from cnilib._engine._effects import Run, ScanEntries, ScanIntents, TakeLock
from cnilib.testing.plugins import write_plugin

# -- the plans: the deadline starts before the first lock wait -------------------------------------

NET11 = conflist("1.1.0", [{"type": "p1"}, {"type": "p2"}])  # (GC sends the GC verb from 1.1.0 on)


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(_plans, "time", c)
    return c


def _lock_then_runs(
    play: Player, clock: Clock, waited: float, stale: tuple[CacheEntry, ...] = ()
) -> tuple[TakeLock, list[Run]]:
    """Drive the plan; the lock takes ``waited`` seconds; every plugin succeeds at once; a GC
    finds ``stale`` attachments."""
    empty = CacheScan((), ())
    answer = answers({}, {ScanEntries: CacheScan(stale, ()), ScanIntents: empty})

    def timed(effect: Any) -> Any:
        if isinstance(effect, TakeLock):
            clock.now += waited
        return answer(effect)

    play.run_all(timed)
    [lock] = [e for e in play.effects if isinstance(e, TakeLock)]
    return lock, [e for e in play.effects if isinstance(e, Run)]


@pytest.mark.parametrize("verb", ["add", "delete", "check", "gc"])
def test_the_lock_wait_and_the_plugins_share_the_operations_time(clock: Clock, verb: str) -> None:
    p = planner(timeout=5.0)
    plans: dict[str, Callable[[], Any]] = {
        "add": lambda: p.add(NET, RT, timeout=None, rollback=False),
        "delete": lambda: p.delete(NET, RT, timeout=None),
        "check": lambda: _admin.check(p, NET, RT, timeout=None),
        "gc": lambda: _admin.gc(p, NET11, [GCAttachment("other", "eth0")], timeout=None),
    }
    play = Player(plans[verb]())
    lock, runs = _lock_then_runs(play, clock, waited=4.0)
    assert lock.timeout == 5.0  # the wait may take all of it...
    assert runs
    assert {r.timeout for r in runs} == {1.0}  # ...and the plugins get what it left


@pytest.mark.parametrize(
    ("timeout", "lock_timeout", "wait"),
    [(5.0, 2.0, 2.0), (5.0, 9.0, 5.0), (None, 2.0, 2.0), (None, None, None)],
)
def test_a_lock_waits_for_the_smaller_of_lock_timeout_and_the_time_left(
    clock: Clock, timeout: float | None, lock_timeout: float | None, wait: float | None
) -> None:
    p = planner(timeout=timeout, lock_timeout=lock_timeout)
    play = Player(p.add(NET, RT, timeout=None, rollback=False))
    lock = play.next()
    assert isinstance(lock, TakeLock)
    assert lock.timeout == wait


@pytest.mark.parametrize(("waited", "left"), [(4.0, 1.0), (0.5, 3.0)])
def test_gcs_dels_get_their_own_time_cut_to_what_is_left_of_the_gc(
    clock: Clock, waited: float, left: float
) -> None:
    stale = CacheEntry.create(NET, RuntimeConfig("old", LIVE_NETNS, "eth0"), None)
    p = planner(timeout=5.0, timeouts={cnilib.Verb.DEL: 3.0})
    _, runs = _lock_then_runs(Player(_admin.gc(p, NET, [], timeout=None)), clock, waited, (stale,))
    dels = [r.timeout for r in runs if r.request.verb is cnilib.Verb.DEL]
    assert dels == [left, left, left]  # min(DEL's own 3 s, what the GC has left)


# -- the lock's holder ----------------------------------------------------------------------------

HOLDER = """
import sys, time
from cnilib import ResultCache
with ResultCache(sys.argv[1]).lock("net", "ctr1", "eth0"):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_lock_error_names_who_holds_the_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        cache = cnilib.ResultCache(tmp_path)
        with pytest.raises(LockError) as info, cache.lock("net", "ctr1", "eth0", timeout=0.2):
            pass
        assert [pid for pid, _ in info.value.holders] == [holder.pid]
        text = str(info.value)
        assert "waiting for the attachment net/ctr1/eth0 lock" in text
        assert f"held by pid {holder.pid} ({sys.executable} -c " in text
        # The network lock is held shared: another shared taker passes, an exclusive one waits.
        with cache.lock("net", timeout=0.2):
            pass
        exclusive = f"exclusive network net lock .*held by pid {holder.pid} "
        with pytest.raises(LockError, match=exclusive), cache.lock("net", exclusive=True, timeout=0.2):
            pass
        # "Only if free" (timeout 0) is a question, not a wait: it looks nobody up.
        with pytest.raises(LockError) as probe, cache.lock("net", "ctr1", "eth0", timeout=0):
            pass
        assert probe.value.holders == ()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


# -- a hung `cnilib add` holds the attachment: timed DEL, CHECK and GC return ---------------------


class HungAdd:
    """``cnilib add net NETNS`` whose plugin sleeps: it holds the attachment's lock until killed."""

    def __init__(self, cli: CLI, netns: str) -> None:
        self.pidfile = cli.root / "plugin.pid"
        self.proc = subprocess.Popen(
            [*cli.program, "add", "net", netns],
            env=cli.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not self.pidfile.exists() or not self.pidfile.read_text().strip():
            assert self.proc.poll() is None, "cnilib add ended before its plugin ran"
            assert time.monotonic() < deadline, "the plugin never started"
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()
        # The plugin runs in a session of its own, which outlives the killed `cnilib add`.
        if self.pidfile.exists():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(self.pidfile.read_text()), signal.SIGKILL)


@pytest.fixture
def hung(cli: CLI, ns_file: str) -> Iterator[HungAdd]:
    pidfile = cli.root / "plugin.pid"
    body = f'cat > /dev/null\nif [ "$CNI_COMMAND" = ADD ]; then echo $$ > {pidfile}; exec sleep 600; fi\n'
    write_plugin(cli.bin, "slow", body + "exit 0\n")
    cli.write_conf("10-net.conflist", {"cniVersion": "1.1.0", "name": "net", "plugins": [{"type": "slow"}]})
    add = HungAdd(cli, ns_file)
    try:
        yield add
    finally:
        add.stop()


@pytest.mark.parametrize(
    ("argv", "lock"),
    [
        (("del", "net"), "attachment net/{cid}/eth0"),
        (("check", "net"), "attachment net/{cid}/eth0"),
        (("gc", "net"), "exclusive network net"),
    ],
)
def test_cli_with_cni_timeout_returns_with_one_line_naming_the_holder(
    cli: CLI, ns_file: str, hung: HungAdd, argv: tuple[str, ...], lock: str
) -> None:
    run = cli.run(*argv, ns_file, env={"CNI_TIMEOUT": "3"}, timeout=60)
    line = one_line_error(run)
    assert f"timed out after 3s waiting for the {lock.format(cid=cnitool_id(ns_file))} lock" in line
    assert f"held by pid {hung.proc.pid} (" in line
    assert " add net " in line  # the holder's command line
    assert hung.proc.poll() is None  # the ADD itself was left alone


def test_api_timeout_bounds_the_lock_wait(cli: CLI, ns_file: str, hung: HungAdd) -> None:
    net = cnilib.load_network(cli.conf, "net")
    rt = RuntimeConfig(container_id=cnitool_id(ns_file), netns=ns_file)
    cni = CNI([str(cli.bin)], cli.cache, timeout=3)
    for call in (lambda: cni.delete(net, rt), lambda: cni.gc(net), lambda: cni.add(net, rt)):
        with pytest.raises(LockError) as info:
            call()
        assert hung.proc.pid in [pid for pid, _ in info.value.holders]

    async def main() -> None:
        acni = AsyncCNI([str(cli.bin)], cli.cache, timeout=3)
        with pytest.raises(LockError, match=f"held by pid {hung.proc.pid} "):
            await acni.delete(net, rt)
        with pytest.raises(LockError, match=f"held by pid {hung.proc.pid} "):
            await acni.gc(net)

    asyncio.run(main())
    assert hung.proc.poll() is None
