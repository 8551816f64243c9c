"""The guarded DEL (``_guarded.guarded_delete``, ``cnilib doctor``'s): under the attachment's lock, DEL
only while its cache entry and intent record are what the caller read. The plan is played by hand
(as in ``test_plans.py``); the front end runs it with a fake executor, and runs the sweep program's
request for an orphan's leftovers (``CNI._remove_leftovers``) the same way.
``test_doctor.py`` races a runtime against the doctor's repair with real executables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest
from engine_support import conflist
from test_gone import NET, PY, entry, probing
from test_plans import Player, kinds, planner

from cnilib import CNI, RuntimeConfig
from cnilib._base._nsprobe import MISSING
from cnilib._cache import CacheProblem
from cnilib._engine._effects import ReadEntry, ReadIntent, TakeLock
from cnilib._engine._guarded import Guard, RecordChanged, guarded_delete
from cnilib._spec._leftovers import chain_name, list_leftovers
from cnilib.testing.fake import FakeExecutor

GONE_RT = RuntimeConfig("ctr1", "", "eth0")  # what the doctor passes: the sandbox is gone


def play(guard: Guard, reads: dict[type, Any]) -> Player:
    p = Player(guarded_delete(planner(), NET, GONE_RT, guard, timeout=None))
    p.run_all(probing(MISSING, reads))
    return p


def test_the_records_as_read_the_del_runs_under_the_guards_lock_wait() -> None:
    seen = entry()
    p = play(Guard(seen, None, lock_timeout=7.5), {ReadEntry: (seen, None)})
    assert p.value is True
    lock = p.effects[0]
    assert isinstance(lock, TakeLock)
    assert (lock.network, lock.attachment, lock.exclusive, lock.timeout) == (
        NET.name,
        ("ctr1", "eth0"),
        False,
        7.5,
    )
    assert kinds(p.effects) == [
        "TakeLock", "ReadEntry", "ReadIntent",  # the guard
        "ReadEntry", "ReadIntent", "Run DEL portmap", "Run DEL bridge",  # DEL, the sandbox gone
        "ProbeLeftovers", f"Run DEL {PY}",
        "DeleteEntry", "DropIntent",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "now",
    [
        (attrs.evolve(entry(), netns="/run/netns/new"), None),  # DELeted and ADDed again meanwhile
        (entry(), attrs.evolve(entry(), kind="intent", result=None)),  # a re-ADD in progress (or killed)
        (None, attrs.evolve(entry(), kind="intent", result=None)),  # DELeted, re-ADD unfinished
        (None, CacheProblem("/c/results/x", "is empty")),  # a file that cannot be read
    ],
)
def test_records_that_changed_are_refused_before_anything_runs(now: tuple[Any, Any]) -> None:
    reads: dict[type, Any]
    if isinstance(now[1], CacheProblem):
        reads = {ReadEntry: now}
    else:
        reads = {ReadEntry: (now[0], None), ReadIntent: now[1]}
    with pytest.raises(RecordChanged, match="ctr1/eth0 from network 'testnet' refused"):
        play(Guard(entry(), None, lock_timeout=None), reads)


def test_records_that_are_gone_mean_nothing_to_del() -> None:
    p = play(Guard(entry(), None, lock_timeout=None), {ReadEntry: (None, None)})
    assert p.value is False
    assert kinds(p.effects) == ["TakeLock", "ReadEntry", "ReadIntent"]


def test_an_orphans_guard_expects_nothing_recorded() -> None:
    # An orphan reservation: DEL only while the attachment has no entry and no intent record.
    p = play(Guard(None, None, lock_timeout=None), {ReadEntry: (None, None)})
    assert p.value is True
    runs = [k for k in kinds(p.effects) if k.startswith("Run")]
    assert runs == ["Run DEL portmap", "Run DEL bridge"]  # nothing recorded: nothing swept
    with pytest.raises(RecordChanged):
        play(Guard(None, None, lock_timeout=None), {ReadEntry: (None, None), ReadIntent: entry()})


def test_the_front_runs_it_with_its_executor(tmp_path: Path) -> None:
    net = conflist("1.0.0", [{"type": "noop"}])
    fake = FakeExecutor()
    cni = CNI(executor=fake, cache_dir=tmp_path / "cache")
    cni.add(net, RuntimeConfig("c1", "/proc/self/ns/net", "eth0"))
    [seen] = cni.cached_attachments("c1")
    gone = RuntimeConfig("c1", "", "eth0")
    changed = attrs.evolve(seen, netns="/run/netns/elsewhere")
    with pytest.raises(RecordChanged):
        cni._delete_guarded(net, gone, Guard(changed, None, lock_timeout=5))
    assert [c.verb.value for c in fake.calls] == ["ADD"]
    assert cni._delete_guarded(net, gone, Guard(seen, None, lock_timeout=5))
    assert [(c.verb.value, c.env["CNI_NETNS"]) for c in fake.calls] == [
        ("ADD", "/proc/self/ns/net"),
        ("DEL", ""),
    ]
    assert cni.cached_attachments() == []
    assert not cni._delete_guarded(net, gone, Guard(seen, None, lock_timeout=5))
    assert len(fake.calls) == 2  # gone: nothing ran


def test_an_orphans_leftovers_go_by_the_sweep_program_through_the_executor(tmp_path: Path) -> None:
    fake = FakeExecutor()
    cni = CNI(executor=fake, cache_dir=tmp_path / "cache", plugin_dirs=["/p"])
    # bridge's masquerade chain, as the doctor finds an orphan's (no result: both families).
    bridge = list_leftovers([NET.plugins[0].raw], "testnet", "gone", "", None)
    items = [i for i in bridge if i.kind == "chain"]
    cni._remove_leftovers(("testnet", "gone", ""), items, timeout=5)
    [sweep] = fake.calls_for(PY)
    assert sweep.timeout is not None
    assert 0 < sweep.timeout <= 5
    assert sweep.env["CNI_CONTAINERID"] == "gone"
    assert {i["name"] for i in sweep.config["leftovers"]} == {chain_name("testnet", "gone")}
    assert [i["family"] for i in sweep.config["leftovers"]] == ["ipv4", "ipv6"]
    cni._remove_leftovers(("testnet", "gone", ""), [], timeout=5)
    assert len(fake.calls) == 1  # nothing owned: nothing runs
