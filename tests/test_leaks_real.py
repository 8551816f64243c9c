"""The leaks of issue 9, with the real Debian plugins in sandbox namespaces: none of them leaks.

- a list whose second plugin is not installed: ADD fails before anything runs;
- ADD with port mappings, then DEL without them (API and ``cnilib del``): the DNAT rules go;
- DEL past a plugin whose DEL fails (or that vanished): the other DELs run, the entry stays until
  a later DEL finishes;
- ``cnilib gc`` racing a runtime's DEL + re-ADD of the same container on a list older than 1.1.0:
  the new attachment survives every trial.

Plugins run in the session's sandbox "host" namespace (``argv_prefix``, or the CLI under
``nsenter``); containers are ``ctr_ns`` namespaces; host-local's store is the test's ``data_dir``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from leaks_support import (
    PLUGIN_DIR,
    PORTMAP,
    bridge_plugin,
    cache_files,
    conflist,
    dnat_rules,
    fail_del_plugin,
    intent_files,
    ipv4,
    leftovers,
    link_names,
    port_mappings,
    store,
)
from test_cli import CLI, cnitool_id
from test_scenario import sandbox_clean  # noqa: F401  (autouse: the host namespace as it was)

from cnilib import CNI, AsyncCNI, CNIError, NetworkConfigList, PluginNotFoundError, RuntimeConfig, netns

pytestmark = [pytest.mark.root]

_seq = itertools.count(1)


class Net:
    """A distinct bridge, /24 subnet and host port for one test."""

    def __init__(self, data_dir: Path) -> None:
        n = next(_seq)
        self.name = f"leaks{n}"
        self.bridge = f"cnileak{n}"
        self.subnet = f"10.{200 + n // 250}.{n % 250}.0/24"
        self.host_port = 21000 + n
        self.data_dir = data_dir

    def plugins(self, *, masq: bool = True) -> list[dict[str, Any]]:
        return [bridge_plugin(self.bridge, self.subnet, self.data_dir, masq=masq)]

    def store(self) -> dict[str, str]:
        return store(self.data_dir, self.name)


@pytest.fixture
def net(data_dir: Path) -> Net:
    return Net(data_dir)


@pytest.fixture
def cni(host_prefix: tuple[str, ...], tmp_path: Path) -> CNI:
    return CNI([PLUGIN_DIR], tmp_path / "cache", timeout=60, argv_prefix=host_prefix)


def error_text(exc: BaseException) -> str:
    """The message and every note of ``exc``."""
    return "\n".join([str(exc), *getattr(exc, "__notes__", ())])


# -- pre-flight ADD -------------------------------------------------------------------------------


@pytest.mark.parametrize("front", ["CNI", "AsyncCNI"])
def test_missing_plugin_mid_list_applies_nothing(
    net: Net,
    host_ns: netns.NetNS,
    host_prefix: tuple[str, ...],
    ctr_ns: Callable[[], netns.NetNS],
    tmp_path: Path,
    front: str,
) -> None:
    ctr = ctr_ns()
    cache = tmp_path / "cache"
    conf = conflist("1.0.0", net.name, [*net.plugins(), {"type": "cnilib-not-installed"}, PORTMAP])
    rt = RuntimeConfig(container_id="missing-1", netns=ctr.path, capability_args=port_mappings(net.host_port))
    host_links = link_names(host_ns.path)

    def add() -> None:
        if front == "CNI":
            CNI([PLUGIN_DIR], cache, timeout=60, argv_prefix=host_prefix).add(conf, rt)
        else:
            acni = AsyncCNI([PLUGIN_DIR], cache, timeout=60, argv_prefix=host_prefix)
            asyncio.run(acni.add(conf, rt))

    with pytest.raises(PluginNotFoundError) as info:
        add()
    text = error_text(info.value).lower()
    assert "cnilib-not-installed" in text
    assert "nothing" in text, text
    assert "applied" in text, text

    # bridge never ran: no eth0, no address reserved, no veth (not even the bridge), no rule.
    assert link_names(ctr.path) == ["lo"]
    assert net.store() == {}
    assert link_names(host_ns.path) == host_links
    assert dnat_rules(host_ns.path, net.host_port) == []
    assert cache_files(cache) == []
    assert intent_files(cache) == []


# -- DEL with the cached capability args ----------------------------------------------------------


@pytest.mark.parametrize("version", ["0.3.1", "1.0.0"])
def test_del_without_capability_args_removes_the_port_mappings(
    cni: CNI,
    net: Net,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    tmp_path: Path,
    version: str,
) -> None:
    ctr = ctr_ns()
    conf = conflist(version, net.name, [*net.plugins(), PORTMAP])
    rt = RuntimeConfig(container_id="caps-1", netns=ctr.path, capability_args=port_mappings(net.host_port))
    base = leftovers(host_ns.path, net.data_dir, net.name, tmp_path / "cache")
    cni.add(conf, rt)
    assert len(dnat_rules(host_ns.path, net.host_port)) >= 1
    [address] = ipv4(ctr.path)
    assert net.store() == {address: "caps-1"}

    # DEL as it is usually typed: no capability args. The cached ones are used.
    cni.delete(conf, RuntimeConfig(container_id="caps-1", netns=ctr.path))

    assert dnat_rules(host_ns.path, net.host_port) == []
    assert link_names(ctr.path) == ["lo"]
    assert leftovers(host_ns.path, net.data_dir, net.name, tmp_path / "cache", base) == {}


def test_cli_del_without_cap_args_removes_the_port_mappings(
    net: Net, host_ns: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], tmp_path: Path
) -> None:
    ctr = ctr_ns()
    cli = CLI(tmp_path / "cli", plugin_dirs=[PLUGIN_DIR], prefix=netns.enter_argv(host_ns.path))
    cli.write_conf("10-leaks.conflist", {"cniVersion": "1.0.0", "name": net.name,
                                         "plugins": [*net.plugins(), PORTMAP]})  # fmt: skip
    caps = json.dumps(port_mappings(net.host_port))
    base = leftovers(host_ns.path, net.data_dir, net.name, cli.cache)
    run = cli.run("add", net.name, ctr.path, env={"CAP_ARGS": caps})
    assert run.rc == 0, run
    assert len(dnat_rules(host_ns.path, net.host_port)) >= 1
    assert cli.cache_files() == [f"{net.name}-{cnitool_id(ctr.path)}-eth0"]

    run = cli.run("del", net.name, ctr.path)  # no CAP_ARGS, as `cnilib del` is usually typed
    assert run.rc == 0, run

    assert dnat_rules(host_ns.path, net.host_port) == []
    assert link_names(ctr.path) == ["lo"]
    assert leftovers(host_ns.path, net.data_dir, net.name, cli.cache, base) == {}


# -- DEL past a failing plugin --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["fails", "missing"])
def test_del_runs_past_a_failing_plugin_and_keeps_the_entry(
    net: Net,
    host_ns: netns.NetNS,
    host_prefix: tuple[str, ...],
    ctr_ns: Callable[[], netns.NetNS],
    tmp_path: Path,
    how: str,
) -> None:
    ctr = ctr_ns()
    cache = tmp_path / "cache"
    fakes = tmp_path / "fakes"
    fixed, log = fail_del_plugin(fakes, "faildel")
    plugin_path = fakes / "faildel"
    cni = CNI([str(fakes), PLUGIN_DIR], cache, timeout=60, argv_prefix=host_prefix)
    conf = conflist("1.0.0", net.name, [*net.plugins(), {"type": "faildel"}, PORTMAP])
    rt = RuntimeConfig(container_id="past-1", netns=ctr.path, capability_args=port_mappings(net.host_port))
    base = leftovers(host_ns.path, net.data_dir, net.name, cache)
    cni.add(conf, rt)
    assert len(dnat_rules(host_ns.path, net.host_port)) >= 1
    [address] = ipv4(ctr.path)
    entry = f"{net.name}-past-1-eth0"
    assert cache_files(cache) == [entry]
    saved = plugin_path.read_bytes()
    if how == "missing":
        plugin_path.unlink()  # uninstalled after the ADD

    with pytest.raises(CNIError) as info:
        cni.delete(conf, rt)
    text = error_text(info.value)
    assert "faildel" in text
    if how == "fails":
        assert "broken DEL" in text
    else:
        assert isinstance(info.value, PluginNotFoundError) or "find plugin" in text

    # The real plugins' DELs ran anyway: portmap's (before) and bridge's (after, in reverse).
    assert dnat_rules(host_ns.path, net.host_port) == []
    assert link_names(ctr.path) == ["lo"]
    assert address not in net.store()
    assert "veths" not in leftovers(host_ns.path, net.data_dir, net.name, cache, base)
    # ... and the entry is kept so that a later DEL can finish the job.
    assert cache_files(cache) == [entry]
    assert cni.cached_result(conf, rt) is not None

    if how == "missing":
        plugin_path.write_bytes(saved)
        plugin_path.chmod(0o755)
    fixed.touch()
    cni.delete(conf, rt)
    assert log.read_text().split().count("DEL") == (2 if how == "fails" else 1)
    assert leftovers(host_ns.path, net.data_dir, net.name, cache, base) == {}


# -- `cnilib gc` racing a DEL + re-ADD ------------------------------------------------------------

GC_TRIALS = 20
STALE = 4  # attachments GC removes before it reaches the raced container (they sort first)


def _wait_gc_started(gc: subprocess.Popen[bytes], cache: Path, first: str) -> None:
    """Wait until the GC process has removed its first stale entry (so it has listed them all), or
    has finished."""
    deadline = time.monotonic() + 120
    while gc.poll() is None and first in cache_files(cache):
        assert time.monotonic() < deadline, "GC did not start"
        time.sleep(0.005)


def test_cli_gc_racing_del_and_readd_leaves_the_new_attachment_intact(
    net: Net,
    host_ns: netns.NetNS,
    host_prefix: tuple[str, ...],
    ctr_ns: Callable[[], netns.NetNS],
    tmp_path: Path,
) -> None:
    cli = CLI(tmp_path / "cli", plugin_dirs=[PLUGIN_DIR], prefix=netns.enter_argv(host_ns.path))
    obj = {"cniVersion": "1.0.0", "name": net.name, "plugins": net.plugins(masq=False)}
    cli.write_conf("10-leaks.conflist", obj)
    conf = NetworkConfigList.from_bytes(json.dumps(obj).encode())
    runtime = CNI([PLUGIN_DIR], cli.cache, timeout=60, argv_prefix=host_prefix)
    stale_ns = [ctr_ns() for _ in range(STALE)]
    stale = [RuntimeConfig(container_id=f"gcr-a{i}", netns=ns.path) for i, ns in enumerate(stale_ns)]
    first = f"{net.name}-gcr-a0-eth0"
    old = ctr_ns()
    base = leftovers(host_ns.path, net.data_dir, net.name, cli.cache)
    runtime.add(conf, RuntimeConfig(container_id="gcr-z", netns=old.path))
    env = dict.fromkeys(("CNI_ARGS", "CAP_ARGS", "CNI_IFNAME", "CNI_CONTAINERID"))

    for trial in range(GC_TRIALS):
        for rt in stale:
            runtime.add(conf, rt)
        # GC keeps nothing: it lists the stale attachments, the raced container last.
        gc = subprocess.Popen(
            [*cli.prefix, *cli.program, "gc", net.name],
            env=cli.env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_gc_started(gc, cli.cache, first)
            # Meanwhile the runtime restarts the container: DEL, new namespace, ADD.
            new = ctr_ns()
            runtime.delete(conf, RuntimeConfig(container_id="gcr-z", netns=old.path))
            old.delete()
            runtime.add(conf, RuntimeConfig(container_id="gcr-z", netns=new.path))
        finally:
            out, err = gc.communicate(timeout=120)
        assert gc.returncode == 0, (trial, out, err)

        [address] = ipv4(new.path)
        assert net.store() == {address: "gcr-z"}, f"trial {trial}: {net.store()}"
        assert cache_files(cli.cache) == [f"{net.name}-gcr-z-eth0"], f"trial {trial}"
        cached = runtime.cached_config(conf, RuntimeConfig(container_id="gcr-z", netns=new.path))
        assert cached is not None
        assert json.loads(cached[0])["name"] == net.name
        assert [e.netns for e in runtime.cached_attachments("gcr-z")] == [new.path]
        old = new

    runtime.delete(conf, RuntimeConfig(container_id="gcr-z", netns=old.path))
    assert leftovers(host_ns.path, net.data_dir, net.name, cli.cache, base) == {}
