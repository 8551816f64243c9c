"""libcni's behaviour checklist for configuration lists, run with recording fake plugins.

Every plugin here is a real executable (``cnilib.testing.plugins.recording_plugin``) that appends
its CNI variables and its stdin to one shared log, so the tests see exactly what libcni's callers'
plugins would see, in order. Then the opt-in behaviour beyond libcni: rollback, retry of code 11,
cleanup after a timeout, multi-network attach, per-plugin timings, dry runs.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest
from engine_support import (
    LIVE_NETNS,
    OTHER_LIVE_NETNS,
    conflist,
    counting_plugin,
    hang_on_add_plugin,
    interval_plugin,
    read_intervals,
    result_for,
)

from cnilib import (
    CNI,
    AlreadyAttachedError,
    CacheError,
    ExecError,
    GCAttachment,
    MultiError,
    NetworkConfigList,
    PluginError,
    PluginNotFoundError,
    PluginRun,
    PluginTimeoutError,
    Result040,
    Result100,
    RetryPolicy,
    RuntimeConfig,
    ValidationError,
    Verb,
    VersionError,
)
from cnilib.testing.plugins import PluginRecord, recording_plugin

CID = "ctr1"
NETNS = LIVE_NETNS


# -- fixtures and helpers ---------------------------------------------------------------------


class Rig:
    """A plugin directory, a shared call log, a cache directory and a CNI factory."""

    def __init__(self, tmp_path: Path) -> None:
        self.bindir = tmp_path / "bin"
        self.bindir.mkdir()
        self.cache_dir = tmp_path / "cache"
        self.log = tmp_path / "calls.log"

    def plugin(
        self,
        name: str,
        *,
        add: Mapping[str, Any] | str | None = None,
        stdout: Mapping[str, Any] | None = None,
        exit_status: int | Mapping[str, int] = 0,
    ) -> None:
        """A recording plugin; ``add`` is what it prints on ADD (default: ``{}``, an empty result
        that takes the list's version)."""
        out: dict[str, Any] = {"ADD": "{}", **(stdout or {})}
        if add is not None:
            out["ADD"] = add
        recording_plugin(self.bindir, name, log=self.log, stdout=out, exit_status=exit_status)

    def cni(self, **kwargs: Any) -> CNI:
        return CNI([str(self.bindir)], self.cache_dir, **kwargs)

    def calls(self) -> list[tuple[str, str, PluginRecord]]:
        """(plugin, verb, record) of every call so far, in order."""
        if not self.log.exists():
            return []
        from cnilib.testing.plugins import RecordingPlugin

        recs = RecordingPlugin(path=self.bindir / "x", log=self.log).records()
        return [(os.path.basename(r.argv0), r.verb, r) for r in recs]

    def order(self) -> list[tuple[str, str]]:
        return [(p, v) for p, v, _ in self.calls()]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)

    def cache_file(self, network: str = "testnet", cid: str = CID, ifname: str = "eth0") -> Path:
        return self.cache_dir / "results" / f"{network}-{cid}-{ifname}"


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def three(version: str, **extra: Any) -> NetworkConfigList:
    return conflist(
        version,
        [
            {"type": "p1", "cniVersion": "0.1.0", "custom": {"keep": [1, 2.5, "x"]}},
            {"type": "p2"},
            {"type": "p3", "ipam": {"type": "host-local", "subnet": "10.1.0.0/24"}},
        ],
        **extra,
    )


def chain_rig(rig: Rig, version: str) -> list[dict[str, Any]]:
    results = [result_for(version, f"10.0.0.{i}/24") for i in (1, 2, 3)]
    for i, res in enumerate(results, 1):
        rig.plugin(f"p{i}", add=res)
    return results


def rt(**kw: Any) -> RuntimeConfig:
    base: dict[str, Any] = {"container_id": CID, "netns": NETNS, "ifname": "eth0"}
    base.update(kw)
    return RuntimeConfig(**base)


ALL_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]


# -- ADD ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_add_threads_prev_result_and_caches_the_last(rig: Rig, version: str) -> None:
    results = chain_rig(rig, version)
    net = three(version)
    runtime = rt(args=[("K", "V"), ("K2", "V2")])
    got = rig.cni().add(net, runtime)

    assert got is not None
    assert got.to_dict() == results[2]
    calls = rig.calls()
    assert [(p, v) for p, v, _ in calls] == [("p1", "ADD"), ("p2", "ADD"), ("p3", "ADD")]
    for i, (_, _, rec) in enumerate(calls):
        assert rec.env == {
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": CID,
            "CNI_NETNS": NETNS,
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": "K=V;K2=V2",
            "CNI_PATH": str(rig.bindir),
        }
        conf = rec.config
        assert conf["name"] == "testnet"
        assert conf["cniVersion"] == version  # the list's version is written into every plugin
        if i == 0:
            assert "prevResult" not in conf
        else:
            assert conf["prevResult"] == results[i - 1]
    # Plugin-specific keys reach the plugin unchanged.
    assert calls[0][2].config["custom"] == {"keep": [1, 2.5, "x"]}
    assert calls[2][2].config["ipam"] == {"type": "host-local", "subnet": "10.1.0.0/24"}

    cached = json.loads(rig.cache_file().read_bytes())
    assert cached["result"] == results[2]
    assert rig.cni().cached_result(net, runtime) == got


def test_cache_file_is_libcni_format(rig: Rig) -> None:
    chain_rig(rig, "1.0.0")
    net = three("1.0.0")
    caps = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    rig.cni().add(net, rt(args={"K": "V"}, capability_args=caps))
    path = rig.cache_file()
    data = json.loads(path.read_bytes())
    assert list(data) == [
        "kind", "containerId", "config", "ifName", "networkName", "netns", "cniArgs",
        "capabilityArgs", "result",
    ]  # fmt: skip
    assert data["kind"] == "cniCacheV1"
    assert base64.b64decode(data["config"]) == net.bytes
    assert data["cniArgs"] == [["K", "V"]]
    assert data["capabilityArgs"] == caps
    assert data["netns"] == NETNS
    assert path.stat().st_mode & 0o777 == 0o600
    assert (rig.cache_dir / "results").stat().st_mode & 0o777 == 0o700


