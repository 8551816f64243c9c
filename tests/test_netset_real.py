# pytest fixtures are parameters: their number says nothing here
"""AsyncNetworks with the real Debian plugins: bridge (+portmap, bandwidth), ptp, macvlan, loopback.

Plugins run in a "host" namespace made for each test (its bridge, veths, macvlan parent and iptables
rules vanish with it); containers are namespaces made here. Nothing is sent anywhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_scenario import (
    PLUGIN_DIR,
    cache_files,
    ip_json,
    iptables,
    link_names,
    per_container_chains,
    store_ips,
)

import cnilib
from cnilib import netns

pytestmark = [pytest.mark.root]

N_CONTAINERS = 20
RATE, BURST = 10_000_000, 100_000


@pytest.fixture
def host() -> Iterator[netns.NetNS]:
    """This test's sandbox host namespace, with a veth pair whose end ``nwparent0`` is macvlan's master."""
    with netns.create(loopback_up=True) as ns:
        netns.run(ns.path, ["ip", "link", "add", "nwparent0", "type", "veth", "peer", "name", "nwpeer0"])
        for dev in ("nwparent0", "nwpeer0"):
            netns.run(ns.path, ["ip", "link", "set", dev, "up"])
        yield ns


def _ipam(subnet: str, data_dir: Path, **more: Any) -> dict[str, Any]:
    return {"type": "host-local", "subnet": subnet, "dataDir": str(data_dir), **more}


def write_confdir(confdir: Path, data_dir: Path, *, ptp_subnet: str = "10.78.0.0/16") -> None:
    confdir.mkdir(exist_ok=True)
    bridge = {
        "cniVersion": "1.0.0",
        "name": "nw-bridge",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "nwbr0",
                "isGateway": True,
                "ipam": _ipam("10.77.0.0/16", data_dir, routes=[{"dst": "0.0.0.0/0"}]),
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "bandwidth", "capabilities": {"bandwidth": True}},
        ],
    }
    ptp = {
        "cniVersion": "1.0.0",
        "name": "nw-ptp",
        "plugins": [{"type": "ptp", "ipam": _ipam(ptp_subnet, data_dir)}],
    }
    macvlan = {
        "cniVersion": "1.0.0",
        "name": "nw-macvlan",
        "type": "macvlan",
        "master": "nwparent0",
        "mode": "bridge",
        "ipam": _ipam("10.79.0.0/16", data_dir),
    }
    (confdir / "10-bridge.conflist").write_text(json.dumps(bridge))
    (confdir / "20-ptp.conflist").write_text(json.dumps(ptp))
    (confdir / "30-macvlan.conf").write_text(json.dumps(macvlan))


def caps(i: int) -> cnilib.Capabilities:
    return cnilib.Capabilities(
        port_mappings=[cnilib.PortMapping(host_port=18000 + i, container_port=80, protocol="tcp")],
        bandwidth=cnilib.Bandwidth(
            ingress_rate=RATE, ingress_burst=BURST, egress_rate=RATE, egress_burst=BURST
        ),
    )


def make(host: netns.NetNS, confdir: Path, tmp_path: Path) -> cnilib.AsyncNetworks:
    cni = cnilib.AsyncCNI(
        plugin_dirs=[PLUGIN_DIR],
        cache_dir=tmp_path / "cache",
        argv_prefix=netns.enter_argv(host.path),
        timeout=120,
    )
    return cnilib.AsyncNetworks.from_dir(confdir, cni=cni, loopback=True)


def assert_matches_namespace(att: cnilib.Attachment, ns: str) -> None:
    """Every container-side interface of the attachment is in the namespace with exactly its IPv4
    addresses and its MAC; the namespace has no other interface; the routes are there."""
    shown = {link["ifname"]: link for link in ip_json(ns, "addr", "show")}
    inside = {name: iface for name, iface in att.interfaces.items() if iface.in_sandbox}
    assert sorted(inside) == sorted(shown) == ["eth0", "eth1", "eth2", "lo"]
    for name, iface in inside.items():
        link = shown[name]
        v4 = {
            ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")
            for a in link.get("addr_info", [])
            if a["family"] == "inet"
        }
        assert {ip for ip in iface.ips if ip.version == 4} == v4, name
        if name != "lo":
            assert iface.mac == link["address"], name
            assert iface.sandbox == ns
    default = [r for r in att.routes if str(r.destination) == "0.0.0.0/0"]
    assert [(r.network, r.ifname) for r in default] == [("nw-bridge", "eth0")]
    kernel = {(r["dst"], r.get("gateway"), r["dev"]) for r in ip_json(ns, "-4", "route", "show")}
    gw = att.interfaces["eth0"].gateways[0]
    assert ("default", str(gw), "eth0") in kernel
    assert att.default is att.interfaces["eth0"]


def host_leftovers(host: str) -> dict[str, Any]:
    return {
        "links": sorted(n for n in link_names(host) if n not in ("lo", "nwparent0", "nwpeer0", "nwbr0")),
        "chains": sorted(per_container_chains(host)),
        "dnat": [line for line in iptables(host, "nat") if "--dport 18" in line],
    }


def test_twenty_containers_three_networks_and_loopback(
    host: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], tmp_path: Path
) -> None:
    confdir, data = tmp_path / "net.d", tmp_path / "ipam"
    write_confdir(confdir, data)
    nets = make(host, confdir, tmp_path)
    ctrs = [ctr_ns() for _ in range(N_CONTAINERS)]

    async def main() -> list[cnilib.Attachment]:
        await nets.status()

        def setup(i: int) -> Any:
            return nets.setup(f"nw{i}", ctrs[i].path, capabilities=caps(i), labels={"K8S_POD_NAME": f"p{i}"})

        # The first one alone: Debian's portmap (1.1.1) creates its shared CNI-HOSTPORT-* chains
        # without tolerating "File exists", so several first ADDs at once can fail each other
        # (a plugin race, seen once in CI's 20-way start; later plugin releases tolerate it).
        first = await setup(0)
        return [first, *await asyncio.gather(*(setup(i) for i in range(1, len(ctrs))))]

    atts = asyncio.run(main())
    for att, ctr in zip(atts, ctrs, strict=True):
        assert_matches_namespace(att, ctr.path)
        # bandwidth's ifb device is reported as a host-side interface, and exists there.
        ifb = [n for n, i in att.interfaces.items() if n.startswith("bwp") and not i.in_sandbox]
        assert len(ifb) == 1
        assert ifb[0] in link_names(host.path)
    ips = {str(ip) for att in atts for ip in att.ips if ip.version == 4 and not ip.is_loopback}
    assert len(ips) == 3 * N_CONTAINERS  # every address distinct
    assert len(store_ips(data, "nw-macvlan")) == N_CONTAINERS
    nat = "\n".join(iptables(host.path, "nat"))
    for i in range(N_CONTAINERS):
        assert f"--dport {18000 + i}" in nat
    assert len(cache_files(tmp_path / "cache")) == 4 * N_CONTAINERS

    async def remove() -> None:
        # No capabilities on removal: DEL reuses the cached ones (portmap's rules must still go).
        await asyncio.gather(*(nets.remove(f"nw{i}", c.path) for i, c in enumerate(ctrs)))

    asyncio.run(remove())
    for ctr in ctrs:
        assert link_names(ctr.path) == ["lo"]
    assert host_leftovers(host.path) == {"links": [], "chains": [], "dnat": []}
    for net in ("nw-bridge", "nw-ptp", "nw-macvlan"):
        assert store_ips(data, net) == set()
    assert cache_files(tmp_path / "cache") == []


def test_reload_and_watch_while_attached(
    host: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], tmp_path: Path
) -> None:
    confdir, data = tmp_path / "net.d", tmp_path / "ipam"
    write_confdir(confdir, data)
    nets = make(host, confdir, tmp_path)
    old, new = ctr_ns(), ctr_ns()

    async def main() -> None:
        before = await nets.setup("old", old.path, capabilities=caps(0))
        assert str(before.interfaces["eth1"].ips[0]).startswith("10.78.")
        stop = asyncio.Event()
        seen: list[list[str]] = []
        expected = ["lo=cni-loopback", "eth0=nw-bridge", "eth1=nw-ptp", "eth2=nw-extra"]

        async def consume() -> None:
            async for cfg in nets.watch(stop_event=stop, debounce_ms=50):
                seen.append([f"{n.ifname}={n.name}" for n in cfg.networks])
                if seen[-1] == expected:
                    stop.set()

        task = asyncio.create_task(consume())
        # Change ptp's subnet, remove macvlan, add a second bridge network, while "old" is attached.
        write_confdir(confdir, data, ptp_subnet="10.88.0.0/16")
        (confdir / "30-macvlan.conf").unlink()
        extra = {
            "cniVersion": "1.0.0",
            "name": "nw-extra",
            "plugins": [{"type": "bridge", "bridge": "nwbr1", "ipam": _ipam("10.89.0.0/16", data)}],
        }
        for i in range(300):
            # watchfiles starts watching asynchronously: touch a file until a reload has seen it all.
            (confdir / "40-extra.conflist").write_text(json.dumps({**extra, "n": i}))
            done, _ = await asyncio.wait({task}, timeout=0.2)
            if done:
                break
        await task
        assert seen[-1] == expected
        assert nets.config().networks[2].config.raw["plugins"][0]["ipam"]["subnet"] == "10.88.0.0/16"
        assert await nets.reload() is False
        after = await nets.setup("new", new.path, capabilities=caps(1))
        assert str(after.interfaces["eth1"].ips[0]).startswith("10.88.")
        assert str(after.interfaces["eth2"].ips[0]).startswith("10.89.")
        # "old" leaves with the configuration it was attached with: ptp releases 10.78.x (the old
        # subnet), macvlan (file gone) releases its address, and nw-extra (not attached) is not run
        # on its eth2 (macvlan's).
        await nets.remove("old", old.path, capabilities=caps(0))
        assert link_names(old.path) == ["lo"]
        assert store_ips(data, "nw-macvlan") == set()
        assert {ip.split(".")[1] for ip in store_ips(data, "nw-ptp")} == {"88"}
        assert sorted(link_names(new.path)) == ["eth0", "eth1", "eth2", "lo"]
        await nets.remove("new", new.path, capabilities=caps(1))

    asyncio.run(main())
    assert host_leftovers(host.path)["chains"] == []
    assert [n for n in link_names(host.path) if n.startswith(("veth", "bwp"))] == []
    for net in ("nw-bridge", "nw-ptp", "nw-macvlan", "nw-extra"):
        assert store_ips(data, net) == set()
    assert cache_files(tmp_path / "cache") == []
