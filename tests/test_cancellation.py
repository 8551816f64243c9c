"""Cancelling an asyncio ADD (a task cancelled, ``asyncio.timeout``): what was applied is undone
when the caller asked for rollback, and recoverable when not; a cancelled ``AsyncNetworks.setup``
leaves nothing attached. The plugins are real executables in a temporary directory."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from engine_support import LIVE_NETNS

import cnilib
from cnilib.testing.plugins import is_running, write_plugin

T = TypeVar("T")

RESULT = '{"cniVersion":"1.0.0","interfaces":[{"name":"%s"}],"ips":[{"address":"10.7.0.2/24","interface":0}]}'


def plugin(bindir: Path, name: str, *, slow: bool) -> None:
    """Logs ``VERB IFNAME`` per call; on ADD answers a result, after a long sleep when ``slow``
    (writing its pid first, so a test knows it runs)."""
    log, pidfile = bindir / f"{name}.log", bindir / f"{name}.pid"
    wait = f"echo $$ > {pidfile}; sleep 60; " if slow else ""
    write_plugin(
        bindir,
        name,
        f"""cat >/dev/null
echo "$CNI_COMMAND $CNI_IFNAME" >> {log}
case "$CNI_COMMAND" in
ADD) {wait}printf '{RESULT}' "$CNI_IFNAME" ;;
VERSION) printf '{{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}}' ;;
esac
""",
    )


def log(bindir: Path, name: str) -> list[str]:
    path = bindir / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


def conflist(name: str, *types: str) -> cnilib.NetworkConfigList:
    doc = {"cniVersion": "1.0.0", "name": name, "plugins": [{"type": t} for t in types]}
    return cnilib.NetworkConfigList.from_bytes(json.dumps(doc))


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    plugin(path, "fast", slow=False)
    plugin(path, "slow", slow=True)
    plugin(path, "other", slow=False)
    return path


async def started(bindir: Path, name: str) -> int:
    """The pid of the slow plugin once it runs (it has written its pid file)."""
    pidfile = bindir / f"{name}.pid"
    for _ in range(1000):
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text:
            return int(text)
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} never started")


async def finished(cache: Path, network: str) -> None:
    """Until the ADD of ``network`` has finished: its entry written, its intent record dropped."""
    sync = cnilib.CNI(cache_dir=cache)
    for _ in range(1000):
        if sync.cached_attachments(network=network) and not sync.unfinished_adds(network):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the ADD of {network} never finished")


def cancel_after(
    coro: Coroutine[Any, Any, Any],
    ready: Callable[[], Awaitable[T]],
    after: Callable[[asyncio.Future[Any]], Awaitable[None]] | None = None,
) -> tuple[BaseException, T]:
    """Run ``coro``, cancel it once ``ready()`` returned (then await ``after(task)``, if given);
    the exception the call ended with, and what ``ready()`` returned."""

    async def main() -> tuple[BaseException, T]:
        task = asyncio.ensure_future(coro)
        value = await ready()
        task.cancel()
        if after is not None:
            await after(task)
        try:
            await task
        except BaseException as exc:  # the test looks at what it is
            return exc, value
        raise AssertionError("the cancelled call returned")

    return asyncio.run(main())


def cancel_when_started(bindir: Path, coro: Coroutine[Any, Any, Any]) -> tuple[BaseException, int]:
    """Run ``coro``, cancel it while the slow plugin runs; its exception and the plugin's pid."""
    return cancel_after(coro, lambda: started(bindir, "slow"))


def quick_done_slow_running(bindir: Path, cache: Path) -> Callable[[], Awaitable[None]]:
    """Ready when the "slowly" network's slow plugin runs and the "quick" network's ADD is done."""

    async def ready() -> None:
        await started(bindir, "slow")
        await finished(cache, "quick")

    return ready


def test_cancelled_add_with_rollback_undoes_every_plugin_that_ran(bindir: Path, tmp_path: Path) -> None:
    cni = cnilib.AsyncCNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    rt = cnilib.RuntimeConfig(container_id="c1", netns=LIVE_NETNS)
    exc, pid = cancel_when_started(bindir, cni.add(conflist("net", "fast", "slow"), rt, rollback=True))
    assert isinstance(exc, asyncio.CancelledError)
    # The plan's error, with the rollback's note, is the cause.
    assert isinstance(exc.__cause__, cnilib.CNIError)
    assert "rolled back with DEL (plugins[1]..plugins[0])" in "\n".join(exc.__cause__.__notes__)
    assert not is_running(pid)  # killed with its process group before the rollback ran
    assert log(bindir, "fast") == ["ADD eth0", "DEL eth0"]
    assert log(bindir, "slow") == ["ADD eth0", "DEL eth0"]
    sync = cnilib.CNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    assert sync.cached_attachments() == []
    assert sync.unfinished_adds() == []


def test_cancelled_add_without_rollback_stays_recoverable(bindir: Path, tmp_path: Path) -> None:
    cni = cnilib.AsyncCNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    rt = cnilib.RuntimeConfig(container_id="c1", netns=LIVE_NETNS)
    net = conflist("net", "fast", "slow")
    exc, _ = cancel_when_started(bindir, cni.add(net, rt))
    assert isinstance(exc, asyncio.CancelledError)
    assert log(bindir, "slow") == ["ADD eth0"]  # nothing undone: as after a failure without rollback
    sync = cnilib.CNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    [intent] = sync.unfinished_adds()
    assert intent.key == ("net", "c1", "eth0")
    assert [e.key for e in sync.recover(net)] == [("net", "c1", "eth0")]
    assert log(bindir, "slow") == ["ADD eth0", "DEL eth0"]
    assert log(bindir, "fast") == ["ADD eth0", "DEL eth0"]
    assert sync.unfinished_adds() == []


