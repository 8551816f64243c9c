# pytest fixtures are parameters: their number says nothing here
"""``cnilib docker watch`` against the suite's private Docker engine and the real plugins.

The engine and the watcher live in the sandbox host namespace; every container is ``--net=none``
and every request goes from that namespace to a container's address. See ``watch_support`` for
what :func:`problems` checks.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from test_scenario import http_get, iptables, sandbox_clean  # noqa: F401  (autouse clean-up)
from watch_support import (
    CONVERGE_BOUND,
    TEST_LABEL,
    WatchProc,
    container_links,
    labelled_containers,
    problems,
    unpin_all,
    wait_for,
    write_networks,
)

import cnilib
from cnilib import docker, netns
from cnilib.testing.dockerd import INDEX_HTML, PrivateDockerd, docker_available

pytestmark = [
    pytest.mark.root,
    pytest.mark.docker,
    pytest.mark.skipif(not docker_available(), reason="needs root, docker.io and busybox-static"),
]


class Env:
    """One test's world: engine, sandbox host, networks, cache, log."""

    def __init__(self, engine: PrivateDockerd, image: str, host: str, tmp: Path) -> None:
        self.engine, self.image, self.host = engine, image, host
        self.conf, self.cache, self.data = tmp / "net.d", tmp / "cache", tmp / "ipam"
        self.log = tmp / "watch.log"
        write_networks(self.conf, self.data)
        self.count = 0

    def watcher(self, **kwargs: object) -> WatchProc:
        return WatchProc(self.host, self.engine, self.conf, self.cache, self.log, **kwargs)  # type: ignore[arg-type]

    def run(self, networks: str | None, *args: str, name: str | None = None) -> str:
        """``docker run -d --net=none`` (labelled with ``networks`` unless None); full id."""
        self.count += 1
        labels = ["--label", TEST_LABEL]
        if networks is not None:
            labels += ["--label", f"cnilib.networks={networks}"]
        name = name or f"w{self.count}-{random.randrange(1 << 30):x}"
        return self.engine.run_container(name, self.image, extra_args=[*labels, *args])

    def problems(self, expect: dict[str, tuple[str, ...]] | None = None) -> list[str]:
        return problems(self.engine, self.host, self.cache, self.data, expect=expect)

    def converge(self, watcher: WatchProc | None, expect: dict[str, tuple[str, ...]] | None = None) -> None:
        last: list[list[str]] = [[]]

        def done() -> bool:
            last[0] = self.problems(expect)
            return not last[0]

        try:
            wait_for(done, "convergence", watcher)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nproblems: {last[0]}") from None

    def addresses(self, cid: str) -> list[str]:
        return [
            a.split("/")[0]
            for e in cnilib.ResultCache(self.cache).entries(container_id=cid)
            for a in e.parsed_result().all_addresses
        ]

    def page(self, address: str) -> str:
        last: Exception | None = None
        for _ in range(50):  # the container's httpd may start a moment after the container
            try:
                return http_get(self.host, f"http://{address}/", timeout=2)
            except netns.NetnsError as exc:
                last = exc
                time.sleep(0.1)
        raise AssertionError(f"GET http://{address}/ never answered: {last}")


@pytest.fixture
def env(dockerd: PrivateDockerd, busybox_image: str, host_ns: netns.NetNS, tmp_path: Path) -> Iterator[Env]:
    e = Env(dockerd, busybox_image, host_ns.path, tmp_path)
    try:
        with labelled_containers(dockerd):
            yield e
    finally:
        # The containers are gone: one pass detaches what they held, then no mount may remain.
        w = e.watcher(extra=["--once"]).start()
        assert w.proc is not None
        w.proc.wait(timeout=120)
        unpin_all(e.cache)


