"""A node for the doctor's real tests: a configuration directory, a result cache and host-local's
store of the test's own, containers whose namespaces can be "rebooted", the doctor as a process.

Everything lives in the session's sandbox "host" namespace (bridges, veths, NAT rules) and in
namespaces the test creates; ``Node.close`` unmounts and deletes them, also after a failure. The
doctor runs as ``nsenter --net=HOST cnilib doctor ...``: the plugins it runs and the state it
reads are the sandbox's. wt-podman's Podman test builds on this module.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from leaks_support import PORTMAP, bridge_plugin, nat_rules, store

import cnilib
from cnilib import netns

PLUGIN_DIR = "/usr/lib/cni"
CNILIB = Path(sys.executable).parent / "cnilib"


class Container:
    """A container's namespace, bind-mounted at a file of the test (as runtimes mount theirs), so
    that a "reboot" can leave the empty file behind: unmount, then delete the namespace."""

    def __init__(self, directory: Path, name: str) -> None:
        self.ns = netns.create()
        self.path = str(directory / name)
        Path(self.path).touch()
        subprocess.run(["mount", "--bind", self.ns.path, self.path], check=True)
        self.mounted = True

    def reboot(self) -> None:
        """What a reboot leaves: an empty regular file at the namespace path."""
        if self.mounted:
            subprocess.run(["umount", self.path], check=True)
            self.mounted = False
        self.ns.delete()

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            if self.mounted:
                subprocess.run(["umount", self.path], check=True, capture_output=True)
                self.mounted = False
        self.ns.delete()


class Node:
    """One test's CNI node inside the sandbox host namespace."""

    def __init__(self, tmp_path: Path, host: netns.NetNS, *, bridge: str, subnet: str) -> None:
        self.root = tmp_path
        self.host = host
        self.confdir = tmp_path / "net.d"
        self.confdir.mkdir(mode=0o755)
        self.cache_dir = tmp_path / "cache"
        self.data_dir = tmp_path / "ipam"
        self.netns_dir = tmp_path / "netns"
        self.netns_dir.mkdir()
        self.bridge = bridge
        self.subnet = subnet
        self.containers: list[Container] = []

    def write_network(self, name: str = "docnet", *, portmap: bool = True) -> cnilib.NetworkConfigList:
        """bridge (ipMasq) + host-local (+ portmap), as a ``.conflist`` of the node."""
        plugins = [bridge_plugin(self.bridge, self.subnet, self.data_dir)]
        if portmap:
            plugins.append(dict(PORTMAP))
        conf = {"cniVersion": "1.0.0", "name": name, "plugins": plugins}
        path = self.confdir / f"10-{name}.conflist"
        path.write_text(json.dumps(conf, indent=2))
        return cnilib.load_network(self.confdir, name)

    def cni(self) -> cnilib.CNI:
        return cnilib.CNI(
            [PLUGIN_DIR], self.cache_dir, timeout=60, argv_prefix=netns.enter_argv(self.host.path)
        )

    def container(self, name: str) -> Container:
        ctr = Container(self.netns_dir, name)
        self.containers.append(ctr)
        return ctr

    def doctor(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """``cnilib doctor ARGS`` for this node, run in the sandbox host namespace."""
        argv = [
            *netns.enter_argv(self.host.path),
            str(CNILIB),
            "doctor",
            "--conf-dir",
            str(self.confdir),
            "--cache-dir",
            str(self.cache_dir),
            "--cni-path",
            PLUGIN_DIR,
            *args,
        ]
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, check=False)

    def doctor_json(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
        proc = self.doctor("--json", *args, env=env)
        assert proc.stdout, proc.stderr
        return proc.returncode, json.loads(proc.stdout)

    def nat_of(self, network: str, container_id: str) -> list[str]:
        """Every nat rule and chain that names the container or its chains."""
        from cnilib._spec._leftovers import chain_name

        names = (chain_name(network, container_id), chain_name(network, container_id, "DN-"))
        return sorted(
            line
            for line in nat_rules(self.host.path)
            if f'id: \\"{container_id}\\"' in line or any(n in line for n in names)
        )

    def snapshot(
        self, network: str, container_id: str, ctr: Container | str, cache_file: Path
    ) -> dict[str, Any]:
        """What a live container has: its links and addresses, its host veth, its NAT rules,
        its reservation and its cache entry (byte for byte)."""
        path = ctr if isinstance(ctr, str) else ctr.path
        inside = json.loads(netns.run(path, ["ip", "-j", "addr", "show"]).stdout)
        ports = json.loads(self.host.run(["ip", "-j", "link", "show", "master", self.bridge]).stdout or "[]")
        entry = json.loads(cache_file.read_bytes())
        host_side = {i["name"] for i in entry["result"].get("interfaces", []) if not i.get("sandbox")}
        return {
            # (IPv6 link-local addresses come and go with duplicate address detection: left out)
            "inside": [
                (
                    i["ifname"],
                    i.get("address"),
                    [a["local"] for a in i["addr_info"] if a.get("scope") != "link"],
                )
                for i in inside
            ],
            "host_veth": sorted((p["ifname"], p["address"]) for p in ports if p["ifname"] in host_side),
            "nat": self.nat_of(network, container_id),
            "store": {k: v for k, v in store(self.data_dir, network).items() if v == container_id},
            "entry": cache_file.read_bytes(),
        }

    def close(self) -> None:
        for ctr in self.containers:
            ctr.close()
        self.host.run(["ip", "link", "del", self.bridge], check=False)


def ids_of(report: dict[str, Any], kind: str | None = None) -> list[str]:
    """The container ids of a JSON report's findings (of one kind), sorted."""
    return sorted(f["container_id"] for f in report["findings"] if kind is None or f["kind"] == kind)
