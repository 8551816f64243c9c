"""The founding scenario (shared/seed-scenario.md) end to end, with ``ip netns`` containers.

The real Debian plugins run in the session's sandbox "host" namespace (``host_prefix``); each
container is a namespace of the test's own running ``busybox httpd``. Traffic only goes between
these namespaces: the HTTP fetch and pings go from the host namespace to the container addresses
handed out here, never anywhere else.

The module-level helpers (``ip_json``, ``http_get``, ``httpd``, ``sandbox_clean`` ...) are shared
with the other real-network test modules (``from test_scenario import ...``).
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import cnilib
from cnilib import netns

PLUGIN_DIR = "/usr/lib/cni"
HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parent / "examples" / "founding_scenario.py"
INDEX = "hello from the founding scenario\n"

#: The network configuration of the founding scenario, exactly as written (dataDir is added).
FOUNDING: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "examples" / "net.d" / "10-mybridge.conf").read_text()
)

pytestmark = [pytest.mark.root]


# -- helpers shared with the other real-network modules ----------------------------------------


def founding_config(data_dir: Path, **ipam: Any) -> dict[str, Any]:
    """The founding configuration with host-local's store in ``data_dir`` (and ``ipam`` overrides;
    a value of None removes the key)."""
    conf = copy.deepcopy(FOUNDING)
    conf["ipam"]["dataDir"] = str(data_dir)
    for key, value in ipam.items():
        if value is None:
            conf["ipam"].pop(key, None)
        else:
            conf["ipam"][key] = value
    return conf


def ip_json(ns: str, *args: str) -> Any:
    """``ip -j ARGS`` run in the namespace at ``ns``, decoded."""
    out = netns.run(ns, ["ip", "-j", *args]).stdout.strip()
    return json.loads(out) if out else []


def link_names(ns: str) -> list[str]:
    return [link["ifname"] for link in ip_json(ns, "link", "show")]


def addrs(ns: str, dev: str, family: str = "-4") -> list[str]:
    """Global addresses of ``dev`` in CIDR form (link-local IPv6 left out)."""
    return [
        f"{a['local']}/{a['prefixlen']}"
        for link in ip_json(ns, family, "addr", "show", "dev", dev)
        for a in link.get("addr_info", [])
        if a.get("scope") != "link"
    ]


def routes(ns: str, dev: str, family: str = "-4") -> set[tuple[str, str | None, str]]:
    """Routes of ``dev`` as (dst, gateway, scope); the kernel's link-local IPv6 route left out."""
    return {
        (r["dst"], r.get("gateway"), r.get("scope", "global"))
        for r in ip_json(ns, family, "route", "show", "dev", dev)
        if r["dst"] != "fe80::/64"
    }


def bridge_ports(ns: str, bridge: str) -> list[str]:
    return [link["ifname"] for link in ip_json(ns, "link", "show", "master", bridge)]


def iptables(ns: str, table: str, *, ipv6: bool = False) -> list[str]:
    """``iptables -t TABLE -S`` in the namespace (lines)."""
    prog = "ip6tables" if ipv6 else "iptables"
    return netns.run(ns, [prog, "-t", table, "-S"]).stdout.splitlines()


def masq_chains(ns: str, address: str) -> list[str]:
    """The ``CNI-…`` NAT chains that bridge's ``ipMasq`` jumps to for traffic from ``address``."""
    return [
        line.split(" -j ")[1].split()[0]
        for line in iptables(ns, "nat")
        if line.startswith(f"-A POSTROUTING -s {address}/32 ") and " -j CNI-" in line
    ]


def cni_chains(ns: str, table: str = "nat", *, ipv6: bool = False) -> set[str]:
    """Every chain whose name starts with ``CNI-`` in ``table``."""
    return {line.split()[1] for line in iptables(ns, table, ipv6=ipv6) if line.startswith("-N CNI-")}


