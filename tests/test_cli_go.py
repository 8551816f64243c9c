"""``cnilib`` against Go's cnitool behaviour (cnigo: libcni v1.1.2 behind cnitool's front end).

The same network is attached with cnigo in one container namespace and with cnilib in another,
one after the other with host-local's store reset in between (so both get the same address);
the printed results and the cache files must be equal field by field, ignoring only what is
random (MAC addresses, host-side veth names) or differs by construction (the netns path and the
container id derived from it). Each tool must also read and remove what the other wrote.

Fake recording plugins show that both send the plugins the same environment and stdin.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from engine_support import netns_link
from gotools import build_cnigo, go_available, run_cnigo
from test_cli import CLI, Run, cnitool_id, result_100
from test_scenario import (  # the shared helpers and the autouse clean-up fixture
    PLUGIN_DIR,
    founding_config,
    link_names,
    sandbox_clean,  # noqa: F401
    store_ips,
)

from cnilib import netns

pytestmark = [
    pytest.mark.go,
    pytest.mark.skipif(not go_available(), reason="needs Go and golang-github-appc-cni-dev"),
]


@pytest.fixture(scope="session")
def cnigo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_cnigo(tmp_path_factory.mktemp("cnigo"))


class Go:
    """cnigo with the same environment handling as :class:`test_cli.CLI`."""

    def __init__(self, binary: Path, cli: CLI, cache: Path, host: str | None) -> None:
        self.binary = binary
        self.cli = cli
        self.cache = cache
        self.host = host

    def run(self, *args: str, env: Mapping[str, str | None] | None = None) -> Run:
        full = self.cli.env({"CNI_CACHE_DIR": str(self.cache), **(env or {})})
        return Run(run_cnigo(self.binary, args, full, host_netns=self.host))


# -- normalization ---------------------------------------------------------------------------------

_MAC = re.compile(r"\b(?!00:00:00:00:00:00)[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b")
_VETH = re.compile(r"\bveth[0-9a-f]{8}\b")


def normalized(text: str, netns_path: str) -> str:
    """Random names and the tool's own netns path replaced by placeholders."""
    text = text.replace(netns_path, "<netns>")
    text = _MAC.sub("<mac>", text)
    return _VETH.sub("<veth>", text)


def cache_entry(cache: Path, network: str, cid: str, ifname: str) -> tuple[bytes, dict[str, Any]]:
    path = cache / "results" / f"{network}-{cid}-{ifname}"
    data = path.read_bytes()
    return data, json.loads(data)


# -- scenarios --------------------------------------------------------------------------------------


def _scenarios(data_dir: Path) -> dict[str, tuple[str, dict[str, Any], dict[str, str]]]:
    """name -> (file name, configuration, environment of the run)."""
    ipam = {"type": "host-local", "dataDir": str(data_dir)}
    return {
        "founding": ("10-mybridge.conf", founding_config(data_dir), {}),
        "web": (
            "20-web.conflist",
            {
                "cniVersion": "1.0.0",
                "name": "web",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": "cni_web0",
                        "isGateway": True,
                        "ipMasq": True,
                        "ipam": {**ipam, "subnet": "10.16.0.0/24", "routes": [{"dst": "0.0.0.0/0"}]},
                    },
                    {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
                    {"type": "tuning", "mtu": 1400, "sysctl": {"net.ipv4.conf.all.forwarding": "1"}},
                ],
            },
            {
                "CAP_ARGS": json.dumps(
                    {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
                ),
                "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web",
                "CNI_IFNAME": "net1",
            },
        ),
        "ptp": (
            "30-ptp.conflist",
            {
                "cniVersion": "0.4.0",
                "name": "ptp",
                "plugins": [
                    {
                        "type": "ptp",
                        "ipMasq": True,
                        "mtu": 1300,
                        "ipam": {**ipam, "subnet": "10.17.0.0/24", "routes": [{"dst": "0.0.0.0/0"}]},
                        "dns": {"nameservers": ["10.17.0.53"], "search": ["example.test"]},
                    },
                    {"type": "firewall"},
                ],
            },
            {},
        ),
        "dualstack": (
            "40-dual.conflist",
            {
                "cniVersion": "0.3.1",
                "name": "dual",
                "plugins": [
                    {
                        "type": "bridge",
                        "bridge": "cni_dual0",
                        "isGateway": True,
                        "ipam": {
                            **ipam,
                            "ranges": [[{"subnet": "10.18.0.0/24"}], [{"subnet": "fd00:18::/64"}]],
                        },
                    }
                ],
            },
            {},
        ),
        "loopback": (
            "50-lo.conflist",
            {
                "cniVersion": "1.0.0",
                "name": "lo",
                "plugins": [{"type": "loopback"}],
            },
            {},
        ),
    }


SCENARIOS = ("founding", "web", "ptp", "dualstack", "loopback")
_CHECKABLE = {"web", "ptp", "loopback"}  # cniVersion >= 0.4.0