def test_twenty_containers_at_once_then_removed(env: Env) -> None:
    with env.watcher() as w:
        w.wait_reconciled()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=22) as pool:
            labelled = list(pool.map(lambda i: env.run("mybridge"), range(20)))
            unlabelled = list(pool.map(lambda i: env.run(None), range(2)))
        runs_done = time.monotonic()
        env.converge(w)
        elapsed = time.monotonic() - started
        ms = sorted(float(line.split("duration_ms=")[1].split()[0]) for line in w.lines("attach"))
        print(
            f"20 containers: docker run x22 took {runs_done - started:.1f} s, all attached "
            f"{elapsed:.1f} s after the first run (bound {CONVERGE_BOUND:g} s); attach duration "
            f"median {ms[len(ms) // 2]:.0f} ms, max {ms[-1]:.0f} ms"
        )
        addresses = {cid: env.addresses(cid) for cid in labelled}
        assert all(len(a) == 1 for a in addresses.values())
        assert len({a[0] for a in addresses.values()}) == 20
        for cid in labelled:
            assert env.page(addresses[cid][0]) == INDEX_HTML
        for cid in unlabelled:
            assert container_links(env.engine, cid) == ["lo"]
        assert list(w.lines("attach"))
        assert all("duration_ms=" in line and "outcome=ok" in line for line in w.lines("attach"))
        assert not any(cid[:12] in w.text() for cid in unlabelled)

        env.engine.docker("rm", "-f", *labelled)
        env.converge(w, expect={})
        assert len(w.lines("detach")) == 20
        assert w.terminate() == 0
    assert w.lines("stop")
    assert "outcome=ok" in w.lines("stop")[-1]
    for cid in unlabelled:
        assert container_links(env.engine, cid) == ["lo"]


def test_stop_kill_rm_and_autoremove_each_detach(env: Env) -> None:
    with env.watcher() as w:
        w.wait_reconciled()
        stopped = env.run("mybridge")
        killed = env.run("mybridge,second")
        removed = env.run("second")
        auto = env.run("mybridge", "--rm")
        stays = env.run("mybridge,second")
        env.converge(w)
        for cid in (stopped, killed, removed, auto, stays):
            assert env.page(env.addresses(cid)[0]) == INDEX_HTML

        env.engine.docker("stop", "-t", "0", stopped)
        env.engine.docker("kill", killed)
        env.engine.docker("rm", "-f", removed)
        env.engine.docker("stop", "-t", "0", auto)  # --rm: Docker removes it on exit
        env.converge(w, expect={stays: ("mybridge", "second")})
        detached = {line.split("container=")[1].split()[0] for line in w.lines("detach")}
        assert detached == {c[:12] for c in (stopped, killed, removed, auto)}
        assert env.page(env.addresses(stays)[0]) == INDEX_HTML

        # A stopped container started again is attached again.
        env.engine.docker("start", stopped)
        env.converge(w)
        assert env.page(env.addresses(stopped)[0]) == INDEX_HTML
        assert w.terminate() == 0


def test_published_ports_become_port_mappings(env: Env) -> None:
    with env.watcher() as w:
        w.wait_reconciled()
        cid = env.run("ports", "-p", "8080:80", "--label", "cnilib.port-mappings=published")
        env.converge(w)
        [entry] = cnilib.ResultCache(env.cache).entries(container_id=cid)
        assert entry.capability_args == {
            "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]
        }
        assert any("--dport 8080" in line for line in iptables(env.host, "nat"))
        # Through the DNAT rule: the bridge's own address, port 8080, reaches the container's port 80.
        assert env.page("10.15.32.1:8080") == INDEX_HTML
        env.engine.docker("rm", "-f", cid)
        env.converge(w, expect={})
        assert not any("--dport 8080" in line for line in iptables(env.host, "nat"))
        assert w.terminate() == 0


