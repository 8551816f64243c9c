"""Interoperability with Go's libcni (Debian's v1.1.2, through ``cnigo``, a cnitool equivalent).

One configuration directory and one cache directory are shared: what one side ADDs, the other
CHECKs and DELs, on the real bridge chain (bridge + host-local + portmap + tuning at 1.0.0) and
on the founding scenario's single 0.2.0 ``.conf``. Then the cache files both sides write for the
same attachment are compared key by key.

What differs, by design (see the report in ``test_cache_files_match_key_by_key``):
- cnilib writes ``netns`` (newer libcni does too, and GC needs it to DEL a stale attachment);
  Go v1.1.2 has no such field and ignores it when reading;
- nothing else: key order, the base64 config, ``cniArgs``, ``capabilityArgs`` and the result
  (whose keys Go sorts, because it re-marshals the result through a map) are written alike.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gotools
import pytest

from cnilib import (
    CNI,
    CacheEntry,
    NetworkConfigList,
    PluginError,
    RuntimeConfig,
    VersionError,
    load_network,
    netns,
    parse_result,
)
from cnilib._cache import go_json_dumps

pytestmark = [pytest.mark.go, pytest.mark.root]

PLUGIN_DIR = "/usr/lib/cni"
HOST_PORT = 28080
CNI_ARGS = [("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web")]
CAPS = {"portMappings": [{"hostPort": HOST_PORT, "containerPort": 80, "protocol": "tcp"}]}


@pytest.fixture(scope="session")
def cnigo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not gotools.go_available():
        pytest.skip("needs the Go toolchain and Debian's golang-github-appc-cni-dev")
    return gotools.build_cnigo(tmp_path_factory.mktemp("cnigo"))


def container_id(path: str) -> str:
    """cnitool's rule: "cnitool-" + hex of the first 10 bytes of SHA-512(abs netns path)."""
    return "cnitool-" + hashlib.sha512(os.path.abspath(path).encode()).digest()[:10].hex()


class Shared:
    """A configuration directory, a cache directory and stores shared by cnigo and cnilib."""

    def __init__(self, tmp_path: Path, host: netns.NetNS, cnigo: Path) -> None:
        self.root = tmp_path
        self.confdir = tmp_path / "net.d"
        self.confdir.mkdir()
        self.cache_dir = tmp_path / "cache"
        self.ipam = tmp_path / "ipam"
        self.host = host
        self.cnigo = cnigo
        self.bridges: list[str] = []

    def write_chain(self) -> str:
        self.bridges.append("cnigochain0")
        conf = {
            "cniVersion": "1.0.0",
            "name": "gochain",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cnigochain0",
                    "isGateway": True,
                    "ipMasq": True,
                    "ipam": {
                        "type": "host-local",
                        "subnet": "10.46.1.0/24",
                        "dataDir": str(self.ipam),
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
                {
                    "type": "tuning",
                    "sysctl": {"net.core.somaxconn": "514"},
                    "dataDir": str(self.root / "tuning"),
                },
            ],
        }
        (self.confdir / "20-gochain.conflist").write_text(json.dumps(conf, indent=4))
        return "gochain"

    def write_founding(self) -> str:
        # The founding scenario's configuration (seed-scenario.md) with a bridge and subnet of
        # its own, so it cannot meet the other tests' networks in the shared host namespace.
        self.bridges.append("cnigo02")
        conf = {
            "cniVersion": "0.2.0",
            "name": "mybridge",
            "type": "bridge",
            "bridge": "cnigo02",
            "isGateway": True,
            "ipMasq": True,
            "ipam": {
                "type": "host-local",
                "subnet": "10.46.30.0/24",
                "routes": [{"dst": "0.0.0.0/0"}, {"dst": "1.1.1.1/32", "gw": "10.46.30.1"}],
                "rangeStart": "10.46.30.100",
                "rangeEnd": "10.46.30.200",
                "gateway": "10.46.30.99",
                "dataDir": str(self.ipam),
            },
        }
        (self.confdir / "10-mybridge.conf").write_text(json.dumps(conf, indent=4))
        return "mybridge"

    def go(
        self, verb: str, network: str, ns: netns.NetNS, *, caps: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "NETCONFPATH": str(self.confdir),
            "CNI_PATH": PLUGIN_DIR,
            "CNI_CACHE_DIR": str(self.cache_dir),
            "CNI_ARGS": ";".join(f"{k}={v}" for k, v in CNI_ARGS),
        }
        if caps:
            env["CAP_ARGS"] = json.dumps(CAPS)
        return gotools.run_cnigo(self.cnigo, [verb, network, ns.path], env,
                                 host_netns=self.host.path)  # fmt: skip

    def cni(self) -> CNI:
        return CNI([PLUGIN_DIR], self.cache_dir, timeout=60,
                   argv_prefix=netns.enter_argv(self.host.path))  # fmt: skip

    def rt(self, ns: netns.NetNS, *, caps: bool = True) -> RuntimeConfig:
        return RuntimeConfig(
            container_id=container_id(ns.path),
            netns=ns.path,
            ifname="eth0",
            args=CNI_ARGS,
            capability_args=CAPS if caps else {},
        )

    def cache_file(self, network: str, ns: netns.NetNS) -> Path:
        return self.cache_dir / "results" / f"{network}-{container_id(ns.path)}-eth0"

    def store_clean(self, network: str) -> bool:
        d = self.ipam / network
        files = [p.name for p in d.iterdir()] if d.exists() else []
        return all(f == "lock" or f.startswith("last_reserved_ip.") for f in files)

    def dnat(self) -> bool:
        return f"--dport {HOST_PORT}" in self.host.run(["iptables-save", "-t", "nat"]).stdout


