"""The sandbox's own costs, as ratios to the cheapest thing that does a comparable job.

* ``create+close``: ``Sandbox()`` then ``close()`` (holder, namespaces, tmpfs mounts, the baseline
  inventory) against ``ip netns add`` + ``ip netns del`` of one plain namespace;
* ``inventory``: ``Sandbox.inventory()`` of the host and one container (links, addresses, routes,
  iptables, nftables, files, cache) against one ``nsenter ... ip -j link show`` in the sandbox;
* ``try``: the founding configuration's ADD+DEL through ``Sandbox.cni()`` against the same
  through :class:`cnilib.CNI` run with ``nsenter --net`` in a plain namespace (root only).

Variants are interleaved round by round; medians are reported. Run as root or as any user:
``python benchmarks/sandbox.py [--rounds 10]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cnilib
from cnilib import netns
from cnilib.sandbox import Sandbox

CONF = Path(__file__).resolve().parent.parent / "examples" / "net.d" / "10-mybridge.conf"


def _time(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _plain_ns() -> None:
    netns.create().delete()


def _sandbox() -> None:
    Sandbox().close()


def _attach_in(cni: cnilib.CNI, path: str, data_dir: str = "") -> None:
    conflist = cnilib.NetworkConfigList.from_file(CONF)
    if data_dir:  # outside a sandbox, host-local must not use the machine's /var/lib/cni
        raw = conflist.to_dict()
        raw["plugins"][0]["ipam"]["dataDir"] = data_dir
        conflist = cnilib.NetworkConfigList.from_dict(raw)
    rt = cnilib.RuntimeConfig(container_id="bench", netns=path)
    cni.add(conflist, rt)
    cni.delete(conflist, rt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    root = os.geteuid() == 0
    times: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        sb = stack.enter_context(Sandbox())
        ctr = sb.container("c1")
        cni = sb.cni(plugin_dirs=["/usr/lib/cni"])
        one_probe = [*sb.argv_prefix, "ip", "-j", "link", "show"]
        plain: tuple[cnilib.CNI, str, str] | None = None
        if root:  # the same attachment in plain namespaces, as tests/conftest.py runs plugins
            host, container = stack.enter_context(netns.create()), stack.enter_context(netns.create())
            cache = stack.enter_context(tempfile.TemporaryDirectory())
            argv = netns.enter_argv(host.path)
            plain_cni = cnilib.CNI(plugin_dirs=["/usr/lib/cni"], cache_dir=cache, argv_prefix=argv)
            plain = (plain_cni, container.path, os.path.join(cache, "ipam"))
        for _ in range(args.rounds):
            if root:
                times.setdefault("ip netns add+del", []).append(_time(_plain_ns))
            times.setdefault("Sandbox() + close()", []).append(_time(_sandbox))
            times.setdefault("one ip -j probe", []).append(
                _time(lambda: subprocess.run(one_probe, capture_output=True, check=True))
            )
            times.setdefault("inventory()", []).append(_time(sb.inventory))
            times.setdefault("ADD+DEL in the sandbox", []).append(_time(lambda: _attach_in(cni, ctr.path)))
            if plain is not None:
                times.setdefault("ADD+DEL in a plain netns", []).append(_time(lambda: _attach_in(*plain)))
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, value in med.items():
        print(f"{name:28} {value * 1000:8.1f} ms")
    pairs = [
        ("Sandbox() + close()", "ip netns add+del"),
        ("inventory()", "one ip -j probe"),
        ("ADD+DEL in the sandbox", "ADD+DEL in a plain netns"),
    ]
    for what, base in pairs:
        if base in med:
            print(f"{what} / {base}: {med[what] / med[base]:.2f}x")


if __name__ == "__main__":
    main()