def _reset_ipam(data_dir: Path) -> None:
    for child in data_dir.iterdir():
        shutil.rmtree(child) if child.is_dir() else child.unlink()


@pytest.fixture
def both(cnigo: Path, host_ns: netns.NetNS, tmp_path: Path) -> tuple[CLI, Callable[[Path], Go]]:
    cli = CLI(tmp_path, plugin_dirs=[PLUGIN_DIR], prefix=netns.enter_argv(host_ns.path))
    return cli, lambda cache: Go(cnigo, cli, cache, host_ns.path)


@pytest.mark.root
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_add_output_and_cache_equal_cnitool(
    both: tuple[CLI, Callable[[Path], Go]],
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
    scenario: str,
) -> None:
    cli, make_go = both
    filename, conf, env = _scenarios(data_dir)[scenario]
    cli.write_conf(filename, conf)
    name = conf["name"]
    ifname = env.get("CNI_IFNAME", "eth0")
    go = make_go(tmp_path / "go-cache")
    a, b = ctr_ns(), ctr_ns()

    go_add = go.run("add", name, a.path, env=env)
    assert go_add.rc == 0, go_add
    go_raw, go_entry = cache_entry(go.cache, name, cnitool_id(a.path), ifname)
    if scenario in _CHECKABLE:
        assert go.run("check", name, a.path, env={**env, "CAP_ARGS": None}).rc == 0
    assert go.run("del", name, a.path, env=env).rc == 0
    _reset_ipam(data_dir)

    py_add = cli.run("add", name, b.path, env=env)
    assert py_add.rc == 0, py_add
    py_raw, py_entry = cache_entry(cli.cache, name, cnitool_id(b.path), ifname)

    # stdout: the same text (indentation, key order, escapes, no trailing newline)
    assert not go_add.out.endswith("\n")
    assert normalized(py_add.out, b.path) == normalized(go_add.out, a.path)
    assert (py_add.err, go_add.err) == ("", "")

    # the cache entry, field by field
    assert py_entry.pop("netns") == b.path  # libcni >= 1.2 writes it (for GC); 1.1.2 does not
    assert list(py_entry) == list(go_entry)
    assert py_entry["kind"] == go_entry["kind"] == "cniCacheV1"
    assert py_entry["containerId"] == cnitool_id(b.path)
    assert go_entry["containerId"] == cnitool_id(a.path)
    assert base64.b64decode(py_entry["config"]) == base64.b64decode(go_entry["config"])
    for key in ("ifName", "networkName", "cniArgs", "capabilityArgs"):
        assert py_entry.get(key) == go_entry.get(key), key
    assert normalized(json.dumps(py_entry["result"]), b.path) == normalized(
        json.dumps(go_entry["result"]), a.path
    )
    # ... and byte for byte once the container's own values are replaced
    py_bytes = py_raw.decode().replace(f',"netns":{json.dumps(b.path)}', "")
    py_bytes = py_bytes.replace(cnitool_id(b.path), "<id>")
    go_bytes = go_raw.decode().replace(cnitool_id(a.path), "<id>")
    assert normalized(py_bytes, b.path) == normalized(go_bytes, a.path)

    if scenario in _CHECKABLE:
        assert cli.run("check", name, b.path, env={**env, "CAP_ARGS": None}).rc == 0
    assert cli.run("del", name, b.path, env=env).rc == 0
    assert link_names(a.path) == link_names(b.path) == ["lo"]
    assert cli.cache_files() == []
    assert not (go.cache / "results").exists() or not list((go.cache / "results").iterdir())


@pytest.mark.root
@pytest.mark.parametrize("scenario", ["founding", "web", "ptp"])
def test_each_tool_reads_and_removes_what_the_other_wrote(
    both: tuple[CLI, Callable[[Path], Go]],
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    scenario: str,
) -> None:
    cli, make_go = both
    filename, conf, env = _scenarios(data_dir)[scenario]
    cli.write_conf(filename, conf)
    name = conf["name"]
    go = make_go(cli.cache)  # one cache directory for both tools
    a, b = ctr_ns(), ctr_ns()
    no_caps = {**env, "CAP_ARGS": None}  # portmap 1.1.1's CHECK fails with them (both tools)

    assert go.run("add", name, a.path, env=env).rc == 0
    assert cli.run("add", name, b.path, env=env).rc == 0
    assert len(store_ips(data_dir, name)) == 2
    if scenario in _CHECKABLE:
        for tool in (cli, go):  # each checks both attachments
            for ctr in (a, b):
                run = tool.run("check", name, ctr.path, env=no_caps)
                assert run.rc == 0, (tool, run)
    assert cli.run("del", name, a.path, env=env).rc == 0  # Go's entry, removed by cnilib
    assert go.run("del", name, b.path, env=env).rc == 0  # cnilib's entry, removed by Go
    assert link_names(a.path) == link_names(b.path) == ["lo"]
    assert store_ips(data_dir, name) == set()
    assert cli.cache_files() == []


# -- what the plugins receive (fake plugins: no root needed) ---------------------------------------


