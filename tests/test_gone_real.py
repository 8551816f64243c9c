"""Node failures with Debian's real plugins: a sandbox gone after a reboot, a read-only cache.

A reboot is simulated as ``/work/shared/node-notes.md`` says: the container's namespace is
bind-mounted on a file the test owns and used through that path; then the bind mount is
unmounted and the namespace deleted, which leaves the empty file at the path (what a reboot
leaves for ``/run/netns/X`` or Docker's SandboxKey), or nothing once the file is removed too. Like
a reboot, the namespace's death takes the veth with it; unlike one, iptables and host-local's
store survive, which is what DEL and GC must clean. Everything runs in the session's sandbox
host namespace (``cnilib`` under ``nsenter``); the bind mounts and tmpfs mounts are undone in
``finally`` blocks.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from test_cli import CLI, Run, cnitool_id
from test_scenario import (  # the shared helpers and the autouse clean-up fixture
    PLUGIN_DIR,
    addrs,
    iptables,
    link_names,
    per_container_chains,
    sandbox_clean,  # noqa: F401
    store_ips,
)

import cnilib
from cnilib import netns
from cnilib._spec._leftovers import chain_name

pytestmark = [pytest.mark.root]

NET = "gonenet"
BRIDGE = "cni_gone0"
PORTS = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]


def conf(data_dir: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": NET,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "ipam": {"type": "host-local", "subnet": "10.31.0.0/24", "dataDir": str(data_dir)},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


@pytest.fixture
def real(tmp_path: Path, host_ns: netns.NetNS, data_dir: Path) -> CLI:
    cli = CLI(tmp_path, plugin_dirs=[PLUGIN_DIR], prefix=netns.enter_argv(host_ns.path))
    cli.write_conf("10-gone.conflist", conf(data_dir))
    return cli


def _sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@contextmanager
def bound(ns: netns.NetNS, path: Path) -> Iterator[Path]:
    """``ns`` bind-mounted on ``path`` (an empty file); unmounted at the end if still mounted."""
    path.touch()
    _sh("mount", "--bind", ns.path, str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, check=False, timeout=30)


def reboot(ns: netns.NetNS, path: Path, *, keep_file: bool) -> None:
    """What a reboot does to a bind-mounted namespace: the mount goes, the namespace dies."""
    _sh("umount", str(path))
    ns.delete()
    if not keep_file:
        path.unlink()


def ok(run: Run) -> Run:
    assert run.rc == 0, run
    return run


def host_state(host: str, data_dir: Path) -> dict[str, Any]:
    """What an attachment of NET can leave in the host namespace and the IPAM store."""
    return {
        "addresses": store_ips(data_dir, NET),
        "veths": sorted(n for n in link_names(host) if n.startswith("veth")),
        "chains": per_container_chains(host) | per_container_chains(host, ipv6=True),
        "jumps": [
            line for line in iptables(host, "nat") if " -j CNI-" in line and "CNI-HOSTPORT" not in line
        ],
        "dnat": [line for line in iptables(host, "nat") if line.startswith("-A CNI-HOSTPORT-DNAT")],
    }


CLEAN: dict[str, Any] = {"addresses": set(), "veths": [], "chains": set(), "jumps": [], "dnat": []}


def attach(real: CLI, sandbox: Path, host: str, data_dir: Path) -> str:
    ok(real.run("add", NET, str(sandbox), env={"CAP_ARGS": json.dumps({"portMappings": PORTS})}))
    cid = cnitool_id(str(sandbox))
    state = host_state(host, data_dir)
    # What the rest of the test must see go: an address, a veth, the masquerade and DNAT chains.
    assert len(state["addresses"]) == 1
    assert len(state["veths"]) == 1
    assert state["chains"] == {chain_name(NET, cid), chain_name(NET, cid, "DN-")}
    assert len(state["jumps"]) == 1
    assert len(state["dnat"]) == 1
    assert real.cache_files() == [f"{NET}-{cid}-eth0"]
    return cid


def assert_nothing_left(real: CLI, host: str, data_dir: Path) -> None:
    assert host_state(host, data_dir) == CLEAN
    assert real.cache_files() == []
    intents = real.cache / "intents"
    assert not intents.is_dir() or list(intents.iterdir()) == []


@pytest.mark.parametrize("keep_file", [True, False], ids=["empty-file-left", "file-removed"])
@pytest.mark.parametrize("verb", ["del", "gc"])
def test_a_rebooted_sandbox_is_torn_down_completely(
    real: CLI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
    verb: str,
    keep_file: bool,
) -> None:
    ctr = ctr_ns()
    with bound(ctr, tmp_path / "sandbox") as sandbox:
        cid = attach(real, sandbox, host_ns.path, data_dir)
        reboot(ctr, sandbox, keep_file=keep_file)
        # The plugins alone fail ("unknown FS magic") or skip the masquerade teardown.
        args = ("del", NET, str(sandbox)) if verb == "del" else ("gc", NET)
        run = ok(real.run(*args))
        said = [f"cnilib: gc {NET}: removed 1 cached attachment(s) not kept: {cid}:eth0 (netns {sandbox})"]
        assert (run.out, run.err_lines) == ("", [] if verb == "del" else said)  # (gc says what it removed)
    assert_nothing_left(real, host_ns.path, data_dir)
    ok(real.run(*args))  # and again: nothing there is success


def test_a_sandbox_whose_path_is_gone_but_namespace_lives_loses_its_veth(
    real: CLI, host_ns: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], data_dir: Path, tmp_path: Path
) -> None:
    # The bind mount is gone but the namespace is still held (by /run/netns/X): the veth lives,
    # and only its MAC address, from the cached result, says which one is this attachment's.
    ctr = ctr_ns()
    with bound(ctr, tmp_path / "sandbox") as sandbox:
        attach(real, sandbox, host_ns.path, data_dir)
        _sh("umount", str(sandbox))
        ok(real.run("del", NET, str(sandbox)))
    assert_nothing_left(real, host_ns.path, data_dir)
    assert link_names(ctr.path) == ["lo"]


def test_a_del_through_the_api_with_an_empty_netns_removes_the_chain(
    host_prefix: tuple[str, ...],
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    cni = cnilib.CNI(
        plugin_dirs=[PLUGIN_DIR], cache_dir=tmp_path / "cache", argv_prefix=host_prefix, timeout=60
    )
    net = cnilib.NetworkConfigList.from_bytes(json.dumps(conf(data_dir)).encode())
    ctr = ctr_ns()
    rt = cnilib.RuntimeConfig("api-ctr", ctr.path, "eth0", capability_args={"portMappings": PORTS})
    cni.add(net, rt)
    assert chain_name(NET, "api-ctr") in per_container_chains(host_ns.path)
    cni.delete(net, cnilib.RuntimeConfig("api-ctr", "", "eth0"))
    assert host_state(host_ns.path, data_dir) == CLEAN
    assert cni.cached_attachments() == []


@contextmanager
def tmpfs(path: Path) -> Iterator[Path]:
    path.mkdir()
    _sh("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(path))
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True, check=False, timeout=30)


@pytest.mark.parametrize("verb", ["del", "gc"])
def test_a_read_only_cache_never_stops_the_plugins(
    real: CLI, host_ns: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], data_dir: Path, verb: str
) -> None:
    ctr = ctr_ns()
    with tmpfs(real.cache):
        cid = attach(real, Path(ctr.path), host_ns.path, data_dir)
        _sh("mount", "-o", "remount,ro", str(real.cache))
        args = ("del", NET, ctr.path) if verb == "del" else ("gc", NET)
        run = real.run(*args)
        # Every plugin's DEL ran: the address, the veth, the chains are gone...
        assert host_state(host_ns.path, data_dir) == CLEAN
        assert link_names(ctr.path) == ["lo"]
        # ...and the cache failure is one line, exit status 1; the entry stays.
        assert run.rc == 1, run
        assert len(run.err_lines) == 1, run
        assert "Read-only file system" in run.err_lines[0]
        assert "the entry stays for a later DEL" in run.err_lines[0]
        assert real.cache_files() == [f"{NET}-{cid}-eth0"]
        _sh("mount", "-o", "remount,rw", str(real.cache))
        ok(real.run(*args))  # a later DEL removes it
        assert real.cache_files() == []
    assert addrs(host_ns.path, BRIDGE) == ["10.31.0.1/24"]  # (the shared bridge stays, as always)


def test_a_full_cache_never_stops_a_del(tmp_path: Path) -> None:
    # A cache written by libcni (no lock file yet) on a filesystem out of inodes: the lock file
    # cannot be created (ENOSPC); the DEL runs without it and removes the entry (which frees).
    from cnilib.testing.plugins import recording_plugin

    plugin = recording_plugin(tmp_path / "bin", "pa", stdout={"ADD": {"cniVersion": "1.0.0"}})
    net = cnilib.NetworkConfigList.from_bytes(
        b'{"cniVersion":"1.0.0","name":"full","plugins":[{"type":"pa"}]}'
    )
    rt = cnilib.RuntimeConfig("c1", "/proc/self/ns/net", "eth0")
    cache = tmp_path / "cache"
    cache.mkdir()
    _sh("mount", "-t", "tmpfs", "-o", "size=1m,nr_inodes=16,mode=0700", "tmpfs", str(cache))
    try:
        store = cnilib.ResultCache(cache)
        store.write(cnilib.CacheEntry.create(net, rt, {"cniVersion": "1.0.0"}))
        filler = cache / "filler"
        filler.mkdir()
        with pytest.raises(OSError, match="No space left"):  # noqa: PT012 (fill until full)
            for i in range(64):
                (filler / str(i)).touch()
        cnilib.CNI(plugin_dirs=[str(tmp_path / "bin")], cache_dir=cache, timeout=30).delete(net, rt)
        assert [r.verb for r in plugin.records()] == ["DEL"]
        assert store.read("full", "c1", "eth0") is None
        assert not (cache / "locks").exists()
    finally:
        subprocess.run(["umount", str(cache)], capture_output=True, check=False, timeout=30)
