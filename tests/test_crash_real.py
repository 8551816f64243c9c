"""A runtime killed at random moments, mid-ADD or mid-DEL, and a GC started at once: nothing leaks.

A child process (tests/crash_runtime.py) ADDs and DELs three containers on bridge + host-local +
portmap (with a port mapping each) in a loop, inside the sandbox host namespace, and is killed at
a random moment, KILLS times: with SIGKILL, SIGTERM or SIGHUP, the runtime being ``cnilib.CNI``
(which installs no handler: SIGTERM and SIGHUP end it at once, like SIGKILL) or ``cnilib add``/
``del`` (whose command line kills the running plugin's group, then exits). The plugins a dead
runtime was running are orphaned; a GC with no valid attachments starts at once -- ``CNI.gc``,
``AsyncCNI.gc``, ``cnilib gc`` as a process, or ``CNI.recover()`` followed by ``CNI.gc``, in turn
-- and must neither DEL under an orphan (it holds the operation's locks: GC waits for it,
``recover()`` skips it) nor leave anything once it is done: no address in host-local's store, no
veth, no per-container iptables chain, no DNAT rule, no cache entry, no intent record. Nothing may
appear afterwards either, once every process the runtime started has ended.

Chains portmap shares between containers (``CNI-HOSTPORT-DNAT``, ``CNI-HOSTPORT-MASQ``,
``CNI-HOSTPORT-SETMARK`` in the nat table) are created once and kept by design; they must be
empty of per-container rules. The bridge device itself is kept by the bridge plugin by design.

The seed is fixed (``CNILIB_CRASH_SEED`` overrides it) and printed; it picks the operations and
the kill delays (the moment a kill lands still depends on the machine's speed).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from leaks_support import (
    PLUGIN_DIR,
    PORTMAP,
    bridge_plugin,
    files,
    leftovers,
    link_names,
    pids_in,
    wait_settled,
)
from test_cli import CLI
from test_scenario import sandbox_clean  # noqa: F401  (autouse: the host namespace as it was)

from cnilib import CNI, AsyncCNI, NetworkConfigList, netns

pytestmark = [pytest.mark.root]

HERE = Path(__file__).resolve().parent
CHILD = HERE / "crash_runtime.py"
SEED = int(os.environ.get("CNILIB_CRASH_SEED", "20261201"))
KILLS = 32
CONTAINERS = 3
NETWORK = "crashnet"
BRIDGE = "cnicrash0"
SUBNET = "10.199.0.0/24"
FIRST_PORT = 22000
MODES = ("CNI.gc", "cnilib gc", "recover+gc", "AsyncCNI.gc")
SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGKILL, signal.SIGHUP)
FRONTS = ("CNI", "cli")  # the runtime: cnilib.CNI, or cnilib add/del (in-process entry point)


def pick(kill: int) -> tuple[str, signal.Signals, str]:
    """The GC mode, the signal and the runtime's front of kill number ``kill``: over 32 kills,
    every combination once."""
    return MODES[kill % 4], SIGNALS[kill // 4 % 4], FRONTS[kill // 16 % 2]


def exit_statuses(sig: signal.Signals, front: str) -> set[int]:
    """How a runtime killed by ``sig`` may end: by the signal, or (the command line, signalled
    during an operation) by exiting with 128 + the signal once it killed its plugin."""
    if sig == signal.SIGKILL or front != "cli":
        return {-sig}
    return {-sig, 128 + sig}


@pytest.fixture
def bridge(host_ns: netns.NetNS) -> Iterator[str]:
    try:
        yield BRIDGE
    finally:
        host_ns.run(["ip", "link", "del", BRIDGE], check=False)


def start_child(host: str, spec: dict[str, object]) -> subprocess.Popen[bytes]:
    """The runtime, in the host namespace, once it has said ``ready``."""
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    child = subprocess.Popen(
        [*netns.enter_argv(host), sys.executable, str(CHILD), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert child.stdout is not None
    if child.stdout.readline() != b"ready\n":
        _, err = child.communicate(timeout=60)
        raise AssertionError(f"the runtime did not start: {err.decode()}")
    return child


def gc_once(mode: str, cni: CNI, acni: AsyncCNI, cli: CLI, conf: NetworkConfigList) -> None:
    """One GC with no valid attachments, the way ``mode`` says."""
    if mode == "CNI.gc":
        cni.gc(conf, [])
    elif mode == "AsyncCNI.gc":
        asyncio.run(acni.gc(conf, []))
    elif mode == "cnilib gc":
        run = cli.run("gc", NETWORK, env={"CNI_ARGS": None, "CAP_ARGS": None})
        assert run.rc == 0, run
    else:
        cni.recover()
        cni.gc(conf, [])


def test_runtime_killed_at_random_moments_then_an_immediate_gc_leaves_nothing(
    host_ns: netns.NetNS,
    host_prefix: tuple[str, ...],
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
    bridge: str,
) -> None:
    print(f"crash test seed: {SEED} (CNILIB_CRASH_SEED)")
    rnd = random.Random(SEED)
    host = host_ns.path
    cli = CLI(tmp_path / "cli", plugin_dirs=[PLUGIN_DIR], prefix=netns.enter_argv(host))
    obj = {"cniVersion": "1.0.0", "name": NETWORK,
           "plugins": [bridge_plugin(bridge, SUBNET, data_dir), PORTMAP]}  # fmt: skip
    conf_path = cli.write_conf("10-crash.conflist", obj)
    conf = NetworkConfigList.from_file(conf_path)
    cache = cli.cache
    # (lock_timeout: a GC that waits for an orphan forever fails the test instead of hanging it)
    cni = CNI([PLUGIN_DIR], cache, timeout=60, argv_prefix=host_prefix, lock_timeout=120)
    acni = AsyncCNI([PLUGIN_DIR], cache, timeout=60, argv_prefix=host_prefix, lock_timeout=120)
    ctrs = [ctr_ns() for _ in range(CONTAINERS)]
    spec: dict[str, object] = {
        "conf": str(conf_path),
        "cache": str(cache),
        "netns": [c.path for c in ctrs],
        "ports": [FIRST_PORT + i for i in range(CONTAINERS)],
    }
    base = leftovers(host, data_dir, NETWORK, cache)
    stats = {"something to clean": 0, "unfinished ADD (intent record)": 0, "orphaned plugin": 0}

    for kill in range(KILLS):
        mode, sig, front = pick(kill)
        before = pids_in(host)
        child = start_child(host, {**spec, "seed": rnd.randrange(2**32), "front": front})
        time.sleep(rnd.uniform(0.0, 1.0))
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
        assert child.returncode in exit_statuses(sig, front), (
            f"kill {kill}: the runtime failed: {err.decode()}"
        )

        # At once: a plugin the runtime was running may still run (it holds the operation's locks).
        orphans = pids_in(host) - before
        found = leftovers(host, data_dir, NETWORK, cache, base)
        stats["orphaned plugin"] += bool(orphans)
        stats["something to clean"] += bool(found)
        stats["unfinished ADD (intent record)"] += bool(found.get("intents"))
        gc_once(mode, cni, acni, cli, conf)

        context = f"kill {kill} (seed {SEED}, {sig.name}, {front}, {mode}); at the kill: {found}, {orphans=}"
        assert leftovers(host, data_dir, NETWORK, cache, base) == {}, context
        assert all(link_names(c.path) == ["lo"] for c in ctrs), context
        # GC holds the network's lock exclusively, so it removes what a killed writer half-wrote.
        assert [n for d in ("results", "intents") for n in files(cache / d) if n.startswith(".")] == [], (
            context
        )
        # Every process the runtime started is gone (GC waited for those holding its locks), and
        # none of them changed anything after the GC.
        wait_settled(host, before)
        assert leftovers(host, data_dir, NETWORK, cache, base) == {}, context

    print(f"crash test: {KILLS} kills; {stats}")
    # The kills did hit a runtime with work in flight, and plugins it left running (otherwise
    # this test proved nothing).
    assert stats["something to clean"] > 0
    assert stats["orphaned plugin"] > 0
    assert leftovers(host, data_dir, NETWORK, cache, base) == {}
    assert files(cache / "results") == []
    assert files(cache / "intents") == []
