"""A runtime killed while a plugin runs its ADD (issue 21, item 1): nothing leaks, GC never races it.

The network is bridge (``ipMasq``) + host-local, behind a wrapper plugin ``slowbridge`` that logs
``<VERB> start <pid>``, waits on ADD until the test creates a flag file (the window to kill the
runtime in), runs ``/usr/lib/cni/bridge`` and logs ``<VERB> end <pid> <status>``. The runtime --
``cnilib add`` as a process, or a Python process running ``CNI.add``/``AsyncCNI.add`` -- is killed
once the wrapper said it started:

- SIGKILL (any front), or SIGTERM of a Python process (which installs no handler): the plugin is
  orphaned, but it holds the operation's locks (it inherited their descriptors). ``recover()``
  skips the attachment, a GC with a lock timeout fails with ``LockError``, ``cnilib gc`` waits
  (seen blocked in ``/proc/locks``); none of them runs a DEL while the plugin runs. Once the plugin
  ends, the waiting GC DELs from the intent record and leaves nothing;
- SIGTERM, SIGHUP or SIGINT of ``cnilib add``: the command lets the plugin finish (bridge applies
  the ADD), stops, keeps the intent record and exits with 128 + the signal; a second signal kills
  the plugin's group at once. Either way the GC started then leaves nothing.

Either way a second GC, after the moment the plugin would have ended, finds nothing more to do:
no address in host-local's store, no veth, no ``CNI-`` chain, no cache entry, no intent record,
no process.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from leaks_support import (
    PLUGIN_DIR,
    bridge_plugin,
    intent_files,
    leftovers,
    link_names,
    pids_in,
    wait_settled,
)
from test_cli import CLI, CNILIB
from test_exec_kill import wait_delivered
from test_scenario import sandbox_clean  # noqa: F401  (autouse: the host namespace as it was)

from cnilib import CNI, LockError, NetworkConfigList, netns
from cnilib.testing.plugins import is_running, wait_gone, write_plugin

pytestmark = [pytest.mark.root]

HERE = Path(__file__).resolve().parent
RUNTIME = HERE / "crash_runtime.py"
NETWORK = "killnet"
BRIDGE = "cnikill0"
SUBNET = "10.198.0.0/24"

_WRAPPER = """
echo "$CNI_COMMAND start $$" >> {log}
if [ "$CNI_COMMAND" = ADD ]; then
    while [ ! -e {go} ]; do sleep 0.02; done
fi
{bridge}
rc=$?
echo "$CNI_COMMAND end $$ $rc" >> {log}
exit $rc
"""


class World:
    """The test's files: the wrapper plugin, its log and flag, the CLI's directories, the cache."""

    def __init__(self, root: Path, host: str, data_dir: Path) -> None:
        self.host = host
        self.data_dir = data_dir
        self.bin = root / "bin"
        self.log = root / "slowbridge.log"
        self.go = root / "go"
        self.bin.mkdir()
        self.log.touch()
        body = _WRAPPER.format(log=self.log, go=self.go, bridge=f"{PLUGIN_DIR}/bridge")
        write_plugin(self.bin, "slowbridge", body)
        self.dirs = [str(self.bin), PLUGIN_DIR]
        self.cli = CLI(root / "cli", plugin_dirs=self.dirs, prefix=netns.enter_argv(host))
        plugin = {**bridge_plugin(BRIDGE, SUBNET, data_dir), "type": "slowbridge"}
        self.conf_path = self.cli.write_conf(
            "10-kill.conflist", {"cniVersion": "1.0.0", "name": NETWORK, "plugins": [plugin]}
        )
        self.conf = NetworkConfigList.from_file(self.conf_path)
        self.cache = self.cli.cache
        self.prefix = netns.enter_argv(host)
        self.cni = CNI(self.dirs, self.cache, timeout=60, argv_prefix=self.prefix, lock_timeout=60)

    def events(self) -> list[list[str]]:
        """The wrapper's log: ``[verb, "start"|"end", pid, (status)]`` per line."""
        return [line.split() for line in self.log.read_text().splitlines()]

    def wait_event(self, verb: str, what: str, runtime: subprocess.Popen[bytes]) -> int:
        """The pid of the first ``verb what`` event, once it is logged (the runtime must live on)."""
        while True:
            for event in self.events():
                if event[:2] == [verb, what]:
                    return int(event[2])
            if runtime.poll() is not None:
                raise AssertionError(f"the runtime ended first: {runtime.communicate()}")
            time.sleep(0.02)

    def lock_waiters(self) -> int:
        """Lock requests blocked on the network's lock file (``->`` lines of /proc/locks)."""
        st = os.stat(self.cache / "locks" / f"{NETWORK}.lock")
        ident = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        lines = Path("/proc/locks").read_text().splitlines()
        return sum(1 for line in lines if "->" in line.split() and ident in line.split())

    def leftovers(self) -> dict[str, object]:
        return leftovers(self.host, self.data_dir, NETWORK, self.cache)


@pytest.fixture
def world(host_ns: netns.NetNS, data_dir: Path, tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, host_ns.path, data_dir)
    before = pids_in(host_ns.path)
    try:
        yield w
    finally:
        w.go.touch()  # a wrapper still waiting goes on (and ends) whatever happened
        with contextlib.suppress(AssertionError):  # (after a failure: what is left is killed)
            wait_settled(host_ns.path, before, timeout=60)
        for pid in pids_in(host_ns.path) - before:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        host_ns.run(["ip", "link", "del", BRIDGE], check=False)


