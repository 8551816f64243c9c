# pytest fixtures are parameters: their number says nothing here
"""``cnilib doctor --source docker`` with the suite's private Docker engine: a container attached
with ``cnilib docker attach`` and removed with ``docker rm -f`` while nothing watched is found and
freed; a running one is untouched."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from doctor_support import CNILIB, PLUGIN_DIR, Node, ids_of
from leaks_support import port_mappings, store
from test_scenario import sandbox_clean  # noqa: F401 (the autouse clean-up)

from cnilib import netns
from cnilib.testing.dockerd import PrivateDockerd, docker_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.docker,
    pytest.mark.skipif(not docker_available(), reason="needs root, docker.io and busybox-static"),
]

HOST_PORT = 28491


@pytest.fixture
def node(tmp_path: Path, host_ns: netns.NetNS) -> Iterator[Node]:
    n = Node(tmp_path, host_ns, bridge="cnidocdk0", subnet="10.62.4.0/24")
    try:
        yield n
    finally:
        n.close()


def attach(node: Node, dockerd: PrivateDockerd, container: str, port: int) -> None:
    argv = [
        *netns.enter_argv(node.host.path), str(CNILIB), "docker", "attach",
        "--docker-host", dockerd.host, "--conf-dir", str(node.confdir),
        "--cache-dir", str(node.cache_dir), "--cni-path", PLUGIN_DIR, container, "docnet",
    ]  # fmt: skip
    env = {**os.environ, "CAP_ARGS": json.dumps(port_mappings(port))}
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr


def test_a_removed_docker_container_is_found_and_freed(
    node: Node, dockerd: PrivateDockerd, busybox_image: str
) -> None:
    node.write_network()
    made = []
    try:
        for name in ("doctor-removed", "doctor-running"):
            made.append(dockerd.run_container(name, busybox_image))
            attach(node, dockerd, name, HOST_PORT + len(made))
        removed, running = made
        live_file = node.cache_dir / "results" / f"docnet-{running}-eth0"
        sandbox = json.loads(live_file.read_bytes())["netns"]
        before = node.snapshot("docnet", running, sandbox, live_file)
        dockerd.remove_container(removed)  # docker rm -f, nothing watching

        status, report = node.doctor_json("--source", "docker", "--docker-host", dockerd.host)
        assert status == 1, report
        assert ids_of(report) == [removed]
        [finding] = report["findings"]
        assert finding["kind"] == "stale_attachment"
        assert "docker: the container does not exist" in finding["evidence"]
        assert report["checked"]["sources"] == ["netns", "docker"]

        status, fixed = node.doctor_json("--fix", "--source", "docker", "--docker-host", dockerd.host)
        assert status == 0, fixed
        assert set(store(node.data_dir, "docnet").values()) == {running}
        assert node.nat_of("docnet", removed) == []
        assert sorted(os.listdir(node.cache_dir / "results")) == [live_file.name]
        assert node.snapshot("docnet", running, sandbox, live_file) == before
        assert node.doctor("--source", "docker", "--docker-host", dockerd.host).returncode == 0
    finally:
        for cid in made:
            dockerd.remove_container(cid)
        node.doctor("--fix")  # whatever a failure left attached
