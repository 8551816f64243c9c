"""Inventory of what an attachment leaves behind, for the leak, crash and load tests.

Everything is read from the sandbox namespaces and directories the tests create: host-local's
store, the veths and iptables chains of the sandbox "host" namespace, the result cache and the
intent records. "Leaked" means: anything here that no cached attachment accounts for.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

from cnilib import NetworkConfigList, netns
from cnilib.testing.plugins import write_plugin

PLUGIN_DIR = "/usr/lib/cni"

#: NAT chains portmap creates once per namespace and shares between containers; it never removes
#: them (by design), so they stay after the last DEL -- but empty of per-container rules.
SHARED_NAT_CHAINS = frozenset({"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"})


def conflist(version: str, name: str, plugins: list[dict[str, Any]]) -> NetworkConfigList:
    """A configuration list object, as loaded from a ``.conflist`` file."""
    obj = {"cniVersion": version, "name": name, "plugins": plugins}
    return NetworkConfigList.from_bytes(json.dumps(obj, indent=1).encode())


def bridge_plugin(bridge: str, subnet: str, data_dir: Path, *, masq: bool = True) -> dict[str, Any]:
    """bridge + host-local with its store in ``data_dir``."""
    return {
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "ipMasq": masq,
        "ipam": {
            "type": "host-local",
            "subnet": subnet,
            "dataDir": str(data_dir),
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }


def ptp_plugin(subnet: str, data_dir: Path) -> dict[str, Any]:
    """ptp + host-local (a veth per container, no bridge, no NAT): the cheapest real chain."""
    return {
        "type": "ptp",
        "ipam": {"type": "host-local", "subnet": subnet, "dataDir": str(data_dir)},
    }


PORTMAP: dict[str, Any] = {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True}


def port_mappings(host_port: int, container_port: int = 80) -> dict[str, Any]:
    """Capability args with one TCP port mapping."""
    return {"portMappings": [{"hostPort": host_port, "containerPort": container_port, "protocol": "tcp"}]}


# -- state ----------------------------------------------------------------------------------------


def ip_json(ns: str, *args: str) -> Any:
    out = netns.run(ns, ["ip", "-j", *args]).stdout.strip()
    return json.loads(out) if out else []


def link_names(ns: str) -> list[str]:
    """Every link of the namespace (``lo`` first)."""
    return [link["ifname"] for link in ip_json(ns, "link", "show")]


def veths(ns: str) -> list[str]:
    """The veth links of the namespace."""
    return [link["ifname"] for link in ip_json(ns, "link", "show", "type", "veth")]


def ipv4(ns: str, dev: str = "eth0") -> list[str]:
    """IPv4 addresses (no prefix length) of ``dev`` in the namespace; [] if there is no ``dev``."""
    proc = netns.run(ns, ["ip", "-j", "-4", "addr", "show", "dev", dev], check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    return [a["local"] for link in json.loads(proc.stdout) for a in link.get("addr_info", [])]


def store(data_dir: Path, network: str) -> dict[str, str]:
    """host-local's reservations of ``network``: address -> the container id holding it."""
    d = data_dir / network
    if not d.is_dir():
        return {}
    held = {}
    for p in d.iterdir():
        if p.name == "lock" or p.name.startswith("last_reserved_ip"):
            continue
        with contextlib.suppress(FileNotFoundError):
            held[p.name] = p.read_text().splitlines()[0].strip()
    return held


def nat_rules(ns: str) -> list[str]:
    return netns.run(ns, ["iptables-save", "-t", "nat"]).stdout.splitlines()


def dnat_rules(ns: str, host_port: int | None = None) -> list[str]:
    """NAT rules that forward a host port (all, or those of ``host_port``)."""
    want = "--dport" if host_port is None else f"--dport {host_port} "
    return [r for r in nat_rules(ns) if r.startswith("-A ") and "DNAT" in r and want in r + " "]


def cni_chains(ns: str, *, ipv6: bool = False) -> dict[str, set[str]]:
    """Every ``CNI-*`` chain per table (nat, filter, mangle) of iptables or ip6tables."""
    prog = "ip6tables-save" if ipv6 else "iptables-save"
    out: dict[str, set[str]] = {}
    table = ""
    for line in netns.run(ns, [prog]).stdout.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":CNI-"):
            out.setdefault(table, set()).add(line[1:].split()[0])
    return out


def chain_rules(ns: str, chain: str, table: str = "nat", *, ipv6: bool = False) -> list[str]:
    """The ``-A`` rules of ``chain``."""
    prog = "ip6tables" if ipv6 else "iptables"
    lines = netns.run(ns, [prog, "-t", table, "-S", chain]).stdout.splitlines()
    return [line for line in lines if line.startswith("-A ")]


def files(directory: Path) -> list[str]:
    """Names in ``directory`` (temporary files included); [] when it does not exist."""
    return sorted(os.listdir(directory)) if directory.is_dir() else []


def cache_files(cache_dir: Path) -> list[str]:
    """Result cache entries (temporary ``.tmp-*`` files of an interrupted write left out)."""
    return [n for n in files(cache_dir / "results") if not n.startswith(".")]


def intent_files(cache_dir: Path) -> list[str]:
    """Intent records (of unfinished ADDs) under ``<cache_dir>/intents``, temporary files left out."""
    return [n for n in files(cache_dir / "intents") if not n.startswith(".")]


