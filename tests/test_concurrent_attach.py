"""Twenty containers attached at once through AsyncCNI, with the real plugins.

All twenty ADDs run concurrently (``asyncio.gather``) against the founding network: the bridge is
created by whichever plugin comes first, host-local serializes the address store, and every
container must end up with its own address, reachable from the sandbox host namespace. Then all are
detached at once, and nothing may be left: no namespace, no veth, no iptables chain, no cache file,
no reserved address, no plugin process.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import time
from pathlib import Path

import pytest
from test_scenario import (  # the shared helpers and the autouse clean-up fixture
    PLUGIN_DIR,
    addrs,
    bridge_ports,
    cache_files,
    founding_config,
    link_names,
    masq_chains,
    per_container_chains,
    ping,
    plugin_processes,
    sandbox_clean,  # noqa: F401
    store_ips,
)

import cnilib
from cnilib import netns

pytestmark = [pytest.mark.root]

N = 20


def test_twenty_containers_attached_concurrently(
    host_prefix: tuple[str, ...], host_ns: netns.NetNS, data_dir: Path, tmp_path: Path
) -> None:
    host = host_ns.path
    cache = tmp_path / "cache"
    conflist = cnilib.NetworkConfigList.from_dict(founding_config(data_dir))
    made: list[netns.NetNS] = []
    try:
        made.extend(netns.create() for _ in range(N))
        rts = [cnilib.RuntimeConfig(container_id=f"ctr{i:02d}", netns=ns.path) for i, ns in enumerate(made)]

        async def attach_all() -> list[cnilib.Result020]:
            async with cnilib.AsyncCNI(
                plugin_dirs=[PLUGIN_DIR], cache_dir=cache, argv_prefix=host_prefix, timeout=60
            ) as acni:
                results = await asyncio.gather(*(acni.add(conflist, rt) for rt in rts))
            typed = [r for r in results if isinstance(r, cnilib.Result020)]
            assert len(typed) == N
            return typed

        async def detach_all() -> None:
            async with cnilib.AsyncCNI(
                plugin_dirs=[PLUGIN_DIR], cache_dir=cache, argv_prefix=host_prefix, timeout=60
            ) as acni:
                await asyncio.gather(*(acni.delete(conflist, rt) for rt in rts))

        started = time.monotonic()
        results = asyncio.run(attach_all())
        add_time = time.monotonic() - started

        # distinct addresses from the range, each one where its result says
        got = [r.ip4.ip if r.ip4 else "" for r in results]
        assert len(set(got)) == N
        first, last = ipaddress.ip_address("10.15.30.100"), ipaddress.ip_address("10.15.30.200")
        for cidr in got:
            ip = ipaddress.ip_interface(cidr)
            assert ip.network == ipaddress.ip_network("10.15.30.0/24")
            assert first <= ip.ip <= last
        for ns, cidr in zip(made, got, strict=True):
            assert addrs(ns.path, "eth0") == [cidr]
        assert store_ips(data_dir, "mybridge") == {c.split("/")[0] for c in got}
        assert addrs(host, "cni_bridge1") == ["10.15.30.99/24"]
        assert len(bridge_ports(host, "cni_bridge1")) == N
        assert len(cache_files(cache)) == N

        # every one reachable from the host namespace (one echo request to each, nothing else)
        unreachable = [c for c in got if not ping(host, c.split("/")[0])]
        assert unreachable == []
        for cidr in got:
            assert len(masq_chains(host, cidr.split("/")[0])) == 1

        started = time.monotonic()
        asyncio.run(detach_all())
        del_time = time.monotonic() - started

        for ns in made:
            assert link_names(ns.path) == ["lo"]
    finally:
        for ns in made:
            ns.delete()

    assert not any(os.path.exists(ns.path) for ns in made)
    assert [n for n in link_names(host) if n not in {"lo", "cni_bridge1"}] == []
    assert bridge_ports(host, "cni_bridge1") == []
    assert per_container_chains(host) == set()
    assert store_ips(data_dir, "mybridge") == set()
    assert cache_files(cache) == []
    assert plugin_processes(host) == []
    # Real plugins dominate: these bounds only catch an engine that serializes everything.
    assert add_time < 30
    assert del_time < 30
