"""The ``cnilib`` executable with Debian's real plugins, in sandbox namespaces.

Like cnitool, the CLI runs plugins in its own network namespace, so every run here is the real
executable under ``nsenter --net=<sandbox host namespace> --``: bridges, veths and iptables rules
live and die in that namespace. Container namespaces come from ``ip netns add`` (``ctr_ns``) or
from a private Docker engine. Traffic only goes between these namespaces.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli import CLI, Run, cnitool_id
from test_scenario import (  # the shared helpers and the autouse clean-up fixture
    INDEX,
    PLUGIN_DIR,
    addrs,
    assert_founding_container,
    assert_founding_host,
    bridge_ports,
    founding_config,
    http_get,
    httpd,
    ip_json,
    iptables,
    link_names,
    masq_chains,
    per_container_chains,
    sandbox_clean,  # noqa: F401
    store_ips,
)

from cnilib import netns
from cnilib.testing.dockerd import INDEX_HTML, PrivateDockerd, docker_available
from cnilib.testing.plugins import recording_plugin

pytestmark = [pytest.mark.root]

FOUNDING_OUTPUT = """{
    "cniVersion": "0.2.0",
    "ip4": {
        "ip": "10.15.30.100/24",
        "gateway": "10.15.30.99",
        "routes": [
            {
                "dst": "0.0.0.0/0"
            },
            {
                "dst": "1.1.1.1/32",
                "gw": "10.15.30.1"
            }
        ]
    },
    "dns": {}
}"""


@pytest.fixture
def real(tmp_path: Path, host_ns: netns.NetNS) -> CLI:
    """The CLI with the real plugins, run inside the sandbox host namespace."""
    return CLI(tmp_path, plugin_dirs=[PLUGIN_DIR], prefix=netns.enter_argv(host_ns.path))


def ok(run: Run) -> Run:
    assert run.rc == 0, run
    return run


def failed(run: Run) -> str:
    assert run.rc == 1, run
    assert len(run.err_lines) == 1, run
    assert run.out == ""
    return run.err_lines[0]


def mtu(ns: str, dev: str) -> int:
    [link] = ip_json(ns, "link", "show", "dev", dev)
    return int(link["mtu"])


# -- the founding scenario ----------------------------------------------------------------------


def test_founding_scenario(
    real: CLI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    host = host_ns.path
    ctr = ctr_ns()
    real.write_conf("10-mybridge.conf", founding_config(data_dir))
    cid = cnitool_id(ctr.path)
    www = tmp_path / "www"
    www.mkdir()
    with httpd(ctr.path, www):
        run = ok(real.run("add", "mybridge", ctr.path))
        assert run.out == FOUNDING_OUTPUT  # byte for byte what cnitool prints
        assert run.err == ""

        assert_founding_container(ctr.path)
        assert_founding_host(host, data_dir)
        assert real.cache_files() == [f"mybridge-{cid}-eth0"]
        assert http_get(host, "http://10.15.30.100/") == INDEX

        # CHECK does not exist for a 0.2.0 configuration (cnitool fails the same way)
        assert "does not support CHECK" in failed(real.run("check", "mybridge", ctr.path))

        listed = ok(real.run("cache", "list", "--json")).json()["attachments"]
        assert [(a["networkName"], a["containerId"], a["netns"]) for a in listed] == [
            ("mybridge", cid, ctr.path)
        ]

        run = ok(real.run("del", "mybridge", ctr.path))
        assert (run.out, run.err) == ("", "")

    assert link_names(ctr.path) == ["lo"]
    assert masq_chains(host, "10.15.30.100") == []
    assert per_container_chains(host) == set()
    assert store_ips(data_dir, "mybridge") == set()
    assert real.cache_files() == []
    assert bridge_ports(host, "cni_bridge1") == []
    ok(real.run("del", "mybridge", ctr.path))  # DEL twice succeeds


def test_explain_of_the_founding_configuration_runs_nothing(
    real: CLI, host_ns: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], data_dir: Path
) -> None:
    ctr = ctr_ns()
    conf = founding_config(data_dir)
    real.write_conf("10-mybridge.conf", conf)
    [call] = ok(real.run("explain", "add", "mybridge", ctr.path, "--json")).json()
    assert call["pluginPath"] == f"{PLUGIN_DIR}/bridge"
    assert call["stdin"] == conf
    assert call["env"] == {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": cnitool_id(ctr.path),
        "CNI_NETNS": ctr.path,
        "CNI_ARGS": "",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": PLUGIN_DIR,
    }
    assert link_names(ctr.path) == ["lo"]
    assert "cni_bridge1" not in link_names(host_ns.path)
    assert store_ips(data_dir, "mybridge") == set()


# -- every cnitool form with a 1.0.0 list -------------------------------------------------------


def _web_list(data_dir: Path) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": "web",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni_web0",
                "isGateway": True,
                "ipam": {"type": "host-local", "subnet": "10.16.0.0/24", "dataDir": str(data_dir)},
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "tuning", "mtu": 1400},
        ],
    }


def test_cnitool_forms_with_a_conflist(
    real: CLI, host_ns: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], data_dir: Path
) -> None:
    host = host_ns.path
    a, b = ctr_ns(), ctr_ns()
    real.write_conf("20-web.conflist", _web_list(data_dir))
    cap = json.dumps({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
    env = {"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web", "CAP_ARGS": cap}

    result = ok(real.run("add", "web", a.path, "-i", "net1", env=env)).json()
    assert result["cniVersion"] == "1.0.0"
    [ctr_if] = [i for i in result["interfaces"] if i.get("sandbox")]
    assert ctr_if == {"name": "net1", "mac": ctr_if["mac"], "sandbox": a.path}
    [ip] = result["ips"]
    assert ip["address"].startswith("10.16.0.")
    assert link_names(a.path) == ["lo", "net1"]
    assert mtu(a.path, "net1") == 1400  # tuning ran after bridge
    assert any("--dport 8080" in line for line in iptables(host, "nat"))

    ok(real.run("add", "web", b.path, env={"CNI_IFNAME": "eth0"}))
    assert len(bridge_ports(host, "cni_web0")) == 2
    assert len(store_ips(data_dir, "web")) == 2

    # CHECK with the cached result; with portMappings passed, Debian's portmap 1.1.1 fails its
    # IPv6 check on an IPv4-only setup (Go's libcni gets the same error): one line naming it.
    assert ok(real.run("check", "web", a.path, "-i", "net1")).out == ""
    line = failed(real.run("check", "web", a.path, "-i", "net1", env=env))
    assert "plugin 'portmap' (CHECK" in line
    ok(real.run("check", "web", b.path))
    assert ok(real.run("status", "web", a.path)).out == ""  # no STATUS before 1.1.0
    assert ok(real.run("status", "web")).out == ""

    # gc as cnitool runs it: no valid attachment, so every cached one of the network is deleted
    ok(real.run("gc", "web", a.path))
    assert link_names(a.path) == ["lo"]
    assert link_names(b.path) == ["lo"]
    assert bridge_ports(host, "cni_web0") == []
    assert store_ips(data_dir, "web") == set()
    assert not any("8080" in line for line in iptables(host, "nat"))
    assert real.cache_files() == []


def test_gc_keeps_the_given_attachments(
    real: CLI, host_ns: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], data_dir: Path
) -> None:
    a, b = ctr_ns(), ctr_ns()
    real.write_conf("20-web.conflist", _web_list(data_dir))
    for ctr in (a, b):
        ok(real.run("add", "web", ctr.path))
    ok(real.run("gc", "web", "--keep", f"{cnitool_id(b.path)}:eth0"))
    assert link_names(a.path) == ["lo"]
    assert link_names(b.path) == ["lo", "eth0"]
    assert real.cache_files() == [f"web-{cnitool_id(b.path)}-eth0"]
    ok(real.run("del", "web", b.path))
    assert store_ips(data_dir, "web") == set()


def test_loopback_with_a_relative_netns_path(real: CLI, ctr_ns: Callable[[], netns.NetNS]) -> None:
    ctr = ctr_ns()
    real.write_conf("lo.conflist", {"cniVersion": "1.0.0", "name": "lo", "plugins": [{"type": "loopback"}]})
    result = ok(real.run("add", "lo", ctr.name, cwd=netns.NETNS_RUN_DIR)).json()
    assert result["interfaces"] == [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": ctr.path}]
    assert ip_json(ctr.path, "link", "show", "lo")[0]["operstate"] == "UNKNOWN"  # up
    assert real.cache_files() == [f"lo-{cnitool_id(ctr.path)}-eth0"]
    ok(real.run("del", "lo", f"../netns/{ctr.name}", cwd=netns.NETNS_RUN_DIR))
    assert real.cache_files() == []


# -- failures ----------------------------------------------------------------------------------


def test_add_failing_midway_is_undone_by_del(
    real: CLI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    host = host_ns.path
    ctr = ctr_ns()
    fake = tmp_path / "fakebin"
    recording_plugin(
        fake, "failer", stdout={"ADD": {"code": 5, "msg": "disk on fire"}}, exit_status={"ADD": 1}
    )
    real.cni_path = f"{fake}:{PLUGIN_DIR}"
    conf = founding_config(data_dir)
    del conf["type"], conf["cniVersion"], conf["name"]
    conf = {
        "cniVersion": "0.4.0",
        "name": "half",
        "plugins": [{"type": "bridge", **conf}, {"type": "failer"}],
    }
    real.write_conf("30-half.conflist", conf)

    line = failed(real.run("add", "half", ctr.path))
    assert "plugin 'failer' (ADD" in line
    assert "CNI error 5 IO_FAILURE: disk on fire" in line
    # half applied: bridge's part is there, nothing cached
    assert link_names(ctr.path) == ["lo", "eth0"]
    assert store_ips(data_dir, "half") == {"10.15.30.100"}
    assert real.cache_files() == []

    ok(real.run("del", "half", ctr.path))  # like cnitool: DEL for every plugin, no prevResult
    assert link_names(ctr.path) == ["lo"]
    assert store_ips(data_dir, "half") == set()
    assert bridge_ports(host, "cni_bridge1") == []
    assert masq_chains(host, "10.15.30.100") == []


def test_a_real_plugin_error_is_one_line(
    real: CLI, ctr_ns: Callable[[], netns.NetNS], data_dir: Path
) -> None:
    ctr = ctr_ns()
    real.write_conf("bad.conf", founding_config(data_dir, subnet="10.15.30.0/33"))
    line = failed(real.run("add", "mybridge", ctr.path))
    assert line.startswith("cnilib: add mybridge: plugin 'bridge' (ADD, container cnitool-")
    assert "10.15.30.0/33" in line
    assert real.cache_files() == []
    # bridge 1.1.1 leaves its veth behind when IPAM fails; with this configuration even DEL fails
    # (the namespace's deletion removes the veth), and says so on one line
    assert "plugin 'bridge' (DEL" in failed(real.run("del", "mybridge", ctr.path))
    line = failed(real.run("add", "mybridge", "/run/netns/surely-not-there"))
    assert "network namespace /run/netns/surely-not-there does not exist" in line


def test_debug_with_real_plugins(real: CLI, ctr_ns: Callable[[], netns.NetNS], data_dir: Path) -> None:
    ctr = ctr_ns()
    real.write_conf("20-web.conflist", _web_list(data_dir))
    run = ok(real.run("--debug", "add", "web", ctr.path))
    for i, name in enumerate(("bridge", "portmap", "tuning")):
        assert f"cnilib: --- ADD plugins[{i}] {name} (network web): exit status 0, " in run.err
    assert '  stdout:\n    {\n        "cniVersion": "1.0.0",\n' in run.err  # as bridge printed it
    run = ok(real.run("del", "web", ctr.path, "--debug"))
    assert run.err.index("DEL plugins[2] tuning") < run.err.index("DEL plugins[0] bridge")


# -- docker attach / detach -----------------------------------------------------------------------


@pytest.fixture
def container(dockerd: PrivateDockerd, busybox_image: str) -> Iterator[str]:
    name = f"cnilib-cli-{secrets.token_hex(4)}"
    cid = dockerd.run_container(name, busybox_image)
    try:
        yield name
    finally:
        dockerd.remove_container(cid)


def _fetch_when_ready(host: str, url: str) -> str:
    last: Exception | None = None
    for _ in range(40):
        try:
            return http_get(host, url, timeout=2)
        except netns.NetnsError as exc:
            last = exc
    raise AssertionError(f"GET {url} never succeeded: {last}")


@pytest.mark.docker
@pytest.mark.skipif(not docker_available(), reason="needs docker.io and busybox-static")
def test_docker_attach_and_detach(
    real: CLI, host_ns: netns.NetNS, dockerd: PrivateDockerd, container: str, data_dir: Path
) -> None:
    host = host_ns.path
    real.write_conf("10-mybridge.conf", founding_config(data_dir))
    inspect = json.loads(dockerd.docker("inspect", container).stdout)[0]
    cid, sandbox = inspect["Id"], inspect["NetworkSettings"]["SandboxKey"]
    env = {"DOCKER_HOST": dockerd.host}

    run = ok(real.run("docker", "attach", container, "mybridge", env=env))
    assert run.out == FOUNDING_OUTPUT
    assert real.cache_files() == [f"mybridge-{cid}-eth0"]
    assert addrs(sandbox, "eth0") == ["10.15.30.100/24"]
    assert _fetch_when_ready(host, "http://10.15.30.100/") == INDEX_HTML

    # Attaching twice is refused before any plugin runs (issue 21: the plugin's failure on the
    # existing veth used to be rolled back with a DEL that took the live container off the network).
    entry = (real.cache / "results" / f"mybridge-{cid}-eth0").read_bytes()
    line = failed(real.run("docker", "attach", container, "mybridge", "--docker-host", dockerd.host))
    assert f"container {cid} is already attached to network 'mybridge' as eth0" in line
    assert line.endswith(f"(for this Docker container: cnilib docker detach {container} mybridge)")
    assert (real.cache / "results" / f"mybridge-{cid}-eth0").read_bytes() == entry
    assert addrs(sandbox, "eth0") == ["10.15.30.100/24"]
    assert store_ips(data_dir, "mybridge") == {"10.15.30.100"}
    assert _fetch_when_ready(host, "http://10.15.30.100/") == INDEX_HTML

    run = ok(real.run("docker", "detach", cid[:12], "mybridge", "--docker-host", dockerd.host))
    assert (run.out, run.err) == ("", "")
    assert link_names(sandbox) == ["lo"]
    assert store_ips(data_dir, "mybridge") == set()
    assert real.cache_files() == []
    assert masq_chains(host, "10.15.30.100") == []

    line = failed(real.run("docker", "attach", "no-such-container", "mybridge", env=env))
    assert "no such Docker container 'no-such-container'" in line
