"""Two guards of ADD (issue 21), with fake plugins (real executables in a temp dir), no root:

- a repeated ADD never harms the attachment that exists: refused up front (AlreadyAttachedError),
  and a rollback removes only what its own ADD wrote;
- ADD refuses a netns that is missing or is not a network namespace (NetnsPathError), before
  anything is applied, from every front end.

The same with the real plugins, Docker and the watcher: ``test_add_guards_real.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import attrs
import pytest
from engine_support import LIVE_NETNS, conflist, netns_link, result_for
from test_cli import CLI, cnitool_id, one_line_error, result_100
from test_plans import KEY, NET, RT, Player, answers, failed, kinds, planner

from cnilib import (
    CNI,
    AlreadyAttachedError,
    AsyncCNI,
    AsyncNetworks,
    CacheEntry,
    MultiError,
    NetnsPathError,
    NetworkConfigList,
    Networks,
    PluginError,
    RuntimeConfig,
    ValidationError,
)
from cnilib._cache import INTENT_KIND
from cnilib._engine._effects import ReadEntry, ReadIntent
from cnilib.docker._watch._backend import _Backend
from cnilib.docker._watch._state import _only_refused, _Record
from cnilib.testing.fake import FakeExecutor
from cnilib.testing.plugins import RecordingPlugin, recording_plugin


class Rig:
    """Recording plugins ``pa`` and ``pb`` in ``bin``, one log, a cache directory."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.bindir = tmp_path / "bin"
        self.cache_dir = tmp_path / "cache"
        self.log = tmp_path / "calls.log"
        for name in ("pa", "pb"):
            add = json.dumps(result_for("1.0.0", "10.0.0.2/24"))
            recording_plugin(self.bindir, name, log=self.log, stdout={"ADD": add})

    def cni(self, **kw: Any) -> CNI:
        return CNI([str(self.bindir)], self.cache_dir, **kw)

    def acni(self, **kw: Any) -> AsyncCNI:
        return AsyncCNI([str(self.bindir)], self.cache_dir, **kw)

    def calls(self) -> list[tuple[str, str]]:
        recs = RecordingPlugin(path=self.bindir / "x", log=self.log).records()
        return [(Path(r.argv0).name, r.verb) for r in recs]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)

    def entry_bytes(self, network: str, cid: str = "ctr1", ifname: str = "eth0") -> bytes:
        return (self.cache_dir / "results" / f"{network}-{cid}-{ifname}").read_bytes()

    def intents(self) -> list[str]:
        d = self.cache_dir / "intents"
        return sorted(os.listdir(d)) if d.is_dir() else []


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    return Rig(tmp_path)


def two(name: str) -> NetworkConfigList:
    return conflist("1.0.0", [{"type": "pa"}, {"type": "pb"}], name=name)


def rt(netns: str = LIVE_NETNS, **kw: Any) -> RuntimeConfig:
    return RuntimeConfig(container_id="ctr1", netns=netns, ifname="eth0", **kw)


# -- a repeated ADD: the plans ----------------------------------------------------------------------


def test_the_plan_refuses_a_cached_attachment_before_its_intent_record() -> None:
    entry = CacheEntry.create(NET, RT, result_for("1.0.0", "10.0.0.2/24"))
    entry = attrs.evolve(entry, path="/c/results/testnet-ctr1-eth0")
    play = Player(planner().add(NET, RT, timeout=None, rollback=True))
    with pytest.raises(AlreadyAttachedError) as info:
        play.run_all(answers({}, {ReadEntry: (entry, None)}))
    assert kinds(play.effects) == ["TakeLock", "ReadEntry"]
    err = info.value
    assert (err.network, err.container_id, err.ifname, err.path) == (*KEY, "/c/results/testnet-ctr1-eth0")
    assert err.netns == RT.netns


def test_a_rollback_keeps_the_record_of_an_earlier_unfinished_add() -> None:
    # An ADD that crashed before left its record; this one fails and rolls back its own plugins,
    # and the record stays for GC/recover(), which undo what the earlier one applied as well.
    earlier = CacheEntry.create(NET, RT, None, kind=INTENT_KIND)
    play = Player(planner().add(NET, RT, timeout=None, rollback=True))
    with pytest.raises(PluginError) as info:
        play.run_all(answers({("p2", "ADD"): failed()}, {ReadIntent: earlier}))
    assert kinds(play.effects)[2:] == ["ReadIntent", "WriteIntent", "Run ADD p1", "Run ADD p2", "Run DEL p2",
                                       "Run DEL p1"]  # fmt: skip
    assert "intent record of an earlier unfinished ADD is kept" in " ".join(
        getattr(info.value, "__notes__", [])
    )


def test_without_rollback_an_add_reads_no_intent() -> None:
    play = Player(planner().add(NET, RT, timeout=None, rollback=False))
    play.run_all(answers({}))
    assert "ReadIntent" not in kinds(play.effects)


