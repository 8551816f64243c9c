"""200 containers attached, then detached, all at once: zero errors, zero leaks.

With :class:`cnilib.AsyncCNI` (one ``asyncio.gather`` per phase) and with :class:`cnilib.CNI`
called from 200 threads, on ptp + host-local (a veth per container, no bridge: the cheapest real
chain), with the engine's default concurrency limit. The container namespaces are made and removed
with one ``ip -batch`` each way. Between the phases every container holds its own address;
after them nothing is left: no reservation, no veth, no chain, no cache entry, no intent record.

The limit is checked by counting, not timing: plugin runs that overlapped (from the
``on_plugin`` reports) never exceed the default limit of 16 operations at a time. How much faster
the limit makes the whole is measured by ``benchmarks/concurrency.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from leaks_support import PLUGIN_DIR, cache_files, conflist, leftovers, many_netns, ptp_plugin, store
from test_scenario import sandbox_clean  # noqa: F401  (autouse: the host namespace as it was)

from cnilib import CNI, AsyncCNI, PluginRun, RuntimeConfig, netns

pytestmark = [pytest.mark.root]

COUNT = 200
DEFAULT_LIMIT = 16


def max_overlap(runs: Sequence[PluginRun]) -> int:
    """The largest number of plugin runs that were in flight at the same moment."""
    events = sorted(
        itertools.chain.from_iterable(((r.started, 1), (r.started + r.duration, -1)) for r in runs),
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def runtimes(paths: Sequence[str]) -> list[RuntimeConfig]:
    return [RuntimeConfig(container_id=f"load-{i}", netns=p) for i, p in enumerate(paths)]


def check_attached(host: str, data_dir: Path, network: str, cache: Path, base: dict[str, Any]) -> None:
    held = store(data_dir, network)
    assert len(held) == COUNT, len(held)
    assert sorted(held.values()) == sorted(f"load-{i}" for i in range(COUNT))
    assert len(leftovers(host, data_dir, network, cache, base)["veths"]) == COUNT
    assert len(cache_files(cache)) == COUNT


@pytest.mark.parametrize("front", ["AsyncCNI", "CNI-threads"])
def test_200_containers_at_once_no_errors_no_leaks(
    host_ns: netns.NetNS, host_prefix: tuple[str, ...], data_dir: Path, tmp_path: Path, front: str
) -> None:
    network = "loadnet-" + front.lower()[:5]
    conf = conflist("1.0.0", network, [ptp_plugin("10.197.0.0/16", data_dir)])
    cache = tmp_path / "cache"
    runs: list[PluginRun] = []
    host = host_ns.path
    base = leftovers(host, data_dir, network, cache)
    with many_netns(f"cniload-{secrets.token_hex(3)}", COUNT) as paths:
        rts = runtimes(paths)
        if front == "AsyncCNI":
            acni = AsyncCNI([PLUGIN_DIR], cache, timeout=240, argv_prefix=host_prefix, on_plugin=runs.append)

            async def phase(verb: str) -> list[object]:
                op = acni.add if verb == "ADD" else acni.delete
                return await asyncio.gather(*(op(conf, rt) for rt in rts), return_exceptions=True)

            added = asyncio.run(phase("ADD"))
            assert [r for r in added if isinstance(r, BaseException)] == []
            check_attached(host, data_dir, network, cache, base)
            deleted = asyncio.run(phase("DEL"))
            assert [r for r in deleted if isinstance(r, BaseException)] == []
        else:
            cni = CNI([PLUGIN_DIR], cache, timeout=240, argv_prefix=host_prefix, on_plugin=runs.append)
            with ThreadPoolExecutor(max_workers=COUNT) as pool:
                added = list(pool.map(lambda rt: cni.add(conf, rt), rts))
                assert all(r is not None for r in added)
                check_attached(host, data_dir, network, cache, base)
                list(pool.map(lambda rt: cni.delete(conf, rt), rts))

    assert leftovers(host, data_dir, network, cache, base) == {}
    assert [r for r in runs if r.error is not None] == []
    assert len(runs) == 2 * COUNT  # ptp ADD and DEL (ptp runs host-local itself)
    assert 1 < max_overlap(runs) <= DEFAULT_LIMIT