def test_add_stops_at_first_error_without_cache_or_rollback(rig: Rig) -> None:
    rig.plugin("p1", add=result_for("1.0.0", "10.0.0.1/24"))
    rig.plugin(
        "p2",
        stdout={"ADD": {"cniVersion": "1.0.0", "code": 7, "msg": "bad config", "details": "d"}},
        exit_status={"ADD": 1},
    )
    rig.plugin("p3", add=result_for("1.0.0", "10.0.0.3/24"))
    with pytest.raises(PluginError) as info:
        rig.cni().add(three("1.0.0"), rt())
    err = info.value
    assert (err.code, err.msg, err.details) == (7, "bad config", "d")
    assert (err.plugin, err.verb) == ("p2", "ADD")
    assert rig.order() == [("p1", "ADD"), ("p2", "ADD")]  # p3 never ran, nothing DELeted
    assert not rig.cache_file().exists()


def test_a_second_add_is_refused_and_keeps_the_old_cache_entry(rig: Rig) -> None:
    # libcni would run the plugins again (and fail half way in a real bridge); cnilib refuses.
    chain_rig(rig, "1.0.0")
    net = three("1.0.0")
    first = rig.cni().add(net, rt())
    before = rig.cache_file().read_bytes()
    rig.clear()
    with pytest.raises(AlreadyAttachedError) as info:
        rig.cni().add(net, rt())
    err = info.value
    assert (err.network, err.container_id, err.ifname) == ("testnet", CID, "eth0")
    assert (err.path, err.netns, err.gone) == (str(rig.cache_file()), NETNS, False)
    assert "nothing was applied" in str(err)
    assert f"cnilib del testnet {NETNS}" in str(err)
    assert rig.calls() == []
    assert rig.cache_file().read_bytes() == before
    assert rig.cni().cached_result(net, rt()) == first


def test_runtime_config_only_for_enabled_capabilities(rig: Rig) -> None:
    for name in ("p1", "p2", "p3", "p4"):
        rig.plugin(name)
    net = conflist(
        "1.0.0",
        [
            {"type": "p1", "capabilities": {"portMappings": True, "bandwidth": False}},
            {"type": "p2"},
            {"type": "p3", "capabilities": {"ips": True}},
            {"type": "p4", "capabilities": {"bandwidth": True, "portMappings": True}},
        ],
    )
    caps = {"portMappings": [{"hostPort": 1, "containerPort": 2}], "bandwidth": {"rate": 5}}
    rig.cni().add(net, rt(capability_args=caps))
    confs = [rec.config for _, _, rec in rig.calls()]
    assert confs[0]["runtimeConfig"] == {"portMappings": caps["portMappings"]}
    assert "runtimeConfig" not in confs[1]
    assert "runtimeConfig" not in confs[2]  # enabled, but no such arg: no key at all
    assert confs[3]["runtimeConfig"] == caps
    # The cache keeps every capability arg, unfiltered (GC's DEL needs them).
    assert json.loads(rig.cache_file().read_bytes())["capabilityArgs"] == caps

    # The same filtering on DEL and CHECK.
    rig.clear()
    rig.cni().check(net, rt(capability_args=caps))
    rig.cni().delete(net, rt(capability_args=caps))
    for _, _, rec in rig.calls():
        name = rec.config["type"]
        has = "runtimeConfig" in rec.config
        assert has == (name in ("p1", "p4")), (name, rec.verb)


def test_result_without_version_gets_the_lists_and_null_is_tolerated(rig: Rig) -> None:
    bare = result_for("0.4.0", "10.0.0.1/24")
    del bare["cniVersion"]
    rig.plugin("p1", add=bare)
    rig.plugin("p2", add="null")
    rig.plugin("p3", add={"cniVersion": "0.4.0", "ips": []})
    got = rig.cni().add(three("0.4.0"), rt())
    confs = [rec.config for _, _, rec in rig.calls()]
    assert confs[1]["prevResult"]["cniVersion"] == "0.4.0"
    assert "prevResult" not in confs[2]  # null: nothing to pass on
    assert isinstance(got, Result040)


def test_add_empty_stdout_is_an_error(rig: Rig) -> None:
    rig.plugin("p1", add="")
    with pytest.raises(ExecError, match="no result"):
        rig.cni().add(conflist("1.0.0", [{"type": "p1"}]), rt())


def test_add_null_from_last_plugin_returns_an_empty_result_and_caches_without_result(rig: Rig) -> None:
    rig.plugin("p1", add="null")
    net = conflist("1.0.0", [{"type": "p1"}])
    got = rig.cni().add(net, rt())  # add's type is Result, never None: an empty one of the list's version
    assert got.cni_version == "1.0.0"
    assert got.all_addresses == ()
    data = json.loads(rig.cache_file().read_bytes())
    assert "result" not in data
    assert rig.cni().cached_result(net, rt()) is None


# -- DEL ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0"])
def test_del_reverse_with_cached_result(rig: Rig, version: str) -> None:
    results = chain_rig(rig, version)
    net = three(version)
    rig.cni().add(net, rt())
    rig.clear()
    rig.cni().delete(net, rt())
    calls = rig.calls()
    assert [(p, v) for p, v, _ in calls] == [("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL")]
    for _, _, rec in calls:
        assert rec.config["prevResult"] == results[2]
        assert rec.env["CNI_NETNS"] == NETNS
    assert not rig.cache_file().exists()


def test_del_converts_cached_result_to_the_lists_version(rig: Rig) -> None:
    # A 0.4.0 list whose last plugin answered in 1.0.0: libcni caches what the plugin printed and
    # converts it to the list's version for DEL (and CHECK).
    rig.plugin("p1", add=result_for("1.0.0", "10.0.0.9/24"))
    net = conflist("0.4.0", [{"type": "p1"}])
    got = rig.cni().add(net, rt())
    assert isinstance(got, Result100)
    assert json.loads(rig.cache_file().read_bytes())["result"]["cniVersion"] == "1.0.0"
    rig.clear()
    rig.cni().check(net, rt())
    rig.cni().delete(net, rt())
    for _, _, rec in rig.calls():
        prev = rec.config["prevResult"]
        assert prev["cniVersion"] == "0.4.0"
        assert prev["ips"][0]["version"] == "4"


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1"])
def test_del_before_040_has_no_prev_result(rig: Rig, version: str) -> None:
    chain_rig(rig, version)
    net = three(version)
    rig.cni().add(net, rt())
    assert rig.cache_file().exists()
    rig.clear()
    rig.cni().delete(net, rt())
    assert rig.order() == [("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL")]
    assert all("prevResult" not in rec.config for _, _, rec in rig.calls())
    assert not rig.cache_file().exists()


