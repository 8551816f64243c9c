"""Plans tested directly: each verb's generator is fed outcomes by hand, no driver, no process.

A plan yields effects (plain data) and receives what a driver would answer; these tests play the
driver, so they pin the protocol itself: which effects come in which order, what a failure does.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any, cast

import pytest
from engine_support import conflist, result_for

from cnilib import (
    CacheEntry,
    CacheError,
    CNIError,
    ExecOutcome,
    GCAttachment,
    LockError,
    MultiError,
    PluginError,
    PluginTimeoutError,
    RuntimeConfig,
    ValidationError,
)
from cnilib._cache import INTENT_KIND, CacheProblem, CacheScan
from cnilib._engine import _admin
from cnilib._engine._effects import (
    CacheRead,
    CacheWrite,
    DeleteEntry,
    DropIntent,
    Gather,
    ProbeLeftovers,
    ReadEntry,
    ReadIntent,
    Run,
    ScanEntries,
    ScanIntents,
    Sleep,
    TakeLock,
    WriteEntry,
    WriteIntent,
)
from cnilib._engine._plans import Planner
from cnilib._engine._reports import RetryPolicy
from cnilib._engine._values import TypedValues
from cnilib._model._models import cached_runtime

NET = conflist("1.0.0", [{"type": "p1"}, {"type": "p2"}, {"type": "p3"}])
RT = RuntimeConfig(container_id="ctr1", netns="/run/netns/x", ifname="eth0")
KEY = ("testnet", "ctr1", "eth0")


def planner(**kwargs: Any) -> Planner:
    defaults: dict[str, Any] = {
        "plugin_dirs": ("/nowhere",),
        "timeout": None,
        "timeouts": {},
        "rollback": False,
        "retry": None,
        "cleanup_on_timeout": False,
        "cleanup_timeout": None,
        "lock_timeout": None,
        "on_plugin": None,
        "resolve": False,  # the plugins are not files here
        "values": TypedValues(),
    }
    return Planner(**{**defaults, **kwargs})


def ok(obj: Any = None) -> ExecOutcome:
    return ExecOutcome(exit_status=0, stdout=b"" if obj is None else json.dumps(obj).encode())


def failed(code: int = 5, msg: str = "io") -> ExecOutcome:
    return ExecOutcome(exit_status=1, stdout=json.dumps({"code": code, "msg": msg}).encode())


class Player:
    """Plays the driver: records every effect and answers from a script."""

    def __init__(self, plan: Generator[Any, Any, Any]) -> None:
        self.plan = plan
        self.effects: list[Any] = []
        self.value: Any = None

    def next(self, answer: Any = None, *, error: BaseException | None = None) -> Any:
        try:
            effect = self.plan.throw(error) if error is not None else self.plan.send(answer)
        except StopIteration as stop:
            self.value = stop.value
            return None
        self.effects.append(effect)
        return effect

    def run_all(self, answer: Any) -> Any:
        """Answer every effect with ``answer(effect)`` until the plan returns; return its value."""
        effect = self.next()
        while effect is not None:
            effect = self.next(answer(effect))
        return self.value


def answers(runs: dict[tuple[str, str], ExecOutcome], reads: dict[type, Any] | None = None) -> Any:
    def answer(effect: Any) -> Any:
        if isinstance(effect, Run):
            verb = effect.request.verb.value
            return runs.get((effect.request.plugin, verb), ok({}) if verb == "ADD" else ok())
        if isinstance(effect, ProbeLeftovers) and ProbeLeftovers not in (reads or {}):
            return list(effect.items)  # (by default every leftover may still be there)
        if isinstance(effect, CacheRead):
            return (reads or {}).get(type(effect), (None, None) if isinstance(effect, ReadEntry) else None)
        return None

    return answer


def kinds(effects: list[Any]) -> list[str]:
    out = []
    for e in effects:
        if isinstance(e, Run):
            out.append(f"Run {e.request.verb.value} {e.request.plugin}")
        else:
            out.append(type(e).__name__)
    return out


# -- ADD ------------------------------------------------------------------------------------------


def test_add_locks_records_intent_runs_in_order_then_completes_the_intent() -> None:
    res = result_for("1.0.0", "10.0.0.2/24")
    play = Player(planner().add(NET, RT, timeout=None, rollback=False))
    value = play.run_all(answers({("p1", "ADD"): ok(res), ("p2", "ADD"): ok(res), ("p3", "ADD"): ok(res)}))
    assert kinds(play.effects) == [
        "TakeLock", "ReadEntry", "WriteIntent",
        "Run ADD p1", "Run ADD p2", "Run ADD p3",
        "WriteEntry", "DropIntent",
    ]  # fmt: skip
    lock = play.effects[0]
    assert (lock.network, lock.attachment, lock.exclusive) == ("testnet", ("ctr1", "eth0"), False)
    intent = play.effects[2].entry
    assert intent.kind == INTENT_KIND
    assert (intent.key, intent.netns, intent.config, intent.result) == (KEY, RT.netns, NET.bytes, None)
    # prevResult threading: p2 gets p1's result.
    assert json.loads(play.effects[4].request.stdin)["prevResult"]["ips"][0]["address"] == "10.0.0.2/24"
    assert play.effects[6].entry.result["ips"][0]["address"] == "10.0.0.2/24"
    assert value.all_addresses == ("10.0.0.2/24",)


def test_add_failure_without_rollback_keeps_the_intent_for_gc() -> None:
    play = Player(planner().add(NET, RT, timeout=None, rollback=False))
    with pytest.raises(PluginError):
        play.run_all(answers({("p2", "ADD"): failed()}))
    assert kinds(play.effects) == ["TakeLock", "ReadEntry", "WriteIntent", "Run ADD p1", "Run ADD p2"]


def test_add_failure_with_rollback_dels_in_reverse_then_drops_its_intent() -> None:
    play = Player(planner().add(NET, RT, timeout=None, rollback=True))
    with pytest.raises(PluginError) as info:
        play.run_all(answers({("p2", "ADD"): failed()}))
    # (ReadIntent: an earlier unfinished ADD's record would be left for GC; there is none.)
    assert kinds(play.effects)[:4] == ["TakeLock", "ReadEntry", "ReadIntent", "WriteIntent"]
    assert kinds(play.effects)[4:] == ["Run ADD p1", "Run ADD p2", "Run DEL p2", "Run DEL p1", "DropIntent"]
    assert "rolled back" in " ".join(getattr(info.value, "__notes__", []))


def fail_at(play: Player, at: str, error: CNIError) -> CNIError:
    """Answer every effect as :func:`answers` would, except the first ``at``, which fails with
    ``error``; the error the plan ends with."""
    answer = answers({})
    effect = play.next()
    while type(effect).__name__ != at:
        effect = play.next(answer(effect))
    effect = play.next(error=error)
    while effect is not None:
        effect = play.next(answer(effect))
    raise AssertionError("the plan did not fail")


@pytest.mark.parametrize("at", ["WriteEntry", "DropIntent"])
def test_add_failing_after_its_plugins_ran_rolls_back_everything(at: str) -> None:
    # The cache write failed (disk full), or a cancellation arrived while it was in its thread:
    # with rollback, every plugin is DELeted and what this ADD (may have) wrote goes.
    play = Player(planner().add(NET, RT, timeout=None, rollback=True))
    with pytest.raises(CacheError) as info:
        fail_at(play, at, CacheError("No space left on device"))
    written = ["WriteEntry", "DropIntent"] if at == "DropIntent" else ["WriteEntry"]
    assert kinds(play.effects)[4:] == [
        "Run ADD p1", "Run ADD p2", "Run ADD p3", *written,
        "Run DEL p3", "Run DEL p2", "Run DEL p1", "DeleteEntry", "DropIntent",
    ]  # fmt: skip
    assert "rolled back with DEL (plugins[2]..plugins[0])" in " ".join(info.value.__notes__)


def test_add_failing_at_its_intent_record_with_rollback_runs_no_plugin() -> None:
    play = Player(planner().add(NET, RT, timeout=None, rollback=True))
    with pytest.raises(CacheError) as info:
        fail_at(play, "WriteIntent", CacheError("No space left on device"))
    assert kinds(play.effects) == ["TakeLock", "ReadEntry", "ReadIntent", "WriteIntent", "DropIntent"]
    assert "nothing to roll back" in " ".join(info.value.__notes__)


def test_add_refuses_to_replace_another_attachments_entry_before_anything_runs() -> None:
    play = Player(planner().add(NET, RT, timeout=None, rollback=False))
    foreign = CacheProblem("/c/results/testnet-ctr1-eth0", "holds the entry of ...", foreign=True)
    with pytest.raises(CNIError, match="nothing was applied"):
        play.run_all(answers({}, {ReadEntry: (None, foreign)}))
    assert kinds(play.effects) == ["TakeLock", "ReadEntry"]


# What no verb takes (refused by RuntimeConfig's construction too) and what only ADD refuses.
_EVERY_VERB_REFUSES = [
    ({"netns": "/run/netns/a\0b"}, "control character"),
    ({"capability_args": {"mtu": float("nan")}}, "capability"),
    ({"capability_args": {"a": [float("inf")]}}, "capability"),
    ({"capability_args": {"a": "\ud800"}}, "capability"),
    ({"args": (("K", "a\x01b"),)}, "control character"),
    ({"container_id": "bad id"}, "container id"),
]
_ADD_REFUSES = [({"netns": "/run/netns/\udc80"}, "not valid Unicode")]


@pytest.mark.parametrize(("fields", "match"), _EVERY_VERB_REFUSES)
def test_runtime_config_refuses_at_construction_what_every_verb_refuses(
    fields: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        RuntimeConfig(**{"container_id": "ctr1", "netns": "/x", **fields})


@pytest.mark.parametrize(("fields", "match"), _EVERY_VERB_REFUSES + _ADD_REFUSES)
def test_preflight_refuses_unserializable_values_before_any_effect(
    fields: dict[str, Any], match: str
) -> None:
    # (made without the construction's checks: pre-flight refuses whatever reaches it)
    rt = cached_runtime(RuntimeConfig("ctr1", "/x"), **fields)
    play = Player(planner().add(NET, rt, timeout=None, rollback=True))
    with pytest.raises(ValidationError, match=match) as info:
        play.next()
    assert "nothing was applied" in str(info.value)
    assert play.effects == []


def test_preflight_finds_a_missing_plugin_before_any_effect(tmp_path: Any) -> None:
    play = Player(
        planner(plugin_dirs=(str(tmp_path),), resolve=True).add(NET, RT, timeout=None, rollback=True)
    )
    with pytest.raises(CNIError, match="nothing was applied"):
        play.next()
    assert play.effects == []


def test_an_expired_deadline_runs_nothing_more(monkeypatch: pytest.MonkeyPatch) -> None:
    play = Player(planner().add(NET, RT, timeout=-1.0, rollback=False))
    with pytest.raises(PluginTimeoutError):
        play.run_all(answers({}))
    assert not [e for e in play.effects if isinstance(e, Run)]


def test_a_timeout_names_the_operations_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # DEL of three plugins under a 30 s limit: p3 is killed at the deadline; the clock then has
    # passed it, so p2 and p1 are never started. Each error names the limit, not the time left.
    clock = [1000.0]
    monkeypatch.setattr("cnilib._engine._plans.time.monotonic", lambda: clock[0])
    given: list[float | None] = []

    def answer(effect: Any) -> Any:
        if isinstance(effect, Run):
            given.append(effect.timeout)
            clock[0] += 30.0
            return ExecOutcome(exit_status=None, signal=15, timed_out=True, timeout=effect.timeout)
        return answers({})(effect)

    with pytest.raises(MultiError) as info:
        Player(planner().delete(NET, RT, timeout=30.0)).run_all(answer)
    assert len(given) == 1  # only p3 ran
    errors = info.value.errors
    assert [type(e) for e in errors.values()] == [PluginTimeoutError] * 3
    p3, p2, p1 = (cast(PluginTimeoutError, errors[f"plugins[{i}] (p{i + 1})"]) for i in (2, 1, 0))
    assert (p3.limit, p3.started) == (30.0, True)
    assert "plugin 'p3' (DEL, container ctr1) timed out after 30s and was killed" in str(p3)
    for never in (p2, p1):
        assert (never.limit, never.started) == (30.0, False)
        assert "was not started: the time limit of 30s had run out" in str(never)


def test_retry_sleeps_between_attempts_of_code_11() -> None:
    p = planner(retry=RetryPolicy(attempts=2, backoff=0.5, jitter=0.0))
    play = Player(p.add(conflist("1.0.0", [{"type": "p1"}]), RT, timeout=None, rollback=False))
    outcomes = iter([failed(11, "busy"), ok({})])

    def answer(effect: Any) -> Any:
        return next(outcomes) if isinstance(effect, Run) else answers({})(effect)

    play.run_all(answer)
    assert kinds(play.effects)[3:6] == ["Run ADD p1", "Sleep", "Run ADD p1"]
    assert [e.seconds for e in play.effects if isinstance(e, Sleep)] == [0.5]


# -- DEL ------------------------------------------------------------------------------------------


def cached(**kwargs: Any) -> CacheEntry:
    rt = RuntimeConfig(
        "ctr1", "/run/netns/x", "eth0", args=(("K", "v"),), capability_args={"portMappings": [1]}
    )
    return CacheEntry.create(NET, rt, result_for("1.0.0", "10.0.0.9/24"), **kwargs)


def test_del_uses_cached_args_and_runs_every_plugin_past_failures() -> None:
    play = Player(planner().delete(NET, RT, timeout=None))
    with pytest.raises(MultiError) as info:
        play.run_all(
            answers({("p3", "DEL"): failed(), ("p1", "DEL"): failed()}, {ReadEntry: (cached(), None)})
        )
    assert kinds(play.effects) == [
        "TakeLock",
        "ReadEntry",
        "ReadIntent",
        "ProbeNetns",
        "Run DEL p3",
        "Run DEL p2",
        "Run DEL p1",
    ]
    assert set(info.value.errors) == {"plugins[2] (p3)", "plugins[0] (p1)"}
    for run in play.effects[4:]:
        assert run.request.env["CNI_ARGS"] == "K=v"
        assert json.loads(run.request.stdin)["prevResult"]["ips"][0]["address"] == "10.0.0.9/24"
    # Nothing removed: the entry stays for a later DEL.
    assert not [e for e in play.effects if isinstance(e, (DeleteEntry, DropIntent))]


def test_del_explicit_args_win_over_cached_ones() -> None:
    rt = RuntimeConfig("ctr1", "/run/netns/x", "eth0", args=(("K", "mine"),), capability_args={"a": 1})
    play = Player(planner().delete(NET, rt, timeout=None))
    play.run_all(answers({}, {ReadEntry: (cached(), None)}))
    assert {e.request.env["CNI_ARGS"] for e in play.effects if isinstance(e, Run)} == {"K=mine"}
    assert kinds(play.effects)[-2:] == ["DeleteEntry", "DropIntent"]


def test_del_without_an_entry_uses_the_intent_record() -> None:
    intent = cached(kind=INTENT_KIND)
    play = Player(planner().delete(NET, RT, timeout=None))
    play.run_all(answers({}, {ReadIntent: intent}))
    assert kinds(play.effects)[:3] == ["TakeLock", "ReadEntry", "ReadIntent"]
    assert {e.request.env["CNI_ARGS"] for e in play.effects if isinstance(e, Run)} == {"K=v"}
    assert kinds(play.effects)[-2:] == ["DeleteEntry", "DropIntent"]


def test_only_the_del_of_an_unfinished_attachment_sweeps_temp_files() -> None:
    # A finished attachment (its entry, no intent record) has no writer's leftovers: no listing.
    play = Player(planner().delete(NET, RT, timeout=None))
    play.run_all(answers({}, {ReadEntry: (cached(), None)}))
    assert "SweepTemp" not in kinds(play.effects)
    for entry_answer, intent in (((cached(), None), cached(kind=INTENT_KIND)), ((None, None), None)):
        play = Player(planner().delete(NET, RT, timeout=None))
        play.run_all(answers({}, {ReadEntry: entry_answer, ReadIntent: intent}))
        assert kinds(play.effects)[-3:] == ["SweepTemp", "DeleteEntry", "DropIntent"]


def test_check_sends_only_the_callers_args() -> None:
    play = Player(_admin.check(planner(), NET, RT, timeout=None))
    play.run_all(answers({}, {ReadEntry: (cached(), None)}))
    assert {e.request.env["CNI_ARGS"] for e in play.effects if isinstance(e, Run)} == {""}


# -- GC and recovery ------------------------------------------------------------------------------


def test_gc_holds_the_network_exclusively_and_dels_stale_entries_and_intents() -> None:
    net = conflist("1.1.0", [{"type": "p1"}])
    keep = RuntimeConfig("keep", "/k", "eth0")
    entries = CacheScan((CacheEntry.create(net, keep, {}), CacheEntry.create(net, RT, {})), ())
    crashed = RuntimeConfig("crashed", "/run/netns/c", "eth1", args=(("A", "b"),))
    intents = CacheScan((CacheEntry.create(net, crashed, None, kind=INTENT_KIND),), ())
    play = Player(_admin.gc(planner(), net, [GCAttachment("keep", "eth0")], timeout=None))
    play.run_all(answers({}, {ScanEntries: entries, ScanIntents: intents}))
    lock = play.effects[0]
    assert isinstance(lock, TakeLock)
    assert (lock.attachment, lock.exclusive) == (None, True)
    runs = [e.request for e in play.effects if isinstance(e, Run)]
    assert [(r.verb.value, r.env.get("CNI_CONTAINERID"), r.env.get("CNI_NETNS")) for r in runs] == [
        ("DEL", "ctr1", "/run/netns/x"), ("DEL", "crashed", "/run/netns/c"), ("GC", "", ""),
    ]  # fmt: skip
    assert runs[1].env["CNI_ARGS"] == "A=b"  # the recorded arguments
    # GC does not take attachment locks (it holds the network exclusively).
    assert sum(isinstance(e, TakeLock) for e in play.effects) == 1


def test_recover_skips_an_add_in_progress_and_dels_the_others() -> None:
    running = CacheEntry.create(NET, RuntimeConfig("busy", "/b", "eth0"), None, kind=INTENT_KIND)
    crashed = CacheEntry.create(NET, RuntimeConfig("dead", "/d", "eth0"), None, kind=INTENT_KIND)
    play = Player(_admin.recover(planner(), NET, timeout=None))
    gather = play.next()
    assert isinstance(gather, ScanIntents)
    gather = play.next(CacheScan((running, crashed), ()))
    assert isinstance(gather, Gather)
    results = []
    for sub, intent in zip(gather.plans, (running, crashed), strict=True):
        sub_play = Player(sub)
        lock = sub_play.next()
        assert isinstance(lock, TakeLock)
        assert lock.timeout == 0  # only if free: never wait for a running ADD
        if intent is running:
            sub_play.next(error=LockError("busy"))
        else:
            effect = sub_play.next()
            assert isinstance(effect, ReadIntent)
            effect = sub_play.next(intent)
            assert isinstance(effect, ReadEntry)
            effect = sub_play.next((None, None))  # no entry: the ADD never finished
            while effect is not None:
                effect = sub_play.next(answers({})(effect))
        results.append(sub_play.value)
    assert results[0] is None
    assert play.next(results) is None
    assert play.value == [crashed]


# -- effects are data -----------------------------------------------------------------------------


def test_effects_are_slotted_data_and_writes_are_told_apart_by_type() -> None:
    for cls in (ReadEntry, ReadIntent, ScanEntries, ScanIntents):
        assert issubclass(cls, CacheRead)
    for cls in (WriteEntry, DeleteEntry, WriteIntent, DropIntent):
        assert issubclass(cls, CacheWrite)
    effect = DeleteEntry(KEY, owner_checked=True)
    with pytest.raises(AttributeError):
        effect.extra = 1  # type: ignore[attr-defined]
    assert not hasattr(effect, "__dict__")
