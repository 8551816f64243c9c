# pytest fixtures are parameters: their number says nothing here
"""Ctrl-C during ``Networks.setup`` with the real plugins, as a user meets it: a child process
sets up a container on two bridge + host-local networks and gets SIGINT while the second network's
ADD runs; afterwards nothing is attached.

The second network's plugin is a wrapper that waits (until the test lets it go) before it execs
the real bridge plugin, so the signal lands while that ADD is in flight. Sequentially, the
interrupt stops it (its plugin's group is killed) and the setup DELs it and the first network; in
parallel, the setup waits for it, then DELs both. After either: no address in host-local's store,
no veth, no per-container chain, no cache entry, no intent record, only ``lo`` in the container.
Plugins run in the suite's sandbox "host" namespace; the container is a namespace made here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from leaks_support import PLUGIN_DIR, bridge_plugin, leftovers, link_names, pids_in, wait_settled
from test_scenario import sandbox_clean  # noqa: F401  (autouse: the host namespace as it was)

from cnilib import CNI, netns
from cnilib.testing.plugins import write_plugin

pytestmark = [pytest.mark.root]

HERE = Path(__file__).resolve().parent
NETS = (("intr-a", "cniintr0", "10.201.0.0/24"), ("intr-b", "cniintr1", "10.202.0.0/24"))

# The runtime: one setup, which the test interrupts; the exception ends the process (its notes too).
CHILD = textwrap.dedent(
    """
    import json, sys
    import cnilib
    spec = json.loads(sys.argv[1])
    cni = cnilib.CNI([spec["wrappers"], spec["plugins"]], spec["cache"], argv_prefix=spec["prefix"])
    lists = [cnilib.NetworkConfigList.from_dict(doc) for doc in spec["lists"]]
    nets = cnilib.Networks(lists, cni=cni, parallel=spec["parallel"])
    nets.setup("intr-ctr", spec["netns"])
    print("the setup returned", flush=True)
    """
)


def wrapper(directory: Path, name: str, *, hold: bool) -> None:
    """``name``: logs ``VERB IFNAME``, on ADD (with ``hold``) writes ``started`` and waits for
    ``go`` (at most 60 s), then execs the real bridge plugin (stdin untouched)."""
    loop = f"i=0; while [ ! -e {directory}/go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done"
    wait = f": > {directory}/started; {loop}" if hold else ":"
    write_plugin(
        directory,
        name,
        f"""echo "$CNI_COMMAND $CNI_IFNAME" >> {directory}/{name}.log
if [ "$CNI_COMMAND" = ADD ]; then {wait}; fi
exec {PLUGIN_DIR}/bridge
""",
    )


def log(directory: Path, name: str) -> list[str]:
    path = directory / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


def wait_for(path: Path) -> None:
    # Waiting for the plugin to get there, not a timing assertion.
    event = threading.Event()
    for _ in range(6000):
        if path.exists():
            return
        event.wait(0.01)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.parametrize("parallel", [False, True], ids=["sequential", "parallel"])
def test_ctrl_c_during_a_two_network_setup_leaves_nothing(
    host_ns: netns.NetNS,
    host_prefix: tuple[str, ...],
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
    parallel: bool,
) -> None:
    host, cache, wrappers = host_ns.path, tmp_path / "cache", tmp_path / "wrappers"
    wrapper(wrappers, "bridge-a", hold=False)
    wrapper(wrappers, "bridge-b", hold=True)
    lists = []
    for (name, bridge, subnet), kind in zip(NETS, ("bridge-a", "bridge-b"), strict=True):
        plugin = {**bridge_plugin(bridge, subnet, data_dir), "type": kind}
        lists.append({"cniVersion": "1.0.0", "name": name, "plugins": [plugin]})
    ctr = ctr_ns()
    spec = {
        "wrappers": str(wrappers),
        "plugins": PLUGIN_DIR,
        "cache": str(cache),
        "prefix": list(host_prefix),
        "lists": lists,
        "parallel": parallel,
        "netns": ctr.path,
    }
    base = {name: leftovers(host, data_dir, name, cache) for name, _, _ in NETS}
    before = pids_in(host)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for(wrappers / "started")  # the first network is attached, the second's ADD waits
        child.send_signal(signal.SIGINT)
        if parallel:
            (wrappers / "go").touch()  # the running ADD is waited for: let it finish
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    wait_settled(host, before)

    assert child.returncode == -signal.SIGINT, err  # the interrupt went on after the cleanup
    assert "the setup returned" not in out
    assert "KeyboardInterrupt" in err
    assert "setup interrupted: intr-a/eth0 DELeted" in err
    assert "setup interrupted: intr-b/eth1 DELeted" in err
    assert log(wrappers, "bridge-a") == ["ADD eth0", "DEL eth0"]
    assert log(wrappers, "bridge-b") == ["ADD eth1", "DEL eth1"]
    for name, _, _ in NETS:
        assert leftovers(host, data_dir, name, cache, base[name]) == {}, name
    assert link_names(ctr.path) == ["lo"]
    assert CNI([PLUGIN_DIR], cache).recover() == []  # nothing unfinished either