@pytest.mark.parametrize(
    "content",
    [None, b"", b"\x00\x00\x00", b"{not json", b"[1,2]", b'{"kind":"other"}'],
    ids=["missing", "empty", "zeros", "corrupt", "array", "unknown-kind"],
)
def test_del_without_usable_cache_goes_on_without_prev_result(rig: Rig, content: bytes | None) -> None:
    chain_rig(rig, "1.0.0")
    net = three("1.0.0")
    if content is not None:
        rig.cache_file().parent.mkdir(parents=True)
        rig.cache_file().write_bytes(content)
    rig.cni().delete(net, rt())
    assert rig.order() == [("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL")]
    assert all("prevResult" not in rec.config for _, _, rec in rig.calls())
    assert not rig.cache_file().exists()


def test_corrupt_cache_is_deleted_even_when_a_plugin_then_fails(rig: Rig) -> None:
    rig.plugin("p1", exit_status={"DEL": 1}, stdout={"DEL": {"code": 5, "msg": "io"}})
    net = conflist("1.0.0", [{"type": "p1"}])
    rig.cache_file().parent.mkdir(parents=True)
    rig.cache_file().write_bytes(b"")
    with pytest.raises(MultiError) as info:
        rig.cni().delete(net, rt())
    assert isinstance(info.value.errors["plugins[0] (p1)"], PluginError)
    assert not rig.cache_file().exists()


def test_del_keeps_cache_when_a_plugin_fails_and_a_retry_uses_it(rig: Rig) -> None:
    results = chain_rig(rig, "1.0.0")
    net = three("1.0.0")
    rig.cni().add(net, rt())
    rig.plugin("p2", stdout={"DEL": {"code": 5, "msg": "io failure"}}, exit_status={"DEL": 1})
    rig.clear()
    with pytest.raises(MultiError) as info:
        rig.cni().delete(net, rt())
    [(where, err)] = info.value.errors.items()
    assert where == "plugins[1] (p2)"
    assert isinstance(err, PluginError)
    assert err.plugin == "p2"
    assert "kept for a later DEL" in str(info.value)
    # Every plugin's DEL runs past the failure; the entry stays so that a later DEL can finish.
    assert rig.order() == [("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL")]
    assert rig.cache_file().exists()

    rig.plugin("p2")  # fixed: DEL succeeds now
    rig.clear()
    rig.cni().delete(net, rt())
    assert all(rec.config["prevResult"] == results[2] for _, _, rec in rig.calls())
    assert not rig.cache_file().exists()


def test_del_twice_succeeds(rig: Rig) -> None:
    chain_rig(rig, "1.0.0")
    net = three("1.0.0")
    cni = rig.cni()
    cni.add(net, rt())
    cni.delete(net, rt())
    rig.clear()
    cni.delete(net, rt())
    assert rig.order() == [("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL")]
    assert all("prevResult" not in rec.config for _, _, rec in rig.calls())
    # No lock files pile up for attachments that are gone: one per network, byte-range locked.
    assert [p.name for p in (rig.cache_dir / "locks").iterdir()] == [f"{net.name}.lock"]


def test_del_of_a_legacy_cache_file(rig: Rig) -> None:
    # Before cniCacheV1, libcni cached the bare result: still readable.
    rig.plugin("p1")
    legacy = result_for("0.4.0", "10.0.0.7/24")
    rig.cache_file().parent.mkdir(parents=True)
    rig.cache_file().write_text(json.dumps(legacy))
    rig.cni().delete(conflist("0.4.0", [{"type": "p1"}]), rt())
    [(_, _, rec)] = rig.calls()
    assert rec.config["prevResult"] == legacy
    assert not rig.cache_file().exists()


# -- CHECK ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1"])
def test_check_needs_040(rig: Rig, version: str) -> None:
    chain_rig(rig, version)
    with pytest.raises(VersionError, match="CHECK"):
        rig.cni().check(three(version), rt())
    assert rig.calls() == []


def test_check_is_skipped_with_disable_check(rig: Rig) -> None:
    chain_rig(rig, "1.0.0")
    rig.cni().check(three("1.0.0", disableCheck=True), rt())
    rig.cni().check(three("1.0.0", disableCheck="true"), rt())
    assert rig.calls() == []


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0"])
def test_check_in_order_with_cached_result(rig: Rig, version: str) -> None:
    results = chain_rig(rig, version)
    net = three(version)
    rig.cni().add(net, rt())
    rig.clear()
    rig.cni().check(net, rt())
    calls = rig.calls()
    assert [(p, v) for p, v, _ in calls] == [("p1", "CHECK"), ("p2", "CHECK"), ("p3", "CHECK")]
    assert all(rec.config["prevResult"] == results[2] for _, _, rec in calls)
    assert rig.cache_file().exists()  # CHECK never touches the cache


def test_check_without_cache_runs_without_prev_result(rig: Rig) -> None:
    chain_rig(rig, "1.0.0")
    rig.cni().check(three("1.0.0"), rt())
    assert all("prevResult" not in rec.config for _, _, rec in rig.calls())


@pytest.mark.parametrize("content", [b"", b"{garbage", b'{"kind":"cniCacheV2"}'])
def test_check_with_unreadable_cache_is_an_error(rig: Rig, content: bytes) -> None:
    chain_rig(rig, "1.0.0")
    rig.cache_file().parent.mkdir(parents=True)
    rig.cache_file().write_bytes(content)
    with pytest.raises(CacheError):
        rig.cni().check(three("1.0.0"), rt())
    assert rig.calls() == []
    assert rig.cache_file().read_bytes() == content  # CHECK does not repair


def test_check_stops_at_first_error(rig: Rig) -> None:
    chain_rig(rig, "1.0.0")
    rig.plugin("p1", stdout={"CHECK": {"code": 3, "msg": "gone"}}, exit_status={"CHECK": 1})
    with pytest.raises(PluginError) as info:
        rig.cni().check(three("1.0.0"), rt())
    assert info.value.code == 3
    assert rig.order() == [("p1", "CHECK")]


# -- STATUS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0"])
def test_status_before_110_runs_nothing(rig: Rig, version: str) -> None:
    rig.plugin("p1", exit_status=1)
    rig.cni().status(conflist(version, [{"type": "p1"}]))
    assert rig.calls() == []


