"""DEL and GC on a node in trouble, without root: a sandbox that is gone (``CNI_NETNS=""`` for the
plugins, then the sweep of what they leave), a cache that cannot be written (the plugins still
run, one ``CacheError`` after). The plans are played by hand (as in ``test_plans.py``); the front
ends run fake plugins (real executables) and the real sweep program, which only removes files
here (a fake ``tuning`` plugin's backup file). ``test_gone_real.py`` does it all with the real
plugins, namespaces and iptables.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import conflist, result_for
from test_cli import CLI, cnitool_id
from test_plans import Player, answers, failed, kinds, planner

from cnilib import (
    CNI,
    AsyncCNI,
    CacheEntry,
    CacheError,
    GCAttachment,
    MultiError,
    RuntimeConfig,
)
from cnilib._base._nsprobe import LIVE, MISSING, NOT_NETNS, UNKNOWN
from cnilib._cache import CacheProblem, CacheScan, _files, _locks
from cnilib._cache._locks import LockRequest, acquire
from cnilib._engine import _admin
from cnilib._engine._effects import (
    DeleteEntry,
    ProbeLeftovers,
    ProbeNetns,
    ReadEntry,
    Run,
    ScanEntries,
    ScanIntents,
    SweepTemp,
)
from cnilib._spec._leftovers import SWEEP_PROGRAM
from cnilib.testing.fake import FakeExecutor

PY = Path(sys.executable).name
NET = conflist(
    "1.0.0",
    [
        {"type": "bridge", "bridge": "br0", "ipMasq": True, "ipam": {"type": "host-local", "dataDir": "/d"}},
        {"type": "portmap", "capabilities": {"portMappings": True}},
    ],
)
SANDBOX = "/run/netns/gone"
RT = RuntimeConfig("ctr1", SANDBOX, "eth0")
CAPS = {"portMappings": [{"hostPort": 80, "containerPort": 8080, "protocol": "tcp"}]}


def entry(*, netns: str = SANDBOX) -> CacheEntry:
    result = result_for("1.0.0", "10.0.0.9/24")
    result["interfaces"] = [
        {"name": "veth1", "mac": "0a:00:00:00:00:01"},
        {**result["interfaces"][0], "sandbox": SANDBOX},
    ]
    return CacheEntry.create(NET, RuntimeConfig("ctr1", netns, "eth0", capability_args=CAPS), result)


def probing(state: str, reads: dict[type, Any] | None = None) -> Callable[[Any], Any]:
    base = answers({}, {ReadEntry: (entry(), None), **(reads or {})})

    def answer(effect: Any) -> Any:
        return state if isinstance(effect, ProbeNetns) else base(effect)

    return answer


# -- the sandbox -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [MISSING, NOT_NETNS])
def test_a_gone_sandbox_gets_an_empty_netns_then_the_sweep(state: str) -> None:
    play = Player(planner().delete(NET, RT, timeout=10))
    play.run_all(probing(state))
    assert kinds(play.effects) == [
        "TakeLock", "ReadEntry", "ReadIntent", "ProbeNetns",
        "Run DEL portmap", "Run DEL bridge", "ProbeLeftovers", f"Run DEL {PY}",
        "DeleteEntry", "DropIntent",
    ]  # fmt: skip
    assert play.effects[3].path == SANDBOX
    runs = [e for e in play.effects if isinstance(e, Run)]
    assert {r.request.env["CNI_NETNS"] for r in runs} == {""}
    assert json.loads(runs[0].request.stdin)["runtimeConfig"] == CAPS  # the cached arguments still
    sweep = runs[-1]
    assert sweep.request.args == ("-I", "-S", SWEEP_PROGRAM)
    assert sweep.timeout is not None
    assert 0 < sweep.timeout <= 10  # under the DEL's deadline
    items = json.loads(sweep.request.stdin)["leftovers"]
    assert [(i["plugin"], i["kind"]) for i in items] == [
        ("bridge", "chain"), ("bridge", "link"), ("host-local", "reservations"),
        ("portmap", "chain"), ("portmap", "chain"), ("portmap", "chain"), ("portmap", "chain"),
    ]  # fmt: skip
    assert items[0]["sources"] == ["10.0.0.9"]


@pytest.mark.parametrize("state", [LIVE, UNKNOWN])
def test_a_live_or_unknown_sandbox_is_passed_on_and_nothing_is_swept(state: str) -> None:
    play = Player(planner().delete(NET, RT, timeout=None))
    play.run_all(probing(state))
    runs = [e.request for e in play.effects if isinstance(e, Run)]
    assert [(r.plugin, r.env["CNI_NETNS"]) for r in runs] == [("portmap", SANDBOX), ("bridge", SANDBOX)]


def test_an_empty_netns_is_a_gone_sandbox_without_a_probe() -> None:
    play = Player(planner().delete(NET, RuntimeConfig("ctr1", "", "eth0"), timeout=None))
    play.run_all(probing(LIVE))
    assert "ProbeNetns" not in kinds(play.effects)
    assert kinds(play.effects)[-3:] == [f"Run DEL {PY}", "DeleteEntry", "DropIntent"]


def test_nothing_recorded_nothing_swept() -> None:
    # DEL twice, or an attachment cnilib never saw: the plugins get "", nothing else runs.
    play = Player(planner().delete(NET, RT, timeout=None))
    play.run_all(probing(MISSING, {ReadEntry: (None, None)}))
    assert [k for k in kinds(play.effects) if k.startswith("Run")] == ["Run DEL portmap", "Run DEL bridge"]


def test_a_failed_sweep_keeps_the_entry_for_a_later_del() -> None:
    base = probing(MISSING)
    play = Player(planner().delete(NET, RT, timeout=None))

    def answer(effect: Any) -> Any:
        if isinstance(effect, Run) and effect.request.plugin == PY:
            return failed(5, "cannot remove chain")
        return base(effect)

    with pytest.raises(MultiError) as info:
        play.run_all(answer)
    assert list(info.value.errors) == ["leftovers of the gone sandbox"]
    assert "cannot remove chain" in str(info.value)
    assert not [e for e in play.effects if isinstance(e, DeleteEntry)]


@pytest.mark.parametrize("state", [MISSING, LIVE])
def test_gc_takes_a_libcni_entrys_netns_from_its_results_sandbox(state: str) -> None:
    # libcni 1.1.2 (cnitool, Podman 4.3.1) writes no netns field: the sandbox is the evidence.
    stale = entry(netns="")
    play = Player(_admin.gc(planner(), NET, [GCAttachment("keep", "eth0")], timeout=None))
    play.run_all(probing(state, {ScanEntries: CacheScan((stale,), ()), ScanIntents: CacheScan((), ())}))
    [probe] = [e for e in play.effects if isinstance(e, ProbeNetns)]
    assert probe.path == SANDBOX
    runs = [e.request for e in play.effects if isinstance(e, Run)]
    expected = "" if state == MISSING else SANDBOX
    assert [r.env["CNI_NETNS"] for r in runs if r.plugin != PY] == [expected, expected]
    assert (runs[-1].plugin == PY) is (state == MISSING)


# -- a cache that cannot be written ------------------------------------------------------------------


def _play_with_failing_writes(play: Player, answer: Callable[[Any], Any], failing: tuple[type, ...]) -> None:
    effect = play.next()
    while effect is not None:
        if isinstance(effect, failing):
            effect = play.next(
                error=CacheError(
                    f"cannot remove cache file X: Read-only file system ({type(effect).__name__})"
                )
            )
        else:
            effect = play.next(answer(effect))


def test_a_cache_write_that_fails_is_reported_after_every_plugin() -> None:
    rt = RuntimeConfig("ctr1", "/proc/self/ns/net", "eth0")
    play = Player(planner().delete(NET, rt, timeout=None))
    corrupt = CacheProblem("/c/results/x", "is empty")
    with pytest.raises(CacheError) as info:
        _play_with_failing_writes(play, probing(LIVE, {ReadEntry: (None, corrupt)}), (DeleteEntry, SweepTemp))
    assert kinds(play.effects) == [
        "TakeLock", "ReadEntry", "DeleteEntry", "ReadIntent", "ProbeNetns",
        "Run DEL portmap", "Run DEL bridge", "SweepTemp", "DropIntent",
    ]  # fmt: skip
    text = str(info.value)
    assert text.startswith("DEL of ctr1/eth0 from network 'testnet': every plugin's DEL succeeded")
    assert "dropping the unusable cache entry: cannot remove" in text
    assert "removing temporary files: cannot remove" in text
    assert text.endswith("(the entry stays for a later DEL)")


def test_with_failed_plugins_too_one_multierror_names_everything() -> None:
    rt = RuntimeConfig("ctr1", "/proc/self/ns/net", "eth0")
    play = Player(planner().delete(NET, rt, timeout=None))
    base = answers({("bridge", "DEL"): failed()}, {ReadEntry: (None, CacheProblem("/c/x", "is empty"))})
    with pytest.raises(MultiError) as info:
        _play_with_failing_writes(play, base, (DeleteEntry,))
    assert set(info.value.errors) == {"plugins[0] (bridge)", "dropping the unusable cache entry"}


def test_gc_runs_every_del_when_temporary_files_cannot_go() -> None:
    stale = entry(netns="/proc/self/ns/net")
    play = Player(_admin.gc(planner(), NET, [], timeout=None))
    reads: dict[type, Any] = {ScanEntries: CacheScan((stale,), ()), ScanIntents: CacheScan((), ())}
    with pytest.raises(MultiError) as info:
        _play_with_failing_writes(play, probing(LIVE, reads), (SweepTemp,))
    assert [k for k in kinds(play.effects) if k.startswith("Run")] == ["Run DEL portmap", "Run DEL bridge"]
    assert list(info.value.errors) == ["cache: removing temporary files"]


def test_a_lock_file_that_cannot_be_opened_for_room_is_no_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def no_room(path: str, flags: int, **kw: Any) -> int:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

    monkeypatch.setattr(_locks, "open_regular", no_room)
    for exclusive, attachment in ((False, ("c", "eth0")), (True, None)):
        held = acquire(LockRequest(str(tmp_path / "n.lock"), "n", attachment, exclusive), timeout=1)
        assert (held.held, held.locked) == (True, False)
        assert "nothing locked" in repr(held)
        held.release()
        assert not held.held
    assert "going on without the lock" in caplog.text

    def denied(path: str, flags: int, **kw: Any) -> int:
        raise OSError(errno.EACCES, os.strerror(errno.EACCES), path)

    monkeypatch.setattr(_locks, "open_regular", denied)
    with pytest.raises(CacheError, match="Permission denied"):  # only a lack of room is tolerated
        acquire(LockRequest(str(tmp_path / "n.lock"), "n", None, False), timeout=1)


def test_removing_nothing_from_a_read_only_filesystem_is_no_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def read_only(path: str) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), path)

    monkeypatch.setattr(os, "unlink", read_only)
    assert _files.unlink(str(tmp_path / "absent"), durable=False) is False
    (tmp_path / "there").touch()
    with pytest.raises(CacheError, match="Read-only file system"):
        _files.unlink(str(tmp_path / "there"), durable=False)


# -- the front ends, with a fake ``tuning`` plugin whose backup file the sweep removes ---------------


def _tuning(tmp_path: Path) -> tuple[Any, Path]:
    net = conflist("1.0.0", [{"type": "tuning", "dataDir": str(tmp_path / "tuning")}])
    backup = tmp_path / "tuning" / "ctr1_eth0.json"
    backup.parent.mkdir()
    return net, backup


@pytest.mark.parametrize("front", ["sync", "async"])
def test_the_sweep_runs_through_the_executor(tmp_path: Path, front: str) -> None:
    from cnilib.testing.plugins import recording_plugin

    net, backup = _tuning(tmp_path)
    plugin = recording_plugin(tmp_path / "bin", "tuning", stdout={"ADD": result_for("1.0.0", "10.0.0.2/24")})
    kw: dict[str, Any] = {"plugin_dirs": [tmp_path / "bin"], "cache_dir": tmp_path / "cache", "timeout": 30}
    rt = RuntimeConfig("ctr1", "/proc/self/ns/net", "eth0")
    gone = RuntimeConfig("ctr1", str(tmp_path / "gone"), "eth0")
    if front == "sync":
        cni = CNI(**kw)
        cni.add(net, rt)
        backup.write_text("{}")
        assert [c.plugin for c in cni.explain("DEL", net, gone)] == ["tuning", PY]  # a dry run...
        assert backup.exists()  # ...removes nothing
        cni.delete(net, gone)
    else:
        import asyncio

        async def run() -> None:
            async with AsyncCNI(**kw) as acni:
                await acni.add(net, rt)
                backup.write_text("{}")
                await acni.delete(net, gone)

        asyncio.run(run())
    assert not backup.exists()
    assert [(r.verb, r.env["CNI_NETNS"]) for r in plugin.records()] == [("ADD", rt.netns), ("DEL", "")]


def test_a_fake_executor_records_the_sweep(tmp_path: Path) -> None:
    net, backup = _tuning(tmp_path)
    fake = FakeExecutor()
    cni = CNI(executor=fake, cache_dir=tmp_path / "cache")
    cni.add(net, RuntimeConfig("ctr1", "/proc/self/ns/net", "eth0"))
    backup.write_text("{}")
    cni.delete(net, RuntimeConfig("ctr1", "", "eth0"))
    [sweep] = fake.calls_for(PY)
    assert sweep.config["leftovers"] == [{"kind": "file", "plugin": "tuning", "path": str(backup)}]
    assert backup.exists()  # a fake runs nothing


def test_cnilib_del_on_the_fast_path_sweeps_too(cli: CLI, tmp_path: Path) -> None:
    import subprocess

    cli.plugin("tuning", stdout={"ADD": result_for("1.0.0", "10.0.0.2/24")})
    cli.write_conf(
        "10-t.conflist",
        {
            "cniVersion": "1.0.0",
            "name": "t",
            "plugins": [{"type": "tuning", "dataDir": str(tmp_path / "tun")}],
        },
    )
    sandbox = tmp_path / "sandbox"
    sandbox.symlink_to("/proc/self/ns/net")
    assert cli.run("add", "t", str(sandbox)).rc == 0
    sandbox.unlink()
    sandbox.touch()  # what a reboot leaves
    backup = tmp_path / "tun" / f"{cnitool_id(str(sandbox))}_eth0.json"
    backup.parent.mkdir()
    backup.write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cnilib", "del", "t", str(sandbox)],
        # (without the test run's coverage, which would import what is counted here)
        env=cli.env({"COVERAGE_PROCESS_CONFIG": None}), capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines()}
    assert not {"attrs", "cattrs", "typing", "argparse", "hashlib", "cnilib._model._models"} & loaded
    assert "cnilib._spec._leftovers" in loaded
    assert not backup.exists()
    assert [(r.verb, r.env["CNI_NETNS"]) for r in cli.records()] == [("ADD", str(sandbox)), ("DEL", "")]
    assert cli.cache_files() == []


def test_the_fast_paths_values_answer_the_new_operations_as_the_typed_ones() -> None:
    from cnilib._engine._plain import LeanRuntime, LeanValues
    from cnilib._engine._values import TypedValues
    from cnilib._spec._leftovers import leftovers, sweep_request_fields

    rt = RuntimeConfig("c1", "/run/netns/x", "eth1", args=(("A", "1"),), capability_args=CAPS)
    lean_rt = LeanRuntime(rt.container_id, rt.netns, rt.ifname, rt.args, rt.capability_args)
    for netns in ("", "/proc/self/ns/net"):
        typed, lean = TypedValues().with_netns(rt, netns), LeanValues().with_netns(lean_rt, netns)
        for name in ("container_id", "netns", "ifname", "args", "cni_args"):
            assert getattr(lean, name) == getattr(typed, name), name
        assert dict(lean.capability_args) == dict(typed.capability_args)
    items = leftovers(NET.plugins[0].raw, "n", "c1", "eth1", None)
    fields = sweep_request_fields(items, network="n", container_id="c1", ifname="eth1", search_path=["/p"])
    assert fields is not None
    typed_req, lean_req = TypedValues().request_of(dict(fields)), LeanValues().request_of(dict(fields))
    for name in ("verb", "plugin", "search_path", "env", "stdin", "container_id", "cni_version", "args"):
        assert getattr(lean_req, name) == getattr(typed_req, name), name


@pytest.mark.parametrize(
    ("prefix", "local"),
    [
        ((), True),
        (("nsenter", "--net=/run/netns/h", "--"), True),  # cnilib.netns.enter_argv
        (("/usr/bin/nsenter", "-t", "42", "-U", "--net", "--preserve-credentials", "--"), True),
        (("nsenter", "-n/run/netns/h", "--"), True),
        (("nsenter", "-t", "42", "--user", "--net", "--mount", "--pid", "--"), False),  # a Sandbox's
        (("nsenter", "--mount=/proc/1/ns/mnt", "--net", "--"), False),
        (("nsenter", "--net=/x", "--", "wrapper"), False),
        (("ip", "netns", "exec", "h"), False),
        (("sudo",), False),
    ],
)
def test_paths_are_judged_only_where_they_mean_what_they_mean_to_the_plugins(
    prefix: tuple[str, ...], local: bool
) -> None:
    from cnilib._engine._teardown import sees_plugin_paths

    assert sees_plugin_paths(prefix) is local
    assert CNI(argv_prefix=prefix)._planner.local_netns is local


def test_where_the_plugins_see_other_paths_a_path_is_passed_on_unjudged() -> None:
    play = Player(planner(local_netns=False).delete(NET, RT, timeout=None))
    play.run_all(probing(MISSING))
    assert "ProbeNetns" not in kinds(play.effects)
    assert {e.request.env["CNI_NETNS"] for e in play.effects if isinstance(e, Run)} == {SANDBOX}


# -- no sweep process for what is provably gone ------------------------------------------------------


def test_nothing_left_to_look_for_means_no_sweep_process() -> None:
    # The plugins' own DEL removed the files: the node read says so, and no process is started.
    play = Player(planner().delete(NET, RT, timeout=10))
    play.run_all(probing(MISSING, {ProbeLeftovers: []}))
    assert kinds(play.effects) == [
        "TakeLock", "ReadEntry", "ReadIntent", "ProbeNetns",
        "Run DEL portmap", "Run DEL bridge", "ProbeLeftovers",
        "DeleteEntry", "DropIntent",
    ]  # fmt: skip


def test_where_paths_mean_something_else_the_sweep_decides() -> None:
    # (a rootless sandbox's files are not this process's: nothing is judged here)
    play = Player(planner(local_netns=False).delete(NET, RuntimeConfig("ctr1", "", "eth0"), timeout=10))
    play.run_all(probing(MISSING))
    assert "ProbeLeftovers" not in kinds(play.effects)
    assert kinds(play.effects)[-3] == f"Run DEL {PY}"


def test_a_gone_del_spawns_the_sweep_only_for_what_is_there(tmp_path: Path) -> None:
    from cnilib import SubprocessExecutor
    from cnilib.testing.plugins import recording_plugin

    started: list[str] = []

    class Counting(SubprocessExecutor):
        def run(self, request: Any, *, timeout: float | None = None) -> Any:
            started.append(request.plugin)
            return super().run(request, timeout=timeout)

    net, backup = _tuning(tmp_path)
    recording_plugin(tmp_path / "bin", "tuning", stdout={"ADD": result_for("1.0.0", "10.0.0.2/24")})
    cni = CNI([str(tmp_path / "bin")], tmp_path / "cache", executor=Counting())
    rt = RuntimeConfig("ctr1", "/proc/self/ns/net", "eth0")
    gone = RuntimeConfig("ctr1", str(tmp_path / "gone"), "eth0")
    for left in (False, True):
        cni.add(net, rt)
        if left:
            backup.write_text("{}")  # what tuning leaves when it cannot see the interface
        assert [c.plugin for c in cni.explain("DEL", net, gone)] == ["tuning", *([PY] if left else [])]
        started.clear()
        cni.delete(net, gone)
        assert started == ["tuning", *([PY] if left else [])]
        assert not backup.exists()
        assert cni.cached_attachments() == []


@pytest.mark.parametrize(
    ("item", "there"),
    [
        ({"kind": "file", "path": "{d}/backup.json"}, True),
        ({"kind": "file", "path": "{d}/nothing.json"}, False),
        ({"kind": "reservations", "directory": "{d}", "container_id": "ctr1", "ifname": "eth0"}, True),
        ({"kind": "reservations", "directory": "{d}", "container_id": "ctr2", "ifname": "eth0"}, False),
        ({"kind": "reservations", "directory": "{d}/none", "container_id": "ctr1", "ifname": "eth0"}, False),
        ({"kind": "chain", "table": "nat", "name": "CNI-x"}, True),  # (iptables would have to say)
        ({"kind": "link", "name": "veth1"}, True),
        ({"kind": "file"}, True),  # unreadable: no evidence, the sweep decides
    ],
)
def test_what_may_remain(tmp_path: Path, item: dict[str, Any], there: bool) -> None:
    from cnilib._engine._sweep import may_remain

    (tmp_path / "backup.json").write_text("{}")
    (tmp_path / "10.0.0.2").write_text("ctr1\neth0")
    (tmp_path / "last_reserved_ip.0").write_text("10.0.0.2")
    (tmp_path / "lock").touch()
    filled = {k: v.format(d=tmp_path) if isinstance(v, str) else v for k, v in item.items()}
    assert may_remain(filled) is there
