"""Helpers of the engine tests: configuration lists, results per version, small fake plugins.

The fake plugins are real executables (``#!/bin/sh``) written into a test's directory; the
recording ones come from :mod:`cnilib.testing.plugins`. The 1.1.0 plugin with STATUS and GC lives
in ``tests/plugins11``.
"""

from __future__ import annotations

import itertools
import json
import os
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from cnilib import NetworkConfigList
from cnilib.testing.plugins import write_plugin

PLUGINS11_SOURCE = Path(__file__).resolve().parent / "plugins11" / "cni11.py"

#: A network namespace path that exists for any user (the caller's own namespace, nsfs): ADD's
#: pre-flight accepts it, and the fake plugins do nothing in it.
LIVE_NETNS = "/proc/self/ns/net"
#: The same namespace by another path (for tests that tell two attachments' netns apart).
OTHER_LIVE_NETNS = "/proc/thread-self/ns/net"


def netns_link(path: Path) -> str:
    """Make ``path`` a symbolic link to :data:`LIVE_NETNS`: a network namespace path of the test's
    choosing (nsfs, for any user), which ADD's pre-flight accepts; fake plugins do nothing in it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(LIVE_NETNS)
    return str(path)


def conflist(
    version: str,
    plugins: Sequence[Mapping[str, Any]],
    *,
    name: str = "testnet",
    **extra: Any,
) -> NetworkConfigList:
    """A configuration list object (as it would be loaded from a ``.conflist`` file)."""
    obj: dict[str, Any] = {"cniVersion": version, "name": name, **extra, "plugins": list(plugins)}
    return NetworkConfigList.from_bytes(json.dumps(obj, indent=2).encode())


def result_for(version: str, address: str, *, ifname: str = "eth0") -> dict[str, Any]:
    """A plausible plugin result of ``version`` holding ``address`` (CIDR, IPv4)."""
    ip = address.split("/", maxsplit=1)[0]
    gw = ".".join([*ip.split(".")[:3], "1"])
    if version in ("0.1.0", "0.2.0"):
        return {
            "cniVersion": version,
            "ip4": {"ip": address, "gateway": gw, "routes": [{"dst": "0.0.0.0/0"}]},
            "dns": {},
        }
    ips: dict[str, Any] = {"address": address, "gateway": gw, "interface": 0}
    if version in ("0.3.0", "0.3.1", "0.4.0"):
        ips["version"] = "4"
    return {
        "cniVersion": version,
        "interfaces": [{"name": ifname, "mac": "0a:58:0a:00:00:02", "sandbox": "/run/netns/x"}],
        "ips": [ips],
        "routes": [{"dst": "0.0.0.0/0", "gw": gw}],
        "dns": {"nameservers": ["10.0.0.53"]},
    }


def _q(value: str | os.PathLike[str]) -> str:
    return shlex.quote(os.fspath(value))


def counting_plugin(
    directory: Path,
    name: str,
    *,
    failures: int,
    code: int = 11,
    stdout: Mapping[str, Any] | None = None,
    log: Path | None = None,
) -> Path:
    """A plugin whose first ``failures`` ADDs fail with CNI error ``code``; then it succeeds,
    printing ``stdout`` (a result) on ADD. Each call appends ``VERB N`` to ``log``."""
    count = directory / f"{name}.count"
    log = log or directory / f"{name}.log"
    out = json.dumps(stdout or {"cniVersion": "1.0.0"})
    err = json.dumps({"cniVersion": "1.0.0", "code": code, "msg": "busy, try again"})
    body = f"""cat > /dev/null
if [ "$CNI_COMMAND" != ADD ]; then echo "$CNI_COMMAND 0" >> {_q(log)}; exit 0; fi
n=$(cat {_q(count)} 2>/dev/null || echo 0)
n=$((n + 1))
echo $n > {_q(count)}
echo "ADD $n" >> {_q(log)}
if [ $n -le {int(failures)} ]; then printf '%s' {_q(err)}; exit 1; fi
printf '%s' {_q(out)}
"""
    return write_plugin(directory, name, body)


def hang_on_add_plugin(directory: Path, name: str, log: Path) -> Path:
    """A plugin that hangs on ADD (until killed) and records every other verb to ``log`` with a
    timestamp (``VERB <ns since epoch>``); DEL succeeds."""
    body = f"""cat > /dev/null
if [ "$CNI_COMMAND" = ADD ]; then echo "ADD $(date +%s%N)" >> {_q(log)}; exec sleep 1000; fi
echo "$CNI_COMMAND $(date +%s%N)" >> {_q(log)}
exit 0
"""
    return write_plugin(directory, name, body)


def interval_plugin(directory: Path, name: str, log: Path, *, sleep: float = 0.2) -> Path:
    """A plugin that appends ``VERB CONTAINERID IFNAME NAME START END`` (ns since the epoch) to the
    shared ``log`` after sleeping ``sleep`` seconds; ADD prints its prevResult (or an empty
    result). Lines are appended with one write, so concurrent writers do not interleave."""
    body = f"""_in=$(cat)
s=$(date +%s%N)
sleep {sleep:g}
e=$(date +%s%N)
echo "$CNI_COMMAND ${{CNI_CONTAINERID:--}} ${{CNI_IFNAME:--}} {name} $s $e" >> {_q(log)}
if [ "$CNI_COMMAND" = ADD ]; then printf '{{"cniVersion":"1.0.0"}}'; fi
exit 0
"""
    return write_plugin(directory, name, body)


def read_intervals(log: Path) -> list[tuple[str, str, str, str, int, int]]:
    """Parse the lines of :func:`interval_plugin`'s log."""
    out = []
    for line in log.read_text().splitlines():
        verb, cid, ifname, name, start, end = line.split()
        out.append((verb, cid, ifname, name, int(start), int(end)))
    return out


def overlapping(intervals: Iterable[tuple[int, int]]) -> list[tuple[tuple[int, int], ...]]:
    """Pairs of intervals that overlap (sorted by start)."""
    ordered = sorted(intervals)
    return [(a, b) for a, b in itertools.pairwise(ordered) if b[0] < a[1]]


def install_plugins11(directory: Path, names: Iterable[str] = ("cni11",)) -> list[Path]:
    """Install the 1.1.0 test plugin under each of ``names`` in ``directory``.

    The shebang is this interpreter with ``-IS`` (no site, isolated): no PATH shim, fast start.
    """
    source = PLUGINS11_SOURCE.read_text()
    body = source.split("\n", 1)[1]  # drop the file's own shebang
    return [write_plugin(directory, name, body, shebang=f"#!{sys.executable} -IS") for name in names]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The JSON-lines records of a log file (empty when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