def test_status_runs_every_plugin_in_order(rig: Rig) -> None:
    for name in ("p1", "p2"):
        rig.plugin(name)
    net = conflist("1.1.0", [{"type": "p1", "x": 1}, {"type": "p2"}])
    rig.cni().status(net)
    calls = rig.calls()
    assert [(p, v) for p, v, _ in calls] == [("p1", "STATUS"), ("p2", "STATUS")]
    for _, _, rec in calls:
        assert rec.env == {
            "CNI_COMMAND": "STATUS",
            "CNI_CONTAINERID": "",
            "CNI_NETNS": "",
            "CNI_ARGS": "",
            "CNI_IFNAME": "",
            "CNI_PATH": str(rig.bindir),
        }
        assert rec.config["name"] == "testnet"
        assert rec.config["cniVersion"] == "1.1.0"
    assert calls[0][2].config["x"] == 1


@pytest.mark.parametrize("code", [50, 51, 100])
def test_status_returns_the_first_error_unchanged(rig: Rig, code: int) -> None:
    rig.plugin("p1")
    error = {"cniVersion": "1.1.0", "code": code, "msg": "not available", "details": "no uplink"}
    rig.plugin("p2", stdout={"STATUS": error}, exit_status=1)
    rig.plugin("p3")
    net = conflist("1.1.0", [{"type": "p1"}, {"type": "p2"}, {"type": "p3"}])
    with pytest.raises(PluginError) as info:
        rig.cni().status(net)
    assert (info.value.code, info.value.msg, info.value.details) == (
        code,
        "not available",
        "no uplink",
    )
    assert info.value.plugin == "p2"
    assert rig.order() == [("p1", "STATUS"), ("p2", "STATUS")]


# -- GC -------------------------------------------------------------------------------------------


def gc_rig(rig: Rig, version: str = "1.1.0") -> tuple[CNI, NetworkConfigList]:
    for name in ("p1", "p2"):
        rig.plugin(name, add=result_for(version, "10.0.0.5/24"))
    rig.plugin("q1", add=result_for(version, "10.0.1.5/24"))
    net = conflist(
        version,
        [{"type": "p1", "capabilities": {"portMappings": True}}, {"type": "p2"}],
    )
    other = conflist(version, [{"type": "q1"}], name="othernet")
    cni = rig.cni()
    caps = {"portMappings": [{"hostPort": 81, "containerPort": 80}]}
    cni.add(net, rt(container_id="keep", ifname="eth0", netns=LIVE_NETNS))
    cni.add(net, rt(container_id="stale", ifname="eth0", netns=OTHER_LIVE_NETNS, args={"A": "1"},
                    capability_args=caps))  # fmt: skip
    cni.add(net, rt(container_id="keep", ifname="eth1", netns=LIVE_NETNS))
    cni.add(other, rt(container_id="stale", ifname="eth0", netns=OTHER_LIVE_NETNS))
    rig.clear()
    return cni, net


def test_gc_deletes_stale_attachments_then_gcs_every_plugin(rig: Rig) -> None:
    cni, net = gc_rig(rig)
    valid = [GCAttachment("keep", "eth0")]
    cni.gc(net, valid)
    calls = rig.calls()
    dels = [(p, rec) for p, v, rec in calls if v == "DEL"]
    # keep/eth1 and stale/eth0 are not valid: a full DEL each (reverse order, cached data).
    by_attachment: dict[tuple[str, str], list[str]] = {}
    for p, rec in dels:
        by_attachment.setdefault((rec.env["CNI_CONTAINERID"], rec.env["CNI_IFNAME"]), []).append(p)
    assert by_attachment == {("keep", "eth1"): ["p2", "p1"], ("stale", "eth0"): ["p2", "p1"]}
    stale_p1 = next(rec for p, rec in dels if p == "p1" and rec.env["CNI_CONTAINERID"] == "stale")
    assert stale_p1.env["CNI_NETNS"] == OTHER_LIVE_NETNS
    assert stale_p1.env["CNI_ARGS"] == "A=1"
    assert stale_p1.config["runtimeConfig"] == {"portMappings": [{"hostPort": 81, "containerPort": 80}]}
    assert stale_p1.config["prevResult"] == result_for("1.1.0", "10.0.0.5/24")

    gcs = [(p, rec) for p, v, rec in calls if v == "GC"]
    assert [p for p, _ in gcs] == ["p1", "p2"]
    assert calls[-2:] == [(p, "GC", rec) for p, rec in gcs]  # after every DEL
    for p, rec in gcs:
        assert rec.env == {
            "CNI_COMMAND": "GC",
            "CNI_CONTAINERID": "",
            "CNI_NETNS": "",
            "CNI_ARGS": "",
            "CNI_IFNAME": "",
            "CNI_PATH": str(rig.bindir),
        }
        conf = rec.config
        assert conf["cniVersion"] == "1.1.0"
        assert conf["name"] == "testnet"
        assert conf["type"] == p
        assert conf["cni.dev/valid-attachments"] == [{"containerID": "keep", "ifname": "eth0"}]
    # What is valid, and other networks, are untouched.
    assert rig.cache_file(cid="keep").exists()
    assert not rig.cache_file(cid="keep", ifname="eth1").exists()
    assert not rig.cache_file(cid="stale").exists()
    assert rig.cache_file(network="othernet", cid="stale").exists()
    assert not any(p == "q1" for p, _, _ in calls)


def test_gc_never_deletes_what_is_valid(rig: Rig) -> None:
    cni, net = gc_rig(rig)
    valid = [GCAttachment(c, i) for c, i in (("keep", "eth0"), ("keep", "eth1"), ("stale", "eth0"))]
    cni.gc(net, valid)
    assert [v for _, v, _ in rig.calls()] == ["GC", "GC"]
    assert {e.key for e in cni.cached_attachments(network="testnet")} == {
        ("testnet", "keep", "eth0"),
        ("testnet", "keep", "eth1"),
        ("testnet", "stale", "eth0"),
    }


def test_gc_is_skipped_with_disable_gc(rig: Rig) -> None:
    cni, net = gc_rig(rig)
    disabled = conflist("1.1.0", [dict(p.raw) for p in net.plugins], disableGC=True)
    cni.gc(disabled, [])
    assert rig.calls() == []
    assert len(cni.cached_attachments(network="testnet")) == 3