@pytest.fixture
def shared(tmp_path: Path, host_ns: netns.NetNS, cnigo: Path) -> Iterator[Shared]:
    s = Shared(tmp_path, host_ns, cnigo)
    try:
        yield s
    finally:
        for bridge in s.bridges:
            host_ns.run(["ip", "link", "del", bridge], check=False)


def best_effort_del(shared: Shared, network: str, ns: netns.NetNS) -> None:
    with contextlib.suppress(Exception):
        shared.cni().delete(load_network(shared.confdir, network), shared.rt(ns))


def ok(proc: subprocess.CompletedProcess[bytes]) -> bytes:
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


# -- the 1.0.0 chain ------------------------------------------------------------------------------


def test_chain_added_by_go_checked_and_deleted_by_cnilib(
    shared: Shared, ctr_ns: Callable[[], netns.NetNS]
) -> None:
    network = shared.write_chain()
    ctr = ctr_ns()
    try:
        printed = json.loads(ok(shared.go("add", network, ctr)))
        conflist = load_network(shared.confdir, network)
        cni = shared.cni()
        # cnilib reads Go's cache entry (no netns in it) and gets the result Go printed.
        cached = cni.cached_result(conflist, shared.rt(ctr))
        assert cached is not None
        assert cached.to_dict() == printed
        cached_cfg = cni.cached_config(conflist, shared.rt(ctr))
        assert cached_cfg is not None
        assert cached_cfg[0] == conflist.bytes
        assert cached_cfg[1].args == tuple(CNI_ARGS)
        assert cached_cfg[1].capability_args == CAPS
        assert shared.dnat()

        # The portmap quirk, the same on both sides: CHECK with portMappings fails ...
        go_check = shared.go("check", network, ctr)
        assert go_check.returncode == 1
        assert b"could not check ipv6 dnat" in go_check.stderr
        with pytest.raises(PluginError, match="could not check ipv6 dnat"):
            cni.check(conflist, shared.rt(ctr))
        # ... and passes without capability args.
        cni.check(conflist, shared.rt(ctr, caps=False))

        cni.delete(conflist, shared.rt(ctr))
        assert not shared.cache_file(network, ctr).exists()
        assert shared.store_clean(network)
        assert not shared.dnat()
        assert ctr.run(["ip", "link", "show", "eth0"], check=False).returncode != 0
        ok(shared.go("del", network, ctr))  # and Go's DEL after ours is fine
    finally:
        best_effort_del(shared, network, ctr)


