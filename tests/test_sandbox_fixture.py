"""The ``cnilib_sandbox`` fixture tells what a test left behind from what the plugins keep across
attachments, by the rule ``cnilib try`` uses (``cnilib.sandbox.split_leftovers``).

As a user meets it: a test file of the user's, run by pytest in a process of its own (only the
cnilib plugin, none of this suite's conftest), as root and as uid 65534: a bridge (+ portmap and
firewall) ADD/DEL passes; a plugin that leaves its interface on DEL fails, naming it in try's
words; ``cnilib_sandbox_strict`` fails on the bridge the bridge plugin keeps.

And the rule agrees with ``cnilib try``'s second attachment on the Debian plugins (bridge, ptp,
portmap, firewall, bandwidth, tuning, macvlan): what it calls kept, a second ADD+DEL never adds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from sandbox_support import nobody_dir, run_as_nobody

import cnilib
from cnilib._cli._progress import Progress
from cnilib._cli._try import _Try
from cnilib.sandbox import HOST, Inventory, Sandbox, StateItem, split_leftovers
from cnilib.testing.broken_plugins import write_broken

pytestmark = pytest.mark.root

BRIDGE_LIST = {
    "cniVersion": "1.0.0",
    "name": "web",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "cniweb0",
            "isGateway": True,
            "ipMasq": True,
            "ipam": {"type": "host-local", "subnet": "10.88.0.0/24"},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall"},
    ],
}
PORTS = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}

USER_TESTS = textwrap.dedent(
    """
    import pytest
    import cnilib

    BRIDGE = cnilib.NetworkConfigList.from_dict({bridge!r})
    LEAKY = cnilib.NetworkConfigList.from_dict({{"cniVersion": "1.0.0", "name": "leak", "type": "leaky"}})


    def attach_detach(sb, conflist, plugin_dirs):
        ctr = sb.container("c1")
        cni = sb.cni(plugin_dirs=plugin_dirs)
        rt = cnilib.RuntimeConfig(container_id="c1", netns=ctr.path, capability_args={ports!r})
        cni.add(conflist, rt)
        cni.delete(conflist, rt)


    def test_bridge(cnilib_sandbox):
        attach_detach(cnilib_sandbox, BRIDGE, ["/usr/lib/cni"])


    @pytest.mark.cnilib_sandbox_strict
    def test_bridge_strict(cnilib_sandbox):
        attach_detach(cnilib_sandbox, BRIDGE, ["/usr/lib/cni"])


    def test_leaky(cnilib_sandbox):
        attach_detach(cnilib_sandbox, LEAKY, [{bindir!r}])


    @pytest.mark.cnilib_sandbox_leaks_ok
    def test_leaky_allowed(cnilib_sandbox):
        attach_detach(cnilib_sandbox, LEAKY, [{bindir!r}])
    """
)


def _write_user_tests(home: Path) -> None:
    bindir = home / "bin"
    bindir.mkdir()
    write_broken(bindir, "leaky")  # its DEL leaves the veth's host end (fk + 8 hex digits)
    text = USER_TESTS.format(bridge=BRIDGE_LIST, ports=PORTS, bindir=str(bindir))
    (home / "test_user.py").write_text(text)


def _pytest_args(home: Path) -> list[str]:
    return ["-m", "pytest", "-rA", "-p", "no:cacheprovider", "--rootdir", str(home), "test_user.py"]


@pytest.mark.parametrize("who", ["root", "nobody"])
def test_the_fixture_on_a_bridge_and_on_a_leaky_plugin(who: str) -> None:
    with nobody_dir() as home:
        _write_user_tests(home)
        if who == "root":
            proc = subprocess.run(
                [sys.executable, *_pytest_args(home)],
                cwd=home,
                capture_output=True,
                text=True,
                check=False,
                timeout=900,
            )
        else:
            for path in (home / "bin", home / "bin" / "leaky", home / "test_user.py"):
                os.chown(path, 65534, 65534)
            proc = run_as_nobody(_pytest_args(home), home)
    out = proc.stdout
    # A fixture's failure is an error at teardown (pytest counts the test's call as passed).
    assert "4 passed, 2 errors" in out, out + proc.stderr
    errors = {line.split(" - ")[0] for line in out.splitlines() if line.startswith("ERROR ")}
    assert errors == {"ERROR test_user.py::test_leaky", "ERROR test_user.py::test_bridge_strict"}
    leaky = _report(out, "test_leaky")
    assert leaky.startswith("the test left this in its cnilib_sandbox:\nleft behind by DEL:\n")
    assert "\n  host: link fk" in leaky  # the host end the plugin's DEL forgot
    assert "\n  c1: link eth0 (veth)\n" in leaky  # and the container end of the pair
    assert "kept by the plugins across attachments (not a leak): nothing" in leaky
    strict = _report(out, "test_bridge_strict")
    assert strict.startswith(
        "the test left this in its cnilib_sandbox (cnilib_sandbox_strict: anything new counts):\n"
        "left behind by DEL: nothing\n"
        "kept by the plugins across attachments (not a leak):\n"
    )
    for kept in (
        "host: link cniweb0 (bridge)",
        "host: address 10.88.0.1/24 on cniweb0",
        "host: file /var/lib/cni/networks/web/last_reserved_ip.0",
        "host: iptables iptables -t nat :CNI-HOSTPORT-DNAT -",
        "host: iptables iptables -t filter :CNI-FORWARD -",
    ):
        assert f"  {kept}\n" in strict, kept


def _report(out: str, test: str) -> str:
    """The fixture's failure message for ``test`` in pytest's output."""
    section = out.split(f"_ ERROR at teardown of {test} _")[1]
    return section.split("\n", 1)[1].split("\n\n")[0].split("\n=")[0].strip() + "\n"


# -- the rule against `cnilib try`'s second attachment ----------------------------------------------

DUAL = [[{"subnet": "10.44.0.0/24"}], [{"subnet": "fd44::/64"}]]
BANDWIDTH = {"ingressRate": 1000000, "ingressBurst": 100000, "egressRate": 1000000, "egressBurst": 100000}
LISTS: dict[str, list[dict[str, Any]]] = {
    "bridge": [
        {
            "type": "bridge",
            "bridge": "cnitry0",
            "isGateway": True,
            "ipMasq": True,
            "ipam": {"type": "host-local", "ranges": DUAL, "routes": [{"dst": "0.0.0.0/0"}]},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        {"type": "firewall"},
        {"type": "bandwidth", "capabilities": {"bandwidth": True}},
        {"type": "tuning", "mtu": 1400, "sysctl": {"net.ipv4.conf.eth0.rp_filter": "0"}},
    ],
    "ptp": [
        {"type": "ptp", "ipMasq": True, "ipam": {"type": "host-local", "subnet": "10.45.0.0/24"}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
        {"type": "firewall"},
    ],
    "macvlan": [
        {"type": "macvlan", "master": "mvparent0", "ipam": {"type": "host-local", "subnet": "10.46.0.0/24"}},
        {"type": "tuning", "promisc": True},
    ],
}


class _Evidence(_Try):
    """``cnilib try``'s run, keeping its evidence: what the second attachment grew, and the
    inventory after the last DEL."""

    grew: set[StateItem]
    after: Inventory | None = None

    def second_attachment(self, name: str, rt: cnilib.RuntimeConfig, *, first_ok: bool) -> set[StateItem]:
        self.grew = super().second_attachment(name, rt, first_ok=first_ok)
        return self.grew

    def inventory(self, label: str) -> tuple[Inventory, float]:
        inv, took = super().inventory(label)
        if label == "inventory after DEL":
            self.after = inv
        return inv, took

    @property
    def remaining(self) -> list[StateItem]:
        assert self.after is not None
        return self.after - self.sb.baseline()


def _attempt(
    sb: Sandbox, conflist: cnilib.NetworkConfigList, cni_path: str, caps: dict[str, Any]
) -> _Evidence:
    ns = argparse.Namespace(cni_path=cni_path, timeout=60.0)
    return _Evidence(sb, conflist, ns, Progress(None, None), [], caps)


@pytest.mark.parametrize("name", sorted(LISTS))
def test_the_rule_agrees_with_trys_second_attachment(name: str) -> None:
    # (disableCheck: Debian's portmap fails CHECK with port mappings; CHECK is not the point here.)
    doc = {"cniVersion": "1.0.0", "name": f"agree-{name}", "disableCheck": True, "plugins": LISTS[name]}
    conflist = cnilib.NetworkConfigList.from_dict(doc)
    with Sandbox() as sb:
        if name == "macvlan":  # a parent link for macvlan, part of the baseline
            sb.run(["ip", "link", "add", "mvparent0", "type", "veth", "peer", "name", "mvpeer0"])
            sb.run(["ip", "link", "set", "mvparent0", "up"])
            sb.mark_baseline()
        attempt = _attempt(sb, conflist, "/usr/lib/cni", {**PORTS, "bandwidth": BANDWIDTH})
        report = attempt.run()
    assert report["ok"], report
    assert attempt.grew == set()  # the second attachment left nothing: try's rule says nothing left
    assert attempt.after is not None
    alone = split_leftovers(attempt.remaining, now=attempt.after)
    assert alone.left == ()  # and the rule alone says the same
    assert set(alone.kept) == set(attempt.remaining) != set()
    assert [str(i) for i in alone.kept] == report["kept"]
    kinds = {i.kind for i in alone.kept}
    assert kinds >= ({"file"} if name == "macvlan" else {"file", "iptables"}), kinds


def test_the_rule_on_what_a_leaky_plugin_leaves() -> None:
    # What the rule alone calls left behind is what the second attachment shows, and more.
    with nobody_dir() as home:
        write_broken(home, "leaky")
        conflist = cnilib.NetworkConfigList.from_dict(
            {"cniVersion": "1.0.0", "name": "leak", "type": "leaky"}
        )
        with Sandbox() as sb:
            attempt = _attempt(sb, conflist, str(home), {})
            report = attempt.run()
    assert not report["ok"]
    assert attempt.after is not None
    alone = split_leftovers(attempt.remaining, now=attempt.after)
    assert attempt.grew <= set(alone.left)
    assert alone.kept == ()
    assert {(i.where, i.kind) for i in alone.left} == {(HOST, "link"), ("try-1", "link"), ("try-2", "link")}


def test_the_rule_item_by_item() -> None:
    def item(kind: str, key: str, where: str = HOST) -> StateItem:
        return StateItem(where, kind, key)

    kept = [
        item("link", "br0 (bridge)"),
        item("address", "10.1.0.1/24 on br0"),
        item("route", "local 10.1.0.1 dev br0 table local"),
        item("file", "/var/lib/cni/networks/n/last_reserved_ip.1"),
        item("file", "/var/lib/cni/networks/n/lock"),
        item("iptables", "iptables -t nat :CNI-HOSTPORT-MASQ -"),
        item("iptables", "iptables -t nat -A POSTROUTING -m comment --comment x -j CNI-HOSTPORT-MASQ"),
        item("iptables", "ip6tables -t nat -A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE"),
    ]
    left = [
        item("link", "eth0 (veth)", "c1"),
        item("link", "veth1234 (veth) master br0"),
        item("link", "bwp1234 (ifb)"),
        item("address", "10.1.0.1/24 on dummy0"),
        item("route", "10.1.0.5 dev veth1234 scope host"),
        item("file", "/var/lib/cni/networks/n/10.1.0.5"),
        item("cache", "results/n-c1-eth0"),
        item("nftables", "table inet mine"),
        item("iptables", "iptables -t nat :CNI-DN-0123456789abcdef01234 -"),
        item(
            "iptables", 'iptables -t nat -A CNI-HOSTPORT-DNAT -m comment --comment "id: \\"c1\\"" -j CNI-DN-1'
        ),
        item("iptables", "iptables -t filter -A CNI-FORWARD -s 10.1.0.5/32 -j ACCEPT"),
        item("iptables", "iptables -t nat -A POSTROUTING -s 10.1.0.5/32 -j CNI-0123456789abcdef01234567"),
        item("iptables", "iptables -t nat -A CNI-DN-1 -p tcp -j CNI-HOSTPORT-SETMARK"),
    ]
    found = split_leftovers([*kept, *left])
    assert found.kept == tuple(sorted(kept))
    assert found.left == tuple(sorted(left))
    # A bridge of the baseline (not new) still makes its new address kept; evidence overrides.
    assert split_leftovers([kept[1]], now=[kept[0]]).kept == (kept[1],)
    assert split_leftovers([kept[1]], now=[kept[0]], grew=[kept[1]]).left == (kept[1],)