def test_gc_before_110_deletes_stale_attachments_but_sends_no_gc(rig: Rig) -> None:
    cni, net = gc_rig(rig, "1.0.0")
    cni.gc(net, [GCAttachment("keep", "eth0")])
    assert sorted({v for _, v, _ in rig.calls()}) == ["DEL"]
    assert len(cni.cached_attachments(network="testnet")) == 1


def test_gc_collects_errors_and_goes_on(rig: Rig) -> None:
    cni, net = gc_rig(rig)
    rig.plugin("p2", stdout={"DEL": {"code": 5, "msg": "io"}, "GC": {"code": 5, "msg": "io"}},
               exit_status={"DEL": 1, "GC": 1})  # fmt: skip
    with pytest.raises(MultiError) as info:
        cni.gc(net, [GCAttachment("keep", "eth0")])
    assert set(info.value.errors) == {"DEL keep/eth1", "DEL stale/eth0", "GC p2 (plugins[1])"}
    assert [p for p, v, _ in rig.calls() if v == "GC"] == ["p1", "p2"]
    assert len(cni.cached_attachments(network="testnet")) == 3  # failed DELs keep their entry


# -- validation -----------------------------------------------------------------------------------


BAD_RUNTIME = [
    pytest.param({"container_id": ""}, id="empty-id"),
    pytest.param({"container_id": "../etc"}, id="id-with-slash"),
    pytest.param({"container_id": "-x"}, id="id-leading-dash"),
    pytest.param({"container_id": "a b"}, id="id-space"),
    pytest.param({"ifname": ""}, id="empty-ifname"),
    pytest.param({"ifname": "x" * 16}, id="long-ifname"),
    pytest.param({"ifname": "."}, id="dot-ifname"),
    pytest.param({"ifname": "a/b"}, id="slash-ifname"),
    pytest.param({"ifname": "a:b"}, id="colon-ifname"),
    pytest.param({"ifname": "a b"}, id="space-ifname"),
    pytest.param({"args": [("K", "a;b")]}, id="bad-cni-args"),
]


@pytest.mark.parametrize("bad", BAD_RUNTIME)
@pytest.mark.parametrize("verb", ["add", "delete", "check"])
def test_identifiers_are_validated_on_every_verb(rig: Rig, verb: str, bad: dict[str, Any]) -> None:
    chain_rig(rig, "1.0.0")
    cni = rig.cni()
    with pytest.raises(ValidationError):
        getattr(cni, verb)(three("1.0.0"), rt(**bad))
    assert rig.calls() == []
    assert not rig.cache_dir.exists()  # not even a lock file was made


@pytest.mark.parametrize("verb", ["add", "delete", "check"])
def test_network_name_is_validated(rig: Rig, verb: str) -> None:
    chain_rig(rig, "1.0.0")
    # Loading refuses such a name; a list built another way is still checked by every verb.
    net = attrs.evolve(three("1.0.0"), name="bad/name")
    with pytest.raises(ValidationError):
        getattr(rig.cni(), verb)(net, rt())
    with pytest.raises(ValidationError):
        rig.cni().gc(net, [])
    with pytest.raises(ValidationError):
        rig.cni().status(net)
    assert rig.calls() == []


def test_invalid_and_missing_plugins(rig: Rig) -> None:
    with pytest.raises(ValidationError, match="invalid plugin name"):
        rig.cni().add(conflist("1.0.0", [{"type": "../bin/sh"}]), rt())
    with pytest.raises(PluginNotFoundError) as info:
        rig.cni().add(conflist("1.0.0", [{"type": "nope"}]), rt())
    assert info.value.dirs == (str(rig.bindir),)
    assert not rig.cache_file().exists()


def test_unknown_list_version_is_a_version_error(rig: Rig) -> None:
    chain_rig(rig, "1.0.0")
    with pytest.raises(VersionError):
        rig.cni().add(three("9.9.9"), rt())
    assert rig.calls() == []


# -- beyond libcni: rollback ----------------------------------------------------------------------


@pytest.mark.parametrize("how", ["instance", "call"])
def test_rollback_of_a_partly_applied_add(rig: Rig, how: str) -> None:
    results = chain_rig(rig, "1.0.0")
    rig.plugin("p3", stdout={"ADD": {"code": 7, "msg": "bad"}}, exit_status={"ADD": 1})
    net = three("1.0.0")
    cni = rig.cni(rollback=True) if how == "instance" else rig.cni()
    with pytest.raises(PluginError) as info:
        cni.add(net, rt(), rollback=True if how == "call" else None)
    assert rig.order() == [
        ("p1", "ADD"), ("p2", "ADD"), ("p3", "ADD"),
        ("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL"),
    ]  # fmt: skip
    # DEL is told what was applied: the last successful plugin's result.
    for _, _, rec in rig.calls()[3:]:
        assert rec.config["prevResult"] == results[1]
    assert any("rolled back" in n for n in getattr(info.value, "__notes__", []))
    assert not rig.cache_file().exists()


def test_rollback_without_cache_for_old_versions(rig: Rig) -> None:
    chain_rig(rig, "0.3.1")
    rig.plugin("p2", stdout={"ADD": {"code": 7, "msg": "bad"}}, exit_status={"ADD": 1})
    with pytest.raises(PluginError):
        rig.cni(rollback=True).add(three("0.3.1"), rt())
    assert rig.order()[2:] == [("p2", "DEL"), ("p1", "DEL")]
    assert all("prevResult" not in rec.config for _, _, rec in rig.calls()[2:])


def test_rollback_is_best_effort_and_says_what_failed(rig: Rig) -> None:
    chain_rig(rig, "1.0.0")
    rig.plugin("p3", stdout={"ADD": {"code": 7, "msg": "bad"}}, exit_status={"ADD": 1})
    rig.plugin("p2", add=result_for("1.0.0", "10.0.0.2/24"),
               stdout={"DEL": {"code": 5, "msg": "stuck"}}, exit_status={"DEL": 1})  # fmt: skip
    with pytest.raises(PluginError) as info:
        rig.cni(rollback=True).add(three("1.0.0"), rt())
    assert info.value.code == 7  # the ADD's error, not the cleanup's
    assert rig.order()[3:] == [("p3", "DEL"), ("p2", "DEL"), ("p1", "DEL")]
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "cleanup DEL after the failed ADD also failed" in notes
    assert "stuck" in notes


