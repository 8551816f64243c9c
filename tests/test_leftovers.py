"""The table of what the plugins leave (``cnilib._spec._leftovers``) and the program that removes it
(``cnilib._engine._sweep``), with fake ``iptables`` and ``ip`` programs standing in for the real ones
(``test_gone_real.py`` runs it against the real ones, in a sandbox namespace)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cnilib import ExecRequest
from cnilib._engine._sweep import option, parse_rules, target
from cnilib._spec._leftovers import (
    SWEEP_PROGRAM,
    Chain,
    File,
    Link,
    Reservations,
    Rule,
    chain_name,
    comment_owner,
    is_attachment_chain,
    leftovers,
    list_leftovers,
    sandbox_of,
    sweep_request_fields,
)
from cnilib.testing.plugins import write_plugin

RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "br0", "mac": "26:14:ac:00:d0:1b"},
        {"name": "veth9d88482e", "mac": "AA:56:DE:B5:12:A4"},
        {"name": "eth0", "mac": "c2:11:22:33:44:55", "sandbox": "/run/netns/c1"},
    ],
    "ips": [
        {"interface": 2, "address": "10.77.0.2/24", "gateway": "10.77.0.1"},
        {"interface": 2, "address": "fd00::2/64"},
    ],
}
BRIDGE = {"type": "bridge", "bridge": "br0", "ipMasq": True, "ipam": {"type": "host-local", "dataDir": "/d"}}


def test_chain_names_are_the_plugins() -> None:
    # node-notes: CNI- + sha512(b"cvnet" + b"ctr-abc").hexdigest()[:24]
    assert chain_name("cvnet", "ctr-abc") == "CNI-" + hashlib.sha512(b"cvnetctr-abc").hexdigest()[:24]
    # Seen on the node: bridge's and portmap's chains of network gxnet, container gxctr1.
    assert chain_name("gxnet", "gxctr1") == "CNI-3d246fc9949fe8cde32d4e31"
    assert chain_name("gxnet", "gxctr1", "DN-") == "CNI-DN-3d246fc9949fe8cde32d4"


def test_the_way_back_from_a_rule_to_its_attachment() -> None:
    # utils.FormatComment (Go's %q), as bridge writes it, and after "dnat " as portmap does.
    assert comment_owner('name: "gxnet" id: "gxctr1"') == ("gxnet", "gxctr1")
    assert comment_owner('dnat name: "gxnet" id: "gxctr1"') == ("gxnet", "gxctr1")
    assert comment_owner('snat name: "n" id: ""') == ("n", "")
    for other in (
        "CNI portfwd requiring masquerade",
        'name: "gxnet"',
        'name: "a\\"b" id: "c"',  # an escaped quote: not a name the engine accepts
        'name: "gxnet" id: "gxctr1" and more',
        'masq name: "gxnet" id: "gxctr1"',
    ):
        assert comment_owner(other) is None, other
    assert is_attachment_chain(chain_name("gxnet", "gxctr1"))
    assert is_attachment_chain(chain_name("gxnet", "gxctr1", "DN-"))
    assert is_attachment_chain(chain_name("gxnet", "gxctr1", "SN-"))
    for shared in ("CNI-HOSTPORT-DNAT", "CNI-FORWARD", "CNI-" + "x" * 24, "cni-" + "a" * 24, "POSTROUTING"):
        assert not is_attachment_chain(shared), shared


def test_bridge_leaves_its_masquerade_chains_its_veth_and_its_reservations() -> None:
    got = leftovers(BRIDGE, "gxnet", "gxctr1", "eth0", RESULT)
    chain = "CNI-3d246fc9949fe8cde32d4e31"
    assert got == [
        Chain("bridge", "ipv4", "nat", chain, ["POSTROUTING"], ["10.77.0.2"]),
        Chain("bridge", "ipv6", "nat", chain, ["POSTROUTING"], ["fd00::2"]),
        Link("bridge", "veth9d88482e", "aa:56:de:b5:12:a4"),  # not the bridge, not the container's
        Reservations("host-local", "/d/gxnet", "gxctr1", "eth0"),
    ]
    assert all(item.owned for item in got)


def test_without_ipmasq_or_a_result_less_is_known() -> None:
    plain = {**BRIDGE, "ipMasq": False}
    assert [type(i) for i in leftovers(plain, "n", "c", "eth0", RESULT)] == [Link, Reservations]
    # No result (an intent record): both families, every jump rule, no veth to name.
    got = leftovers(BRIDGE, "n", "c", "eth0", None)
    assert [(i.kind, getattr(i, "family", ""), getattr(i, "sources", ())) for i in got] == [
        ("chain", "ipv4", ()),
        ("chain", "ipv6", ()),
        ("reservations", "", ()),
    ]
    assert leftovers({"type": "bridge", "ipMasq": True}, "n", "c", "eth0", None) == []  # no IPAM: layer 2


def test_every_known_plugin() -> None:
    result_020 = {"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.5/24"}}
    ptp = leftovers({"type": "ptp", "ipMasq": True, "ipam": {"type": "static"}}, "n", "c", "eth0", result_020)
    assert ptp == [Chain("ptp", "ipv4", "nat", chain_name("n", "c"), ["POSTROUTING"], ["10.1.0.5"])]
    portmap = leftovers({"type": "portmap"}, "n", "c", "eth0", None)
    assert {(i.family, i.name, i.parents) for i in portmap} == {  # type: ignore[attr-defined]
        (f, chain_name("n", "c", p), (parent,))
        for f in ("ipv4", "ipv6")
        for p, parent in (("DN-", "CNI-HOSTPORT-DNAT"), ("SN-", "CNI-HOSTPORT-SNAT"))
    }
    firewall = leftovers({"type": "firewall"}, "n", "c", "eth0", result_020)
    assert firewall == [
        Rule("firewall", "ipv4", "filter", "CNI-FORWARD",
             ["-d", "10.1.0.5/32", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]),
        Rule("firewall", "ipv4", "filter", "CNI-FORWARD", ["-s", "10.1.0.5/32", "-j", "ACCEPT"]),
    ]  # fmt: skip
    assert not any(r.owned for r in firewall)  # an address alone does not say whose
    assert leftovers({"type": "firewall", "backend": "firewalld"}, "n", "c", "eth0", result_020) == []
    bw_name = "bwp" + hashlib.sha512(b"gxnetgxctr1").hexdigest()[:12]
    assert bw_name == "bwp3d246fc9949f"  # seen on the node
    assert leftovers({"type": "bandwidth"}, "gxnet", "gxctr1", "eth0", None) == [Link("bandwidth", bw_name)]
    assert leftovers({"type": "tuning"}, "n", "c", "net1", None) == [
        File("tuning", "/run/cni/tuning/c_net1.json")
    ]
    assert leftovers({"type": "tuning", "dataDir": "/t"}, "n", "c", "eth0", None) == [
        File("tuning", "/t/c_eth0.json")
    ]
    for quiet in ("macvlan", "ipvlan", "vlan", "host-device", "loopback", "sbr", "vrf", "static", "mine"):
        assert leftovers({"type": quiet, "ipam": {"type": "dhcp"}}, "n", "c", "eth0", RESULT) == []


def test_a_list_names_each_leftover_once_and_the_sandbox_of_a_result() -> None:
    twice = list_leftovers([BRIDGE, {"type": "macvlan", "ipam": BRIDGE["ipam"]}], "n", "c", "eth0", None)
    assert sum(isinstance(i, Reservations) for i in twice) == 1
    assert sandbox_of(RESULT, "eth0") == "/run/netns/c1"
    other = {"interfaces": [{"name": "a", "sandbox": "/x"}, {"name": "eth1", "sandbox": "/y"}]}
    assert (sandbox_of(other, "eth1"), sandbox_of(other, "eth9"), sandbox_of(None, "eth0")) == (
        "/y",
        "/x",
        "",
    )


def test_the_request_runs_the_sweep_program_with_the_owned_items_as_json() -> None:
    items = leftovers(BRIDGE, "n", "c", "eth0", RESULT) + leftovers(
        {"type": "firewall"}, "n", "c", "eth0", RESULT
    )
    fields = sweep_request_fields(items, network="n", container_id="c", ifname="eth0", search_path=["/p"])
    assert fields is not None
    req = ExecRequest(**fields)
    assert (req.plugin, req.search_path) == (Path(sys.executable).name, (str(Path(sys.executable).parent),))
    assert req.args == ("-I", "-S", SWEEP_PROGRAM)
    assert os.path.isfile(SWEEP_PROGRAM)
    doc = json.loads(req.stdin)
    assert [i["kind"] for i in doc["leftovers"]] == ["chain", "chain", "link", "reservations"]  # no rules
    assert (req.env["CNI_COMMAND"], req.env["CNI_CONTAINERID"], req.env["CNI_NETNS"]) == ("DEL", "c", "")
    assert (
        sweep_request_fields(items[-2:], network="n", container_id="c", ifname="eth0", search_path=()) is None
    )


# -- the sweep program, against fake iptables and ip ------------------------------------------------

NAT = """-P PREROUTING ACCEPT
-P POSTROUTING ACCEPT
-N CNI-abc
-N CNI-HOSTPORT-MASQ
-A POSTROUTING -m comment --comment "CNI portfwd requiring masquerade" -j CNI-HOSTPORT-MASQ
-A POSTROUTING -s 10.77.0.2/32 -m comment --comment "name: \\"n\\" id: \\"c\\"" -j CNI-abc
-A CNI-abc -d 10.77.0.0/24 -m comment --comment "name: \\"n\\" id: \\"c\\"" -j ACCEPT
"""


def _tools(tmp_path: Path, listing: str, *, link: str = "", fail: str = "") -> Path:
    """Fake iptables/ip6tables/ip in a directory: they log their argv (JSON lines); ``-S`` prints
    ``listing``, ``ip link show`` prints ``link`` (or fails as for a missing device); an argv
    containing ``fail`` fails."""
    bindir = tmp_path / "tools"
    log = tmp_path / "tools.log"
    body = f"""import json, sys
