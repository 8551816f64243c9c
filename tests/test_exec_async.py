"""What only the asyncio executor has to get right: cancellation, concurrency, a free event loop.

The behaviours shared with the sync executor (timeouts, signals, output caps, ...) are tested for
both flavours in ``test_exec.py``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cnilib import ExecError, PluginError, PluginTimeoutError, Result100, Verb
from cnilib._exec import AsyncSubprocessExecutor
from cnilib._exec._protocol import ExecOutcome, ExecRequest, cni_env, decode_outcome
from cnilib.testing import plugins as fp
from cnilib.testing.fake import AsyncFakeExecutor, error_outcome, result_outcome

RESULT = {"cniVersion": "1.0.0", "ips": [{"address": "10.9.0.2/24"}]}


def req(plugin: str, bindir: Path, verb: Verb = Verb.ADD, container_id: str = "ctr1") -> ExecRequest:
    return ExecRequest(
        verb=verb,
        plugin=plugin,
        search_path=[str(bindir)],
        env=cni_env(verb, container_id=container_id, ifname="eth0", search_path=[str(bindir)]),
        stdin=json.dumps({"cniVersion": "1.0.0", "name": "n", "type": plugin}).encode(),
        container_id=container_id,
        cni_version="1.0.0",
    )


async def wait_for_pids(pid_dir: Path, count: int) -> list[int]:
    end = time.monotonic() + 5
    while True:
        try:
            pids = fp.read_pids(pid_dir, timeout=0)
        except TimeoutError:
            pids = []
        if len(pids) == count:
            return pids
        assert time.monotonic() < end, f"plugin did not start: {pid_dir}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("ignore_term", [False, True], ids=["dies-on-term", "ignores-term"])
def test_cancellation_kills_the_plugin_group(tmp_path: Path, ignore_term: bool) -> None:
    pids_dir = tmp_path / "pids"
    fp.hanging_plugin(tmp_path / "bin", "hang", pids_dir, ignore_term=ignore_term)
    executor = AsyncSubprocessExecutor(kill_grace=0.2)

    async def main() -> list[int]:
        task = asyncio.create_task(executor.run(req("hang", tmp_path / "bin"), timeout=60))
        pids = await wait_for_pids(pids_dir, 2)
        t0 = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert time.monotonic() - t0 < 1.0
        return pids

    pids = asyncio.run(main())
    assert fp.wait_gone(pids) == []


def test_wait_for_around_a_run_kills_the_plugin(tmp_path: Path) -> None:
    pids_dir = tmp_path / "pids"
    fp.hanging_plugin(tmp_path / "bin", "hang", pids_dir)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(AsyncSubprocessExecutor().run(req("hang", tmp_path / "bin")), 0.5)

    asyncio.run(main())
    assert fp.wait_gone(fp.read_pids(pids_dir)) == []


def test_many_concurrent_runs(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    rec = fp.recording_plugin(bindir, "rec", stdout={"ADD": RESULT})
    fp.exiting_plugin(bindir, "fail", stdout=json.dumps({"code": 7, "msg": "no"}), exit_status=1)
    executor = AsyncSubprocessExecutor()
    n = 64

    async def one(i: int) -> Any:
        r = req("rec" if i % 4 else "fail", bindir, container_id=f"c{i}")
        try:
            return decode_outcome(r, await executor.run(r, timeout=30))
        except PluginError as exc:
            return exc

    async def main() -> list[Any]:
        return await asyncio.gather(*(one(i) for i in range(n)))

    results = asyncio.run(main())
    for i, res in enumerate(results):
        if i % 4:
            assert isinstance(res, Result100)
        else:
            assert isinstance(res, PluginError)
            assert res.container_id == f"c{i}"
    ids = sorted(r.env["CNI_CONTAINERID"] for r in rec.records())
    assert ids == sorted(f"c{i}" for i in range(n) if i % 4)


def test_concurrent_timeouts_all_fire_together(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    for i in range(8):
        fp.hanging_plugin(bindir, f"hang{i}", tmp_path / f"pids{i}")
    executor = AsyncSubprocessExecutor()

    async def main() -> list[ExecOutcome]:
        runs = (executor.run(req(f"hang{i}", bindir), timeout=0.5) for i in range(8))
        return await asyncio.gather(*runs)

    t0 = time.monotonic()
    outcomes = asyncio.run(main())
    assert time.monotonic() - t0 < 1.5
    assert all(o.timed_out for o in outcomes)
    with pytest.raises(PluginTimeoutError):
        decode_outcome(req("hang0", bindir), outcomes[0])
    pids = [p for i in range(8) for p in fp.read_pids(tmp_path / f"pids{i}")]
    assert fp.wait_gone(pids) == []


def test_the_event_loop_stays_free(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    fp.write_plugin(bindir, "slow", "sleep 0.4\nprintf done\n")

    async def main() -> tuple[int, bytes]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        t = asyncio.create_task(ticker())
        out = await AsyncSubprocessExecutor().run(req("slow", bindir, Verb.DEL))
        stop.set()
        await t
        return ticks, out.stdout

    ticks, stdout = asyncio.run(main())
    assert stdout == b"done"
    assert ticks >= 10  # ~40 expected: the loop ran other work while the plugin slept


def test_text_file_busy_retry_does_not_block_the_loop(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    path = fp.exiting_plugin(bindir, "busy", stdout="ran")
    opened = threading.Event()

    def hold() -> None:
        with open(path, "r+b"):
            opened.set()
            time.sleep(0.15)

    async def main() -> tuple[int, ExecOutcome]:
        ticks = 0
        stop = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        t = asyncio.create_task(ticker())
        out = await AsyncSubprocessExecutor().run(req("busy", bindir, Verb.DEL))
        stop.set()
        await t
        return ticks, out

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        opened.wait(5)
        ticks, out = asyncio.run(main())
    finally:
        holder.join()
    assert out.exit_status == 0
    assert out.stdout == b"ran"
    assert ticks >= 5  # the retry sleeps without blocking the loop


def test_signal_through_asyncio(tmp_path: Path) -> None:
    fp.crashing_plugin(tmp_path / "bin", "crash", signal.SIGABRT)
    r = req("crash", tmp_path / "bin")
    out = asyncio.run(AsyncSubprocessExecutor().run(r))
    with pytest.raises(ExecError, match="SIGABRT"):
        decode_outcome(r, out)


def test_async_fake_executor() -> None:
    calls: list[str] = []

    async def slow_add(r: ExecRequest) -> ExecOutcome:
        calls.append(r.container_id or "")
        await asyncio.sleep(0.01)
        return result_outcome(RESULT)

    fake = AsyncFakeExecutor(delay=0.001)
    fake.script("p", Verb.ADD, slow_add)
    fake.script("p", Verb.DEL, error_outcome(3, "unknown container"))

    async def main() -> list[Any]:
        reqs = [req("p", Path("/x"), container_id=f"c{i}") for i in range(5)]
        outs = await asyncio.gather(*(fake.run(r, timeout=1) for r in reqs))
        return [decode_outcome(r, o) for r, o in zip(reqs, outs, strict=True)]

    results = asyncio.run(main())
    assert all(isinstance(r, Result100) for r in results)
    assert sorted(calls) == [f"c{i}" for i in range(5)]
    out = asyncio.run(fake.run(req("p", Path("/x"), Verb.DEL)))
    with pytest.raises(PluginError) as info:
        decode_outcome(req("p", Path("/x"), Verb.DEL), out)
    assert info.value.code == 3
    assert [c.verb for c in fake.calls].count(Verb.ADD) == 5