# -- a repeated ADD: the front ends ---------------------------------------------------------------


def test_asyncio_second_add_with_rollback_is_refused(rig: Rig) -> None:
    net = two("anet")

    async def main() -> None:
        cni = rig.acni(rollback=True)
        await cni.add(net, rt())
        before = rig.entry_bytes("anet")
        rig.clear()
        with pytest.raises(AlreadyAttachedError):
            await cni.add(net, rt())
        assert rig.calls() == []
        assert rig.entry_bytes("anet") == before

    asyncio.run(main())


@pytest.mark.parametrize("front", ["sync", "async"])
def test_networks_setup_twice_refuses_and_dels_nothing(rig: Rig, front: str) -> None:
    nets = [two("anet"), two("bnet")]

    def setup() -> Any:
        if front == "sync":
            return Networks(nets, cni=rig.cni()).setup("ctr1", LIVE_NETNS)
        return asyncio.run(AsyncNetworks(nets, cni=rig.acni()).setup("ctr1", LIVE_NETNS))

    first = setup()
    before = {n: rig.entry_bytes(n, ifname=i) for n, i in (("anet", "eth0"), ("bnet", "eth1"))}
    rig.clear()
    with pytest.raises(MultiError) as info:
        setup()
    errors = info.value.errors
    assert sorted(errors) == ["anet/eth0", "bnet/eth1"]  # no "rollback ...": nothing to roll back
    assert all(isinstance(e, AlreadyAttachedError) for e in errors.values())
    assert rig.calls() == []
    assert {n: rig.entry_bytes(n, ifname=i) for n, i in (("anet", "eth0"), ("bnet", "eth1"))} == before
    assert first.interfaces["eth0"].addresses


def test_networks_setup_rolls_back_only_the_networks_it_attached(rig: Rig) -> None:
    anet, bnet = two("anet"), two("bnet")
    rig.cni().add(anet, rt())  # attached by someone else, as eth0
    before = rig.entry_bytes("anet")
    rig.clear()
    with pytest.raises(MultiError) as info:
        Networks([anet, bnet], cni=rig.cni()).setup("ctr1", LIVE_NETNS)
    assert list(info.value.errors) == ["anet/eth0"]
    assert isinstance(info.value.errors["anet/eth0"], AlreadyAttachedError)
    # bnet was attached by this call and is DELeted again; anet's plugins never ran.
    assert rig.calls() == [("pa", "ADD"), ("pb", "ADD"), ("pb", "DEL"), ("pa", "DEL")]
    assert rig.entry_bytes("anet") == before
    assert [e.network_name for e in rig.cni().cached_attachments()] == ["anet"]


def test_cli_second_add_is_one_line_and_runs_nothing(cli: CLI, ns_file: str) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.write_conf("10-fast.conflist", {"cniVersion": "1.0.0", "name": "fast", "plugins": [{"type": "pa"}]})
    cli.write_conf("20-typed.conf", {"cniVersion": "1.0.0", "name": "typed", "type": "pa"})
    for net in ("fast", "typed"):  # the command line's fast path, and the typed one
        assert cli.run("add", net, ns_file).rc == 0
        entry = (cli.cache / "results" / cli.cache_files()[-1]).read_bytes()
        cli.clear()
        line = one_line_error(cli.run("add", net, ns_file))
        assert f"is already attached to network {net!r} as eth0 in network namespace {ns_file}" in line
        assert f"(cnilib del {net} {ns_file} --container-id {cnitool_id(ns_file)}, or CNI.delete)" in line
        assert cli.calls() == []
        assert (cli.cache / "results" / cli.cache_files()[-1]).read_bytes() == entry


def test_the_watcher_recognizes_an_attachment_in_the_same_namespace(rig: Rig, tmp_path: Path) -> None:
    # The watcher pins a container's namespace and records the pin; an attachment made through
    # another path of that namespace (`cnilib docker attach`: the SandboxKey) is the same one.
    net = two("anet")
    elsewhere = netns_link(tmp_path / "sandbox-key")
    rig.cni().add(net, rt(netns=elsewhere))
    record = _Record("ctr1", "web", LIVE_NETNS, (("anet", "eth0", net.bytes.decode()),), (), {})
    backend = _Backend(rig.acni())
    assert backend.attached(record)
    other = _Record("ctr1", "web", LIVE_NETNS, (("anet", "eth1", net.bytes.decode()),), (), {})
    assert not backend.attached(other)
    refused = MultiError("setting up ctr1 failed", {"anet/eth0": _refusal()})
    assert _only_refused(refused)
    assert not _only_refused(MultiError("x", {"anet/eth0": _refusal(), "bnet/eth1": ValidationError("no")}))


def _refusal() -> AlreadyAttachedError:
    return AlreadyAttachedError(
        network="anet", container_id="ctr1", ifname="eth0", path="/c/x", netns=LIVE_NETNS, gone=False
    )


# -- a netns that is missing or not a network namespace -------------------------------------------


