# pytest fixtures are parameters: their number says nothing here
"""The founding scenario with a real Docker container (``docker run --net=none``).

The private engine (conftest's ``dockerd``) runs in the sandbox host namespace with all of Docker's
own networking off; the plugins run there too (``host_prefix``). ``cnilib.docker.attach`` finds the
container's SandboxKey and full id through the Engine API and runs ADD; ``detach`` runs DEL.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_scenario import (  # the shared helpers and the autouse clean-up fixture
    EXAMPLE,
    PLUGIN_DIR,
    assert_founding_container,
    assert_founding_host,
    bridge_ports,
    cache_files,
    founding_config,
    http_get,
    iptables,
    link_names,
    masq_chains,
    per_container_chains,
    sandbox_clean,  # noqa: F401
    store_ips,
)

import cnilib
from cnilib import docker, netns
from cnilib.docker import DockerError
from cnilib.testing.dockerd import INDEX_HTML, PrivateDockerd, docker_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.docker,
    pytest.mark.skipif(not docker_available(), reason="needs root, docker.io and busybox-static"),
]


@pytest.fixture
def container(
    dockerd: PrivateDockerd, busybox_image: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """Factory: ``docker run -d --name NAME --network=NET IMAGE [CMD]``; all removed afterwards."""
    made: list[str] = []

    def run(net: str = "none", cmd: tuple[str, ...] | None = None) -> str:
        name = f"{request.node.name[:30]}-{len(made)}".replace("[", "-").replace("]", "")
        args: dict[str, Any] = {"net": net}
        if cmd is not None:
            args["cmd"] = cmd
        cid = dockerd.run_container(name, busybox_image, **args)
        made.append(cid)
        return cid

    try:
        yield run
    finally:
        for cid in made:
            dockerd.remove_container(cid)


@pytest.fixture
def cni(host_prefix: tuple[str, ...], tmp_path: Path) -> cnilib.CNI:
    return cnilib.CNI(
        plugin_dirs=[PLUGIN_DIR], cache_dir=tmp_path / "cache", argv_prefix=host_prefix, timeout=60
    )


def _fetch_when_ready(host: str, url: str) -> str:
    # The container's httpd starts with the container, possibly a moment after `docker run`.
    last: Exception | None = None
    for _ in range(40):
        try:
            return http_get(host, url, timeout=2)
        except netns.NetnsError as exc:
            last = exc
    raise AssertionError(f"GET {url} never succeeded: {last}")


def _host_state(host: str) -> tuple[list[str], list[str], list[str]]:
    return link_names(host), iptables(host, "nat"), iptables(host, "filter")


def test_founding_scenario_with_docker(
    cni: cnilib.CNI,
    dockerd: PrivateDockerd,
    container: Callable[..., str],
    host_ns: netns.NetNS,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    host = host_ns.path
    cid = container()
    info = docker.inspect(cid, host=dockerd.host)
    assert info.running
    assert info.network_mode == "none"
    assert info.sandbox_key.startswith(f"{dockerd.exec_root}/netns/")
    assert link_names(info.sandbox_key) == ["lo"]
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))

    result = docker.attach(cni, info.name, conflist, host=dockerd.host)

    assert isinstance(result, cnilib.Result020)
    assert result.to_dict() == {
        "cniVersion": "0.2.0",
        "ip4": {
            "ip": "10.15.30.100/24",
            "gateway": "10.15.30.99",
            "routes": [{"dst": "0.0.0.0/0"}, {"dst": "1.1.1.1/32", "gw": "10.15.30.1"}],
        },
        "dns": {},
    }
    # CNI_CONTAINERID is the full id, CNI_NETNS the SandboxKey (cached as libcni does)
    [entry] = cni.cached_attachments()
    assert (entry.container_id, entry.netns, entry.ifname) == (cid, info.sandbox_key, "eth0")
    assert cache_files(tmp_path / "cache") == [f"mybridge-{cid}-eth0"]

    ctr = info.sandbox_key
    assert_founding_container(ctr)
    assert_founding_host(host, data_dir)
    assert _fetch_when_ready(host, "http://10.15.30.100/") == INDEX_HTML

    docker.detach(cni, cid[:12], conflist, host=dockerd.host)

    assert link_names(ctr) == ["lo"]
    assert masq_chains(host, "10.15.30.100") == []
    assert per_container_chains(host) == set()
    assert store_ips(data_dir, "mybridge") == set()
    assert cache_files(tmp_path / "cache") == []
    assert bridge_ports(host, "cni_bridge1") == []


def test_async_attach_and_detach(
    host_prefix: tuple[str, ...],
    dockerd: PrivateDockerd,
    container: Callable[..., str],
    host_ns: netns.NetNS,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    cids = [container(), container()]
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))

    async def main() -> list[Any]:
        async with cnilib.AsyncCNI(
            plugin_dirs=[PLUGIN_DIR], cache_dir=tmp_path / "cache", argv_prefix=host_prefix
        ) as acni:
            results = await asyncio.gather(
                *(docker.async_attach(acni, cid, conflist, host=dockerd.host) for cid in cids)
            )
            bodies = [_fetch_when_ready(host_ns.path, f"http://{r.ip4.ip.split('/')[0]}/") for r in results]
            await asyncio.gather(
                *(docker.async_detach(acni, cid, conflist, host=dockerd.host) for cid in cids)
            )
            return [results, bodies]

    results, bodies = asyncio.run(main())
    assert sorted(r.ip4.ip for r in results) == ["10.15.30.100/24", "10.15.30.101/24"]
    assert bodies == [INDEX_HTML, INDEX_HTML]
    assert store_ips(data_dir, "mybridge") == set()
    assert bridge_ports(host_ns.path, "cni_bridge1") == []
    assert per_container_chains(host_ns.path) == set()


def test_detach_reuses_the_cached_capability_args(
    cni: cnilib.CNI,
    dockerd: PrivateDockerd,
    container: Callable[..., str],
    host_ns: netns.NetNS,
    data_dir: Path,
) -> None:
    """portmap's rules are made from portMappings at ADD; detach without them still removes them."""
    bridge = founding_config(data_dir)
    del bridge["cniVersion"], bridge["name"]
    conflist = cnilib.NetworkConfigList.from_dict(
        {
            "cniVersion": "1.0.0",
            "name": "mybridge",
            "plugins": [bridge, {"type": "portmap", "capabilities": {"portMappings": True}}],
        }
    )
    cid = container()
    mappings = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
    docker.attach(cni, cid, conflist, capability_args={"portMappings": mappings}, host=dockerd.host)
    assert _fetch_when_ready(host_ns.path, "http://10.15.30.99:8080/") == INDEX_HTML
    assert any(c.startswith("CNI-DN-") for c in per_container_chains(host_ns.path))
    docker.detach(cni, cid, conflist, host=dockerd.host)
    assert per_container_chains(host_ns.path) == set()
    assert not any("8080" in line for line in iptables(host_ns.path, "nat"))


