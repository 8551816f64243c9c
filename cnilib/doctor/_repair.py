"""The repair: each finding fixed through the engine and the plugins' own code, under the locks.

Every repair first re-checks its finding under the lock the engine's verbs take (an attachment's
lock for a DEL, the network's exclusive lock, GC's, for NAT chains and veths): an entry that
changed, a namespace that is live again, a container a source now knows, or an attachment that
appeared is left alone. Stale attachments and orphan reservations go through :meth:`CNI.delete`
(with CNI_NETNS empty: their sandbox is gone, so no plugin may enter whatever the path names now),
concurrently and bounded; NAT chains and veths are removed afterwards, one network lock at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from .._base._errors import CNIError
from .._base._nsprobe import LIVE, netns_state
from .._model._models import RuntimeConfig
from ._examine import Context, Subject
from ._links import bridge_veths, reachable_nsids
from ._model import Diagnosis, DoctorError, Finding, Kind, RepairReport
from ._netfilter import read_nat, remove_tie, ties
from ._reservations import read_store
from ._sources import Liveness, combine

__all__ = ["repair"]

Outcome = tuple[bool, str]
_DONE: Outcome = (True, "")


class _Skip(Exception):
    """The finding no longer holds: nothing was touched."""


def _alive_now(ctx: Context, container_id: str, ifname: str | None) -> bool:
    return combine(s.state(container_id, ifname) for s in ctx.sources) == Liveness.ALIVE


def _has_attachment(ctx: Context, network: str, container_id: str) -> bool:
    if ctx.cache.scan(network, container_id).entries:
        return True
    return any(i.container_id == container_id for i in ctx.cache.scan_intents(network).entries)


def _recheck_stale(ctx: Context, f: Finding, subject: Subject, lock_timeout: float | None) -> bool:
    """Under the attachment's lock: is the finding still what was examined? False: already gone."""
    entry = subject.entry
    assert entry is not None
    with ctx.cache.lock(*entry.key, timeout=lock_timeout):
        if entry.is_intent:
            current = ctx.cache.read_intent(*entry.key)
        else:
            current, _ = ctx.cache.read_tolerant(*entry.key)
        if current is None:
            return False
        if current != entry:
            raise _Skip("the attachment changed since the examination: not touched")
        if subject.netns and netns_state(subject.netns) == LIVE:
            raise _Skip(f"netns {subject.netns} is live again: not touched")
        if not subject.netns and _alive_now(ctx, f.container_id, f.ifname):
            raise _Skip("a source now knows the container: not touched")
    return True


def _fix_stale(ctx: Context, f: Finding, timeout: float | None, lock_timeout: float | None) -> Outcome:
    subject: Subject = f._subject  # noqa: SLF001 - the package's own payload
    assert subject.entry is not None
    assert subject.conflist is not None
    if not _recheck_stale(ctx, f, subject, lock_timeout):
        return _DONE  # DELeted meanwhile (by its runtime, or GC)
    rt = attrs.evolve(subject.entry.runtime_config(), netns="")
    ctx.cni.delete(subject.conflist, rt, timeout=timeout)
    return _DONE


def _fix_reservation(ctx: Context, f: Finding, timeout: float | None, lock_timeout: float | None) -> Outcome:
    subject: Subject = f._subject  # noqa: SLF001 - the package's own payload
    assert subject.conflist is not None
    ifname = f.ifname or "eth0"  # a file of an older host-local names no interface: it releases by id

    def still_held() -> list[str]:
        dirs = {r.path.rsplit("/", 1)[0] for r in subject.reservations}
        return [
            r.address
            for r in read_store(f.network, dirs)
            if r.container_id == f.container_id and r.ifname == f.ifname
        ]

    with ctx.cache.lock(f.network, f.container_id, ifname, timeout=lock_timeout):
        if not still_held():
            return _DONE
        if _has_attachment(ctx, f.network, f.container_id):
            raise _Skip("the container has an attachment now: not touched")
        if _alive_now(ctx, f.container_id, f.ifname or None):
            raise _Skip("a source now knows the container: not touched")
    rt = RuntimeConfig(container_id=f.container_id, netns="", ifname=ifname)
    ctx.cni.delete(subject.conflist, rt, timeout=timeout)
    left = still_held()
    if left:
        return False, f"host-local's DEL left {', '.join(left)} reserved"
    return _DONE


def _remove_nat(
    ctx: Context, network: str, container_id: str, lock_timeout: float | None, *, sweep: bool = False
) -> Outcome:
    """Whatever NAT state of the container is left, under the network's exclusive lock. A sweep
    after a DEL leaves it to the container's other attachment on the network, if one is left."""
    with ctx.cache.lock(network, exclusive=True, timeout=lock_timeout):
        if _has_attachment(ctx, network, container_id):
            if sweep:
                return _DONE
            raise _Skip("the container has an attachment now: not touched")
        tables = read_nat(ctx.host)
        if tables is None:
            return False, "iptables cannot be read"
        for tie in ties(tables, {(network, container_id)}).get((network, container_id), []):
            remove_tie(ctx.host, tie)
    return _DONE