def _bad_netns(kind: str, tmp_path: Path) -> tuple[str, str]:
    """A netns path of ``kind`` and what the error says about it."""
    if kind == "regular file":
        path = tmp_path / "rebooted"
        path.touch()  # what a reboot leaves where a bind-mounted namespace was
        return str(path), "is a regular file, not a network namespace (what a reboot leaves"
    if kind == "missing":
        return str(tmp_path / "nothing-here"), "does not exist"
    if kind == "directory":
        return str(tmp_path), "is a directory, not a network namespace"
    if kind == "other namespace":
        return "/proc/self/ns/mnt", "is a namespace of another kind"
    if kind == "under a file":
        (tmp_path / "file").touch()
        return str(tmp_path / "file" / "ns"), "a part of the path is not a directory"
    return "", "no network namespace path given"


KINDS = ["regular file", "missing", "directory", "other namespace", "under a file", "empty"]


@pytest.mark.parametrize("kind", KINDS)
def test_add_refuses_a_netns_that_is_no_network_namespace(rig: Rig, tmp_path: Path, kind: str) -> None:
    path, says = _bad_netns(kind, tmp_path)
    cni = rig.cni(rollback=True)
    with pytest.raises(NetnsPathError) as info:
        cni.add(two("anet"), rt(netns=path))
    assert isinstance(info.value, ValidationError)
    assert says in str(info.value)
    assert "nothing was applied" in str(info.value)
    assert info.value.path == path
    assert rig.calls() == []
    assert not rig.cache_dir.exists()  # no intent record, no entry, not even a lock file
    cni.gc(two("anet"))  # and nothing for GC to trip on


def test_asyncio_and_networks_refuse_it_too(rig: Rig, tmp_path: Path) -> None:
    path, says = _bad_netns("regular file", tmp_path)
    with pytest.raises(NetnsPathError, match="is a regular file"):
        asyncio.run(rig.acni().add(two("anet"), rt(netns=path)))
    with pytest.raises(MultiError) as info:
        Networks([two("anet"), two("bnet")], cni=rig.cni()).setup("ctr1", path)
    assert all(isinstance(e, NetnsPathError) for e in info.value.errors.values())
    with pytest.raises(MultiError) as ainfo:
        asyncio.run(AsyncNetworks([two("anet")], cni=rig.acni()).setup("ctr1", path))
    assert says in str(ainfo.value)
    assert rig.calls() == []
    assert not rig.cache_dir.exists()


def test_fakes_and_dry_runs_do_not_look_at_the_netns(rig: Rig, tmp_path: Path) -> None:
    # A fake executor runs nothing in a namespace; a dry run plans for one that may not exist yet.
    fake = CNI(cache_dir=tmp_path / "fake-cache", executor=FakeExecutor())
    fake.add(conflist("1.0.0", [{"type": "bridge"}]), rt(netns="/run/netns/not-yet"))
    calls = rig.cni().explain("ADD", two("anet"), rt(netns="/run/netns/not-yet"))
    assert [c.plugin for c in calls] == ["pa", "pb"]


@pytest.mark.parametrize(
    ("prefix", "judged_here"),
    [
        ((), True),
        (("nsenter", "--net=/run/netns/host", "--"), True),
        (("/usr/bin/nsenter", "-n/run/netns/host", "-U", "--preserve-credentials", "--"), True),
        (("nsenter", "--net=/x", "--", "-m"), False),  # a program after the options: a wrapper
        (("nsenter", "-t", "42", "--user", "--net", "--mount", "--pid", "--"), False),  # the Sandbox's
        (("nsenter", "--mount=/proc/42/ns/mnt", "--net"), False),
        (("nsenter", "-Fm", "--"), False),
        (("nsenter", "-Fn", "--"), True),
        (("nsenter", "--net=/x", "--wd=/elsewhere", "--"), False),
        (("sudo", "-E"), False),
    ],
)
def test_the_netns_is_judged_only_where_plugins_see_the_same_files(
    tmp_path: Path, prefix: tuple[str, ...], judged_here: bool
) -> None:
    cni = CNI(cache_dir=tmp_path, argv_prefix=prefix)
    assert cni._planner.local_netns is judged_here
    assert CNI(cache_dir=tmp_path, executor=FakeExecutor(), argv_prefix=prefix)._planner.resolve is False


def test_cli_add_and_check_say_the_same_and_del_still_runs(cli: CLI, tmp_path: Path) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.write_conf("10-n.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "pa"}]})
    path, says = _bad_netns("regular file", tmp_path)
    for argv in (("add", "n", path), ("--debug", "add", "n", path), ("check", "n", path)):
        line = one_line_error(cli.run(*argv))
        assert f"network namespace path {path} {says}" in line
    assert cli.calls() == []
    assert not (cli.cache / "intents").exists()
    assert cli.run("del", "n", path).rc == 0  # DEL must still clean up after the sandbox is gone
    assert cli.calls() == [("pa", "DEL")]
