# pytest fixtures are parameters: their number says nothing here
"""``cnilib doctor`` on a real node: Debian's plugins in the sandbox host namespace, containers in
namespaces of the test's own, the doctor as a process (``nsenter --net=HOST cnilib doctor``).

Traffic only goes from the sandbox host namespace to a container namespace made here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from doctor_support import Node, ids_of
from leaks_support import dnat_rules, port_mappings, store
from test_scenario import http_get, httpd, sandbox_clean  # noqa: F401 (the autouse clean-up)

import cnilib
from cnilib import netns

pytestmark = [pytest.mark.root]

HOST_PORT = 28431


@pytest.fixture
def node(tmp_path: Path, host_ns: netns.NetNS, request: pytest.FixtureRequest) -> Iterator[Node]:
    index = sum(map(ord, request.node.name)) % 200
    n = Node(tmp_path, host_ns, bridge=f"cnidoc{index}", subnet=f"10.61.{index}.0/24")
    try:
        yield n
    finally:
        n.close()


def _forwarded(node: Node) -> list[str]:
    """portmap's DNAT rules in the sandbox host namespace."""
    return [r for r in dnat_rules(node.host.path) if "--to-destination" in r]


def _cache_file(node: Node, network: str, cid: str) -> Path:
    return node.cache_dir / "results" / f"{network}-{cid}-eth0"


def test_two_rebooted_containers_are_freed_and_the_live_one_is_untouched(node: Node, tmp_path: Path) -> None:
    conflist = node.write_network()
    cni = node.cni()
    ids = ["doc-a", "doc-b", "doc-live"]
    ctrs = {cid: node.container(cid) for cid in ids}
    for i, cid in enumerate(ids):
        rt = cnilib.RuntimeConfig(
            container_id=cid,
            netns=ctrs[cid].path,
            ifname="eth0",
            capability_args=port_mappings(HOST_PORT + i),
        )
        cni.add(conflist, rt)
    assert len(store(node.data_dir, "docnet")) == 3
    assert len(_forwarded(node)) == 3
    live = ctrs["doc-live"]
    address = cni.cached_attachments("doc-live")[0].result["ips"][0]["address"].split("/")[0]  # type: ignore[index]
    before = node.snapshot("docnet", "doc-live", live, _cache_file(node, "docnet", "doc-live"))
    ctrs["doc-a"].reboot()
    ctrs["doc-b"].reboot()
    assert Path(ctrs["doc-a"].path).stat().st_size == 0  # the empty file a reboot leaves

    status, report = node.doctor_json()
    assert status == 1, report
    assert ids_of(report) == ["doc-a", "doc-b"]
    assert {f["kind"] for f in report["findings"]} == {"stale_attachment"}
    assert all(f["fixable"] and f["fixed"] is None for f in report["findings"])
    evidence = report["findings"][0]["evidence"]
    assert any("not a network namespace" in e for e in evidence), evidence
    assert any("CNI-DN-" in e for e in evidence), evidence  # the chains it holds are named
    assert report["checked"]["attachments"] == 3

    status, fixed = node.doctor_json("--fix")
    assert status == 0, fixed
    assert ids_of(fixed) == ["doc-a", "doc-b"]
    assert all(f["fixed"] for f in fixed["findings"])
    # Their addresses, chains, DNAT rules and entries are gone ...
    assert set(store(node.data_dir, "docnet").values()) == {"doc-live"}
    assert node.nat_of("docnet", "doc-a") == []
    assert node.nat_of("docnet", "doc-b") == []
    assert [r.split()[-1] for r in _forwarded(node)] == [f"{address}:80"]
    assert sorted(os.listdir(node.cache_dir / "results")) == ["docnet-doc-live-eth0"]
    # ... the live one is as it was, and still answers from the host side.
    assert node.snapshot("docnet", "doc-live", live, _cache_file(node, "docnet", "doc-live")) == before
    (tmp_path / "www").mkdir()
    gateway = address.rsplit(".", 1)[0] + ".1"
    with httpd(live.path, tmp_path / "www"):
        assert "hello" in http_get(node.host.path, f"http://{address}/")
        assert "hello" in http_get(node.host.path, f"http://{gateway}:{HOST_PORT + 2}/")  # its DNAT
    assert node.doctor().returncode == 0
    cni.delete(conflist, cnilib.RuntimeConfig(container_id="doc-live", netns=live.path, ifname="eth0"))


