# pytest fixtures are parameters: their number says nothing here
"""Real configuration lists beyond the founding scenario, with the Debian plugins (1.1.1).

The founding network as a list at 0.3.1, 0.4.0 and 1.0.0 chained with portmap, firewall, tuning
and bandwidth; dual-stack IPv4/IPv6; ptp; macvlan on a veth made inside the sandbox host namespace.
Plugins run in the sandbox host namespace; every request and ping goes from it to an address of the
namespaces made here (container addresses, the bridge's own address, its loopback).

Facts about these plugins that the tests pin down:
- firewall supports 0.4.0 and 1.0.0 only, so the 0.3.1 list goes without it (and ADD of a 0.3.1
  list holding it fails with "incompatible CNI version" and is rolled back);
- portmap's host port answers on the host namespace's own addresses, the bridge's (10.15.30.99)
  and, because ``snat`` defaults to true (which sets ``route_localnet`` on the bridge), 127.0.0.1;
- portmap CHECK fails whenever portMappings are passed ("could not check ipv6 dnat"), on IPv4-only
  and on dual-stack lists alike; CHECK without capability args passes;
- bandwidth adds an ``ifb`` device (``bwp…``) to the result and a ``tbf`` qdisc on the host veth;
- IPv6 addresses are usable only after duplicate address detection, about a second and a half
  after ADD on the host side.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_scenario import (  # the shared helpers and the autouse clean-up fixture
    FOUNDING_ROUTES,
    INDEX,
    PLUGIN_DIR,
    addrs,
    bridge_ports,
    cache_files,
    founding_config,
    http_get,
    httpd,
    ip_json,
    iptables,
    link_names,
    per_container_chains,
    ping,
    routes,
    sandbox_clean,  # noqa: F401
    store_ips,
    wait_no_tentative,
)

import cnilib
from cnilib import netns

pytestmark = [pytest.mark.root]

PORTMAP = [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
RATE = 100_000_000  # bits/s
BURST = 1_000_000


@pytest.fixture
def cni(host_prefix: tuple[str, ...], tmp_path: Path) -> cnilib.CNI:
    return cnilib.CNI(
        plugin_dirs=[PLUGIN_DIR], cache_dir=tmp_path / "cache", argv_prefix=host_prefix, timeout=60
    )


def _bridge_plugin(data_dir: Path) -> dict[str, Any]:
    conf = founding_config(data_dir)
    del conf["cniVersion"], conf["name"]
    return conf


def chained_list(version: str, data_dir: Path, *, firewall: bool | None = None) -> dict[str, Any]:
    """The founding network as a list with portmap, firewall (0.4.0+), tuning and bandwidth."""
    plugins: list[dict[str, Any]] = [
        _bridge_plugin(data_dir),
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ]
    if firewall or (firewall is None and version != "0.3.1"):
        plugins.append({"type": "firewall"})
    plugins += [
        {"type": "tuning", "mtu": 1400, "sysctl": {"net.ipv4.conf.eth0.arp_notify": "1"}},
        {
            "type": "bandwidth",
            "ingressRate": RATE,
            "ingressBurst": BURST,
            "egressRate": RATE,
            "egressBurst": BURST,
        },
    ]
    return {"cniVersion": version, "name": "mybridge", "plugins": plugins}


def _sysctl(ns: str, path: str) -> str:
    # /proc/sys/net shows the namespace of the process reading it
    return netns.run(ns, ["cat", f"/proc/sys/{path}"]).stdout.strip()


def _qdiscs(ns: str, dev: str) -> list[str]:
    return [q["kind"] for q in _tc_json(ns, dev)]


def _tc_json(ns: str, dev: str) -> list[dict[str, Any]]:
    out = netns.run(ns, ["tc", "-j", "qdisc", "show", "dev", dev]).stdout.strip()
    return list(json.loads(out)) if out else []


def _check_with_portmappings(
    cni: cnilib.CNI, conflist: cnilib.NetworkConfigList, rt: cnilib.RuntimeConfig
) -> None:
    """CHECK passes, or fails only with portmap 1.1.1's known error (a fixed portmap passes)."""
    problem: cnilib.PluginError | None = None
    try:
        cni.check(conflist, rt)
    except cnilib.PluginError as exc:
        problem = exc
    if problem is not None:
        assert problem.plugin == "portmap", problem
        assert "could not check ipv6 dnat" in problem.msg, problem


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_founding_network_as_a_chained_list(
    version: str,
    cni: cnilib.CNI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    host = host_ns.path
    ctr = ctr_ns()
    conflist = cnilib.NetworkConfigList.from_dict(chained_list(version, data_dir))
    rt = cnilib.RuntimeConfig(
        container_id="chained", netns=ctr.path, capability_args={"portMappings": PORTMAP}
    )
    www = tmp_path / "www"
    www.mkdir()
    with httpd(ctr.path, www):
        result = cni.add(conflist, rt)

        # the typed result of the list's version
        want_type = cnilib.Result100 if version == "1.0.0" else cnilib.Result040
        assert type(result) is want_type
        assert isinstance(result, cnilib.Result040 | cnilib.Result100)
        assert result.cni_version == version
        [ip] = result.ips
        assert (ip.address, ip.gateway) == ("10.15.30.100/24", "10.15.30.99")
        assert ip.version == (None if version == "1.0.0" else "4")
        assert ip.interface is not None
        eth0 = result.interfaces[ip.interface]
        assert (eth0.name, eth0.sandbox) == ("eth0", ctr.path)
        names = [i.name for i in result.interfaces]
        assert names[0] == "cni_bridge1"
        assert names[1].startswith("veth")
        ifb = names[-1]
        assert ifb.startswith("bwp")  # bandwidth's ifb device
        assert result.routes == (
            cnilib.Route("0.0.0.0/0"),
            cnilib.Route("1.1.1.1/32", "10.15.30.1"),
        )
        assert cni.cached_result(conflist, rt) == result

        # bridge + tuning inside the container
        assert addrs(ctr.path, "eth0") == ["10.15.30.100/24"]
        assert routes(ctr.path, "eth0") == FOUNDING_ROUTES
        [link] = [x for x in _links(ctr.path) if x["ifname"] == "eth0"]
        assert link["mtu"] == 1400
        assert _sysctl(ctr.path, "net/ipv4/conf/eth0/arp_notify") == "1"

        # bandwidth: tbf on the host veth, the ifb device mirrors the veth's ingress
        veth = names[1]
        assert "tbf" in _qdiscs(host, veth)
        assert "ingress" in _qdiscs(host, veth)
        assert ifb in link_names(host)
        assert "tbf" in _qdiscs(host, ifb)

        # firewall (0.4.0+): accept rules for the container's address in CNI-FORWARD
        forward = iptables(host, "filter")
        fw_rules = [r for r in forward if r.startswith("-A CNI-FORWARD") and "10.15.30.100" in r]
        assert len(fw_rules) == (0 if version == "0.3.1" else 2)

        # reachable directly and through portmap's host port, from the host namespace only
        assert http_get(host, "http://10.15.30.100/") == INDEX
        assert http_get(host, "http://10.15.30.99:8080/") == INDEX
        assert _sysctl(host, "net/ipv4/conf/cni_bridge1/route_localnet") == "1"
        assert http_get(host, "http://127.0.0.1:8080/") == INDEX

        # CHECK: 0.4.0+ only; portmap's CHECK with portMappings is broken in 1.1.1
        if version == "0.3.1":
            with pytest.raises(cnilib.VersionError, match="does not support CHECK"):
                cni.check(conflist, rt)
        else:
            cni.check(conflist, cnilib.RuntimeConfig(container_id="chained", netns=ctr.path))
            _check_with_portmappings(cni, conflist, rt)

        cni.delete(conflist, rt)

    assert link_names(ctr.path) == ["lo"]
    assert ifb not in link_names(host)
    assert [n for n in link_names(host) if n.startswith("veth")] == []
    assert per_container_chains(host) == set()
    assert per_container_chains(host, "filter") == set()
    assert not any("10.15.30.100" in r for r in iptables(host, "nat") + iptables(host, "filter"))
    assert store_ips(data_dir, "mybridge") == set()
    assert cache_files(tmp_path / "cache") == []


def _links(ns: str) -> list[dict[str, Any]]:
    return list(ip_json(ns, "link", "show"))


def test_firewall_refuses_031_and_the_add_is_rolled_back(
    cni: cnilib.CNI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    conflist = cnilib.NetworkConfigList.from_dict(chained_list("0.3.1", data_dir, firewall=True))
    report = cni.validate(conflist)
    assert not report.ok
    assert any("firewall" in p and "0.3.1" in p for p in report.problems)

    ctr = ctr_ns()
    rt = cnilib.RuntimeConfig(container_id="fw031", netns=ctr.path, capability_args={"portMappings": PORTMAP})
    with pytest.raises(cnilib.PluginError) as info:
        cni.add(conflist, rt, rollback=True)
    assert info.value.plugin == "firewall"
    assert info.value.code == cnilib.ErrorCode.INCOMPATIBLE_CNI_VERSION
    assert link_names(ctr.path) == ["lo"]
    assert per_container_chains(host_ns.path) == set()
    assert store_ips(data_dir, "mybridge") == set()
    assert cache_files(tmp_path / "cache") == []


def test_dual_stack(
    cni: cnilib.CNI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    host = host_ns.path
    conflist = cnilib.NetworkConfigList.from_dict(
        {
            "cniVersion": "1.0.0",
            "name": "dual",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": "cni_dual0",
                    "isGateway": True,
                    "ipMasq": True,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(data_dir),
                        "ranges": [
                            [{"subnet": "10.15.31.0/24", "rangeStart": "10.15.31.10"}],
                            [{"subnet": "fd00:15:31::/64", "rangeStart": "fd00:15:31::10"}],
                        ],
                        "routes": [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}],
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
    )
    ctr = ctr_ns()
    rt = cnilib.RuntimeConfig(container_id="dual", netns=ctr.path, capability_args={"portMappings": PORTMAP})
    www = tmp_path / "www"
    www.mkdir()
    with httpd(ctr.path, www):
        result = cni.add(conflist, rt)
        assert isinstance(result, cnilib.Result100)
        assert [(i.address, i.gateway) for i in result.ips] == [
            ("10.15.31.10/24", "10.15.31.1"),
            ("fd00:15:31::10/64", "fd00:15:31::1"),
        ]
        assert result.all_addresses == ("10.15.31.10/24", "fd00:15:31::10/64")
        assert [r.dst for r in result.routes] == ["0.0.0.0/0", "::/0"]
        assert addrs(ctr.path, "eth0") == ["10.15.31.10/24"]
        assert addrs(ctr.path, "eth0", "-6") == ["fd00:15:31::10/64"]
        assert ("default", "fd00:15:31::1", "global") in routes(ctr.path, "eth0", "-6")
        assert addrs(host, "cni_dual0", "-6") == ["fd00:15:31::1/64"]

        # the 0.2.0 view keeps one address of each family
        old = result.convert_to("0.2.0")
        assert isinstance(old, cnilib.Result020)
        assert old.ip4 is not None
        assert old.ip6 is not None
        assert (old.ip4.ip, old.ip6.ip) == ("10.15.31.10/24", "fd00:15:31::10/64")

        wait_no_tentative(host)
        wait_no_tentative(ctr.path)
        assert ping(host, "10.15.31.10")
        assert ping(host, "fd00:15:31::10")
        assert http_get(host, "http://10.15.31.10/") == INDEX
        assert http_get(host, "http://[fd00:15:31::10]/") == INDEX
        assert http_get(host, "http://10.15.31.1:8080/") == INDEX
        assert http_get(host, "http://[fd00:15:31::1]:8080/") == INDEX

        # portmap's CHECK with portMappings fails on dual-stack too
        _check_with_portmappings(cni, conflist, rt)
        cni.check(conflist, cnilib.RuntimeConfig(container_id="dual", netns=ctr.path))

        cni.delete(conflist, rt)
    assert link_names(ctr.path) == ["lo"]
    assert per_container_chains(host) == set()
    assert per_container_chains(host, ipv6=True) == set()
    assert not any("fd00:15:31::10" in r for r in iptables(host, "nat", ipv6=True))
    assert store_ips(data_dir, "dual") == set()
    assert bridge_ports(host, "cni_dual0") == []


def test_ptp(
    cni: cnilib.CNI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    host = host_ns.path
    conflist = cnilib.NetworkConfigList.from_dict(
        {
            "cniVersion": "0.4.0",
            "name": "p2p",
            "plugins": [
                {
                    "type": "ptp",
                    "ipMasq": True,
                    "mtu": 1450,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(data_dir),
                        "subnet": "10.15.32.0/24",
                        "routes": [{"dst": "0.0.0.0/0"}],
                    },
                }
            ],
        }
    )
    ctr = ctr_ns()
    rt = cnilib.RuntimeConfig(container_id="ptp", netns=ctr.path)
    www = tmp_path / "www"
    www.mkdir()
    with httpd(ctr.path, www):
        result = cni.add(conflist, rt)
        assert isinstance(result, cnilib.Result040)
        [ip] = result.ips
        assert (ip.address, ip.gateway, ip.version) == ("10.15.32.2/24", "10.15.32.1", "4")
        host_veth = result.interfaces[0].name
        assert result.interfaces[0].sandbox is None
        assert result.interfaces[1].sandbox == ctr.path
        # the host end holds the gateway address as a /32; the container routes through it
        assert addrs(host, host_veth) == ["10.15.32.1/32"]
        assert ("default", "10.15.32.1", "global") in routes(ctr.path, "eth0")
        [eth0] = [x for x in _links(ctr.path) if x["ifname"] == "eth0"]
        assert eth0["mtu"] == 1450
        assert ping(host, "10.15.32.2")
        assert http_get(host, "http://10.15.32.2/") == INDEX
        cni.check(conflist, rt)
        cni.delete(conflist, rt)
    assert link_names(ctr.path) == ["lo"]
    assert host_veth not in link_names(host)
    assert per_container_chains(host) == set()
    assert store_ips(data_dir, "p2p") == set()


def test_macvlan_on_a_veth_of_the_sandbox_host(
    cni: cnilib.CNI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    """The kernel here has no dummy links: a veth pair in the host namespace is the master.

    The host reaches the macvlan through the pair's other end (a macvlan never talks to its own
    master's host stack).
    """
    host = host_ns.path
    host_ns.run(["ip", "link", "add", "cnimv0", "type", "veth", "peer", "name", "cnimv0p"])
    host_ns.run(["ip", "link", "set", "cnimv0", "up"])
    host_ns.run(["ip", "link", "set", "cnimv0p", "up"])
    host_ns.run(["ip", "addr", "add", "10.15.33.1/24", "dev", "cnimv0p"])
    conflist = cnilib.NetworkConfigList.from_dict(
        {
            "cniVersion": "1.0.0",
            "name": "mv",
            "plugins": [
                {
                    "type": "macvlan",
                    "master": "cnimv0",
                    "mode": "bridge",
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(data_dir),
                        "subnet": "10.15.33.0/24",
                        "rangeStart": "10.15.33.10",
                        "gateway": "10.15.33.1",
                    },
                }
            ],
        }
    )
    ctr = ctr_ns()
    rt = cnilib.RuntimeConfig(container_id="mv", netns=ctr.path)
    www = tmp_path / "www"
    www.mkdir()
    with httpd(ctr.path, www):
        result = cni.add(conflist, rt)
        assert isinstance(result, cnilib.Result100)
        [ip] = result.ips
        assert (ip.address, ip.gateway) == ("10.15.33.10/24", "10.15.33.1")
        [iface] = result.interfaces
        assert (iface.name, iface.sandbox) == ("eth0", ctr.path)
        [eth0] = [x for x in _links(ctr.path) if x["ifname"] == "eth0"]
        assert eth0.get("linkinfo", {}).get("info_kind") in (None, "macvlan")
        assert addrs(ctr.path, "eth0") == ["10.15.33.10/24"]
        assert ping(host, "10.15.33.10")
        assert http_get(host, "http://10.15.33.10/") == INDEX
        cni.check(conflist, rt)
        cni.delete(conflist, rt)
    assert link_names(ctr.path) == ["lo"]
    assert store_ips(data_dir, "mv") == set()
    assert {"cnimv0", "cnimv0p"} <= set(link_names(host))  # the master is not the plugin's
