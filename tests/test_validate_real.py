"""What ``validate`` reports, the real plugins (Debian's containernetworking-plugins 1.1.1) do.

Every configuration of ``tests/data/schema-mistakes/`` goes to the real plugins with ADD: each
mistake ``validate`` calls an error is rejected by the plugin with the error it names, and each
warning is a key the plugin silently ignores (ADD succeeds, and the setting it was meant for is
not applied). Each test has a "host" network namespace of its own, holding a veth named ``eth0``
(the ``master`` the configurations name), and a container namespace; host-local keeps its leases
in the test's directory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from test_validate_fields import EXPECTED, MISTAKES

import cnilib
from cnilib import netns

pytestmark = [pytest.mark.root]

# file -> what the plugin answers (a part of its error message)
REJECTED = {
    "bridge-wrong-type.conf": "cannot unmarshal string into Go struct field NetConf.mtu of type int",
    "bridge-other-capitals.conf": "cannot unmarshal string into Go struct field NetConf.mtu of type int",
    "bridge-out-of-range.conflist": "invalid VLAN ID 5000",
    "bridge-bad-ifname.conf": "numerical result out of range",
    "bridge-together.conf": "cannot set hairpin mode and promiscuous mode at the same time",
    "host-local-bad-cidr.conf": "invalid CIDR address: 10.77.0.0/33",
    "host-local-bad-nesting.conf": "cannot unmarshal object into Go struct field IPAMConfig.ipam.ranges",
    "host-local-bad-ip.conf": "invalid IP address: 10.77.0.300",
    "host-local-no-range.conf": "no IP ranges specified",
    "host-local-bad-route.conf": "invalid CIDR address: 0.0.0.0",
    "static-bad-address.conf": "the 'address' field is expected to be in CIDR notation",
    "dhcp-wrong-type.conf": "cannot unmarshal number into Go struct field ProvideOption.ipam.provide.fromArg",
    "macvlan-unknown-mode.conf": 'unknown macvlan mode: "bridged"',
    "macvlan-fraction.conf": "cannot unmarshal number 1500.0 into Go struct field NetConf.mtu of type int",
    "ipvlan-unknown-mode.conf": 'unknown ipvlan mode: "l4"',
    "vlan-missing-master.conf": '"master" field is required',
    "ptp-missing-ipam.conf": "no plugin name provided",
    "host-device-no-device.conf": 'specify either "device", "hwaddr", "kernelpath" or "pciBusID"',
    "host-device-bad-mac.conf": "invalid MAC address",
    "tuning-bad-mac.conflist": "invalid MAC address",
    "tuning-sysctl-type.conflist": "cannot unmarshal number into Go struct field TuningConf.sysctl",
    "tuning-sysctl-outside-net.conflist": 'invalid net sysctl key: "kernel.shmmax"',
    "portmap-out-of-range.conflist": "MasqMarkBit must be between 0 and 31",
    "portmap-wrong-type.conflist": "cannot unmarshal string into Go struct field PortMapConf.snat",
    "bandwidth-rate-without-burst.conflist": "if rate is set, burst must also be set",
    "bandwidth-negative.conflist": "cannot unmarshal number -1 into Go struct field PluginConf.egressRate",
    "firewall-unknown-policy.conflist": 'unknown ingress policy: "closed"',
    "vrf-missing-name.conflist": "configuration is expected to have a valid vrf name",
}
IGNORED = sorted(name for name, found in EXPECTED.items() if all(s == "warning" for _, s, _, _ in found))


class World:
    """A host namespace where the plugins run, a container namespace, and a CNI for them."""

    def __init__(self, host: netns.NetNS, ctr: netns.NetNS, tmp_path: Path, data_dir: Path) -> None:
        self.host = host
        self.rt = cnilib.RuntimeConfig(container_id="mistake", netns=ctr.path)
        self.data_dir = data_dir
        self.cni = cnilib.CNI(
            plugin_dirs=["/usr/lib/cni"],
            cache_dir=tmp_path / "cache",
            argv_prefix=netns.enter_argv(host.path),
        )

    def load(self, name: str) -> cnilib.NetworkConfigList:
        doc = json.loads((MISTAKES / name).read_text())
        for plugin in doc.get("plugins", [doc]):
            ipam = plugin.get("ipam")
            if isinstance(ipam, dict) and ipam.get("type") == "host-local":
                ipam["dataDir"] = str(self.data_dir)  # (a key host-local knows: no new finding)
        return cnilib.NetworkConfigList.from_dict(doc, source=name)

    def host_run(self, *argv: str) -> str:
        return netns.run(self.host.path, list(argv)).stdout


@pytest.fixture
def world(ctr_ns: Callable[[], netns.NetNS], tmp_path: Path, data_dir: Path) -> Iterator[World]:
    with netns.create(loopback_up=True) as host:
        netns.run(host.path, ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"])
        netns.run(host.path, ["ip", "link", "set", "eth0", "up"])
        yield World(host, ctr_ns(), tmp_path, data_dir)


def test_every_error_of_the_mistakes_is_one_the_plugins_reject() -> None:
    errors = sorted(name for name, found in EXPECTED.items() if any(s == "error" for _, s, _, _ in found))
    assert sorted(REJECTED) == errors
    assert sorted([*REJECTED, *IGNORED]) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_the_real_plugin_rejects_what_validate_calls_an_error(world: World, name: str) -> None:
    conflist = world.load(name)
    report = world.cni.validate(conflist)
    found = [(f.path, f.severity, f.keyword, f.suggestion) for f in report.findings]
    assert found == EXPECTED[name]
    assert not report.ok
    with pytest.raises(cnilib.PluginError) as info:
        world.cni.add(conflist, world.rt)
    assert REJECTED[name] in info.value.msg


def _added(world: World, name: str) -> dict[str, Any]:
    conflist = world.load(name)
    report = world.cni.validate(conflist)
    assert report.ok, report.problems
    assert [f.severity for f in report.findings] == ["warning"]
    return world.cni.add(conflist, world.rt).to_dict()


@pytest.mark.parametrize("name", IGNORED)
def test_the_real_plugin_ignores_what_validate_calls_a_warning(world: World, name: str) -> None:
    result = _added(world, name)
    if name == "bridge-misspelt-key.conf":
        # isGatway is not isGateway: the bridge does not get the gateway's address.
        assert "inet " not in world.host_run("ip", "-4", "addr", "show", "cni-m0")
    elif name == "host-local-misspelt-key.conf":
        # rangeStrat is not rangeStart: the first address of the subnet, not .10.
        assert [ip["address"] for ip in result["ips"]] == ["10.77.0.2/24"]
    elif name == "bridge-dns-misspelt.conf":
        assert result.get("dns", {}).get("nameservers") is None
    elif name == "list-misspelt-key.conflist":
        assert world.load(name).disable_check is False  # disableCheks does not disable CHECK
        world.cni.check(world.load(name), world.rt)
    else:  # loopback's mtu, sbr's table (a later release's key), firewall's backend: ADD just works
        assert result["cniVersion"] == "1.0.0"


def test_spelt_right_the_same_key_takes_effect(world: World) -> None:
    doc = json.loads((MISTAKES / "bridge-misspelt-key.conf").read_text())
    doc["isGateway"] = doc.pop("isGatway")
    doc["ipam"]["dataDir"] = str(world.data_dir)
    conflist = cnilib.NetworkConfigList.from_dict(doc)
    assert world.cni.validate(conflist).findings == ()
    result = world.cni.add(conflist, world.rt).to_dict()
    assert [ip.get("gateway") for ip in result["ips"]] == ["10.77.0.1"]
    assert "inet 10.77.0.1/24" in world.host_run("ip", "-4", "addr", "show", "cni-m0")