#: Chains portmap and firewall create once and share between containers (left after DEL).
SHARED_CHAINS = frozenset(
    {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK", "CNI-FORWARD", "CNI-ADMIN"}
)


def per_container_chains(ns: str, table: str = "nat", *, ipv6: bool = False) -> set[str]:
    return cni_chains(ns, table, ipv6=ipv6) - SHARED_CHAINS


#: The founding scenario's routes inside the container, as ``routes()`` reports them.
FOUNDING_ROUTES = {
    ("default", "10.15.30.99", "global"),
    ("1.1.1.1", "10.15.30.1", "global"),
    ("10.15.30.0/24", None, "link"),
}


def assert_founding_container(ns: str) -> None:
    """Inside the container: eth0 with 10.15.30.100/24 and the founding routes, nothing else."""
    assert link_names(ns) == ["lo", "eth0"]
    assert addrs(ns, "eth0") == ["10.15.30.100/24"]
    assert routes(ns, "eth0") == FOUNDING_ROUTES


def assert_founding_host(host: str, data_dir: Path) -> None:
    """On the host side: the bridge holds .99 with one veth, one NAT chain, .100 reserved."""
    assert addrs(host, "cni_bridge1") == ["10.15.30.99/24"]
    assert len(bridge_ports(host, "cni_bridge1")) == 1
    assert len(masq_chains(host, "10.15.30.100")) == 1
    assert store_ips(data_dir, "mybridge") == {"10.15.30.100"}


def store_ips(data_dir: Path, network: str) -> set[str]:
    """Addresses host-local holds reserved for ``network`` in ``data_dir``."""
    d = data_dir / network
    if not d.is_dir():
        return set()
    held = set()
    for name in os.listdir(d):
        try:
            ipaddress.ip_address(name)
        except ValueError:
            continue
        held.add(name)
    return held


def cache_files(cache_dir: Path) -> list[str]:
    d = cache_dir / "results"
    return sorted(os.listdir(d)) if d.is_dir() else []


# The fetch runs under nsenter in the namespace, with proxies disabled: urllib would otherwise
# honour *_proxy variables and send the request elsewhere. (busybox 1.35's `wget -T` segfaults.)
_FETCH = (
    "import sys, urllib.request as u\n"
    "opener = u.build_opener(u.ProxyHandler({}))\n"
    "sys.stdout.write(opener.open(sys.argv[1], timeout=float(sys.argv[2])).read().decode())\n"
)


def http_get(ns: str, url: str, timeout: float = 5.0) -> str:
    """GET ``url`` from inside the namespace at ``ns`` and return the body."""
    proc = netns.run(ns, [sys.executable, "-c", _FETCH, url, str(timeout)], timeout=timeout + 10)
    return proc.stdout


def ping(ns: str, address: str) -> bool:
    """One echo request from the namespace at ``ns`` to ``address`` (1 s to answer)."""
    argv = (
        ["ping", "-c1", "-W1", address]
        if shutil.which("ping")
        else ["busybox", "ping", "-c1", "-W1", address]
    )
    return netns.run(ns, argv, check=False).returncode == 0


def _listening(ns: str, port: int) -> bool:
    out = netns.run(ns, ["ss", "-Hltn", f"sport = :{port}"], check=False).stdout
    return bool(out.strip())


@contextmanager
def httpd(ns: str, root: Path, *, port: int = 80) -> Iterator[subprocess.Popen[bytes]]:
    """``busybox httpd -f -p PORT -h ROOT`` in the namespace; serving once entered, killed on exit."""
    (root / "index.html").write_text(INDEX)
    proc = subprocess.Popen(
        [*netns.enter_argv(ns), "busybox", "httpd", "-f", "-p", str(port), "-h", str(root)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 5
        while not _listening(ns, port):
            if proc.poll() is not None:
                raise RuntimeError(f"httpd exited: {proc.stderr.read().decode() if proc.stderr else ''}")
            if time.monotonic() > deadline:
                raise RuntimeError("httpd did not start listening")
            time.sleep(0.01)
        yield proc
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def wait_no_tentative(ns: str, timeout: float = 5.0) -> None:
    """Wait for IPv6 duplicate address detection to finish on every address in the namespace."""
    deadline = time.monotonic() + timeout
    while ip_json(ns, "-6", "addr", "show", "tentative") and time.monotonic() < deadline:
        time.sleep(0.05)


def plugin_processes(ns: str) -> list[tuple[int, str]]:
    """Processes running a plugin binary inside the namespace at ``ns`` (none may outlive an
    operation). Plugins of other test runs on the machine live in other namespaces."""
    inode = os.stat(ns).st_ino
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink(f"/proc/{entry}/exe")
            same_ns = os.stat(f"/proc/{entry}/ns/net").st_ino == inode
        except OSError:
            continue
        if same_ns and exe.startswith(PLUGIN_DIR + "/"):
            found.append((int(entry), exe))
    return found


def _tables(save: str) -> set[str]:
    return {line[1:].strip() for line in save.splitlines() if line.startswith("*")}


@pytest.fixture(autouse=True)
def sandbox_clean(host_ns: netns.NetNS) -> Iterator[None]:
    """Give every test the sandbox host namespace as it was, also after a failure.

    Runs after the test's container namespaces are gone (it is set up before them): links the
    test left in the host namespace (bridges, a macvlan master) are deleted and iptables is
    restored from a snapshot, so a bridge of one test never meets another test's addresses.
    """
    # Links these modules name, left by someone else's failed run, would break the first test.
    for name in set(link_names(host_ns.path)) & {"cni_bridge1", "cni_dual0", "cnimv0"}:
        host_ns.run(["ip", "link", "del", name], check=False)
    links_before = set(link_names(host_ns.path))
    saved = {prog: host_ns.run([f"{prog}-save"]).stdout for prog in ("iptables", "ip6tables")}
    try:
        yield
    finally:
        for name in set(link_names(host_ns.path)) - links_before:
            host_ns.run(["ip", "link", "del", name], check=False)
        for prog, text in saved.items():
            host_ns.run([f"{prog}-restore"], input=text, check=False)
            for table in _tables(host_ns.run([f"{prog}-save"]).stdout) - _tables(text):
                host_ns.run([prog, "-t", table, "-F"], check=False)
                host_ns.run([prog, "-t", table, "-X"], check=False)


@pytest.fixture
def cni(host_prefix: tuple[str, ...], tmp_path: Path) -> cnilib.CNI:
    """A CNI engine running the real plugins in the sandbox host namespace; cache in tmp_path."""
    return cnilib.CNI(
        plugin_dirs=[PLUGIN_DIR], cache_dir=tmp_path / "cache", argv_prefix=host_prefix, timeout=60
    )


# -- the founding scenario ---------------------------------------------------------------------


def test_founding_scenario(
    cni: cnilib.CNI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    host = host_ns.path
    ctr = ctr_ns()
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))
    rt = cnilib.RuntimeConfig(container_id="cnitest", netns=ctr.path, ifname="eth0")
    www = tmp_path / "www"
    www.mkdir()
    with httpd(ctr.path, www):
        result = cni.add(conflist, rt)

        # the 0.2.0 result the plugin printed
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
        assert result.ip4 is not None
        assert result.ip4.routes == (
            cnilib.Route("0.0.0.0/0"),
            cnilib.Route("1.1.1.1/32", "10.15.30.1"),
        )
        assert result.ip6 is None
        assert not result.dns

        # inside the container
        assert_founding_container(ctr.path)

        # the host side: the bridge holds the configured gateway, one veth; ipMasq's NAT chain
        assert addrs(host, "cni_bridge1") == ["10.15.30.99/24"]
        ports = bridge_ports(host, "cni_bridge1")
        assert len(ports) == 1
        assert ports[0].startswith("veth")
        [chain] = masq_chains(host, "10.15.30.100")
        assert chain.startswith("CNI-")
        assert any(
            line.startswith(f"-A {chain} ") and line.endswith("-j MASQUERADE")
            for line in iptables(host, "nat")
        )
        assert store_ips(data_dir, "mybridge") == {"10.15.30.100"}
        assert cache_files(tmp_path / "cache") == ["mybridge-cnitest-eth0"]

        # the web server answers from the host side
        assert http_get(host, "http://10.15.30.100/") == INDEX

        cni.delete(conflist, rt)

    assert link_names(ctr.path) == ["lo"]
    assert masq_chains(host, "10.15.30.100") == []
    assert per_container_chains(host) == set()
    assert not any("10.15.30.100" in line for line in iptables(host, "nat"))
    assert store_ips(data_dir, "mybridge") == set()
    assert cache_files(tmp_path / "cache") == []
    assert bridge_ports(host, "cni_bridge1") == []
    cni.delete(conflist, rt)  # DEL twice succeeds


def test_range_bounds_the_addresses(
    cni: cnilib.CNI, host_ns: netns.NetNS, ctr_ns: Callable[[], netns.NetNS], data_dir: Path
) -> None:
    """rangeStart/rangeEnd: the second container gets .101; past rangeEnd there is no address."""
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir, rangeEnd="10.15.30.101"))
    rts = [cnilib.RuntimeConfig(container_id=f"c{i}", netns=ctr_ns().path) for i in range(3)]
    first = cni.add(conflist, rts[0])
    second = cni.add(conflist, rts[1])
    assert isinstance(first, cnilib.Result020)
    assert isinstance(second, cnilib.Result020)
    assert first.ip4 is not None
    assert second.ip4 is not None
    assert (first.ip4.ip, second.ip4.ip) == ("10.15.30.100/24", "10.15.30.101/24")
    assert first.ip4.gateway == second.ip4.gateway == "10.15.30.99"
    assert len(bridge_ports(host_ns.path, "cni_bridge1")) == 2
    for address in ("10.15.30.100", "10.15.30.101"):
        assert ping(host_ns.path, address)

    with pytest.raises(cnilib.PluginError, match="no IP addresses available") as info:
        cni.add(conflist, rts[2], rollback=True)
    assert info.value.plugin == "bridge"
    assert link_names(rts[2].netns) == ["lo"]
    assert len(bridge_ports(host_ns.path, "cni_bridge1")) == 2
    assert store_ips(data_dir, "mybridge") == {"10.15.30.100", "10.15.30.101"}

    # freeing an address makes it available again
    cni.delete(conflist, rts[0])
    third = cni.add(conflist, rts[2])
    assert isinstance(third, cnilib.Result020)
    assert third.ip4 is not None
    assert third.ip4.ip == "10.15.30.100/24"
    for rt in rts[1:]:
        cni.delete(conflist, rt)
    assert store_ips(data_dir, "mybridge") == set()
    assert bridge_ports(host_ns.path, "cni_bridge1") == []