def start_runtime(world: World, front: str, ctr: str) -> subprocess.Popen[bytes]:
    """The runtime doing one ADD of ``ctr``, in the host namespace, once it has started."""
    if front == "cli":
        argv = [*CNILIB, "add", NETWORK, ctr]
        env = world.cli.env({"CNI_ARGS": None, "CAP_ARGS": None})
    else:
        spec = {"conf": str(world.conf_path), "cache": str(world.cache), "netns": [ctr], "ports": [None],
                "seed": 0, "front": front, "once": True, "plugin_dirs": world.dirs}  # fmt: skip
        argv = [sys.executable, str(RUNTIME), json.dumps(spec)]
        env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    return subprocess.Popen(
        [*netns.enter_argv(world.host), *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )


def gc_cli(world: World) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*world.cli.prefix, *CNILIB, "gc", NETWORK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=world.cli.env({"CNI_ARGS": None, "CAP_ARGS": None}),
    )


def check_orphan_is_respected(world: World, add_pid: int) -> None:
    """The ADD's plugin runs on, orphaned: recover() skips it, GC waits or fails; no DEL meanwhile."""
    assert is_running(add_pid)
    assert world.cni.recover() == []
    timid = CNI(world.dirs, world.cache, timeout=60, argv_prefix=world.prefix, lock_timeout=0.5)
    with pytest.raises(LockError):
        timid.gc(world.conf, [])
    gc = gc_cli(world)
    try:
        # cnilib gc is blocked on the lock the plugin holds (bounded: a liveness check only).
        until = time.monotonic() + 60
        while world.lock_waiters() == 0:
            assert gc.poll() is None, gc.communicate()
            assert time.monotonic() < until, "cnilib gc never waited for the network's lock"
            time.sleep(0.02)
        assert [e for e in world.events() if e[0] == "DEL"] == []
        assert is_running(add_pid)
        world.go.touch()  # the plugin goes on: bridge applies the ADD, the wrapper ends
        out, err = gc.communicate(timeout=120)
    finally:
        if gc.poll() is None:
            gc.kill()
            gc.wait()
    assert gc.returncode == 0, (out, err)
    events = world.events()
    add_end = events.index(next(e for e in events if e[:2] == ["ADD", "end"]))
    dels = [i for i, e in enumerate(events) if e[:2] == ["DEL", "start"]]
    assert dels, events  # the waiting GC DELed the unfinished ADD from its intent record...
    assert min(dels) > add_end, events  # ...only once the plugin had ended


def check_stopped(world: World, add_pid: int, runtime_err: bytes, *, forced: bool) -> None:
    """``cnilib add`` stopped by a signal: its plugin ended first (by itself, or killed when the
    signal came twice); the intent record stays for GC, which leaves nothing."""
    assert wait_gone([add_pid], timeout=30) == []
    assert any(e[:2] == ["ADD", "end"] for e in world.events()) is not forced
    assert len(intent_files(world.cache)) == 1, runtime_err
    assert world.cli.run("gc", NETWORK, env={"CNI_ARGS": None, "CAP_ARGS": None}).rc == 0
    dels = [i for i, e in enumerate(world.events()) if e[:2] == ["DEL", "start"]]
    assert len(dels) == 1, world.events()


CASES = [
    ("cli", signal.SIGKILL, 1),
    ("cli", signal.SIGTERM, 1),
    ("cli", signal.SIGHUP, 1),
    ("cli", signal.SIGINT, 1),
    ("cli", signal.SIGTERM, 2),
    ("CNI", signal.SIGKILL, 1),
    ("CNI", signal.SIGTERM, 1),
    ("AsyncCNI", signal.SIGKILL, 1),
]


@pytest.mark.parametrize(
    ("front", "sig", "times"), CASES, ids=[f"{f}-{s.name}{'-twice' * (n - 1)}" for f, s, n in CASES]
)
def test_runtime_killed_during_add_then_gc_leaves_nothing(
    world: World, ctr_ns: Callable[[], netns.NetNS], front: str, sig: signal.Signals, times: int
) -> None:
    ctr = ctr_ns()
    before = pids_in(world.host)
    runtime = start_runtime(world, front, ctr.path)
    try:
        add_pid = world.wait_event("ADD", "start", runtime)
        for _ in range(times):
            runtime.send_signal(sig)
            wait_delivered(runtime.pid, sig)
        # cnilib's command line lets a running plugin finish (a second signal kills it); a dead
        # runtime's plugin runs on by itself (it is waiting: the GCs below must wait for it too).
        handled = front == "cli" and sig != signal.SIGKILL
        if handled:
            world.go.touch()
        _, err = runtime.communicate(timeout=60)
    finally:
        if runtime.poll() is None:
            runtime.kill()
            runtime.wait()
    # A Python process without a handler dies of SIGTERM; cnilib's command line exits.
    assert runtime.returncode == (128 + sig if handled else -sig), err
    if handled:
        assert b"stopped by" in err or b"interrupted" in err, err
        check_stopped(world, add_pid, err, forced=times > 1)
    else:
        check_orphan_is_respected(world, add_pid)

    assert world.leftovers() == {}
    assert link_names(ctr.path) == ["lo"]
    wait_settled(world.host, before)  # no process of the plugin is left
    world.go.touch()  # past the moment the plugin would have ended: a GC finds nothing more
    world.cni.gc(world.conf, [])
    assert world.leftovers() == {}
    assert sum(e[:2] == ["DEL", "start"] for e in world.events()) == 1  # the first GC's, only
