"""cnilib.Networks / AsyncNetworks over fake plugins that are real executables (no root needed)."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from engine_support import LIVE_NETNS

import cnilib
from cnilib.testing.plugins import write_plugin

_CAPS = '"capabilities":{"portMappings":true,"bandwidth":true}'


def fake_net(
    bindir: Path, name: str, address: str, gateway: str, *, dns: str = "", fail_add: bool = False
) -> Path:
    """A plugin that logs each call (verb, ifname, container, CNI_ARGS, TRACEPARENT, stdin) and on ADD
    returns one interface named $CNI_IFNAME with ``address``."""
    log = bindir / f"{name}.log"
    dns_json = f'{{"nameservers":["{dns}"],"search":["example.test"]}}' if dns else "{}"
    add = (
        f'printf \'{{"code":7,"msg":"%s refuses"}}\' {name}; exit 1'
        if fail_add
        else (
            'printf \'{"cniVersion":"%s","interfaces":[{"name":"%s","mac":"02:00:00:00:00:%02x",'
            '"sandbox":"%s"},{"name":"host-%s"}],"ips":[{"address":"%s","gateway":"%s","interface":0}],'
            '"routes":[{"dst":"0.0.0.0/0","gw":"%s"}],"dns":%s}\' '
            f'"$ver" "$CNI_IFNAME" {len(name)} "$CNI_NETNS" "$CNI_IFNAME" {address} {gateway} {gateway} '
            f"'{dns_json}'"
        )
    )
    body = f"""_in=$(cat)
ver=$(printf '%s' "$_in" | sed -n 's/.*"cniVersion":"\\([0-9.]*\\)".*/\\1/p')
printf '%s\\t%s\\t%s\\t%s\\t%s\\t%s\\t%s\\n' "$CNI_COMMAND" "$CNI_IFNAME" "$CNI_CONTAINERID" "$CNI_ARGS" \\
  "${{TRACEPARENT:-}}" "$CNI_NETNS" "$_in" >> {log}
case "$CNI_COMMAND" in
ADD) {add} ;;
VERSION) printf '{{"cniVersion":"1.1.0","supportedVersions":["0.3.1","0.4.0","1.0.0","1.1.0"]}}' ;;
esac
exit 0
"""
    return write_plugin(bindir, name, body)


def old_net(bindir: Path, name: str = "oldnet") -> Path:
    """A plugin answering with a 0.2.0 result (no interfaces)."""
    body = """cat >/dev/null
case "$CNI_COMMAND" in
ADD) printf '{"cniVersion":"0.2.0","ip4":{"ip":"10.9.0.5/24","gateway":"10.9.0.1",'
     printf '"routes":[{"dst":"10.99.0.0/16"}]},"dns":{"nameservers":["10.9.0.53"]}}' ;;
