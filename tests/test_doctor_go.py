# pytest fixtures are parameters: their number says nothing here
"""``cnilib doctor`` on attachments Go's cnitool made (Debian's libcni 1.1.2, through ``cnigo``) in
the same cache directory: their entries record no netns (the cached result's sandbox says where
it was), and are read and fixed like cnilib's own."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import gotools
import pytest
from doctor_support import PLUGIN_DIR, Node, ids_of
from leaks_support import port_mappings, store
from test_scenario import sandbox_clean  # noqa: F401 (the autouse clean-up)

from cnilib import netns

pytestmark = [pytest.mark.go, pytest.mark.root]

HOST_PORT = 28471


@pytest.fixture(scope="module")
def cnigo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not gotools.go_available():
        pytest.skip("needs the Go toolchain and Debian's golang-github-appc-cni-dev")
    return gotools.build_cnigo(tmp_path_factory.mktemp("cnigo"))


@pytest.fixture
def node(tmp_path: Path, host_ns: netns.NetNS) -> Iterator[Node]:
    n = Node(tmp_path, host_ns, bridge="cnidocgo0", subnet="10.62.3.0/24")
    try:
        yield n
    finally:
        n.close()


def cnitool_id(path: str) -> str:
    return "cnitool-" + hashlib.sha512(os.path.abspath(path).encode()).digest()[:10].hex()


def go(node: Node, cnigo: Path, verb: str, netns_path: str, port: int) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "NETCONFPATH": str(node.confdir),
        "CNI_PATH": PLUGIN_DIR,
        "CNI_CACHE_DIR": str(node.cache_dir),
        "CAP_ARGS": json.dumps(port_mappings(port)),
    }
    proc = gotools.run_cnigo(cnigo, [verb, "docnet", netns_path], env, host_netns=node.host.path)
    assert proc.returncode == 0, proc.stderr.decode()


def test_cnitool_attachments_are_read_and_fixed_like_cnilibs(node: Node, cnigo: Path) -> None:
    node.write_network()
    gone, live = node.container("go-gone"), node.container("go-live")
    go(node, cnigo, "add", gone.path, HOST_PORT)
    go(node, cnigo, "add", live.path, HOST_PORT + 1)
    gone_id, live_id = cnitool_id(gone.path), cnitool_id(live.path)
    live_file = node.cache_dir / "results" / f"docnet-{live_id}-eth0"
    assert "netns" not in json.loads(live_file.read_bytes())  # libcni 1.1.2 records none
    before = node.snapshot("docnet", live_id, live, live_file)
    gone.reboot()

    status, report = node.doctor_json()
    assert status == 1, report
    assert ids_of(report) == [gone_id]
    [finding] = report["findings"]
    assert finding["kind"] == "stale_attachment"
    assert any("the cached result's sandbox" in e for e in finding["evidence"]), finding

    status, fixed = node.doctor_json("--fix")
    assert status == 0, fixed
    assert set(store(node.data_dir, "docnet").values()) == {live_id}
    assert node.nat_of("docnet", gone_id) == []
    assert sorted(os.listdir(node.cache_dir / "results")) == [live_file.name]
    assert node.snapshot("docnet", live_id, live, live_file) == before
    assert node.doctor().returncode == 0
    go(node, cnigo, "del", live.path, HOST_PORT + 1)  # Go's DEL of the live one still works
    assert store(node.data_dir, "docnet") == {}