def test_bad_labels_one_line_each_and_the_others_served(env: Env) -> None:
    with env.watcher(resync=0.5) as w:
        w.wait_reconciled()
        bad = {
            env.run("nosuch"): "no network",
            env.run("mybridge,,second"): "without empty names",
            env.run("broken"): "cnilib-no-such-plugin",
            env.run("mybridge,broken"): "cnilib-no-such-plugin",
            env.run("mybridge", "--label", "cnilib.port-mappings=eighty"): "cnilib.port-mappings",
            env.run("mybridge", "--label", "cnilib.args=K8S_POD_NAME"): "cnilib.args",
        }
        good = env.run("mybridge,second")
        seen = len(w.lines("reconcile"))
        w.wait_reconciled(seen + 3)  # three more passes: the problems are not repeated
        env.converge(w, expect={good: ("mybridge", "second")})
        assert env.page(env.addresses(good)[0]) == INDEX_HTML
        for cid, words in bad.items():
            lines = [line for line in w.text().splitlines() if f"container={cid[:12]}" in line]
            assert len(lines) == 1, lines
            assert "outcome=error" in lines[0], lines[0]
            assert words in lines[0], lines[0]
        # A stop lets a retry in flight finish its rollback: then nothing of a bad one is left.
        assert w.terminate() == 0
    for cid in bad:
        assert container_links(env.engine, cid) == ["lo"]
    assert env.problems(expect={good: ("mybridge", "second")}) == []


def test_sigkill_at_random_moments(env: Env) -> None:
    seed = random.randrange(1 << 32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    live: list[str] = []
    kills = mid_operation = 0

    def churn() -> None:
        for _ in range(3):
            live.append(env.run(rng.choice(["mybridge", "mybridge,second", "second"])))
        for _ in range(2):
            if live:
                cid = live.pop(rng.randrange(len(live)))
                how = rng.choice([("stop", "-t", "0"), ("kill",), ("rm", "-f")])
                env.engine.docker(*how, cid)

    for round_ in range(10):
        w = env.watcher(resync=1.0).start()
        ops = threading.Thread(target=churn)
        ops.start()
        if round_ % 2:
            # Any moment once it is connected (however slow the machine is to start Python).
            deadline = time.monotonic() + 60
            while not w.lines("connected") and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 2.0))
        else:
            # While a plugin runs, i.e. in the middle of an ADD or a DEL (however slow the
            # machine: the moment is found, not guessed). The kill follows the sighting at
            # once: a plugin may finish within milliseconds, so any added delay would often
            # land between operations instead.
            deadline = time.monotonic() + 60
            while not (seen := w.plugin_running()) and time.monotonic() < deadline:
                time.sleep(0.001)
            mid_operation += seen
        w.sigkill()
        kills += 1
        ops.join()
    assert kills >= 10
    assert mid_operation >= 3  # most of the plugin-timed kills hit a plugin at work
    text = env.log.read_text()
    print(
        f"{kills} kills ({mid_operation} with a plugin running); restarts that waited for orphaned "
        f"plugins: {text.count('action=wait ')}; repairs: {text.count('repair=True')}"
    )

    with env.watcher() as w:
        line = w.wait_reconciled()
        assert "failed=0" in line, w.text()
        env.converge(w)
        assert sorted(env.problems()) == []
        for cid in live:
            assert env.page(env.addresses(cid)[0]) == INDEX_HTML
        assert w.terminate() == 0
    # Attached exactly once: a new watcher finds nothing to do.
    with env.watcher() as w:
        line = w.wait_reconciled()
        assert "attached=0 detached=0 repaired=0 failed=0" in line, line
        assert w.terminate() == 0