args = sys.argv[1:]
with open({str(log)!r}, "a") as f:
    f.write(json.dumps([sys.argv[0].rsplit("/", 1)[-1], *args]) + "\\n")
if {fail!r} and {fail!r} in args:
    sys.stderr.write("iptables: Device or resource busy.\\n"); sys.exit(1)
if args[-1:] == ["-S"]:
    sys.stdout.write({listing!r})
elif args[:2] == ["-o", "link"]:
    if not {link!r}:
        sys.stderr.write('Device "x" does not exist.\\n'); sys.exit(1)
    sys.stdout.write({link!r})
"""
    for name in ("iptables", "ip6tables", "ip"):
        write_plugin(bindir, name, body, shebang=f"#!{sys.executable} -IS")
    return bindir


def _sweep(tmp_path: Path, bindir: Path, items: list[Any]) -> tuple[int, str, list[list[str]]]:
    docs = [i if isinstance(i, dict) else i.to_dict() for i in items]
    doc = {"cnilib": "remove leftovers", "network": "n", "leftovers": docs}
    env = {"PATH": f"{bindir}:/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", SWEEP_PROGRAM], input=json.dumps(doc).encode(), env=env,
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    log = tmp_path / "tools.log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return proc.returncode, proc.stderr.decode(), calls


def test_parse_rules_unquotes_what_iptables_quotes() -> None:
    chains, rules = parse_rules(NAT)
    assert {"CNI-abc", "POSTROUTING"} <= chains
    assert rules[1] == [
        "POSTROUTING", "-s", "10.77.0.2/32", "-m", "comment", "--comment", 'name: "n" id: "c"',
        "-j", "CNI-abc",
    ]  # fmt: skip


def test_parse_rules_reads_iptables_save_too() -> None:
    rules_only = [line for line in NAT.splitlines() if line.startswith("-A ")]
    saved = "\n".join(["*nat", ":POSTROUTING ACCEPT [0:0]", ":CNI-abc - [0:0]", *rules_only, "COMMIT"])
    chains, rules = parse_rules(saved)
    assert chains == {"POSTROUTING", "CNI-abc"}
    assert rules == parse_rules(NAT)[1]
    assert (target(rules[1]), option(rules[1], "-s"), option(rules[1], "--comment")) == (
        "CNI-abc",
        "10.77.0.2/32",
        'name: "n" id: "c"',
    )
    assert (target(["X", "-d", "10.0.0.1"]), option(["X"], "-s")) == ("", "")


def test_a_chain_goes_with_the_rules_that_jump_to_it(tmp_path: Path) -> None:
    bindir = _tools(tmp_path, NAT)
    rc, err, calls = _sweep(
        tmp_path, bindir, [Chain("bridge", "ipv4", "nat", "CNI-abc", ["POSTROUTING"], ["10.77.0.2"])]
    )
    assert (rc, err) == (0, "")
    assert calls == [
        ["iptables", "-w", "-t", "nat", "-S"],
        ["iptables", "-w", "-t", "nat", "-D", "POSTROUTING", "-s", "10.77.0.2/32", "-m", "comment",
         "--comment", 'name: "n" id: "c"', "-j", "CNI-abc"],
        ["iptables", "-w", "-t", "nat", "-F", "CNI-abc"],
        ["iptables", "-w", "-t", "nat", "-X", "CNI-abc"],
    ]  # fmt: skip


def test_another_interfaces_rule_keeps_the_chain_and_an_absent_chain_is_nothing(tmp_path: Path) -> None:
    bindir = _tools(tmp_path, NAT)
    other = Chain("bridge", "ipv4", "nat", "CNI-abc", ["POSTROUTING"], ["10.77.0.9"])
    absent = Chain("portmap", "ipv6", "nat", "CNI-DN-x", ["CNI-HOSTPORT-DNAT"])
    rc, _, calls = _sweep(tmp_path, bindir, [other, absent])
    assert rc == 0
    assert [c[-1] for c in calls] == ["-S", "-S"]  # listed, nothing deleted


def test_a_failure_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    bindir = _tools(tmp_path, NAT, fail="-X")
    (tmp_path / "t.json").write_text("{}")
    items = [
        Chain("bridge", "ipv4", "nat", "CNI-abc", ["POSTROUTING"]),
        File("tuning", str(tmp_path / "t.json")),
    ]
    rc, err, _ = _sweep(tmp_path, bindir, items)
    assert rc == 1
    assert err.splitlines() == [
        "bridge chain: cannot remove chain CNI-abc (nat): iptables: Device or resource busy."
    ]
    assert not (tmp_path / "t.json").exists()


def test_a_link_goes_only_with_its_mac_address(tmp_path: Path) -> None:
    shown = "7: veth1@if2: <BROADCAST> mtu 1500 link/ether aa:56:de:b5:12:a4 brd ff:ff:ff:ff:ff:ff\n"
    bindir = _tools(tmp_path, "", link=shown)
    rc, _, calls = _sweep(
        tmp_path,
        bindir,
        [Link("bridge", "veth1", "AA:56:DE:B5:12:A4"), Link("bridge", "veth1", "02:00:00:00:00:01")],
    )
    assert rc == 0
    assert [c[1:] for c in calls if c[1] != "-o"] == [["link", "del", "dev", "veth1"]]  # the first only
    missing = _tools(tmp_path / "m", "")
    assert _sweep(tmp_path / "m", missing, [Link("bandwidth", "bwpx")])[:2] == (0, "")


def test_reservations_go_only_when_they_name_this_container_and_interface(tmp_path: Path) -> None:
    store = tmp_path / "n"
    store.mkdir()
    files = {
        "10.0.0.2": "c\r\neth0",
        "10.0.0.3": "c\r\neth1",
        "10.0.0.4": "other\r\neth0",
        "lock": "",
        "last_reserved_ip.0": "10.0.0.4",
    }
    for name, text in files.items():
        (store / name).write_text(text)
    (store / "10.0.0.5").symlink_to(store / "10.0.0.2")  # never followed
    (store / "10.0.0.6").mkdir()  # not a file: not a reservation
    os.mkfifo(store / "10.0.0.7")  # never blocks
    rc, err, _ = _sweep(tmp_path, _tools(tmp_path, ""), [Reservations("host-local", str(store), "c", "eth0")])
    assert (rc, err) == (0, "")
    left = ["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7", "last_reserved_ip.0", "lock"]
    assert sorted(os.listdir(store)) == left
    missing = Reservations("host-local", str(tmp_path / "none"), "c", "eth0")
    assert _sweep(tmp_path, _tools(tmp_path, ""), [missing])[:2] == (0, "")


def test_unusable_input_is_an_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-I", "-S", SWEEP_PROGRAM], input=b"[", capture_output=True, check=False
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(b"unusable input")
    rc, err, _ = _sweep(tmp_path, _tools(tmp_path, ""), [File("x", "/nonexistent/f"), {"kind": "odd"}])
    assert rc == 1
    assert "unknown kind of leftover 'odd'" in err