def test_detach_of_a_removed_container_by_full_id(
    cni: cnilib.CNI,
    dockerd: PrivateDockerd,
    container: Callable[..., str],
    host_ns: netns.NetNS,
    data_dir: Path,
) -> None:
    """`docker rm -f` before DEL: detaching by the full id still frees the address.

    Its NAT chain stays: bridge 1.1.1's DEL without a netns only releases the IPAM address (it
    learns the addresses whose masquerading it removes from the container's interface), so detach
    a container before removing it. The test's clean-up fixture removes the leaked chain.
    """
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))
    cid = container()
    docker.attach(cni, cid, conflist, host=dockerd.host)
    assert store_ips(data_dir, "mybridge") == {"10.15.30.100"}
    dockerd.remove_container(cid)
    with pytest.raises(docker.ContainerNotFoundError, match="detach it by its full id"):
        docker.detach(cni, cid[:12], conflist, host=dockerd.host)
    docker.detach(cni, cid, conflist, host=dockerd.host)
    assert store_ips(data_dir, "mybridge") == set()
    assert cni.cached_attachments() == []
    assert len(masq_chains(host_ns.path, "10.15.30.100")) <= 1  # 1 with bridge 1.1.1, see above


def test_not_running_container_is_refused_and_nothing_applied(
    cni: cnilib.CNI,
    dockerd: PrivateDockerd,
    container: Callable[..., str],
    host_ns: netns.NetNS,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    cid = container()
    dockerd.stop_container(cid)
    before = _host_state(host_ns.path)
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))
    with pytest.raises(DockerError, match=r"is not running \(status 'exited'\)"):
        docker.attach(cni, cid, conflist, host=dockerd.host)
    assert _host_state(host_ns.path) == before
    assert "cni_bridge1" not in before[0]
    assert store_ips(data_dir, "mybridge") == set()
    assert cache_files(tmp_path / "cache") == []