def test_plugins_receive_the_same_environment_and_stdin(cnigo: Path, tmp_path: Path) -> None:
    cli = CLI(tmp_path)
    for plugin in ("pa", "pb", "pc"):
        cli.plugin(plugin, stdout={"ADD": result_100()})
    cli.write_conf(
        "10-rec.conflist",
        {
            "cniVersion": "1.0.0",
            "name": "rec",
            "plugins": [
                {"type": "pa", "opaque": {"nested": [1, 2.5, "x<y>"]}, "args": {"cni": {"a": 1}}},
                {"type": "pb", "capabilities": {"portMappings": True, "bandwidth": False}},
                {"type": "pc", "runtimeConfig": {"kept": "when no capability matches"}},
            ],
        },
    )
    netns_file = netns_link(tmp_path / "ns")
    env = {
        "CAP_ARGS": json.dumps(
            {"portMappings": [{"hostPort": 1, "containerPort": 2}], "bandwidth": {"ingressRate": 5}}
        ),
        "CNI_ARGS": "IgnoreUnknown=1;A=b",
        "CNI_IFNAME": "eth3",
    }
    go = Go(cnigo, cli, tmp_path / "go-cache", None)
    calls: dict[str, list[Any]] = {}
    for label, tool in (("go", go), ("py", cli)):
        cli.clear()
        for verb in ("add", "check", "del"):
            run = tool.run(verb, "rec", netns_file, env=env)
            assert run.rc == 0, (label, verb, run)
        calls[label] = [(Path(r.argv0).name, dict(r.env), r.config) for r in cli.records()]
    assert [c[:1] for c in calls["py"]] == [c[:1] for c in calls["go"]]
    assert calls["py"] == calls["go"]
    assert [c[1]["CNI_COMMAND"] for c in calls["py"]] == ["ADD"] * 3 + ["CHECK"] * 3 + ["DEL"] * 3


# -- failures ---------------------------------------------------------------------------------------


@pytest.fixture
def pair(cnigo: Path, tmp_path: Path) -> tuple[CLI, Go, str]:
    cli = CLI(tmp_path)
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.plugin(
        "bad", stdout={"ADD": {"code": 7, "msg": "no good", "details": "at all"}}, exit_status={"ADD": 1}
    )
    cli.write_conf("10-n.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "pa"}]})
    cli.write_conf(
        "20-f.conflist", {"cniVersion": "1.0.0", "name": "f", "plugins": [{"type": "pa"}, {"type": "bad"}]}
    )
    netns_file = netns_link(tmp_path / "ns")
    return cli, Go(cnigo, cli, cli.cache, None), netns_file


@pytest.mark.parametrize(
    ("args", "env", "both_say"),
    [
        (("add", "nope", "{ns}"), {}, "nope"),
        (("add", "n", "{ns}"), {"CNI_ARGS": "A"}, "invalid CNI_ARGS pair"),
        (("add", "n", "{ns}"), {"CNI_ARGS": "A=1;"}, "invalid CNI_ARGS pair"),
        (("del", "n", "{ns}"), {"CAP_ARGS": "[1]"}, ""),
        (("add", "n", "{ns}"), {"CNI_IFNAME": ""}, ""),
        (("add", "n", "{ns}"), {"CNI_IFNAME": "a-name-far-too-long"}, "long"),
        (("add", "n", "{ns}"), {"CNI_CONTAINERID": "bad/id"}, ""),
        (("add", "f", "{ns}"), {}, "no good"),
        (("add", "n", "{ns}"), {"CNI_PATH": "/nonexistent"}, "failed to find plugin"),
    ],
)
def test_failures_exit_1_with_one_line_like_cnitool(
    pair: tuple[CLI, Go, str], args: tuple[str, ...], env: dict[str, str], both_say: str
) -> None:
    cli, go, ns = pair
    argv = [a.replace("{ns}", ns) for a in args]
    py_run, go_run = cli.run(*argv, env=env), go.run(*argv, env=env)
    for run in (py_run, go_run):
        assert run.rc == 1, run
        assert run.out == ""  # a failed ADD prints no result
        assert len(run.err_lines) == 1, run
        assert both_say in run.err
    assert cli.cache_files() == []


def test_deliberate_differences(pair: tuple[CLI, Go, str], tmp_path: Path) -> None:
    cli, go, ns = pair
    # a usage error: cnitool prints its usage and exits 1; cnilib exits 2 (documented)
    assert go.run("add", "n").rc == 1
    assert cli.run("add", "n").rc == 2
    # cnitool hands a missing netns to the plugins; cnilib refuses ADD/CHECK up front
    gone = str(tmp_path / "gone")
    assert go.run("add", "n", gone).rc == 0
    assert cli.run("add", "n", gone).rc == 1
    assert go.run("del", "n", gone).rc == 0
    # an unknown command: cnitool 1.1 exits 0 doing nothing; cnilib is a usage error
    assert go.run("frob", "n", ns).rc == 0
    assert cli.run("frob", "n", ns).rc == 2
