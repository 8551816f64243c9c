"""Attaching COUNT labelled Docker containers: one watcher reconciliation against a loop by hand.

As root, with the real ``bridge`` plugin (the founding network) and a private Docker engine, both in
a sandbox network namespace made here. COUNT ``--net=none`` containers labelled
``cnilib.networks=mybridge`` are started (not timed), then attached by:

* ``by-hand``: :func:`cnilib.docker.attach` for each container in turn (the baseline);
* ``watcher``: one :func:`cnilib.docker.reconcile` pass (containers handled concurrently, each
  with a namespace pin and a record);

and detached again (not timed). Variants alternate round by round; medians are reported with the
watcher's ratio against ``by-hand`` measured in the same run. Plugin processes dominate both.

Run: ``sudo .venv/bin/python benchmarks/docker_watch.py [--count 10] [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import cnilib  # noqa: E402
from cnilib import docker, netns  # noqa: E402
from cnilib.testing.dockerd import PrivateDockerd, docker_available  # noqa: E402

PLUGIN_DIR = "/usr/lib/cni"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not docker_available():
        print("needs root, docker.io, containerd and busybox-static", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="cnilib-bench-watch-"))
    conf = work / "net.d"
    conf.mkdir()
    config = json.loads((HERE.parent / "examples/net.d/10-mybridge.conf").read_text())
    config["ipam"]["dataDir"] = str(work / "ipam")
    (conf / "10-mybridge.conf").write_text(json.dumps(config))
    conflist = cnilib.load_network(conf, "mybridge")
    times: dict[str, list[float]] = {"by-hand": [], "watcher": []}
    with netns.create(loopback_up=True) as host, PrivateDockerd(netns=host.path) as engine:
        image = engine.build_busybox_image()
        prefix = netns.enter_argv(host.path)
        cni = cnilib.CNI(plugin_dirs=[PLUGIN_DIR], cache_dir=work / "cache-hand", argv_prefix=prefix)
        kwargs = {"conf_dir": conf, "plugin_dirs": [PLUGIN_DIR], "argv_prefix": prefix, "host": engine.host}
        for r in range(args.rounds):
            for variant in ("by-hand", "watcher") if r % 2 == 0 else ("watcher", "by-hand"):
                ids = [
                    engine.run_container(
                        f"b{r}{variant[0]}{i}", image, extra_args=["--label", "cnilib.networks=mybridge"]
                    )
                    for i in range(args.count)
                ]
                t0 = time.perf_counter()
                if variant == "by-hand":
                    for cid in ids:
                        docker.attach(cni, cid, conflist, host=engine.host)
                else:
                    report = docker.reconcile(cache_dir=work / "cache-watch", **kwargs)  # type: ignore[arg-type]
                    assert len(report.attached) == args.count, report
                times[variant].append(time.perf_counter() - t0)
                if variant == "by-hand":
                    for cid in ids:
                        docker.detach(cni, cid, conflist, host=engine.host)
                engine.docker("rm", "-f", *ids)
                if variant == "watcher":
                    docker.reconcile(cache_dir=work / "cache-watch", **kwargs)  # type: ignore[arg-type]
    base = statistics.median(times["by-hand"])
    for variant, values in times.items():
        med = statistics.median(values)
        print(
            f"{variant:8s} {args.count} containers: median {med:.2f} s "
            f"({med / args.count * 1000:.0f} ms each), ratio {med / base:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