def test_a_plugin_missing_mid_list_fails_before_anything_runs(rig: Rig) -> None:
    rig.plugin("p1", add=result_for("1.0.0", "10.0.0.1/24"))
    net = conflist("1.0.0", [{"type": "p1"}, {"type": "missing"}])
    for rollback in (True, False):
        with pytest.raises(PluginNotFoundError, match="nothing was applied"):
            rig.cni(rollback=rollback).add(net, rt())
    assert rig.order() == []  # pre-flight: not even p1 ran
    assert not (rig.cache_dir / "intents").exists()


def test_a_second_add_with_rollback_never_dels_the_live_attachment(rig: Rig) -> None:
    # Issue 21: its plugins failing on the existing interface, the rollback's DEL used to tear the
    # first attachment down. Refused up front, nothing runs and nothing is rolled back.
    chain_rig(rig, "1.0.0")
    net = three("1.0.0")
    rig.cni().add(net, rt())
    before = rig.cache_file().read_bytes()
    rig.clear()
    with pytest.raises(AlreadyAttachedError) as info:
        rig.cni(rollback=True).add(net, rt())
    assert not getattr(info.value, "__notes__", [])  # (no "rolled back": nothing was)
    assert rig.calls() == []
    assert rig.cache_file().read_bytes() == before
    assert rig.cni().unfinished_adds() == []


def test_a_legacy_entry_is_an_attachment_too(rig: Rig, tmp_path: Path) -> None:
    chain_rig(rig, "0.4.0")
    legacy = result_for("0.4.0", "10.0.0.9/24")
    legacy["interfaces"][0]["sandbox"] = gone = str(tmp_path / "rebooted-away")
    rig.cache_file().parent.mkdir(parents=True)
    rig.cache_file().write_text(json.dumps(legacy))
    with pytest.raises(AlreadyAttachedError) as info:
        rig.cni(rollback=True).add(three("0.4.0"), rt())
    assert info.value.netns == gone  # (the cached result's sandbox: the file has no netns)
    assert info.value.gone
    assert "a DEL or a GC of it clears it" in str(info.value)
    assert rig.calls() == []


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"kind": "cniCacheV1"}'])
def test_an_empty_or_corrupt_entry_is_no_attachment(rig: Rig, content: bytes) -> None:
    chain_rig(rig, "1.0.0")
    rig.cache_file().parent.mkdir(parents=True)
    rig.cache_file().write_bytes(content)
    rig.cni().add(three("1.0.0"), rt())
    assert json.loads(rig.cache_file().read_bytes())["containerId"] == CID


# -- beyond libcni: retry of code 11 --------------------------------------------------------------


def test_retry_of_try_again_later(rig: Rig) -> None:
    result = result_for("1.0.0", "10.0.0.4/24")
    counting_plugin(rig.bindir, "flaky", failures=2, stdout=result)
    net = conflist("1.0.0", [{"type": "flaky"}])
    runs: list[PluginRun] = []
    cni = rig.cni(retry=RetryPolicy(attempts=3, backoff=0.05, jitter=0.0), on_plugin=runs.append)
    started = time.monotonic()
    got = cni.add(net, rt())
    elapsed = time.monotonic() - started
    assert got is not None
    assert got.to_dict() == result
    assert (rig.bindir / "flaky.log").read_text().split("\n")[:3] == ["ADD 1", "ADD 2", "ADD 3"]
    assert [r.attempt for r in runs] == [1, 2, 3]
    assert [r.error is not None for r in runs] == [True, True, False]
    assert elapsed >= 0.05 + 0.1  # backoff 0.05 then 0.1


def test_without_retry_code_11_is_raised(rig: Rig) -> None:
    counting_plugin(rig.bindir, "flaky", failures=1)
    with pytest.raises(PluginError) as info:
        rig.cni().add(conflist("1.0.0", [{"type": "flaky"}]), rt())
    assert info.value.temporary
    assert info.value.code == 11


def test_retry_gives_up_after_attempts(rig: Rig) -> None:
    counting_plugin(rig.bindir, "flaky", failures=5)
    cni = rig.cni(retry=RetryPolicy(attempts=2, backoff=0.01))
    with pytest.raises(PluginError):
        cni.add(conflist("1.0.0", [{"type": "flaky"}]), rt())
    assert (rig.bindir / "flaky.count").read_text().strip() == "2"


def test_retry_only_for_code_11(rig: Rig) -> None:
    counting_plugin(rig.bindir, "flaky", failures=1, code=5)
    cni = rig.cni(retry=RetryPolicy(attempts=3, backoff=0.01))
    with pytest.raises(PluginError):
        cni.add(conflist("1.0.0", [{"type": "flaky"}]), rt())
    assert (rig.bindir / "flaky.count").read_text().strip() == "1"


def test_retry_respects_the_deadline(rig: Rig) -> None:
    counting_plugin(rig.bindir, "flaky", failures=5)
    cni = rig.cni(retry=RetryPolicy(attempts=10, backoff=5.0, max_backoff=10.0), timeout=2.0)
    started = time.monotonic()
    with pytest.raises(PluginError) as info:
        cni.add(conflist("1.0.0", [{"type": "flaky"}]), rt())
    assert time.monotonic() - started < 1.5
    assert any("no time left" in n for n in getattr(info.value, "__notes__", []))


# -- beyond libcni: timeouts and cleanup ----------------------------------------------------------


def test_cleanup_del_after_a_timed_out_add(rig: Rig, tmp_path: Path) -> None:
    log = tmp_path / "hang.log"
    rig.plugin("p1", add=result_for("1.0.0", "10.0.0.1/24"))
    hang_on_add_plugin(rig.bindir, "hang", log)
    net = conflist("1.0.0", [{"type": "p1"}, {"type": "hang"}])
    cni = rig.cni(timeout=0.5, cleanup_on_timeout=True, cleanup_timeout=10.0)
    started = time.time_ns()
    with pytest.raises(PluginTimeoutError) as info:
        cni.add(net, rt())
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [verb for verb, _ in lines] == ["ADD", "DEL"]
    # The DEL ran after the ADD's deadline had passed: it had a fresh one.
    assert int(lines[1][1]) - started >= 0.5e9
    assert rig.order() == [("p1", "ADD"), ("p1", "DEL")]
    assert any("rolled back" in n for n in getattr(info.value, "__notes__", []))
    assert info.value.plugin == "hang"
    assert not rig.cache_file().exists()