def _fix_chain(ctx: Context, f: Finding, lock_timeout: float | None) -> Outcome:
    if _alive_now(ctx, f.container_id, None):
        raise _Skip("a source now knows the container: not touched")
    return _remove_nat(ctx, f.network, f.container_id, lock_timeout)


def _fix_veth(ctx: Context, f: Finding, lock_timeout: float | None) -> Outcome:
    veth = f._subject.veth  # noqa: SLF001 - the package's own payload
    with ctx.cache.lock(f.network, exclusive=True, timeout=lock_timeout):
        now = {v.name: v for v in bridge_veths(ctx.host, [veth.master]) or ()}
        if veth.name not in now:
            return _DONE
        if now[veth.name] != veth:
            raise _Skip("the interface changed since the examination: not touched")
        reachable = reachable_nsids(ctx.host)
        if reachable is None or veth.peer_nsid in reachable:
            raise _Skip("its peer's namespace is reachable now: not touched")
        proc = ctx.host.run(["ip", "link", "del", veth.name])
        if proc.returncode != 0 and veth.name in {
            v.name for v in bridge_veths(ctx.host, [veth.master]) or ()
        }:
            return False, f"ip link del {veth.name}: {proc.stderr.strip()}"
    return _DONE


def _guarded(action: Callable[..., Outcome], *args: Any, **kwargs: Any) -> Outcome:
    try:
        return action(*args, **kwargs)
    except _Skip as exc:
        return False, str(exc)
    except (CNIError, OSError) as exc:
        return False, str(exc) or type(exc).__name__


def repair(
    diagnosis: Diagnosis,
    *,
    concurrency: int = 8,
    timeout: float | None = None,
    lock_timeout: float | None = 60.0,
) -> RepairReport:
    """Fix every fixable finding of ``diagnosis``; return every finding with ``fixed`` set.

    Sources are asked again first: one that cannot be reached raises :class:`SourceError` and
    nothing is touched. ``concurrency`` bounds the DELs running at once; ``timeout`` bounds each
    DEL (the plugins' time), ``lock_timeout`` each wait for a lock. Running it twice is harmless:
    what is already gone counts as fixed.
    """
    ctx: Context | None = diagnosis._context  # noqa: SLF001 - the package's own payload
    if ctx is None:
        raise DoctorError("this diagnosis was not made by cnilib.doctor.diagnose(): nothing to repair with")
    if concurrency < 1:
        raise DoctorError(f"concurrency must be at least 1, not {concurrency}")
    started = time.monotonic()
    for source in ctx.sources:
        source.check()
    outcomes: dict[int, Outcome] = {}
    dels = {
        i: f
        for i, f in enumerate(diagnosis.findings)
        if f.fixable and f.kind in (Kind.STALE_ATTACHMENT, Kind.UNFINISHED_ADD, Kind.ORPHAN_RESERVATION)
    }

    def fix(f: Finding) -> Outcome:
        action = _fix_reservation if f.kind == Kind.ORPHAN_RESERVATION else _fix_stale
        return _guarded(action, ctx, f, timeout, lock_timeout)

    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="cnilib-doctor") as pool:
        outcomes.update(zip(dels, pool.map(fix, dels.values()), strict=True))
    # What the plugins leave without the namespace (Debian's bridge 1.1.1: its ipMasq chain); a
    # DEL only removes NAT state, so only what held some at the examination is looked at again.
    swept: set[tuple[str, str]] = set()
    for i, f in dels.items():
        owner = (f.network, f.container_id)
        held_nat = f.kind != Kind.ORPHAN_RESERVATION and f._subject.nat  # noqa: SLF001 - the package's own
        if outcomes[i][0] and held_nat and owner not in swept:
            swept.add(owner)
            outcomes[i] = _guarded(_remove_nat, ctx, *owner, lock_timeout, sweep=True)
    for i, f in enumerate(diagnosis.findings):
        if f.fixable and f.kind == Kind.ORPHAN_CHAIN:
            outcomes[i] = _guarded(_fix_chain, ctx, f, lock_timeout)
        elif f.fixable and f.kind == Kind.ORPHAN_INTERFACE:
            outcomes[i] = _guarded(_fix_veth, ctx, f, lock_timeout)
    findings = tuple(
        attrs.evolve(f, fixed=outcomes[i][0], error=outcomes[i][1])
        if i in outcomes
        else attrs.evolve(f, fixed=False)
        for i, f in enumerate(diagnosis.findings)
    )
    return RepairReport(findings, diagnosis.checked, duration_seconds=round(time.monotonic() - started, 3))