esac
"""
    return write_plugin(bindir, name, body)


@attrs.frozen
class Call:
    verb: str
    ifname: str
    container: str
    args: str
    traceparent: str
    netns: str
    stdin: dict[str, Any]


def calls(bindir: Path, name: str) -> list[Call]:
    log = bindir / f"{name}.log"
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        verb, ifname, ctr, args, tp, ns, stdin = line.split("\t", 6)
        out.append(Call(verb, ifname, ctr, args, tp, ns, json.loads(stdin)))
    return out


def conflist(name: str, plugin: str, *, version: str = "1.0.0", extra: str = "") -> str:
    return f'{{"cniVersion":"{version}","name":"{name}","plugins":[{{"type":"{plugin}"{extra}}}]}}'


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Path]:
    bindir, confdir, cache = tmp_path / "bin", tmp_path / "net.d", tmp_path / "cache"
    confdir.mkdir()
    fake_net(bindir, "neta", "10.1.0.2/24", "10.1.0.1", dns="10.1.0.53")
    fake_net(bindir, "netb", "fd00::2/64", "fd00::1", dns="10.1.0.53")
    fake_net(bindir, "netc", "10.3.0.2/24", "10.3.0.1")
    fake_net(bindir, "bad", "10.4.0.2/24", "10.4.0.1", fail_add=True)
    fake_net(bindir, "loopback", "127.0.0.1/8", "127.0.0.1")
    old_net(bindir)
    # Sorted by file name, whatever the extension: 10-b.conf comes before 20-a.conflist.
    (confdir / "10-b.conf").write_text('{"cniVersion":"1.0.0","name":"bnet","type":"netb"}')
    (confdir / "20-a.conflist").write_text(conflist("anet", "neta", extra="," + _CAPS))
    return {"bin": bindir, "conf": confdir, "cache": cache}


def make(env: dict[str, Path], **kw: Any) -> cnilib.Networks:
    return cnilib.Networks.from_dir(env["conf"], plugin_dirs=[str(env["bin"])], cache_dir=env["cache"], **kw)


def test_setup_names_interfaces_in_file_order_and_merges(env: dict[str, Path]) -> None:
    extra = cnilib.NetworkConfigList.from_bytes(conflist("onet", "oldnet", version="0.2.0"))
    nets = make(env, loopback=True, networks=[extra])
    cfg = nets.config()
    assert [(n.ifname, n.name) for n in cfg.networks] == [
        ("lo", "cni-loopback"),
        ("eth0", "bnet"),
        ("eth1", "anet"),
        ("eth2", "onet"),
    ]
    assert cfg.default is not None
    assert cfg.default.name == "bnet"
    att = nets.setup("ctr1", LIVE_NETNS)
    assert att.interfaces["eth0"].ips == (ipaddress.ip_interface("fd00::2/64"),)
    assert att.interfaces["eth0"].gateways == (ipaddress.ip_address("fd00::1"),)
    assert att.interfaces["eth0"].sandbox == LIVE_NETNS
    assert att.interfaces["eth0"].in_sandbox
    assert att.interfaces["eth1"].ips == (ipaddress.ip_interface("10.1.0.2/24"),)
    assert att.interfaces["eth1"].mac == "02:00:00:00:00:04"
    # The 0.2.0 result names no interface: its address belongs to the interface asked for.
    assert att.interfaces["eth2"].ips == (ipaddress.ip_interface("10.9.0.5/24"),)
    assert att.interfaces["eth2"].network == "onet"
    assert not att.interfaces["host-eth0"].in_sandbox
    assert att.default is att.interfaces["eth0"]
    assert att.dns.nameservers == ("10.1.0.53", "10.9.0.53")
    assert att.dns.search == ("example.test",)
    assert [(str(r.destination), r.ifname) for r in att.routes] == [
        ("0.0.0.0/0", "lo"),
        ("0.0.0.0/0", "eth0"),
        ("0.0.0.0/0", "eth1"),
        ("10.99.0.0/16", "eth2"),
    ]
    assert [p.network for p in att.networks] == ["cni-loopback", "bnet", "anet", "onet"]
    assert isinstance(att.results["onet"], cnilib.Result100)
    assert isinstance(att.networks[3].raw_result, cnilib.Result020)


def test_labels_become_cni_args_with_ignore_unknown(env: dict[str, Path]) -> None:
    nets = make(env)
    nets.setup("ctr1", LIVE_NETNS, labels={"K8S_POD_NAME": "web"}, args=[("X", "1")])
    [call] = calls(env["bin"], "neta")
    assert call.args == "IgnoreUnknown=1;K8S_POD_NAME=web;X=1"
    assert (call.verb, call.ifname, call.container) == ("ADD", "eth1", "ctr1")


def test_typed_capabilities_reach_plugins_that_enable_them(env: dict[str, Path]) -> None:
    nets = make(env)
    caps = cnilib.Capabilities(
        port_mappings=[cnilib.PortMapping(host_port=8080, container_port=80, protocol="tcp")],
        bandwidth=cnilib.Bandwidth(ingress_rate=1000, ingress_burst=2000),
        mac="02:00:00:00:00:99",
    )
    nets.setup("ctr1", LIVE_NETNS, capabilities=caps)
    [a] = calls(env["bin"], "neta")
    assert a.stdin["runtimeConfig"] == {
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "bandwidth": {"ingressRate": 1000, "ingressBurst": 2000},
    }
    [b] = calls(env["bin"], "netb")
    assert "runtimeConfig" not in b.stdin


def test_capabilities_wire_names_and_escape_hatch() -> None:
    caps = cnilib.Capabilities(
        ip_ranges=[cnilib.IPRange(subnet="10.0.0.0/24", range_start="10.0.0.10", gateway="10.0.0.1")],
        dns=cnilib.DNSCapability(servers=["10.0.0.53"], searches=["svc.test"]),
        ips=["10.0.0.5/24"],
        aliases=["db"],
        cgroup_path="/kubepods/x",
        device_id="0000:04:00.5",
        infiniband_guid="c2:11:22:33:44:55:66:77",
        extra={"io.example/custom": {"k": 1}},
    )
    assert caps.to_dict() == {
        "ipRanges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "gateway": "10.0.0.1"}]],
        "dns": {"servers": ["10.0.0.53"], "searches": ["svc.test"]},
        "ips": ["10.0.0.5/24"],
        "aliases": ["db"],
        "cgroupPath": "/kubepods/x",
        "deviceID": "0000:04:00.5",
        "infinibandGUID": "c2:11:22:33:44:55:66:77",
        "io.example/custom": {"k": 1},
    }
    rt = cnilib.RuntimeConfig(container_id="c", capability_args=caps)
    assert rt.capability_args == caps.to_dict()


@pytest.mark.parametrize(
    "build",
    [
        lambda: cnilib.PortMapping(host_port=0, container_port=80),
        lambda: cnilib.PortMapping(host_port=80, container_port=70000),
        lambda: cnilib.PortMapping(host_port=80, container_port=80, protocol="icmp"),  # type: ignore[arg-type]
        lambda: cnilib.Bandwidth(ingress_rate=-1),
        lambda: cnilib.DNSCapability(servers="10.0.0.1"),
    ],
)
def test_bad_capabilities_are_validation_errors(build: Callable[[], object]) -> None:
    with pytest.raises(cnilib.ValidationError):
        build()


def test_failed_network_rolls_back_the_others(env: dict[str, Path]) -> None:
    (env["conf"] / "30-bad.conflist").write_text(conflist("badnet", "bad"))
    nets = make(env)
    with pytest.raises(cnilib.MultiError) as info:
        nets.setup("ctr1", LIVE_NETNS)
    assert list(info.value.errors) == ["badnet/eth2"]
    assert [c.verb for c in calls(env["bin"], "neta")] == ["ADD", "DEL"]
    assert [c.verb for c in calls(env["bin"], "netb")] == ["ADD", "DEL"]
    assert nets.cni.cached_attachments("ctr1") == []


def test_a_failed_network_whose_own_rollback_fails_is_a_failed_rollback(env: dict[str, Path]) -> None:
    # Its ADD fails after doing something; its DEL (the engine's rollback) fails too: the intent
    # record stays, and the error says the rollback failed (a caller keeps its own record then).
    write_plugin(
        env["bin"],
        "stuck",
        """cat >/dev/null