def test_timeout_without_cleanup_runs_no_del(rig: Rig, tmp_path: Path) -> None:
    log = tmp_path / "hang.log"
    hang_on_add_plugin(rig.bindir, "hang", log)
    with pytest.raises(PluginTimeoutError):
        rig.cni(timeout=0.3).add(conflist("1.0.0", [{"type": "hang"}]), rt())
    assert [line.split()[0] for line in log.read_text().splitlines()] == ["ADD"]


def test_per_verb_timeouts(rig: Rig, tmp_path: Path) -> None:
    hang_on_add_plugin(rig.bindir, "hang", tmp_path / "hang.log")
    net = conflist("1.0.0", [{"type": "hang"}])
    cni = rig.cni(timeout=60.0, timeouts={"add": 0.3})
    started = time.monotonic()
    with pytest.raises(PluginTimeoutError):
        cni.add(net, rt())
    assert time.monotonic() - started < 5
    cni.delete(net, rt())  # DEL has the general 60 s and is quick


def test_timeout_covers_the_whole_list(rig: Rig, tmp_path: Path) -> None:
    log = tmp_path / "iv.log"
    for name in ("s1", "s2", "s3"):
        interval_plugin(rig.bindir, name, log, sleep=1.0)
    net = conflist("1.0.0", [{"type": "s1"}, {"type": "s2"}, {"type": "s3"}])
    runs: list[PluginRun] = []
    started = time.monotonic()
    with pytest.raises(PluginTimeoutError) as info:
        rig.cni(timeout=1.6, on_plugin=runs.append).add(net, rt())
    assert time.monotonic() - started < 2.5
    # Each plugin alone is within 1.6 s; the list is not: s2 is killed, s3 never starts.
    assert info.value.plugin == "s2"
    assert [r.plugin for r in runs] == ["s1", "s2"]
    assert [name for _, _, _, name, _, _ in read_intervals(log)] == ["s1"]


# -- beyond libcni: several networks at once ------------------------------------------------------


def multi_rig(rig: Rig, tmp_path: Path, n: int = 3) -> list[NetworkConfigList]:
    log = tmp_path / "iv.log"
    nets = []
    for i in range(n):
        interval_plugin(rig.bindir, f"s{i}", log, sleep=0.4)
        nets.append(conflist("1.0.0", [{"type": f"s{i}"}], name=f"net{i}"))
    return nets


def test_add_networks_is_concurrent_and_names_interfaces(rig: Rig, tmp_path: Path) -> None:
    nets = multi_rig(rig, tmp_path)
    cni = rig.cni()
    started = time.monotonic()
    results = cni.add_networks(nets, rt())
    elapsed = time.monotonic() - started
    assert len(results) == 3
    assert elapsed < 3 * 0.4  # would be >= 1.2 s one after the other
    intervals = read_intervals(tmp_path / "iv.log")
    assert sorted((name, ifname) for _, _, ifname, name, _, _ in intervals) == [
        ("s0", "eth0"), ("s1", "eth1"), ("s2", "eth2"),
    ]  # fmt: skip
    for i, net in enumerate(nets):
        assert rig.cache_file(network=net.name, ifname=f"eth{i}").exists()
    cni.delete_networks(nets, rt())
    assert not list((rig.cache_dir / "results").iterdir())


def test_add_networks_failure_rolls_back_the_others(rig: Rig, tmp_path: Path) -> None:
    nets = multi_rig(rig, tmp_path)
    rig.plugin("bad", stdout={"ADD": {"code": 7, "msg": "bad"}}, exit_status={"ADD": 1})
    nets[1] = conflist("1.0.0", [{"type": "bad"}], name="net1")
    with pytest.raises(MultiError) as info:
        rig.cni().add_networks(nets, rt(), ifnames=["eth0", "net1", "eth2"])
    assert list(info.value.errors) == ["net1/net1"]
    assert isinstance(info.value.errors["net1/net1"], PluginError)
    verbs = [(name, verb) for verb, _, _, name, _, _ in read_intervals(tmp_path / "iv.log")]
    assert sorted(verbs) == [("s0", "ADD"), ("s0", "DEL"), ("s2", "ADD"), ("s2", "DEL")]
    assert not list((rig.cache_dir / "results").iterdir())


def test_add_networks_without_rollback_keeps_the_others(rig: Rig, tmp_path: Path) -> None:
    nets = multi_rig(rig, tmp_path)
    rig.plugin("bad", stdout={"ADD": {"code": 7, "msg": "bad"}}, exit_status={"ADD": 1})
    nets[2] = conflist("1.0.0", [{"type": "bad"}], name="net2")
    with pytest.raises(MultiError) as info:
        rig.cni().add_networks(nets, rt(), rollback=False)
    assert list(info.value.errors) == ["net2/eth2"]
    assert rig.cache_file(network="net0", ifname="eth0").exists()
    assert rig.cache_file(network="net1", ifname="eth1").exists()
    assert rig.calls() == [("bad", "ADD", rig.calls()[0][2])]  # no DEL of the failed one either


def test_add_networks_argument_checks(rig: Rig, tmp_path: Path) -> None:
    nets = multi_rig(rig, tmp_path, 2)
    with pytest.raises(ValidationError):
        rig.cni().add_networks(nets, rt(), ifnames=["eth0"])
    with pytest.raises(ValidationError):
        rig.cni().add_networks([nets[0], nets[0]], rt(), ifnames=["eth0", "eth0"])
    assert rig.cni().add_networks([], rt()) == []


# -- beyond libcni: timings and dry runs ----------------------------------------------------------


def test_on_plugin_reports_every_run_with_timings(rig: Rig, tmp_path: Path) -> None:
    log = tmp_path / "iv.log"
    interval_plugin(rig.bindir, "slow", log, sleep=0.2)
    rig.plugin("p1", add=result_for("1.0.0", "10.0.0.1/24"))
    rig.plugin("bad", stdout={"DEL": {"code": 5, "msg": "x"}}, exit_status={"DEL": 1})
    net = conflist("1.0.0", [{"type": "p1"}, {"type": "slow"}, {"type": "bad"}])
    runs: list[PluginRun] = []
    cni = rig.cni(on_plugin=runs.append)
    cni.add(net, rt())
    with pytest.raises(MultiError):
        cni.delete(net, rt())
    # DEL goes on past the failing plugin: every plugin's DEL runs.
    assert [(r.verb, r.index, r.plugin) for r in runs] == [
        (Verb.ADD, 0, "p1"), (Verb.ADD, 1, "slow"), (Verb.ADD, 2, "bad"),
        (Verb.DEL, 2, "bad"), (Verb.DEL, 1, "slow"), (Verb.DEL, 0, "p1"),
    ]  # fmt: skip
    assert all(r.network == "testnet" for r in runs)
    assert runs[1].duration >= 0.2
    assert runs[0].duration < runs[1].duration
    assert runs[1].started > runs[0].started
    assert runs[0].outcome is not None
    assert runs[0].outcome.exit_status == 0
    assert isinstance(runs[3].error, PluginError)
    assert runs[3].request.env["CNI_COMMAND"] == "DEL"