def test_an_untracked_reservation_is_released_through_host_locals_del(node: Node) -> None:
    conflist = node.write_network(portmap=False)
    cni = node.cni()
    killed, live = node.container("doc-killed"), node.container("doc-kept")
    for cid, ctr in (("doc-killed", killed), ("doc-kept", live)):
        cni.add(conflist, cnilib.RuntimeConfig(container_id=cid, netns=ctr.path, ifname="eth0"))
    before = node.snapshot("docnet", "doc-kept", live, _cache_file(node, "docnet", "doc-kept"))
    # A runtime killed before it wrote its cache entry (libcni writes it after the last plugin).
    _cache_file(node, "docnet", "doc-killed").unlink()
    killed.reboot()
    [held] = [p for p, cid in store(node.data_dir, "docnet").items() if cid == "doc-killed"]
    reservation = node.data_dir / "docnet" / held

    status, report = node.doctor_json()
    assert status == 0, report  # younger than the grace period: maybe an ADD in progress
    os.utime(reservation, (time.time() - 3600, time.time() - 3600))
    status, report = node.doctor_json()
    assert status == 1
    assert ids_of(report, "orphan_reservation") == ["doc-killed"]
    assert ids_of(report) == ["doc-killed", "doc-killed"]  # and its ipMasq chain
    assert {f["kind"] for f in report["findings"]} == {"orphan_reservation", "orphan_chain"}

    status, fixed = node.doctor_json("--fix")
    assert status == 0, fixed
    assert not reservation.exists()
    assert node.nat_of("docnet", "doc-killed") == []
    assert node.snapshot("docnet", "doc-kept", live, _cache_file(node, "docnet", "doc-kept")) == before
    assert node.doctor().returncode == 0


# A process that keeps a namespace alive through a socket made in it: nothing names the namespace
# any more (no process is in it, no descriptor or mount holds it), as a leaked kernel socket does.
_PIN = """
import ctypes, os, socket, sys, time
libc = ctypes.CDLL(None, use_errno=True)
home = os.open("/proc/self/ns/net", os.O_RDONLY)
there = os.open(sys.argv[1], os.O_RDONLY)
assert libc.setns(there, 0x40000000) == 0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
assert libc.setns(home, 0x40000000) == 0
os.close(there)
os.close(home)
print("pinned", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("entry", ["kept", "lost"])
def test_a_veth_into_a_namespace_nothing_uses_is_removed(node: Node, entry: str) -> None:
    conflist = node.write_network(portmap=False)
    cni = node.cni()
    ctr, live = node.container("doc-pinned"), node.container("doc-kept")
    for cid, c in (("doc-pinned", ctr), ("doc-kept", live)):
        cni.add(conflist, cnilib.RuntimeConfig(container_id=cid, netns=c.path, ifname="eth0"))
    before = node.snapshot("docnet", "doc-kept", live, _cache_file(node, "docnet", "doc-kept"))
    pin = subprocess.Popen(
        [sys.executable, "-c", _PIN, ctr.path], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert pin.stdout is not None
        assert pin.stdout.readline() == "pinned\n"
        ctr.reboot()
        if entry == "lost":  # (its reservation and chain are younger than the grace period)
            _cache_file(node, "docnet", "doc-pinned").unlink()
        ports = node.host.run(["ip", "-br", "link", "show", "master", node.bridge]).stdout.splitlines()
        assert len(ports) == 2  # the pinned one's veth outlives the namespace's last name
        status, report = node.doctor_json()
        assert status == 1
        kinds = sorted(f["kind"] for f in report["findings"])
        [veth] = [f for f in report["findings"] if f["kind"] == "orphan_interface"]
        if entry == "kept":
            # The stale attachment's DEL removes the veth (the engine's sweep: the cached MAC address).
            assert kinds == ["orphan_interface", "stale_attachment"], report
            assert veth["container_id"] == "doc-pinned"  # the cached result names its host veth
        else:
            # Nothing names it: the doctor's own repair removes it (the same sweep, through the engine).
            assert kinds == ["orphan_interface"], report
            assert veth["container_id"] == ""
        status, fixed = node.doctor_json("--fix")
        assert status == 0, fixed
        after = node.snapshot("docnet", "doc-kept", live, _cache_file(node, "docnet", "doc-kept"))
        assert after == before
        assert len(after["host_veth"]) == 1
        ports = node.host.run(["ip", "-br", "link", "show", "master", node.bridge]).stdout.splitlines()
        assert [p.split("@")[0] for p in ports] == [after["host_veth"][0][0]]  # the pinned one's is gone
        assert all(f["fixed"] for f in fixed["findings"])
        assert node.doctor().returncode == 0
    finally:
        pin.kill()
        pin.wait()
        if pin.stdout is not None:
            pin.stdout.close()


def test_an_unreachable_source_is_an_error_and_nothing_is_fixed(node: Node, tmp_path: Path) -> None:
    conflist = node.write_network(portmap=False)
    cni = node.cni()
    ctr = node.container("doc-gone")
    cni.add(conflist, cnilib.RuntimeConfig(container_id="doc-gone", netns=ctr.path, ifname="eth0"))
    ctr.reboot()
    entries = sorted(os.listdir(node.cache_dir / "results"))
    held = store(node.data_dir, "docnet")
    nat = node.nat_of("docnet", "doc-gone")
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    for args in (["--source", "docker"], ["--source", "docker", "--fix"]):
        proc = node.doctor(*args, env=env)
        assert proc.returncode == 1
        assert proc.stdout == ""
        assert "cannot reach the Docker engine" in proc.stderr
        assert proc.stderr.count("\n") == 1
    assert sorted(os.listdir(node.cache_dir / "results")) == entries
    assert store(node.data_dir, "docnet") == held
    assert node.nat_of("docnet", "doc-gone") == nat
    assert node.doctor("--fix").returncode == 0  # without the source: fixed
