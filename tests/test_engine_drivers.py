"""One scenario suite, run on both drivers (``CNI`` in threads, ``AsyncCNI`` on a loop) through a
fixture parameter: pre-flight, intent records, recovery, DEL that finishes, GC, bounded concurrency.

The plugins are real executables in a temp dir (recording shell scripts); no namespace is touched.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from engine_support import LIVE_NETNS, conflist, interval_plugin, read_intervals, result_for

from cnilib import (
    CNI,
    AsyncCNI,
    CacheEntry,
    GCAttachment,
    MultiError,
    NetworkConfigList,
    PluginError,
    PluginNotFoundError,
    RuntimeConfig,
    ValidationError,
)
from cnilib._model._models import cached_runtime
from cnilib.testing.plugins import RecordingPlugin, recording_plugin

CID = "ctr1"
PORTS = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}


class Front:
    """The same calls on either front end: ``sync`` runs CNI, ``async`` runs AsyncCNI per call."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.bindir = tmp_path / "bin"
        self.bindir.mkdir()
        self.cache_dir = tmp_path / "cache"
        self.log = tmp_path / "calls.log"
        self.kwargs: dict[str, Any] = {}

    def plugin(self, name: str, **kwargs: Any) -> None:
        stdout = {"ADD": json.dumps(result_for("1.0.0", "10.0.0.2/24")), **kwargs.pop("stdout", {})}
        recording_plugin(self.bindir, name, log=self.log, stdout=stdout, **kwargs)

    def engine(self) -> Any:
        cls = CNI if self.kind == "sync" else AsyncCNI
        return cls([str(self.bindir)], self.cache_dir, **self.kwargs)

    def call(self, verb: str, *args: Any, **kwargs: Any) -> Any:
        cni = self.engine()
        if self.kind == "sync":
            return getattr(cni, verb)(*args, **kwargs)
        return asyncio.run(getattr(cni, verb)(*args, **kwargs))

    def calls(self) -> list[tuple[str, str, Any]]:
        if not self.log.exists():
            return []
        recs = RecordingPlugin(path=self.bindir / "x", log=self.log).records()
        return [(Path(r.argv0).name, r.verb, r) for r in recs]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)

    def files(self, sub: str) -> list[str]:
        d = self.cache_dir / sub
        return sorted(p.name for p in d.iterdir()) if d.exists() else []


@pytest.fixture(params=["sync", "async"])
def front(request: pytest.FixtureRequest, tmp_path: Path) -> Front:
    return Front(request.param, tmp_path)


def two(**extra: Any) -> NetworkConfigList:
    return conflist(
        "1.0.0", [{"type": "p1"}, {"type": "p2", "capabilities": {"portMappings": True}}], **extra
    )


def rt(**kwargs: Any) -> RuntimeConfig:
    return RuntimeConfig(container_id=CID, netns=LIVE_NETNS, ifname="eth0", **kwargs)