def per_container_rules(ns: str, chain: str, *, ipv6: bool = False) -> list[str]:
    """Rules of a shared portmap chain that belong to one container.

    Every rule of ``CNI-HOSTPORT-DNAT`` does (a jump to the container's ``CNI-DN-*`` chain). In
    ``CNI-HOSTPORT-MASQ`` and ``CNI-HOSTPORT-SETMARK`` portmap keeps one static rule each (masquerade
    what carries mark 0x2000, set that mark); anything naming a container or its chain is not static.
    """
    rules = chain_rules(ns, chain, ipv6=ipv6)
    if chain == "CNI-HOSTPORT-DNAT":
        return rules
    return [r for r in rules if "CNI-DN-" in r or "id: " in r]


def leftovers(
    host: str, data_dir: Path, network: str, cache_dir: Path, baseline: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything an attachment of ``network`` could leave; all empty when nothing leaked.

    The chains portmap shares are left out of ``chains``; their per-container rules are in
    ``shared_rules``. What is in ``baseline`` (this function's answer before the test attached
    anything: another module's leftovers in the shared host namespace) does not count.
    """
    tables = {v6: cni_chains(host, ipv6=v6) for v6 in (False, True)}
    chains = {
        f"{'ip6' if v6 else 'ip'}tables {table}": sorted(names - SHARED_NAT_CHAINS)
        for v6, found in tables.items()
        for table, names in found.items()
        if names - SHARED_NAT_CHAINS
    }
    shared_rules = {
        f"{'ip6' if v6 else 'ip'}tables {c}": rules
        for v6, found in tables.items()
        for c in sorted(found.get("nat", set()) & SHARED_NAT_CHAINS)
        if (rules := per_container_rules(host, c, ipv6=v6))
    }
    state = {
        "store": store(data_dir, network),
        "veths": veths(host),
        "chains": chains,
        "shared_rules": shared_rules,
        "dnat": dnat_rules(host),
        "cache": cache_files(cache_dir),
        "intents": intent_files(cache_dir),
    }
    return cast("dict[str, Any]", _minus(state, baseline or {}) or {})


def _minus(now: Any, before: Any) -> Any:
    """``now`` without what ``before`` (the same shape, or None) already had; falsy if nothing."""
    if isinstance(now, dict):
        old = before if isinstance(before, dict) else {}
        return {k: d for k, v in now.items() if (d := _minus(v, old.get(k)))}
    if isinstance(now, list):
        seen = set(before or ())
        return [x for x in now if x not in seen]
    return None if now == before else now


# -- processes ------------------------------------------------------------------------------------


def pids_in(ns: str) -> set[int]:
    """Processes whose network namespace is the one at ``ns``."""
    st = os.stat(ns)
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            s = os.stat(f"/proc/{entry}/ns/net")
        except OSError:
            continue
        if (s.st_dev, s.st_ino) == (st.st_dev, st.st_ino):
            found.add(int(entry))
    return found


def wait_settled(ns: str, before: set[int], timeout: float = 60.0) -> None:
    """Wait until every process that appeared in ``ns`` since ``before`` was taken is gone (the
    plugins a killed runtime left running finish on their own)."""
    deadline = time.monotonic() + timeout
    while True:
        extra = pids_in(ns) - before
        if not extra:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"processes still running in {ns}: {sorted(extra)}")
        time.sleep(0.02)


# -- namespaces in bulk ---------------------------------------------------------------------------


@contextlib.contextmanager
def many_netns(prefix: str, count: int) -> Iterator[list[str]]:
    """``count`` container namespaces made with one ``ip -batch`` (cheap); their paths. All are
    deleted on exit, also on failure."""
    names = [f"{prefix}-{i}" for i in range(count)]
    try:
        _ip_batch(f"netns add {n}" for n in names)
        yield [netns.path_of(n) for n in names]
    finally:
        _ip_batch((f"netns del {n}" for n in names if netns.exists(n)), check=False)


def _ip_batch(commands: Iterable[str], *, check: bool = True) -> None:
    text = "".join(f"{c}\n" for c in commands)
    if not text:
        return
    argv = ["ip", "-batch", "-"] if check else ["ip", "-force", "-batch", "-"]
    proc = subprocess.run(argv, input=text, text=True, capture_output=True, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip -batch failed: {proc.stderr.strip()}")


# -- a plugin whose DEL fails until it is told otherwise ------------------------------------------

_FAIL_DEL = """import json, os, sys
conf = json.load(sys.stdin)
verb = os.environ.get("CNI_COMMAND")
with open(LOG, "a") as fh:
    fh.write(verb + "\\n")
if verb == "ADD":
    print(json.dumps(conf.get("prevResult") or {"cniVersion": conf["cniVersion"]}))
elif verb == "DEL" and not os.path.exists(FIXED):
    print(json.dumps({"cniVersion": conf["cniVersion"], "code": 999, "msg": "broken DEL"}))
    sys.exit(1)
elif verb == "VERSION":
    print(json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"]}))
"""


def fail_del_plugin(directory: Path, name: str) -> tuple[Path, Path]:
    """A pass-through plugin whose DEL fails (code 999, "broken DEL") until ``fixed`` exists.

    Returns (the flag file ``fixed``, the log of the verbs it ran)."""
    fixed, log = directory / f"{name}.fixed", directory / f"{name}.log"
    head = f"LOG = {str(log)!r}\nFIXED = {str(fixed)!r}\n"
    write_plugin(directory, name, head + _FAIL_DEL, shebang=f"#!{sys.executable} -IS")
    return fixed, log