def test_without_gateway_host_local_picks_the_first_address(
    cni: cnilib.CNI,
    host_ns: netns.NetNS,
    ctr_ns: Callable[[], netns.NetNS],
    data_dir: Path,
    tmp_path: Path,
) -> None:
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir, gateway=None))
    ctr = ctr_ns()
    rt = cnilib.RuntimeConfig(container_id="nogw", netns=ctr.path)
    www = tmp_path / "www"
    www.mkdir()
    with httpd(ctr.path, www):
        result = cni.add(conflist, rt)
        assert isinstance(result, cnilib.Result020)
        assert result.ip4 is not None
        assert (result.ip4.ip, result.ip4.gateway) == ("10.15.30.100/24", "10.15.30.1")
        assert addrs(host_ns.path, "cni_bridge1") == ["10.15.30.1/24"]
        assert routes(ctr.path, "eth0") == {
            ("default", "10.15.30.1", "global"),
            ("1.1.1.1", "10.15.30.1", "global"),
            ("10.15.30.0/24", None, "link"),
        }
        assert http_get(host_ns.path, "http://10.15.30.100/") == INDEX
        cni.delete(conflist, rt)
    assert link_names(ctr.path) == ["lo"]
    assert store_ips(data_dir, "mybridge") == set()


def test_example_script_runs_the_netns_path() -> None:
    """examples/founding_scenario.py (the README's main job) passes on the ip-netns path."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE), "--netns"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "path: ip netns" in proc.stdout
    assert proc.stdout.splitlines()[-1].startswith("PASS: ")
    assert '"ip": "10.15.30.100/24"' in proc.stdout