def test_add_check_del_leave_nothing_behind(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    result = front.call("add", two(), rt())
    assert result.all_addresses == ("10.0.0.2/24",)
    assert front.files("results") == [f"testnet-{CID}-eth0"]
    assert front.files("intents") == []  # completed into the entry
    front.call("check", two(), rt())
    front.call("delete", two(), rt())
    assert front.files("results") == []
    assert front.files("intents") == []


def test_a_missing_plugin_fails_before_anything_runs(front: Front) -> None:
    front.plugin("p1")
    with pytest.raises(PluginNotFoundError, match="nothing was applied"):
        front.call("add", two(), rt(), rollback=False)
    assert front.calls() == []
    assert front.files("results") == front.files("intents") == []


def test_an_unserializable_value_fails_before_anything_runs(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    nan = {"portMappings": [{"hostPort": float("nan")}]}
    with pytest.raises(ValidationError, match="is nan"):
        rt(capability_args=nan)  # refused at construction
    with pytest.raises(ValidationError, match="nothing was applied"):
        front.call("add", two(), cached_runtime(rt(), capability_args=nan))  # made otherwise
    assert front.calls() == []


def test_del_without_capability_args_uses_the_cached_ones(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    front.call("add", two(), rt(args=(("K8S_POD_NAME", "web"),), capability_args=PORTS))
    front.clear()
    front.call("delete", two(), rt())  # as `cnilib del` is usually typed: no CAP_ARGS, no CNI_ARGS
    [(_, _, p2), (_, _, p1)] = front.calls()
    assert p2.config["runtimeConfig"] == PORTS
    assert p2.env["CNI_ARGS"] == p1.env["CNI_ARGS"] == "K8S_POD_NAME=web"
    front.clear()
    front.call("add", two(), rt(capability_args=PORTS))
    front.clear()
    explicit = {"portMappings": [{"hostPort": 9090, "containerPort": 90, "protocol": "udp"}]}
    front.call("delete", two(), rt(capability_args=explicit))  # explicit values win
    assert front.calls()[0][2].config["runtimeConfig"] == explicit


def test_del_runs_every_plugin_past_failures_and_keeps_the_entry(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    front.call("add", two(), rt())
    front.plugin("p2", stdout={"DEL": {"code": 5, "msg": "io"}}, exit_status={"DEL": 1})
    front.plugin("p1", stdout={"DEL": {"code": 5, "msg": "io too"}}, exit_status={"DEL": 1})
    front.clear()
    with pytest.raises(MultiError) as info:
        front.call("delete", two(), rt())
    assert [(p, v) for p, v, _ in front.calls()] == [("p2", "DEL"), ("p1", "DEL")]
    assert sorted(info.value.errors) == ["plugins[0] (p1)", "plugins[1] (p2)"]
    assert all(isinstance(e, PluginError) for e in info.value.errors.values())
    assert front.files("results") == [f"testnet-{CID}-eth0"]  # kept for a later DEL
    front.plugin("p1")
    front.plugin("p2")
    front.call("delete", two(), rt())
    assert front.files("results") == []


def test_a_failed_add_without_rollback_is_undone_by_gc(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2", stdout={"ADD": {"code": 7, "msg": "bad"}}, exit_status={"ADD": 1})
    with pytest.raises(PluginError):
        front.call("add", two(), rt(capability_args=PORTS), rollback=False)
    assert front.files("results") == []
    assert len(front.files("intents")) == 1
    front.plugin("p2")
    front.clear()
    front.call("gc", two(), [GCAttachment("other", "eth0")])
    dels = [(p, r.env["CNI_CONTAINERID"], r.env["CNI_NETNS"]) for p, v, r in front.calls() if v == "DEL"]
    assert dels == [("p2", CID, LIVE_NETNS), ("p1", CID, LIVE_NETNS)]
    assert front.calls()[0][2].config["runtimeConfig"] == PORTS  # the recorded capability args
    assert front.files("intents") == []


def test_recover_dels_crashed_adds_with_their_recorded_list(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    # What a runtime killed (SIGKILL) mid-ADD leaves: the intent record, no entry.
    cache = front.engine().cache
    cache.write_intent(CacheEntry.create(two(), rt(args=(("A", "1"),)), None))
    cache.write_intent(CacheEntry.create(two(), RuntimeConfig("ctr2", "/run/netns/y", "eth1"), None))
    got = front.call("recover")  # no list given: each intent's recorded list is used
    assert sorted(e.container_id for e in got) == [CID, "ctr2"]
    assert sorted((p, r.env["CNI_CONTAINERID"]) for p, v, r in front.calls()) == [
        ("p1", CID), ("p1", "ctr2"), ("p2", CID), ("p2", "ctr2"),
    ]  # fmt: skip
    assert front.files("intents") == []
    assert front.call("recover", two()) == []


def test_recover_leaves_an_attachment_whose_entry_was_written(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    front.call("add", two(), rt())
    # Killed after the entry was written, before the intent was dropped.
    front.engine().cache.write_intent(CacheEntry.create(two(), rt(), None))
    front.clear()
    assert front.call("recover", two()) == []
    assert front.calls() == []
    assert front.files("intents") == []
    assert front.files("results") == [f"testnet-{CID}-eth0"]


def test_recover_of_one_container_leaves_the_others(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    cache = front.engine().cache
    for cid in ("mine", "theirs"):
        cache.write_intent(CacheEntry.create(two(), RuntimeConfig(cid, "/x", "eth0"), None))
    got = front.call("recover", container_id="mine")
    assert [e.container_id for e in got] == ["mine"]
    assert sorted({r.env["CNI_CONTAINERID"] for _, _, r in front.calls()}) == ["mine"]
    assert [e.container_id for e in front.engine().unfinished_adds()] == ["theirs"]


def test_recover_with_a_bound_of_one_does_not_wait_for_itself(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    front.kwargs["concurrency"] = 1
    cache = front.engine().cache
    for cid in ("a", "b"):
        cache.write_intent(CacheEntry.create(two(), RuntimeConfig(cid, "/x", "eth0"), None))
    assert sorted(e.container_id for e in front.call("recover", two())) == ["a", "b"]


def test_recover_skips_an_add_that_is_still_running(front: Front) -> None:
    front.plugin("p1")
    front.plugin("p2")
    cache = front.engine().cache
    cache.write_intent(CacheEntry.create(two(), rt(), None))
    with cache.lock("testnet", CID, "eth0"):  # what a running ADD holds
        assert front.call("recover", two()) == []
    assert front.calls() == []
    assert len(front.files("intents")) == 1
    assert [e.container_id for e in front.call("recover", two())] == [CID]


def test_gc_and_status_never_pass_the_callers_cni_variables(
    front: Front, monkeypatch: pytest.MonkeyPatch
) -> None:
    front.plugin("p1")
    for var in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"):
        monkeypatch.setenv(var, "inherited")
    net = conflist("1.1.0", [{"type": "p1"}])
    front.call("status", net)
    front.call("gc", net)
    for _, _, rec in front.calls():
        assert {
            k: rec.env[k] for k in ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS")
        } == dict.fromkeys(("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS"), "")


def _most_at_once(intervals: Iterable[tuple[int, int]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _many(front: Front, n: int) -> None:
    net = conflist("1.0.0", [{"type": "slow"}])
    rts = [RuntimeConfig(container_id=f"c{i}", netns=LIVE_NETNS, ifname="eth0") for i in range(n)]
    cni = front.engine()
    if front.kind == "async":

        async def main() -> None:
            await asyncio.gather(*(cni.add(net, r) for r in rts))

        asyncio.run(main())
        return
    threads = [threading.Thread(target=cni.add, args=(net, r)) for r in rts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrency_bounds_how_many_operations_run_at_once(front: Front, tmp_path: Path) -> None:
    log = tmp_path / "iv.log"
    interval_plugin(front.bindir, "slow", log, sleep=0.1)
    front.kwargs["concurrency"] = 2
    _many(front, 6)
    spans = [(s, e) for verb, *_, s, e in read_intervals(log) if verb == "ADD"]
    assert len(spans) == 6
    assert 1 <= _most_at_once(spans) <= 2
    assert front.engine().concurrency == 2


def test_concurrency_must_be_positive(front: Front) -> None:
    front.kwargs["concurrency"] = 0
    with pytest.raises(ValidationError):
        front.engine()


def test_multi_network_calls_share_the_bound_without_deadlock(front: Front) -> None:
    front.plugin("p1")
    front.kwargs["concurrency"] = 1
    nets = [conflist("1.0.0", [{"type": "p1"}], name=f"n{i}") for i in range(3)]
    results = front.call("add_networks", nets, rt())
    assert len(results) == 3
    front.call("delete_networks", nets, rt())
    assert front.files("results") == []


def test_every_plugin_call_is_logged_and_failures_warned(
    front: Front, caplog: pytest.LogCaptureFixture
) -> None:
    front.plugin("p1")
    front.plugin("p2", stdout={"ADD": {"code": 7, "msg": "bad"}}, exit_status={"ADD": 1})
    caplog.set_level("DEBUG", logger="cnilib")
    with pytest.raises(PluginError):
        front.call("add", two(), rt(), rollback=True)
    records = [(r.levelname, r.getMessage().split(" (")[0]) for r in caplog.records if r.name == "cnilib"]
    assert records == [
        ("DEBUG", "ADD plugins[0] p1"),
        ("DEBUG", "ADD plugins[1] p2"),
        ("WARNING", "ADD plugins[1] p2"),
        ("DEBUG", "DEL plugins[1] p2"),
        ("DEBUG", "DEL plugins[0] p1"),
    ]