def test_engine_restart_reconnects_and_reconciles(env: Env) -> None:
    with env.watcher() as w:
        w.wait_reconciled()
        # SIGKILL as stop signal: the engine's shutdown does not wait for httpd (pid 1 ignores TERM).
        back = env.run("mybridge", "--restart=always", "--stop-signal=SIGKILL")
        gone = env.run("mybridge,second", "--stop-signal=SIGKILL")
        env.converge(w)
        old = env.addresses(back)
        env.engine.restart()
        wait_for(lambda: len(w.lines("connected")) >= 2, "reconnection", w)
        env.converge(w, expect={back: ("mybridge",)})
        assert any("engine=" in line for line in w.lines("disconnected"))
        assert env.page(env.addresses(back)[0]) == INDEX_HTML
        assert old  # it had an address before; it has one (maybe another) now
        assert env.engine.docker("inspect", "--format", "{{.State.Running}}", gone).stdout.strip() == "false"
        assert w.terminate() == 0


def test_one_watcher_per_cache_directory(env: Env) -> None:
    with env.watcher() as first:
        first.wait_reconciled()
        second = env.watcher().start()
        assert second.proc is not None
        assert second.proc.wait(timeout=60) == docker.EXIT_LOCKED
        assert "outcome=locked" in second.text()
        assert first.terminate() == 0


def test_embedded_asyncio_watcher_and_sync_reconcile(env: Env, host_ns: netns.NetNS) -> None:
    """The Python API: a Watcher inside the caller's event loop, then one synchronous pass."""
    kwargs = {
        "conf_dir": env.conf,
        "plugin_dirs": ["/usr/lib/cni"],
        "cache_dir": env.cache,
        "host": env.engine.host,
        "argv_prefix": netns.enter_argv(host_ns.path),
    }

    async def main() -> tuple[str, docker.ReconcileReport]:
        async with docker.Watcher(**kwargs) as w:  # type: ignore[arg-type]
            ready = asyncio.Event()
            task = asyncio.ensure_future(w.run(on_ready=ready.set))
            await ready.wait()
            cid = await asyncio.to_thread(env.run, "mybridge,second")
            await asyncio.to_thread(env.converge, None)
            again = await w.reconcile()
            w.stop()
            await task
            return cid, again

    cid, again = asyncio.run(main())
    assert again.unchanged == (cid,)
    assert again.ok
    # Stopping the watcher detaches nothing; the container is still attached.
    assert env.problems() == []
    env.engine.docker("rm", "-f", cid)
    report = docker.reconcile(**kwargs)
    assert report.detached == (cid,)
    assert env.problems(expect={}) == []


def test_a_container_attached_already_is_adopted_not_detached(env: Env, host_ns: netns.NetNS) -> None:
    """Issue 21: a labelled container that is attached already (``cnilib docker attach``, or a
    watcher whose records were lost) is the wanted state: the watcher records it and leaves it as
    it is, with no error and no DEL, and detaches it like its own once it stops."""
    kwargs = {
        "conf_dir": env.conf,
        "plugin_dirs": ["/usr/lib/cni"],
        "cache_dir": env.cache,
        "host": env.engine.host,
        "argv_prefix": netns.enter_argv(host_ns.path),
    }
    cid = env.run("mybridge")  # (no watcher runs yet)
    cni = cnilib.CNI(["/usr/lib/cni"], env.cache, timeout=60, argv_prefix=kwargs["argv_prefix"])
    docker.attach(cni, cid, cnilib.load_network(env.conf, "mybridge"), host=env.engine.host)
    [address] = env.addresses(cid)
    entry = env.cache / "results" / f"mybridge-{cid}-eth0"
    before = entry.read_bytes()
    report = docker.reconcile(**kwargs)  # type: ignore[arg-type]
    assert (report.attached, report.failed) == ((cid,), {})
    assert (env.addresses(cid), entry.read_bytes()) == ([address], before)
    assert env.page(address) == INDEX_HTML
    assert env.problems() == []  # the watcher's record and pin are in place
    again = docker.reconcile(**kwargs)  # type: ignore[arg-type]
    assert (again.unchanged, again.failed) == ((cid,), {})
    assert entry.read_bytes() == before
    env.engine.docker("rm", "-f", cid)
    assert docker.reconcile(**kwargs).detached == (cid,)  # type: ignore[arg-type]
    assert env.problems(expect={}) == []