def test_a_caller_timeout_cleans_up_with_cleanup_on_timeout(bindir: Path, tmp_path: Path) -> None:
    cni = cnilib.AsyncCNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache", cleanup_on_timeout=True)
    rt = cnilib.RuntimeConfig(container_id="c1", netns=LIVE_NETNS)

    async def main() -> None:
        async with asyncio.timeout(None) as cm:
            task = asyncio.ensure_future(cni.add(conflist("net", "fast", "slow"), rt))
            await started(bindir, "slow")
            cm.reschedule(asyncio.get_running_loop().time())
            await task

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert log(bindir, "slow") == ["ADD eth0", "DEL eth0"]
    assert log(bindir, "fast") == ["ADD eth0", "DEL eth0"]
    assert cnilib.CNI(cache_dir=tmp_path / "cache").unfinished_adds() == []


def test_cancelled_del_stops_and_keeps_the_entry(bindir: Path, tmp_path: Path) -> None:
    # DEL of "slow" sleeps too: a DEL variant of the plugin.
    plugin(bindir, "slowdel", slow=False)
    write_plugin(
        bindir,
        "slowdel",
        f"""cat >/dev/null
echo "$CNI_COMMAND $CNI_IFNAME" >> {bindir}/slowdel.log
case "$CNI_COMMAND" in
ADD) printf '{RESULT}' "$CNI_IFNAME" ;;
DEL) echo $$ > {bindir}/slow.pid; sleep 60 ;;
esac
""",
    )
    cni = cnilib.AsyncCNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    rt = cnilib.RuntimeConfig(container_id="c1", netns=LIVE_NETNS)
    net = conflist("net", "fast", "slowdel")
    asyncio.run(cni.add(net, rt))
    exc, pid = cancel_when_started(bindir, cni.delete(net, rt))
    assert isinstance(exc, asyncio.CancelledError)
    assert not is_running(pid)
    # Stopped at once (the remaining DELs are not run); the entry stays for a later DEL.
    assert log(bindir, "fast") == ["ADD eth0"]
    cached = cnilib.CNI(cache_dir=tmp_path / "cache").cached_attachments()
    assert [e.key for e in cached] == [("net", "c1", "eth0")]


def test_cancelled_async_networks_setup_leaves_nothing_attached(bindir: Path, tmp_path: Path) -> None:
    nets = cnilib.AsyncNetworks(
        [conflist("quick", "other"), conflist("slowly", "fast", "slow")],
        plugin_dirs=[str(bindir)],
        cache_dir=tmp_path / "cache",
    )

    ready = quick_done_slow_running(bindir, tmp_path / "cache")
    exc, _ = cancel_after(nets.setup("c1", LIVE_NETNS), ready)
    assert isinstance(exc, asyncio.CancelledError)
    assert log(bindir, "other") == ["ADD eth0", "DEL eth0"]  # finished, then DELeted
    assert log(bindir, "slow") == ["ADD eth1", "DEL eth1"]  # in flight: rolled back
    assert log(bindir, "fast") == ["ADD eth1", "DEL eth1"]
    sync = cnilib.CNI(cache_dir=tmp_path / "cache")
    assert sync.cached_attachments() == []
    assert sync.unfinished_adds() == []


def test_cancelled_add_networks_rolls_back_the_finished_and_the_running(bindir: Path, tmp_path: Path) -> None:
    cni = cnilib.AsyncCNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    rt = cnilib.RuntimeConfig(container_id="c1", netns=LIVE_NETNS)
    nets = [conflist("quick", "other"), conflist("slowly", "fast", "slow")]
    exc, _ = cancel_after(cni.add_networks(nets, rt), quick_done_slow_running(bindir, tmp_path / "cache"))
    assert isinstance(exc, asyncio.CancelledError)
    assert isinstance(exc.__cause__, cnilib.MultiError)  # names the cancelled network
    assert log(bindir, "other") == ["ADD eth0", "DEL eth0"]  # finished, then DELeted
    assert log(bindir, "slow") == ["ADD eth1", "DEL eth1"]  # in flight: rolled back
    sync = cnilib.CNI(cache_dir=tmp_path / "cache")
    assert sync.cached_attachments() == []
    assert sync.unfinished_adds() == []


def test_cancelled_while_the_entry_is_written_waits_for_the_write_then_rolls_back(
    bindir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every plugin has run; the cache entry is being written in a worker thread (held here by a
    # slow write) when the caller cancels. The driver waits for the thread, then the plan rolls back.
    entered, release = threading.Event(), threading.Event()
    real_write = cnilib.ResultCache.write

    def slow_write(self: cnilib.ResultCache, entry: cnilib.CacheEntry, **kwargs: Any) -> str:
        entered.set()
        release.wait(30)
        return real_write(self, entry, **kwargs)

    monkeypatch.setattr(cnilib.ResultCache, "write", slow_write)
    cni = cnilib.AsyncCNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    rt = cnilib.RuntimeConfig(container_id="c1", netns=LIVE_NETNS)

    async def writing() -> None:
        while not entered.is_set():
            await asyncio.sleep(0.01)

    async def then_release(task: asyncio.Future[Any]) -> None:
        await asyncio.sleep(0.2)
        assert not task.done()  # still waiting for the write's thread
        release.set()

    exc, _ = cancel_after(cni.add(conflist("net", "fast", "other"), rt, rollback=True), writing, then_release)
    assert isinstance(exc, asyncio.CancelledError)
    assert log(bindir, "fast") == ["ADD eth0", "DEL eth0"]
    assert log(bindir, "other") == ["ADD eth0", "DEL eth0"]
    sync = cnilib.CNI(cache_dir=tmp_path / "cache")
    assert sync.cached_attachments() == []
    assert sync.unfinished_adds() == []
