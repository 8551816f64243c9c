"""AsyncCNI: the same plans driven on an event loop, with real plugin processes and with the fake.

Each test runs its own loop with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from engine_support import (
    LIVE_NETNS,
    conflist,
    counting_plugin,
    hang_on_add_plugin,
    interval_plugin,
    read_intervals,
    result_for,
)

from cnilib import (
    AsyncCNI,
    CacheError,
    GCAttachment,
    MultiError,
    PluginError,
    PluginNotFoundError,
    PluginRun,
    PluginTimeoutError,
    RetryPolicy,
    RuntimeConfig,
    ValidationError,
    Verb,
    VersionError,
)
from cnilib.testing.fake import AsyncFakeExecutor, error_outcome, result_outcome
from cnilib.testing.plugins import (
    RecordingPlugin,
    hanging_plugin,
    recording_plugin,
    wait_gone,
)

T = TypeVar("T")
CID = "actr"


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def rt(**kw: Any) -> RuntimeConfig:
    return RuntimeConfig(**{"container_id": CID, "netns": LIVE_NETNS, "ifname": "eth0", **kw})


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.bindir = tmp_path / "bin"
        self.bindir.mkdir()
        self.cache_dir = tmp_path / "cache"
        self.log = tmp_path / "calls.log"
        self.tmp = tmp_path

    def plugin(self, name: str, *, add: Any = "{}", **kw: Any) -> None:
        stdout = {"ADD": add, **kw.pop("stdout", {})}
        recording_plugin(self.bindir, name, log=self.log, stdout=stdout, **kw)

    def cni(self, **kw: Any) -> AsyncCNI:
        return AsyncCNI([str(self.bindir)], self.cache_dir, **kw)

    def order(self) -> list[tuple[str, str]]:
        recs = RecordingPlugin(path=self.bindir / "x", log=self.log).records()
        return [(os.path.basename(r.argv0), r.verb) for r in recs]

    def configs(self) -> list[dict[str, Any]]:
        return [r.config for r in RecordingPlugin(path=self.bindir / "x", log=self.log).records()]

    def cache_file(self, network: str = "testnet", ifname: str = "eth0") -> Path:
        return self.cache_dir / "results" / f"{network}-{CID}-{ifname}"


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def chain(rig: Rig, version: str) -> tuple[Any, list[dict[str, Any]]]:
    results = [result_for(version, f"10.0.0.{i}/24") for i in (1, 2, 3)]
    for i, res in enumerate(results, 1):
        rig.plugin(f"p{i}", add=res)
    net = conflist(version, [{"type": "p1"}, {"type": "p2"}, {"type": "p3"}])
    return net, results


@pytest.mark.parametrize("version", ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_add_check_del(rig: Rig, version: str) -> None:
    net, results = chain(rig, version)

    async def main() -> None:
        async with rig.cni() as cni:
            got = await cni.add(net, rt())
            assert got is not None
            assert got.to_dict() == results[2]
            if version >= "0.4.0":
                await cni.check(net, rt())
            else:
                with pytest.raises(VersionError):
                    await cni.check(net, rt())
            assert cni.cached_result(net, rt()) == got
            await cni.delete(net, rt())
            await cni.delete(net, rt())

    run(main())
    order = rig.order()
    assert order[:3] == [("p1", "ADD"), ("p2", "ADD"), ("p3", "ADD")]
    confs = rig.configs()
    assert confs[1]["prevResult"] == results[0]
    assert confs[2]["prevResult"] == results[1]
    dels = [c for (_, v), c in zip(order, confs, strict=True) if v == "DEL"]
    assert [c["type"] for c in dels] == ["p3", "p2", "p1"] * 2
    if version >= "0.4.0":
        assert all(c["prevResult"] == results[2] for c in dels[:3])
    assert all("prevResult" not in c for c in dels[3:])
    assert not rig.cache_file().exists()


def test_validation_before_anything_runs(rig: Rig) -> None:
    net, _ = chain(rig, "1.0.0")

    async def main() -> None:
        cni = rig.cni()
        for verb in ("add", "delete", "check"):
            with pytest.raises(ValidationError):
                await getattr(cni, verb)(net, rt(container_id="bad/id"))

    run(main())
    assert not rig.log.exists()
    assert not rig.cache_dir.exists()


def test_corrupt_cache_on_del_and_check(rig: Rig) -> None:
    net, _ = chain(rig, "1.0.0")
    rig.cache_file().parent.mkdir(parents=True)
    rig.cache_file().write_bytes(b"{torn")

    async def main() -> None:
        cni = rig.cni()
        with pytest.raises(CacheError):
            await cni.check(net, rt())
        await cni.delete(net, rt())

    run(main())
    assert rig.order() == [("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL")]
    assert not rig.cache_file().exists()


def test_rollback(rig: Rig) -> None:
    net, results = chain(rig, "1.0.0")
    rig.plugin("p3", stdout={"ADD": {"code": 7, "msg": "bad"}}, exit_status={"ADD": 1})

    async def main() -> None:
        with pytest.raises(PluginError) as info:
            await rig.cni(rollback=True).add(net, rt())
        assert any("rolled back" in n for n in getattr(info.value, "__notes__", []))

    run(main())
    assert rig.order()[3:] == [("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL")]
    assert all(c["prevResult"] == results[1] for c in rig.configs()[3:])
    assert not rig.cache_file().exists()


def test_retry(rig: Rig) -> None:
    counting_plugin(rig.bindir, "flaky", failures=2, stdout=result_for("1.0.0", "10.0.0.8/24"))
    runs: list[PluginRun] = []

    async def main() -> None:
        cni = rig.cni(retry=RetryPolicy(attempts=3, backoff=0.02), on_plugin=runs.append)
        await cni.add(conflist("1.0.0", [{"type": "flaky"}]), rt())

    run(main())
    assert [r.attempt for r in runs] == [1, 2, 3]
    assert (rig.bindir / "flaky.count").read_text().strip() == "3"


def test_timeout_then_cleanup_del(rig: Rig) -> None:
    log = rig.tmp / "hang.log"
    rig.plugin("p1")
    hang_on_add_plugin(rig.bindir, "hang", log)
    net = conflist("1.0.0", [{"type": "p1"}, {"type": "hang"}])
    runs: list[PluginRun] = []

    async def main() -> None:
        cni = rig.cni(timeout=0.4, cleanup_on_timeout=True, cleanup_timeout=10, on_plugin=runs.append)
        with pytest.raises(PluginTimeoutError):
            await cni.add(net, rt())

    started = time.monotonic()
    run(main())
    assert time.monotonic() - started < 5
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["ADD", "DEL"]
    assert rig.order() == [("p1", "ADD"), ("p1", "DEL")]
    # Timings are those of the plugin runs (the async driver measures around the await).
    hang_run = runs[1]
    assert hang_run.plugin == "hang"
    assert hang_run.duration >= 0.35
    assert isinstance(hang_run.error, PluginTimeoutError)


def test_cancellation_kills_the_plugin_and_releases_the_lock(rig: Rig) -> None:
    pid_dir = rig.tmp / "pids"
    hanging_plugin(rig.bindir, "hang", pid_dir)
    rig.plugin("ok")
    hang_net = conflist("1.0.0", [{"type": "hang"}])
    ok_net = conflist("1.0.0", [{"type": "ok"}])

    async def main() -> None:
        cni = rig.cni()
        task = asyncio.create_task(cni.add(hang_net, rt()))
        for _ in range(500):
            if (pid_dir / "pid").exists():
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        pids = [int((pid_dir / name).read_text()) for name in ("pid", "child.pid")]
        assert wait_gone(pids) == []  # the plugin and its child (the whole group)
        # The attachment lock was released: the same key can be used at once.
        await asyncio.wait_for(cni.add(ok_net, rt()), 5)

    run(main())


def test_add_networks_concurrent_and_rolled_back(rig: Rig) -> None:
    log = rig.tmp / "iv.log"
    for i in range(3):
        interval_plugin(rig.bindir, f"s{i}", log, sleep=0.4)
    nets = [conflist("1.0.0", [{"type": f"s{i}"}], name=f"net{i}") for i in range(3)]

    async def main() -> None:
        cni = rig.cni()
        started = time.monotonic()
        results = await cni.add_networks(nets, rt())
        assert len(results) == 3
        assert time.monotonic() - started < 1.2
        await cni.delete_networks(nets, rt())
        rig.plugin("bad", stdout={"ADD": {"code": 7, "msg": "no"}}, exit_status={"ADD": 1})
        broken = [*nets[:2], conflist("1.0.0", [{"type": "bad"}], name="net2")]
        with pytest.raises(MultiError) as info:
            await cni.add_networks(broken, rt())
        assert list(info.value.errors) == ["net2/eth2"]

    run(main())
    verbs = sorted((name, verb) for verb, _, _, name, _, _ in read_intervals(log))
    assert verbs == [
        ("s0", "ADD"), ("s0", "ADD"), ("s0", "DEL"), ("s0", "DEL"),
        ("s1", "ADD"), ("s1", "ADD"), ("s1", "DEL"), ("s1", "DEL"),
        ("s2", "ADD"), ("s2", "DEL"),
    ]  # fmt: skip
    assert not list((rig.cache_dir / "results").iterdir())


def test_missing_plugin(rig: Rig) -> None:
    runs: list[PluginRun] = []

    async def main() -> None:
        with pytest.raises(PluginNotFoundError, match="nothing was applied"):
            await rig.cni(on_plugin=runs.append).add(conflist("1.0.0", [{"type": "x"}]), rt())

    run(main())
    assert runs == []  # pre-flight: no plugin ran


def test_with_the_async_fake_executor(tmp_path: Path) -> None:
    fake = AsyncFakeExecutor(delay=0.01)
    fake.script("a", Verb.ADD, result_outcome(result_for("1.0.0", "10.1.1.1/24")))
    fake.script("b", Verb.ADD, error_outcome(11, "busy"), result_outcome({"cniVersion": "1.0.0"}))
    net = conflist("1.1.0", [{"type": "a"}, {"type": "b"}])

    async def main() -> None:
        cni = AsyncCNI(["/nowhere"], tmp_path, executor=fake, retry=RetryPolicy(backoff=0.01))
        await cni.add(net, rt())
        await cni.check(net, rt())
        await cni.status(net)
        await cni.gc(net, [GCAttachment(CID, "eth0")])
        await cni.delete(net, rt())
        info = await cni.version_info("a")
        assert info.supports("1.1.0")
        report = await cni.validate(net)
        assert report.plugins[0].path is None  # not installed: the fake answers VERSION anyway

    run(main())
    assert [(c.plugin, c.verb.value) for c in fake.calls] == [
        ("a", "ADD"), ("b", "ADD"), ("b", "ADD"),
        ("a", "CHECK"), ("b", "CHECK"),
        ("a", "STATUS"), ("b", "STATUS"),
        ("a", "GC"), ("b", "GC"),
        ("b", "DEL"), ("a", "DEL"),
        ("a", "VERSION"),
    ]  # fmt: skip
    assert fake.calls[1].config["prevResult"] == result_for("1.0.0", "10.1.1.1/24")


def test_explain_on_the_async_front_end(rig: Rig) -> None:
    net, _ = chain(rig, "1.0.0")
    planned = rig.cni().explain("ADD", net, rt())
    assert [c.plugin for c in planned] == ["p1", "p2", "p3"]
    assert not rig.log.exists()
