"""One real Debian plugin at a time, through both executors, inside namespaces made by the test.

Each test gets a sandbox "host" namespace (the plugins run there through ``nsenter``, so bridges,
veths and sysctls such as ip_forward live and die with it) and a container namespace. host-local keeps
its store in ``tmp_path``. No packet is sent anywhere. Marked ``root``: skipped only when not root and
not on CI (see ``conftest.py``); on CI they must run.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from cnilib import (
    PluginConfig,
    PluginError,
    Result100,
    RuntimeConfig,
    Verb,
    VersionInfo,
    netns,
)
from cnilib._exec import AsyncSubprocessExecutor, SubprocessExecutor
from cnilib._exec._protocol import ExecRequest, build_request, build_version_request, decode_outcome

pytestmark = pytest.mark.root

PLUGIN_DIR = "/usr/lib/cni"


def _debian_plugins() -> list[str]:
    try:
        names = sorted(os.listdir(PLUGIN_DIR))
    except FileNotFoundError:
        return ["bridge"]  # collected anyway so that CI fails loudly if the package is missing
    return [n for n in names if os.access(os.path.join(PLUGIN_DIR, n), os.X_OK)]


@attrs.frozen
class Sandbox:
    host: netns.NetNS
    ctr: netns.NetNS
    data_dir: Path

    @property
    def prefix(self) -> tuple[str, ...]:
        return tuple(netns.enter_argv(self.host.path))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    made: list[netns.NetNS] = []
    try:
        made.append(netns.create(loopback_up=True))
        made.append(netns.create())
        yield Sandbox(host=made[0], ctr=made[1], data_dir=tmp_path / "ipam")
    finally:
        for ns in reversed(made):  # the container first: its veth end goes with it
            ns.delete()
    assert not any(netns.exists(ns.name) for ns in made)


Invoke = Callable[..., Any]


@pytest.fixture(params=["sync", "async"])
def invoke(request: pytest.FixtureRequest, sandbox: Sandbox) -> Invoke:
    """Run a request with the real plugins inside the sandbox host namespace, and decode it."""

    def run(req: ExecRequest, timeout: float = 30.0) -> Any:
        if request.param == "sync":
            out = SubprocessExecutor(argv_prefix=sandbox.prefix).run(req, timeout=timeout)
        else:
            ex = AsyncSubprocessExecutor(argv_prefix=sandbox.prefix)
            out = asyncio.run(ex.run(req, timeout=timeout))
        return decode_outcome(req, out)

    return run


def ip_json(ns: netns.NetNS, *args: str) -> Any:
    proc = subprocess.run(["ip", "-n", ns.name, "-j", *args], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout or "[]")


def link_exists(ns: netns.NetNS, name: str) -> bool:
    proc = subprocess.run(["ip", "-n", ns.name, "link", "show", name], capture_output=True, check=False)
    return proc.returncode == 0


def addresses(ns: netns.NetNS, dev: str) -> set[str]:
    [link] = ip_json(ns, "addr", "show", "dev", dev)
    return {f"{a['local']}/{a['prefixlen']}" for a in link["addr_info"]}


def requests(
    conf: dict[str, Any], sandbox: Sandbox, ifname: str, container_id: str = "ctr-real-1"
) -> Callable[[Verb], ExecRequest]:
    plugin = PluginConfig.from_dict(conf)
    rt = RuntimeConfig(container_id=container_id, netns=sandbox.ctr.path, ifname=ifname)

    def make(verb: Verb, prev: Any = None) -> ExecRequest:
        return build_request(
            verb,
            plugin,
            rt,
            network_name=conf["name"],
            cni_version=conf["cniVersion"],
            search_path=[PLUGIN_DIR],
            prev_result=prev,
        )

    return make


def test_loopback_add_then_del(sandbox: Sandbox, invoke: Invoke) -> None:
    make = requests({"cniVersion": "1.0.0", "name": "lo", "type": "loopback"}, sandbox, "lo")
    [lo] = ip_json(sandbox.ctr, "link", "show", "lo")
    assert "UP" not in lo["flags"]

    res = invoke(make(Verb.ADD))
    assert isinstance(res, Result100)
    assert "127.0.0.1/8" in res.all_addresses
    assert res.interfaces[0].sandbox == sandbox.ctr.path
    [lo] = ip_json(sandbox.ctr, "addr", "show", "lo")
    assert "UP" in lo["flags"]
    assert "127.0.0.1/8" in addresses(sandbox.ctr, "lo")

    assert invoke(make(Verb.DEL)) is None
    [lo] = ip_json(sandbox.ctr, "link", "show", "lo")
    assert "UP" not in lo["flags"]


def test_bridge_with_host_local_add_check_del(sandbox: Sandbox, invoke: Invoke) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "realnet",
        "type": "bridge",
        "bridge": "cnitest0",
        "isGateway": True,
        "ipMasq": False,  # no iptables rules needed for this test
        "ipam": {
            "type": "host-local",
            "subnet": "10.250.7.0/24",
            "dataDir": str(sandbox.data_dir),
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }
    make = requests(conf, sandbox, "eth0")

    res = invoke(make(Verb.ADD))
    assert isinstance(res, Result100)
    assert res.all_addresses == ("10.250.7.2/24",)
    assert res.ips[0].gateway == "10.250.7.1"
    assert [i.name for i in res.interfaces][::2] == ["cnitest0", "eth0"]
    assert "10.250.7.2/24" in addresses(sandbox.ctr, "eth0")
    routes = {(r["dst"], r.get("gateway")) for r in ip_json(sandbox.ctr, "route")}
    assert ("default", "10.250.7.1") in routes
    assert ("10.250.7.0/24", None) in routes
    # The bridge and its gateway address live in the sandbox host namespace, not the machine's.
    assert "10.250.7.1/24" in addresses(sandbox.host, "cnitest0")
    assert not os.path.exists("/sys/class/net/cnitest0")
    stored = sorted(os.listdir(sandbox.data_dir / "realnet"))
    assert "10.250.7.2" in stored

    assert invoke(make(Verb.CHECK, prev=res)) is None

    assert invoke(make(Verb.DEL, prev=res)) is None
    assert not link_exists(sandbox.ctr, "eth0")
    leftover = [f for f in os.listdir(sandbox.data_dir / "realnet") if f[:1].isdigit()]
    assert leftover == []

    assert invoke(make(Verb.DEL, prev=res)) is None  # DEL twice succeeds


def test_real_plugin_error_is_decoded(sandbox: Sandbox, invoke: Invoke) -> None:
    conf = {
        "cniVersion": "1.0.0",
        "name": "broken",
        "type": "host-local",
        "ipam": {"type": "host-local", "dataDir": str(sandbox.data_dir)},  # no subnet/ranges
    }
    with pytest.raises(PluginError) as info:
        invoke(requests(conf, sandbox, "eth0")(Verb.ADD))
    err = info.value
    assert err.plugin == "host-local"
    assert err.verb == "ADD"
    assert err.exit_status == 1
    assert err.msg


@pytest.mark.parametrize("name", _debian_plugins())
def test_version_of_every_debian_plugin(name: str) -> None:
    req = build_version_request(name, search_path=[PLUGIN_DIR])
    # The same run done by hand: only CNI_COMMAND, the same stdin.
    direct = subprocess.run(
        [os.path.join(PLUGIN_DIR, name)],
        input=req.stdin,
        env={"CNI_COMMAND": "VERSION", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        capture_output=True,
        check=True,
        timeout=30,
    )
    expected = json.loads(direct.stdout)
    sync_info = decode_outcome(req, SubprocessExecutor().run(req, timeout=30))
    async_info = decode_outcome(req, asyncio.run(AsyncSubprocessExecutor().run(req, timeout=30)))
    for info in (sync_info, async_info):
        assert isinstance(info, VersionInfo)
        assert info.cni_version == expected["cniVersion"]
        assert list(info.supported_versions) == expected["supportedVersions"]
        assert info.supports("1.0.0")
