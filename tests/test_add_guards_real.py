"""The guards of ADD (issue 21) with Debian's real bridge and host-local, in sandbox namespaces.

- A second ADD of an attached container, through ``CNI(rollback=True)``, ``Networks.setup``,
  ``AsyncNetworks.setup`` and ``cnilib add``, is refused before any plugin runs, and the first
  attachment keeps answering with the same address and the same cache entry. (Before, bridge
  failed on the existing veth and the rollback's DEL took the live container off the network.)
  ``cnilib docker attach`` twice: ``test_cli_real.py``; the watcher: ``test_docker_watch_real.py``.
- ADD into what a reboot leaves where a bind-mounted namespace was (an empty regular file) is
  refused before anything is applied, and GC has nothing to trip on afterwards.

Plugins run in the session's sandbox host namespace; traffic only goes between it and the
container namespaces made here.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli import CLI
from test_cli_real import failed, ok
from test_scenario import (  # the shared helpers and the autouse clean-up fixture
    INDEX,
    PLUGIN_DIR,
    addrs,
    cache_files,
    founding_config,
    http_get,
    httpd,
    link_names,
    ping,
    sandbox_clean,  # noqa: F401
    store_ips,
)

import cnilib
from cnilib import netns
from cnilib._base._nsprobe import LIVE, netns_state

pytestmark = [pytest.mark.root]

ADDRESS = "10.15.30.100"


class World:
    """The host namespace, one container namespace serving HTTP, the founding network."""

    def __init__(self, host: netns.NetNS, ctr: netns.NetNS, data_dir: Path, tmp_path: Path) -> None:
        self.host, self.ctr, self.data_dir, self.tmp = host.path, ctr, data_dir, tmp_path
        self.cache = tmp_path / "cache"
        self.conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))

    def cni(self, **kw: Any) -> cnilib.CNI:
        prefix = netns.enter_argv(self.host)
        return cnilib.CNI([PLUGIN_DIR], self.cache, timeout=60, argv_prefix=prefix, **kw)

    def snapshot(self) -> dict[str, Any]:
        """What the first attachment is: its address, links, entries (bytes) and IPAM store."""
        results = self.cache / "results"
        return {
            "links": link_names(self.ctr.path),
            "address": addrs(self.ctr.path, "eth0"),
            "entries": {n: (results / n).read_bytes() for n in cache_files(self.cache)},
            "store": store_ips(self.data_dir, "mybridge"),
        }

    def answers(self) -> bool:
        """The container answers from the host namespace: a ping and a page."""
        return ping(self.host, ADDRESS) and http_get(self.host, f"http://{ADDRESS}/") == INDEX


@pytest.fixture
def world(
    host_ns: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], data_dir: Path, tmp_path: Path
) -> Iterator[World]:
    w = World(host_ns, ctr_ns(), data_dir, tmp_path)
    www = tmp_path / "www"
    www.mkdir()
    try:
        with httpd(w.ctr.path, www):
            yield w
    finally:
        # DEL of whatever the test attached (the namespace, bridge and rules go with the fixtures).
        for entry in w.cni().cached_attachments():
            w.cni().delete(cnilib.NetworkConfigList.from_bytes(entry.config), entry.runtime_config())


def _the_same(world: World, before: dict[str, Any]) -> None:
    assert world.snapshot() == before
    assert before["address"] == [f"{ADDRESS}/24"]
    assert world.answers()
    assert world.cni().unfinished_adds() == []


def test_a_second_add_through_cni_with_rollback_leaves_the_first_attachment(world: World) -> None:
    cni = world.cni(rollback=True)
    rt = cnilib.RuntimeConfig(container_id="again", netns=world.ctr.path)
    cni.add(world.conflist, rt)
    before = world.snapshot()
    assert world.answers()
    with pytest.raises(cnilib.AlreadyAttachedError) as info:
        cni.add(world.conflist, rt)
    assert (info.value.netns, info.value.gone) == (world.ctr.path, False)
    assert not getattr(info.value, "__notes__", [])  # nothing was rolled back
    _the_same(world, before)


@pytest.mark.parametrize("front", ["sync", "async"])
def test_a_second_networks_setup_leaves_the_first_attachment(world: World, front: str) -> None:
    def setup() -> cnilib.Attachment:
        if front == "sync":
            return cnilib.Networks([world.conflist], cni=world.cni(), loopback=True).setup(
                "again", world.ctr.path
            )
        prefix = netns.enter_argv(world.host)
        acni = cnilib.AsyncCNI([PLUGIN_DIR], world.cache, timeout=60, argv_prefix=prefix)
        nets = cnilib.AsyncNetworks([world.conflist], cni=acni, loopback=True)
        return asyncio.run(nets.setup("again", world.ctr.path))

    att = setup()
    assert [str(a.address) for a in att.interfaces["eth0"].addresses] == [f"{ADDRESS}/24"]
    before = world.snapshot()
    assert sorted(before["entries"]) == ["cni-loopback-again-lo", "mybridge-again-eth0"]
    with pytest.raises(cnilib.MultiError) as info:
        setup()
    assert sorted(info.value.errors) == ["cni-loopback/lo", "mybridge/eth0"]  # no "rollback ..."
    assert all(isinstance(e, cnilib.AlreadyAttachedError) for e in info.value.errors.values())
    _the_same(world, before)


def test_cnilib_add_twice_leaves_the_first_attachment(world: World, host_ns: netns.NetNS) -> None:
    real = CLI(world.tmp / "cli", plugin_dirs=[PLUGIN_DIR], prefix=netns.enter_argv(host_ns.path))
    real.cache = world.cache
    real.write_conf("10-mybridge.conf", founding_config(world.data_dir))
    ok(real.run("add", "mybridge", world.ctr.path))
    before = world.snapshot()
    line = failed(real.run("add", "mybridge", world.ctr.path))
    assert "is already attached to network 'mybridge' as eth0" in line
    assert f"cnilib del mybridge {world.ctr.path}" in line
    _the_same(world, before)


# -- a netns that is no network namespace ---------------------------------------------------------


@pytest.fixture
def rebooted(ctr_ns: Callable[[], netns.NetNS], tmp_path: Path) -> str:
    """What a reboot leaves where a bind-mounted namespace was: the empty file under the mount."""
    target = tmp_path / "pinned"
    target.touch()
    ctr = ctr_ns()
    subprocess.run(["mount", "--bind", ctr.path, str(target)], check=True)
    try:
        assert netns_state(str(target)) == LIVE
    finally:
        subprocess.run(["umount", str(target)], check=True)
    ctr.delete()
    return str(target)


def test_add_into_what_a_reboot_left_is_refused_and_gc_passes(
    rebooted: str, data_dir: Path, tmp_path: Path, host_prefix: tuple[str, ...]
) -> None:
    cni = cnilib.CNI([PLUGIN_DIR], tmp_path / "cache", timeout=60, argv_prefix=host_prefix)
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))
    rt = cnilib.RuntimeConfig(container_id="rebooted", netns=rebooted)
    with pytest.raises(cnilib.NetnsPathError) as info:
        cni.add(conflist, rt)
    assert f"network namespace path {rebooted} is a regular file" in str(info.value)
    assert "nothing was applied" in str(info.value)
    assert not (tmp_path / "cache").exists()
    assert store_ips(data_dir, "mybridge") == set()
    cni.gc(conflist)  # before, GC failed on the intent record this ADD left, every time


def test_a_namespace_name_gets_a_hint(
    ctr_ns: Callable[[], netns.NetNS], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctr = ctr_ns()
    name = os.path.basename(ctr.path)
    cni = cnilib.CNI([PLUGIN_DIR], tmp_path / "cache")
    conflist = cnilib.NetworkConfigList.from_dict({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"})
    monkeypatch.chdir(tmp_path)  # (nothing called like the namespace here)
    # A name is no path: refused when the runtime configuration is made (issue 24)...
    with pytest.raises(cnilib.NetnsPathError, match=f"is not absolute \\(did you mean {ctr.path}\\?\\)"):
        cnilib.RuntimeConfig(container_id="hint", netns=name)
    # ...and a path that names nothing gets the same hint from ADD.
    with pytest.raises(cnilib.NetnsPathError, match=f"does not exist \\(did you mean {ctr.path}\\?\\)"):
        cni.add(conflist, cnilib.RuntimeConfig(container_id="hint", netns=str(tmp_path / name)))
    assert link_names(ctr.path) == ["lo"]
