"""``Networks.setup`` of N networks: in parallel, serially, and one ``CNI.add`` per network by hand.

Each network is a one-plugin list whose plugin is a real executable (a shell script) that spends
``--plugin-ms`` milliseconds (default 20, about a real bridge ADD here) and prints a result. For
each N, COUNT containers are set up by:

* ``parallel``: :meth:`cnilib.Networks.setup` (the networks attached concurrently, one merged
  :class:`~cnilib.Attachment`);
* ``serial``: the same with ``parallel=False`` (go-cni's ``SetupSerially``);
* ``add-loop``: ``CNI.add`` for each network in turn, as a caller without :class:`Networks` would
  write it (no merge, no rollback);

and removed again (not timed). Variants are interleaved round by round; medians are reported with
the ratios against ``parallel`` measured in the same run. No root needed.

Run: ``.venv/bin/python benchmarks/networks.py [--count 20] [--rounds 3] [--plugin-ms 20]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import cnilib  # noqa: E402
from cnilib.testing.plugins import write_plugin  # noqa: E402

PLUGIN = """cat >/dev/null
case "$CNI_COMMAND" in
ADD) sleep {seconds}
     printf '{{"cniVersion":"1.0.0","interfaces":[{{"name":"%s","sandbox":"%s"}}],' "$CNI_IFNAME" "$CNI_NETNS"
     printf '"ips":[{{"address":"10.{n}.0.2/24","interface":0}}]}}' ;;
esac
"""


def build(work: Path, n: int, plugin_ms: float) -> list[cnilib.NetworkConfigList]:
    lists = []
    for i in range(n):
        write_plugin(work / "bin", f"net{i}", PLUGIN.format(seconds=plugin_ms / 1000, n=i))
        lists.append(
            cnilib.NetworkConfigList.from_dict(
                {"cniVersion": "1.0.0", "name": f"bench{i}", "plugins": [{"type": f"net{i}"}]}
            )
        )
    return lists


def measure(count: int, run: Callable[[str], object], cleanup: Callable[[str], None]) -> float:
    ids = [f"ctr{i}" for i in range(count)]
    start = time.perf_counter()
    for cid in ids:
        run(cid)
    elapsed = time.perf_counter() - start
    for cid in ids:
        cleanup(cid)
    return elapsed / count


def one_n(n: int, count: int, rounds: int, plugin_ms: float) -> dict[str, float]:
    """Median milliseconds per container of each variant, for N = ``n`` networks."""
    with tempfile.TemporaryDirectory(prefix="cnilib-bench-networks-") as tmp:
        work = Path(tmp)
        lists = build(work, n, plugin_ms)
        cni = cnilib.CNI(plugin_dirs=[str(work / "bin")], cache_dir=work / "cache")
        nets = cnilib.Networks(lists, cni=cni)

        def add_loop(cid: str) -> None:
            for i, conf in enumerate(lists):
                rt = cnilib.RuntimeConfig(container_id=cid, netns=f"/run/netns/{cid}", ifname=f"eth{i}")
                cni.add(conf, rt)

        def remove(cid: str) -> None:
            nets.remove(cid, f"/run/netns/{cid}")

        variants: dict[str, Callable[[str], object]] = {
            "parallel": lambda cid: nets.setup(cid, f"/run/netns/{cid}"),
            "serial": lambda cid: nets.setup(cid, f"/run/netns/{cid}", parallel=False),
            "add-loop": add_loop,
        }
        times: dict[str, list[float]] = {k: [] for k in variants}
        for _ in range(rounds):
            for name, run in variants.items():
                times[name].append(measure(count, run, remove))
        return {k: statistics.median(v) * 1000 for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="containers per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--plugin-ms", type=float, default=20.0, help="time each plugin ADD takes")
    parser.add_argument("--networks", default="1,2,4,8", help="values of N")
    args = parser.parse_args()
    print(
        f"setup of N networks; {args.count} containers, plugin ADD {args.plugin_ms:g} ms, "
        f"medians of {args.rounds} rounds (ms per container)"
    )
    head = ("N", "parallel", "serial", "add-loop", "serial/par", "loop/par", "serial/loop")
    print("".join(f"{h:>12}" for h in head))
    for n in (int(x) for x in args.networks.split(",")):
        med = one_n(n, args.count, args.rounds, args.plugin_ms)
        par, ser, loop = med["parallel"], med["serial"], med["add-loop"]
        row = (n, f"{par:.1f}", f"{ser:.1f}", f"{loop:.1f}", f"{ser / par:.2f}", f"{loop / par:.2f}")
        print("".join(f"{c:>12}" for c in (*row, f"{ser / loop:.2f}")))


if __name__ == "__main__":
    main()