def test_chain_added_by_cnilib_checked_and_deleted_by_go(
    shared: Shared, ctr_ns: Callable[[], netns.NetNS]
) -> None:
    network = shared.write_chain()
    ctr = ctr_ns()
    try:
        cni = shared.cni()
        conflist = load_network(shared.confdir, network)
        result = cni.add(conflist, shared.rt(ctr))
        assert result is not None
        assert shared.cache_file(network, ctr).exists()
        ok(shared.go("check", network, ctr, caps=False))
        ok(shared.go("del", network, ctr))
        assert not shared.cache_file(network, ctr).exists()
        assert shared.store_clean(network)
        assert not shared.dnat()
        cni.delete(conflist, shared.rt(ctr))  # and our DEL after Go's is fine
    finally:
        best_effort_del(shared, network, ctr)


def _key_tree(value: Any) -> Any:
    """The structure of a JSON value: object keys in order, leaves replaced by their type."""
    if isinstance(value, dict):
        return [(k, _key_tree(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_key_tree(v) for v in value]
    return type(value).__name__


def test_cache_files_match_key_by_key(shared: Shared, ctr_ns: Callable[[], netns.NetNS]) -> None:
    network = shared.write_chain()
    ctr = ctr_ns()
    path = shared.cache_file(network, ctr)
    try:
        ok(shared.go("add", network, ctr))
        go_bytes = path.read_bytes()
        ok(shared.go("del", network, ctr))
        conflist = load_network(shared.confdir, network)
        shared.cni().add(conflist, shared.rt(ctr))
        ours_bytes = path.read_bytes()
        shared.cni().delete(conflist, shared.rt(ctr))
    finally:
        best_effort_del(shared, network, ctr)

    go = json.loads(go_bytes)
    ours = json.loads(ours_bytes)
    # Same keys in the same order; the one addition is netns, where newer libcni puts it.
    assert list(go) == [
        "kind", "containerId", "config", "ifName", "networkName", "cniArgs", "capabilityArgs",
        "result",
    ]  # fmt: skip
    assert list(ours) == [*list(go)[:5], "netns", *list(go)[5:]]
    assert ours["netns"] == ctr.path
    for key in ("kind", "containerId", "config", "ifName", "networkName", "cniArgs",
                "capabilityArgs"):  # fmt: skip
        assert ours[key] == go[key], key
    assert base64.b64decode(go["config"]) == conflist.bytes  # the file's bytes, as read
    # The results differ only in values the plugins choose (MACs, veth names, the address):
    # their key structure, key order included (sorted, as Go re-marshals through a map), is equal.
    assert _key_tree(ours["result"]) == _key_tree(go["result"])
    assert list(go["result"]) == sorted(go["result"])
    # Byte for byte: our writer reproduces Go's file exactly from its content ...
    assert CacheEntry.from_json_bytes(go_bytes).to_json_bytes() == go_bytes
    # ... and our file without the netns member is what Go writes for the same content.
    without_netns = ours_bytes.replace(b',"netns":' + json.dumps(ctr.path).encode(), b"")
    entry = CacheEntry.from_json_bytes(without_netns)
    assert entry.netns == ""
    assert entry.to_json_bytes() == without_netns


# -- the founding 0.2.0 .conf ---------------------------------------------------------------------


def test_founding_conf_both_ways(shared: Shared, ctr_ns: Callable[[], netns.NetNS]) -> None:
    network = shared.write_founding()
    conflist = load_network(shared.confdir, network)
    assert conflist.cni_version == "0.2.0"
    cni = shared.cni()
    ctr = ctr_ns()
    path = shared.cache_file(network, ctr)
    try:
        # Go ADDs, cnilib reads, (cannot) CHECK, DELs.
        printed = json.loads(ok(shared.go("add", network, ctr, caps=False)))
        assert printed["ip4"]["ip"] == "10.46.30.100/24"
        assert printed["ip4"]["gateway"] == "10.46.30.99"
        go_bytes = path.read_bytes()
        rt = shared.rt(ctr, caps=False)
        cached = cni.cached_result(conflist, rt)
        assert cached is not None
        assert cached.to_dict() == printed
        with pytest.raises(VersionError):
            cni.check(conflist, rt)
        go_check = shared.go("check", network, ctr, caps=False)
        assert go_check.returncode == 1
        assert b"does not support the CHECK command" in go_check.stderr
        cni.delete(conflist, rt)
        assert not path.exists()
        assert shared.store_clean(network)

        # cnilib ADDs, Go DELs.
        result = cni.add(conflist, rt)
        assert result is not None
        assert result.to_dict()["ip4"]["ip"].startswith("10.46.30.")
        ours_bytes = path.read_bytes()
        ok(shared.go("del", network, ctr, caps=False))
        assert not path.exists()
        assert shared.store_clean(network)
    finally:
        best_effort_del(shared, network, ctr)

    go, ours = json.loads(go_bytes), json.loads(ours_bytes)
    # A .conf is wrapped as a list; libcni re-marshals the wrapper with sorted keys, and the
    # cache holds that wrapper: cnilib's is byte-identical.
    assert base64.b64decode(ours["config"]) == base64.b64decode(go["config"])
    assert base64.b64decode(go["config"]) == conflist.bytes
    assert list(ours) == [*list(go)[:5], "netns", *list(go)[5:]]
    assert _key_tree(ours["result"]) == _key_tree(go["result"])
    assert parse_result(go["result"]).cni_version == "0.2.0"


def test_go_reads_a_cnilib_entry_with_a_netns_member(
    shared: Shared, ctr_ns: Callable[[], netns.NetNS]
) -> None:
    # Go v1.1.2 ignores the unknown netns member: its DEL gets the cached prevResult (1.0.0).
    network = shared.write_chain()
    ctr = ctr_ns()
    try:
        conflist = load_network(shared.confdir, network)
        shared.cni().add(conflist, shared.rt(ctr, caps=False))
        entry = json.loads(shared.cache_file(network, ctr).read_bytes())
        assert "netns" in entry
        # Corrupt nothing else: Go's CHECK passes only if it decoded the entry and the result.
        ok(shared.go("check", network, ctr, caps=False))
        ok(shared.go("del", network, ctr, caps=False))
        assert shared.store_clean(network)
    finally:
        best_effort_del(shared, network, ctr)


def test_the_list_object_matches_what_go_loads(shared: Shared) -> None:
    # Same directory, same lookup rules: cnilib picks the file Go picks, and keeps its bytes.
    shared.write_chain()
    shared.write_founding()
    chain = load_network(shared.confdir, "gochain")
    assert chain.source == str(shared.confdir / "20-gochain.conflist")
    assert chain.bytes == (shared.confdir / "20-gochain.conflist").read_bytes()
    founding = load_network(shared.confdir, "mybridge")
    assert isinstance(founding, NetworkConfigList)
    assert json.loads(founding.bytes)["plugins"][0]["type"] == "bridge"


def test_wrapped_conf_bytes_with_unusual_values(shared: Shared, ctr_ns: Callable[[], netns.NetNS]) -> None:
    conf = (
        '{"cniVersion": "1.0.0", "name": "lonet", "type": "loopback", "note": "<\u00e9&>", '
        '"ratio": 1.0, "big": 12345678901234567890, "tiny": 1e-7}'
    )
    (shared.confdir / "10-lonet.conf").write_text(conf)
    ctr = ctr_ns()
    ok(shared.go("add", "lonet", ctr, caps=False))
    try:
        go = json.loads(shared.cache_file("lonet", ctr).read_bytes())
    finally:
        ok(shared.go("del", "lonet", ctr, caps=False))
    go_config = base64.b64decode(go["config"])
    conflist = load_network(shared.confdir, "lonet")
    assert go_json_dumps(conflist.raw).encode() == go_config  # what cnilib could write
    assert conflist.bytes == go_config