def test_on_plugin_sees_a_plugin_that_vanished_after_preflight(rig: Rig) -> None:
    runs: list[PluginRun] = []
    # A missing plugin is found by pre-flight (nothing runs); one removed after it fails at its run.
    with pytest.raises(PluginNotFoundError, match="nothing was applied"):
        rig.cni(on_plugin=runs.append).add(conflist("1.0.0", [{"type": "nope"}]), rt())
    assert runs == []
    rig.plugin("p1", add=result_for("1.0.0", "10.0.0.1/24"))
    cni = rig.cni(on_plugin=runs.append)
    cni._planner.resolve = False  # as if the plugin vanished between pre-flight and its run
    (rig.bindir / "p1").unlink()
    with pytest.raises(PluginNotFoundError):
        cni.add(conflist("1.0.0", [{"type": "p1"}]), rt())
    assert len(runs) == 1
    assert runs[0].outcome is None
    assert isinstance(runs[0].error, PluginNotFoundError)


def test_explain_runs_nothing_and_writes_nothing(rig: Rig) -> None:
    results = chain_rig(rig, "1.0.0")
    net = three("1.0.0")
    cni = rig.cni()
    planned = cni.explain("ADD", net, rt(capability_args={"x": 1}))
    assert [(c.plugin, c.verb) for c in planned] == [
        ("p1", Verb.ADD), ("p2", Verb.ADD), ("p3", Verb.ADD),
    ]  # fmt: skip
    assert "prevResult" not in planned[0].stdin
    assert planned[1].stdin["prevResult"] == "<result of plugins[0] (p1)>"
    assert planned[0].plugin_path == str(rig.bindir / "p1")
    assert planned[0].env["CNI_COMMAND"] == "ADD"
    assert rig.calls() == []
    assert not rig.cache_file().exists()

    cni.add(net, rt())
    rig.clear()
    planned = cni.explain(Verb.DEL, net, rt())
    assert [c.plugin for c in planned] == ["p3", "p2", "p1"]
    assert planned[0].stdin["prevResult"] == results[2]
    assert rig.cache_file().exists()  # the dry run did not delete it
    assert [c.plugin for c in cni.explain("CHECK", net, rt())] == ["p1", "p2", "p3"]
    # 1.0.0: GC sends no GC verb, and this attachment is valid: nothing to do.
    assert cni.explain("GC", net, valid_attachments=[GCAttachment(CID, "eth0")]) == []
    assert rig.calls() == []


def test_explain_gc_and_status(rig: Rig) -> None:
    cni, net = gc_rig(rig)
    planned = cni.explain("GC", net, valid_attachments=[GCAttachment("keep", "eth0")])
    assert [(c.verb, c.plugin) for c in planned] == [
        (Verb.DEL, "p2"), (Verb.DEL, "p1"), (Verb.DEL, "p2"), (Verb.DEL, "p1"),
        (Verb.GC, "p1"), (Verb.GC, "p2"),
    ]  # fmt: skip
    assert [(c.verb, c.plugin) for c in cni.explain("STATUS", net)] == [
        (Verb.STATUS, "p1"), (Verb.STATUS, "p2"),
    ]  # fmt: skip
    assert rig.calls() == []
    assert len(cni.cached_attachments(network="testnet")) == 3
    with pytest.raises(ValidationError):
        cni.explain("ADD", net)


def test_validate_reports_problems(rig: Rig) -> None:
    from cnilib.testing.plugins import exiting_plugin

    old = '{"cniVersion":"0.3.1","supportedVersions":["0.3.1"]}'
    exiting_plugin(rig.bindir, "old", stdout={"VERSION": old})
    exiting_plugin(
        rig.bindir, "new",
        stdout={"VERSION": '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}'},
    )  # fmt: skip
    net = conflist(
        "1.0.0",
        [
            {"type": "new", "capabilities": {"portMappings": True}},
            {"type": "old"},
            {"type": "gone"},
        ],
    )
    report = rig.cni().validate(net)
    assert not report.ok
    assert [p.supports_list_version for p in report.plugins] == [True, False, False]
    assert report.capabilities == ("portMappings",)
    assert report.plugins[2].path is None
    assert len(report.problems) == 2


def test_version_info(rig: Rig) -> None:
    from cnilib.testing.plugins import exiting_plugin

    exiting_plugin(rig.bindir, "legacy", stdout="unknown CNI_COMMAND: VERSION", exit_status=1)
    info = rig.cni().version_info("legacy")
    assert info.supported_versions == ("0.1.0",)


def test_cached_config_and_attachments(rig: Rig) -> None:
    chain_rig(rig, "1.0.0")
    net = three("1.0.0")
    cni = rig.cni()
    cni.add(net, rt(args={"A": "b"}, capability_args={"k": [1]}))
    cached = cni.cached_config(net, rt())
    assert cached is not None
    data, cached_rt = cached
    assert data == net.bytes
    assert cached_rt.args == (("A", "b"),)
    assert cached_rt.capability_args == {"k": [1]}
    [entry] = cni.cached_attachments(CID)
    assert entry.netns == NETNS
    assert cni.cached_attachments("other") == []
    assert cni.cached_config(net, rt(container_id="other")) is None


def test_plugin_dirs_default_from_cni_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CNI_PATH", f"{tmp_path}/a::{tmp_path}/b")
    assert CNI(cache_dir=tmp_path).plugin_dirs == (f"{tmp_path}/a", f"{tmp_path}/b")
    monkeypatch.delenv("CNI_PATH")
    assert CNI(cache_dir=tmp_path).plugin_dirs[-1] == "/usr/lib/cni"
    assert CNI("/x:/y", tmp_path).plugin_dirs == ("/x", "/y")
    assert CNI([tmp_path], tmp_path).plugin_dirs == (str(tmp_path),)  # type: ignore[list-item]