@pytest.mark.parametrize("net", ["host", "bridge"])
def test_container_not_on_net_none_is_refused_and_nothing_applied(
    net: str,
    cni: cnilib.CNI,
    dockerd: PrivateDockerd,
    container: Callable[..., str],
    host_ns: netns.NetNS,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    # net=host is the sandbox host namespace dockerd runs in, never the machine's.
    cid = container(net=net, cmd=("sleep", "300"))
    before = _host_state(host_ns.path)
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))
    with pytest.raises(DockerError, match=rf"network mode '{net}'; start it with --net=none"):
        docker.attach(cni, cid, conflist, host=dockerd.host)
    with pytest.raises(DockerError, match=f"network mode '{net}'"):
        docker.detach(cni, cid, conflist, host=dockerd.host)
    assert _host_state(host_ns.path) == before  # no bridge, no veth, no rule
    assert store_ips(data_dir, "mybridge") == set()
    assert cache_files(tmp_path / "cache") == []


def test_failed_add_is_rolled_back(
    cni: cnilib.CNI,
    dockerd: PrivateDockerd,
    container: Callable[..., str],
    host_ns: netns.NetNS,
    data_dir: Path,
    tmp_path: Path,
) -> None:
    """bridge succeeds, tuning fails: attach deletes what bridge did before raising."""
    bridge = founding_config(data_dir)
    del bridge["cniVersion"], bridge["name"]
    conflist = cnilib.NetworkConfigList.from_dict(
        {
            "cniVersion": "1.0.0",
            "name": "mybridge",
            "plugins": [
                bridge,
                {"type": "tuning", "sysctl": {"net.ipv4.conf.eth0.cnilib_no_such_sysctl": "1"}},
            ],
        }
    )
    cid = container()
    ctr = docker.inspect(cid, host=dockerd.host).sandbox_key
    with pytest.raises(cnilib.PluginError, match="cnilib_no_such_sysctl") as info:
        docker.attach(cni, cid, conflist, host=dockerd.host)
    assert info.value.plugin == "tuning"
    assert any("rolled back" in note for note in getattr(info.value, "__notes__", []))
    assert link_names(ctr) == ["lo"]
    assert bridge_ports(host_ns.path, "cni_bridge1") == []  # the bridge stays; its veth is gone
    assert [n for n in link_names(host_ns.path) if n.startswith("veth")] == []
    assert per_container_chains(host_ns.path) == set()
    assert store_ips(data_dir, "mybridge") == set()
    assert cache_files(tmp_path / "cache") == []


def test_example_script_runs_the_docker_path() -> None:
    """examples/founding_scenario.py --docker: the README's main job with its own engine."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--docker"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "path: docker" in proc.stdout
    assert "path: docker watch" in proc.stdout  # the same container, attached by its label
    assert proc.stdout.splitlines()[-1].startswith("PASS: ")
