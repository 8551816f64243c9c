"""STATUS and GC (spec 1.1.0) end to end with the project's own 1.1.0 plugins (tests/plugins11).

The Debian plugins stop at spec 1.0.0, so ``cni11`` stands in: it keeps one state file per
attachment, forgets what GC does not list as valid, and fails STATUS on request.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from engine_support import LIVE_NETNS, install_plugins11, read_jsonl

from cnilib import (
    CNI,
    AsyncCNI,
    GCAttachment,
    MultiError,
    NetworkConfigList,
    PluginError,
    Result100,
    RuntimeConfig,
)


class Env:
    """Two cni11 plugins chained in a 1.1.0 list, their state directories and the call log."""

    def __init__(self, tmp_path: Path, version: str = "1.1.0", **extra: Any) -> None:
        self.bindir = tmp_path / "bin"
        install_plugins11(self.bindir, ["gca", "gcb"])
        self.state_a = tmp_path / "state-a"
        self.state_b = tmp_path / "state-b"
        self.status_b = tmp_path / "status-b"
        self.log = tmp_path / "calls.jsonl"
        self.cache_dir = tmp_path / "cache"
        self.net = self.make_list(version, **extra)

    def make_list(self, version: str, **extra: Any) -> NetworkConfigList:
        obj = {
            "cniVersion": version,
            "name": "gcnet",
            **extra,
            "plugins": [
                {"type": "gca", "stateDir": str(self.state_a), "logFile": str(self.log),
                 "address": "10.77.0.5/24"},
                {"type": "gcb", "stateDir": str(self.state_b), "logFile": str(self.log),
                 "statusFile": str(self.status_b)},
            ],
        }  # fmt: skip
        return NetworkConfigList.from_bytes(json.dumps(obj).encode())

    def cni(self) -> CNI:
        return CNI([str(self.bindir)], self.cache_dir, timeout=30)

    def acni(self) -> AsyncCNI:
        return AsyncCNI([str(self.bindir)], self.cache_dir, timeout=30)

    def calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [(r["stdin"]["type"], r["env"]["CNI_COMMAND"], r) for r in read_jsonl(self.log)]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)

    def states(self, which: Path) -> set[str]:
        return {p.name for p in which.iterdir()} if which.exists() else set()


def rt(cid: str, ifname: str = "eth0") -> RuntimeConfig:
    return RuntimeConfig(container_id=cid, netns=LIVE_NETNS, ifname=ifname)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def test_version_and_validate(env: Env) -> None:
    cni = env.cni()
    assert "1.1.0" in cni.version_info("gca").supported_versions
    assert cni.validate(env.net).ok


def test_add_check_del_with_11_results(env: Env) -> None:
    cni = env.cni()
    got = cni.add(env.net, rt("c1"))
    assert isinstance(got, Result100)
    assert got.cni_version == "1.1.0"
    # The 1.1-only interface field survives parsing, caching and the prevResult of DEL.
    assert [(i.name, i.mtu) for i in got.interfaces] == [("gca-eth0", 1400), ("gcb-eth0", 1400)]
    cached = json.loads((env.cache_dir / "results" / "gcnet-c1-eth0").read_bytes())
    assert cached["result"]["interfaces"][0]["mtu"] == 1400
    assert env.states(env.state_a) == {"c1@eth0"}
    cni.check(env.net, rt("c1"))
    (env.state_b / "c1@eth0").unlink()
    with pytest.raises(PluginError) as info:
        cni.check(env.net, rt("c1"))
    assert (info.value.code, info.value.plugin) == (3, "gcb")
    env.clear()
    cni.delete(env.net, rt("c1"))
    assert [(p, v) for p, v, _ in env.calls()] == [("gcb", "DEL"), ("gca", "DEL")]
    assert env.calls()[0][2]["stdin"]["prevResult"]["interfaces"][1]["mtu"] == 1400
    assert env.states(env.state_a) == set()


def test_status_ok_and_failures(env: Env) -> None:
    cni = env.cni()
    cni.status(env.net)
    calls = env.calls()
    assert [(p, v) for p, v, _ in calls] == [("gca", "STATUS"), ("gcb", "STATUS")]
    assert calls[0][2]["env"] == {
        "CNI_COMMAND": "STATUS",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "",
        "CNI_ARGS": "",
        "CNI_IFNAME": "",
        "CNI_PATH": str(env.bindir),
    }
    for code in (50, 51):
        env.status_b.write_text(str(code))
        with pytest.raises(PluginError) as info:
            cni.status(env.net)
        assert info.value.code == code
        assert info.value.plugin == "gcb"
        assert info.value.msg == "plugin not available"


def test_status_of_older_lists_runs_nothing(env: Env) -> None:
    env.status_b.write_text("50")
    env.cni().status(env.make_list("1.0.0"))
    assert env.calls() == []


def test_gc_end_to_end(env: Env) -> None:
    cni = env.cni()
    for cid, ifname in (("c1", "eth0"), ("c1", "eth1"), ("c2", "eth0"), ("c3", "eth0")):
        cni.add(env.net, rt(cid, ifname))
    # A resource the plugin holds that no cache entry knows (e.g. from a crashed runtime).
    (env.state_a / "leaked@eth0").write_text("")
    env.clear()
    valid = [GCAttachment("c1", "eth0"), GCAttachment("c3", "eth0")]
    cni.gc(env.net, valid)

    calls = env.calls()
    dels = {(r["env"]["CNI_CONTAINERID"], r["env"]["CNI_IFNAME"]) for _, v, r in calls if v == "DEL"}
    assert dels == {("c1", "eth1"), ("c2", "eth0")}
    gc_calls = [(p, r) for p, v, r in calls if v == "GC"]
    assert [p for p, _ in gc_calls] == ["gca", "gcb"]
    for _, r in gc_calls:
        assert r["env"] == {
            "CNI_COMMAND": "GC",
            "CNI_CONTAINERID": "",
            "CNI_NETNS": "",
            "CNI_ARGS": "",
            "CNI_IFNAME": "",
            "CNI_PATH": str(env.bindir),
        }
        assert r["stdin"]["cni.dev/valid-attachments"] == [
            {"containerID": "c1", "ifname": "eth0"},
            {"containerID": "c3", "ifname": "eth0"},
        ]
        assert r["stdin"]["name"] == "gcnet"
        assert r["stdin"]["cniVersion"] == "1.1.0"
    # Valid attachments survive everywhere; the leak is gone; the cache holds only valid ones.
    assert env.states(env.state_a) == {"c1@eth0", "c3@eth0"}
    assert env.states(env.state_b) == {"c1@eth0", "c3@eth0"}
    assert {e.key[1:] for e in cni.cached_attachments(network="gcnet")} == {
        ("c1", "eth0"),
        ("c3", "eth0"),
    }
    # A second GC with the same valid set changes nothing and DELs nothing.
    env.clear()
    cni.gc(env.net, valid)
    assert [v for _, v, _ in env.calls()] == ["GC", "GC"]


def test_gc_with_nothing_valid_removes_everything(env: Env) -> None:
    cni = env.cni()
    cni.add(env.net, rt("c1"))
    cni.add(env.net, rt("c2"))
    cni.gc(env.net)
    assert env.states(env.state_a) == set()
    assert cni.cached_attachments(network="gcnet") == []


def test_gc_removes_what_killed_writers_of_its_network_half_wrote(env: Env) -> None:
    # A runtime killed mid-write leaves ".tmp-<network>-<attachment>-<hex>"; GC holds the network's
    # lock exclusively (no writer of it runs), so it removes them at once, and only its network's.
    cni = env.cni()
    cni.add(env.net, rt("c1"))
    results, intents = Path(cni.cache.results_dir), Path(cni.cache.intents_dir)
    intents.mkdir(parents=True, exist_ok=True)
    tag, token = "0123456789abcdef", "fedcba9876543210"
    mine = [results / f".tmp-gcnet-{tag}-{token}", intents / f".tmp-gcnet-{tag}-{tag}"]
    others = [results / f".tmp-gcnet-x-{tag}-{token}", results / f".tmp-other-{tag}-{token}"]
    for path in mine + others:
        path.write_bytes(b'{"kind": "cniCacheV1", "half')
    cni.gc(env.net, [GCAttachment("c1", "eth0")])
    assert [p.exists() for p in mine] == [False, False]
    assert [p.exists() for p in others] == [True, True]  # "gcnet-x" and "other" are not gcnet
    assert [e.container_id for e in cni.cached_attachments(network="gcnet")] == ["c1"]


def test_del_removes_what_killed_writers_of_its_attachment_half_wrote(env: Env) -> None:
    # DEL holds the attachment's lock: half-written files of that attachment are garbage; those of
    # another attachment of the same network may belong to a writer at work and stay.
    cni = env.cni()
    cni.add(env.net, rt("c1"))
    cni.add(env.net, rt("c2"))
    written: list[Path] = []
    for cid in ("c1", "c2"):
        # What a re-ADD killed between its entry's temp file and the rename leaves: the same bytes
        # half written, and its intent record (written before its plugins ran).
        entry = cni.cache.read("gcnet", cid, "eth0")
        assert entry is not None
        real = Path(cni.cache.path_for("gcnet", cid, "eth0"))
        before = set(Path(cni.cache.results_dir).iterdir())
        cni.cache.write(entry)
        assert set(Path(cni.cache.results_dir).iterdir()) == before  # the rename consumed the temp
        cni.cache.write_intent(entry)
        tmp = real.parent / (".tmp-gcnet-" + _tag(cid) + "-0123456789abcdef")
        tmp.write_bytes(real.read_bytes()[:20])
        written.append(tmp)
    cni.delete(env.net, rt("c1"))
    assert [p.exists() for p in written] == [False, True]
    assert [e.container_id for e in cni.unfinished_adds("gcnet")] == ["c2"]


def _tag(container_id: str) -> str:
    # The attachment's tag as the cache's writers spell it in their temp file names.
    from cnilib._cache._files import attachment_tag

    return attachment_tag(container_id, "eth0")


def test_gc_disabled(tmp_path: Path) -> None:
    env = Env(tmp_path, disableGC=True)
    cni = env.cni()
    cni.add(env.net, rt("c1"))
    env.clear()
    cni.gc(env.net)
    assert env.calls() == []
    assert env.states(env.state_a) == {"c1@eth0"}


def test_gc_error_from_a_plugin(env: Env) -> None:
    cni = env.cni()
    cni.add(env.net, rt("c1"))
    broken = NetworkConfigList.from_bytes(
        json.dumps(
            {
                "cniVersion": "1.1.0",
                "name": "gcnet",
                "plugins": [dict(env.net.plugins[0].raw), {"type": "gcb"}],  # no stateDir: code 7
            }
        ).encode()
    )
    with pytest.raises(MultiError) as info:
        cni.gc(broken, [GCAttachment("c1", "eth0")])
    [(key, err)] = info.value.errors.items()
    assert key == "GC gcb (plugins[1])"
    assert isinstance(err, PluginError)
    assert err.code == 7


def test_async_status_and_gc(env: Env) -> None:
    async def main() -> None:
        async with env.acni() as cni:
            await cni.add(env.net, rt("c1"))
            await cni.add(env.net, rt("c2"))
            await cni.status(env.net)
            await cni.gc(env.net, [GCAttachment("c2", "eth0")])
            env.status_b.write_text("51")
            with pytest.raises(PluginError) as info:
                await cni.status(env.net)
            assert info.value.code == 51

    asyncio.run(main())
    assert env.states(env.state_a) == {"c2@eth0"}
    assert env.states(env.state_b) == {"c2@eth0"}