case "$CNI_COMMAND" in
ADD|DEL) printf '{"code":11,"msg":"busy"}'; exit 1 ;;
esac
""",
    )
    (env["conf"] / "30-stuck.conflist").write_text(conflist("stucknet", "stuck"))

    def check(error: cnilib.MultiError) -> None:
        assert sorted(error.errors) == ["rollback stucknet/eth2", "stucknet/eth2"]
        notes = "".join(error.errors["stucknet/eth2"].__notes__)
        assert "cleanup DEL after the failed ADD also failed" in notes

    with pytest.raises(cnilib.MultiError) as info:
        make(env).setup("ctr1", LIVE_NETNS)
    check(info.value)

    async def main() -> None:
        bindirs = [str(env["bin"])]
        nets = cnilib.AsyncNetworks.from_dir(env["conf"], plugin_dirs=bindirs, cache_dir=env["cache"])
        with pytest.raises(cnilib.MultiError) as info:
            await nets.setup("ctr2", LIVE_NETNS)
        check(info.value)

    asyncio.run(main())
    left = make(env).cni.unfinished_adds()
    assert sorted((e.container_id, e.network_name) for e in left) == [
        ("ctr1", "stucknet"),
        ("ctr2", "stucknet"),
    ]


def test_serial_setup_attaches_in_order(env: dict[str, Path]) -> None:
    nets = make(env, parallel=False)
    att = nets.setup("ctr1", LIVE_NETNS)
    assert sorted(att.interfaces) == ["eth0", "eth1", "host-eth0", "host-eth1"]


def test_remove_uses_cached_config_after_reload(env: dict[str, Path]) -> None:
    nets = make(env)
    nets.setup("ctr1", LIVE_NETNS)
    # Change anet, drop bnet, add a network sorted first: interface names shift.
    (env["conf"] / "20-a.conflist").write_text(conflist("anet", "neta", extra=',"mtu":1400'))
    (env["conf"] / "10-b.conf").unlink()
    (env["conf"] / "05-c.conflist").write_text(conflist("cnet", "netc"))
    assert nets.reload() is True
    assert [(n.ifname, n.name) for n in nets.config().networks] == [("eth0", "cnet"), ("eth1", "anet")]
    assert nets.reload() is False
    nets.remove("ctr1", LIVE_NETNS)
    dels = {
        name: [c for c in calls(env["bin"], name) if c.verb == "DEL"] for name in ("neta", "netb", "netc")
    }
    # anet is removed as it was attached (eth1, old config), bnet too though its file is gone.
    assert [(c.ifname, "mtu" in c.stdin) for c in dels["neta"]] == [("eth1", False)]
    assert [c.ifname for c in dels["netb"]] == ["eth0"]
    # cnet was never attached; its ifname eth0 belonged to bnet's attachment: no DEL may touch it.
    assert dels["netc"] == []
    assert nets.cni.cached_attachments("ctr1") == []


def test_remove_keeps_going_and_names_every_failure(env: dict[str, Path]) -> None:
    nets = make(env)
    nets.setup("ctr1", LIVE_NETNS)
    for name in ("neta", "netb"):
        write_plugin(env["bin"], name, 'cat >/dev/null; printf \'{"code":5,"msg":"broken"}\'; exit 1\n')
    with pytest.raises(cnilib.MultiError) as info:
        nets.remove("ctr1", LIVE_NETNS)
    assert sorted(info.value.errors) == ["anet/eth1", "bnet/eth0"]


def test_check_runs_on_every_network(env: dict[str, Path]) -> None:
    nets = make(env)
    nets.setup("ctr1", LIVE_NETNS)
    nets.check("ctr1", LIVE_NETNS)
    assert [c.verb for c in calls(env["bin"], "neta")] == ["ADD", "CHECK"]
    assert [c.verb for c in calls(env["bin"], "netb")] == ["ADD", "CHECK"]


def test_status_needs_min_networks(env: dict[str, Path], tmp_path: Path) -> None:
    nets = make(env, min_networks=2)
    nets.status()
    empty = tmp_path / "empty"
    empty.mkdir()
    none = cnilib.Networks.from_dir(
        empty, plugin_dirs=[str(env["bin"])], cache_dir=env["cache"], loopback=True
    )
    with pytest.raises(cnilib.NetworksNotReadyError, match="0 network"):
        none.status()
    with pytest.raises(cnilib.NetworksNotReadyError):
        none.setup("c", LIVE_NETNS)
    with pytest.raises(cnilib.NetworksNotReadyError, match="2 network"):
        make(env, min_networks=3).status()


def test_status_runs_status_of_11_lists(env: dict[str, Path]) -> None:
    (env["conf"] / "30-new.conflist").write_text(conflist("new", "bad", version="1.1.0"))
    write_plugin(
        env["bin"],
        "bad",
        'cat >/dev/null; case "$CNI_COMMAND" in STATUS) printf \'{"code":50,"msg":"no"}\'; exit 1;; esac\n',
    )
    with pytest.raises(cnilib.NetworksNotReadyError) as info:
        make(env).status()
    assert list(info.value.errors) == ["new/eth2"]


def test_max_networks_and_invalid_directory(env: dict[str, Path]) -> None:
    assert [n.name for n in make(env, max_networks=1).config().networks] == ["bnet"]
    nets = make(env)
    (env["conf"] / "30-broken.conf").write_text("{not json")
    with pytest.raises(cnilib.ConfigError, match="30-broken"):
        nets.reload()
    assert [n.name for n in nets.config().networks] == ["bnet", "anet"]
    with pytest.raises(cnilib.ConfigError):
        make(env)


def test_bad_arguments_are_cni_errors(env: dict[str, Path]) -> None:
    with pytest.raises(cnilib.ValidationError):
        make(env, max_networks=0)
    with pytest.raises(cnilib.ValidationError):
        make(env).setup("bad/id", LIVE_NETNS)
    with pytest.raises(cnilib.ValidationError):
        make(env, interface_prefix="x" * 20)


def test_watch_reloads_on_changes(env: dict[str, Path]) -> None:
    nets = make(env)
    stop = threading.Event()
    seen: list[list[str]] = []
    ready = threading.Event()

    def consume() -> None:
        for cfg in nets.watch(stop_event=stop, debounce_ms=50):
            seen.append([n.name for n in cfg.networks])
            ready.set()

    thread = threading.Thread(target=consume)
    thread.start()
    try:
        # watchfiles starts watching asynchronously: write until the change is noticed.
        for i in range(100):
            (env["conf"] / "30-c.conflist").write_text(conflist("cnet", "netc", extra=f',"n":{i}'))
            if ready.wait(0.2):
                break
    finally:
        stop.set()
        thread.join()
    assert seen
    assert seen[0] == ["bnet", "anet", "cnet"]


def test_async_networks(env: dict[str, Path]) -> None:
    async def main() -> None:
        async with cnilib.AsyncNetworks.from_dir(
            env["conf"], plugin_dirs=[str(env["bin"])], cache_dir=env["cache"], loopback=True
        ) as nets:
            await nets.status()
            atts = await asyncio.gather(*(nets.setup(f"c{i}", LIVE_NETNS) for i in range(5)))
            for i, att in enumerate(atts):
                assert att.container_id == f"c{i}"
                assert att.interfaces["eth1"].ips == (ipaddress.ip_interface("10.1.0.2/24"),)
            await nets.check("c0", LIVE_NETNS)
            (env["conf"] / "20-a.conflist").unlink()
            assert await nets.reload() is True
            await asyncio.gather(*(nets.remove(f"c{i}", LIVE_NETNS) for i in range(5)))
            assert nets.cni.cached_attachments() == []

    asyncio.run(main())
    assert len([c for c in calls(env["bin"], "neta") if c.verb == "DEL"]) == 5


def _part(network: str, ifname: str, result: dict[str, Any]) -> cnilib.NetworkAttachment:
    from cnilib._networks._attachment import newest_shape

    return cnilib.NetworkAttachment(network, ifname, newest_shape(cnilib.parse_result(result), "1.0.0"))


def test_attachment_merges_version_independently() -> None:
    parts = [
        _part(
            "a",
            "eth0",
            {
                "cniVersion": "0.4.0",
                "interfaces": [
                    {"name": "br0"},
                    {"name": "eth0", "sandbox": "/ns", "mac": "02:00:00:00:00:01"},
                ],
                "ips": [{"version": "4", "address": "10.0.0.2/24", "gateway": "10.0.0.1", "interface": 1}],
                "dns": {"nameservers": ["10.0.0.53"], "domain": "a.test", "options": ["ndots:5"]},
            },
        ),
        # A host-side interface named like a container-side one never replaces it.
        _part("b", "eth1", {"cniVersion": "1.0.0", "interfaces": [{"name": "eth0"}], "ips": []}),
        _part("c", "eth2", {"cniVersion": "0.1.0", "ip6": {"ip": "fd00::5/64"}, "dns": {"domain": "c.test"}}),
    ]
    att = cnilib.Attachment.from_results("ctr", "/ns", parts)
    assert att.interfaces["eth0"].mac == "02:00:00:00:00:01"
    assert att.interfaces["eth0"].network == "a"
    assert att.interfaces["br0"].ips == ()
    assert att.interfaces["eth2"].ips == (ipaddress.ip_interface("fd00::5/64"),)
    assert att.ips == (ipaddress.ip_interface("10.0.0.2/24"), ipaddress.ip_interface("fd00::5/64"))
    assert att.dns == cnilib.DNS(nameservers=["10.0.0.53"], domain="a.test", options=["ndots:5"])
    with pytest.raises(TypeError):
        att.interfaces["x"] = att.interfaces["eth0"]  # type: ignore[index]


@pytest.mark.parametrize(
    "result",
    [
        {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "interface": 3}]},
        {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2", "interface": None}]},
        {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "gateway": "nope"}]},
        {"cniVersion": "1.0.0", "routes": [{"dst": "default"}]},
    ],
)
def test_attachment_of_a_bad_result_is_a_result_error(result: dict[str, Any]) -> None:
    with pytest.raises(cnilib.ResultError):
        cnilib.Attachment.from_results("ctr", "/ns", [_part("a", "eth0", result)])


def test_remove_of_an_unknown_container_runs_del_on_every_network(env: dict[str, Path]) -> None:
    nets = make(env)
    nets.remove("never", "")
    assert [(c.verb, c.ifname) for c in calls(env["bin"], "netb")] == [("DEL", "eth0")]
    assert [(c.verb, c.ifname) for c in calls(env["bin"], "neta")] == [("DEL", "eth1")]


def test_watch_needs_a_directory(env: dict[str, Path]) -> None:
    nets = cnilib.Networks([], plugin_dirs=[str(env["bin"])], cache_dir=env["cache"], min_networks=0)
    with pytest.raises(cnilib.ValidationError):
        next(iter(nets.watch()))


def test_a_directory_file_with_a_name_already_loaded_is_shadowed(
    env: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    # 15-dup names bnet again (after 10-b.conf): shadowed, as in a lookup by name, and not
    # counted against max_networks.
    (env["conf"] / "15-dup.conflist").write_text(conflist("bnet", "netc"))
    with caplog.at_level("WARNING", logger="cnilib.networks"):
        nets = make(env)
    assert [(n.ifname, n.name, Path(n.source or "").name) for n in nets.config().networks] == [
        ("eth0", "bnet", "10-b.conf"),
        ("eth1", "anet", "20-a.conflist"),
    ]
    assert "15-dup.conflist: network 'bnet' is shadowed by" in caplog.text
    assert [n.name for n in make(env, max_networks=2).config().networks] == ["bnet", "anet"]
    att = nets.setup("ctr1", LIVE_NETNS)
    assert sorted(att.results) == ["anet", "bnet"]
    assert calls(env["bin"], "netc") == []


def test_two_networks_with_one_name_given_explicitly_are_refused(env: dict[str, Path]) -> None:
    twin = cnilib.NetworkConfigList.from_bytes(conflist("anet", "netc"))
    with pytest.raises(cnilib.ValidationError, match=r"'anet' is given twice \(.*20-a.conflist and an expl"):
        make(env, networks=[twin])
    loop = cnilib.NetworkConfigList.from_bytes(conflist("cni-loopback", "netc"))
    with pytest.raises(cnilib.ValidationError, match="the loopback network and an explicit list"):
        make(env, networks=[loop], loopback=True)
    nets = make(env)
    (env["conf"] / "30-c.conflist").write_text(conflist("cnet", "netc"))
    assert nets.reload() is True  # a reload keeps the rule: distinct names load
    assert [n.name for n in nets.config().networks] == ["bnet", "anet", "cnet"]
