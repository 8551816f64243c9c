"""The repair: each finding fixed through the engine and the plugins' own code, under the locks.

Stale attachments, unfinished ADDs and orphan reservations go through the engine's DEL (CNI_NETNS
empty: their sandbox is gone, so no plugin may enter whatever the path names now; the engine then
removes what the plugins leave without it, ``cnilib._spec._leftovers``), concurrently and bounded. Each
is a guarded DEL: under the attachment's lock, it runs only while the attachment's cache entry and
intent record are still what the examination read (none, for a reservation), so a runtime's DEL
and re-ADD of the same attachment meanwhile is never touched. Orphan NAT chains and veths go
afterwards, by the same sweep program through the engine's executor, each re-checked under the
network's exclusive lock (GC's): the doctor itself removes nothing. Just before acting, each
repair also asks again whether the namespace is live or a source now knows the container: then it
is left alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs

from .._base._errors import CNIError
from .._base._nsprobe import LIVE, netns_state
from .._engine._guarded import Guard, RecordChanged
from .._model._models import RuntimeConfig
from .._spec._leftover_items import Link
from ._examine import Context, Subject
from ._links import bridge_veths, reachable_nsids
from ._model import Diagnosis, DoctorError, Finding, Kind, RepairReport
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


def _guarded_delete(
    ctx: Context, subject: Subject, rt: RuntimeConfig, limits: tuple[float | None, float | None], changed: str
) -> None:
    """DEL only while the attachment's records are what the examination read; one that is gone
    meanwhile (DELeted by its runtime, or GC) counts as fixed. ``limits``: the DEL's timeout and
    the lock's; ``changed``: what to say when they changed."""
    timeout, lock_timeout = limits
    assert subject.conflist is not None
    guard = Guard(*subject.seen, lock_timeout=lock_timeout)
    try:
        ctx.cni._delete_guarded(subject.conflist, rt, guard, timeout=timeout)  # noqa: SLF001 - cnilib's own
    except RecordChanged:
        raise _Skip(changed) from None


def _fix_stale(ctx: Context, f: Finding, timeout: float | None, lock_timeout: float | None) -> Outcome:
    subject: Subject = f._subject  # noqa: SLF001 - the package's own payload
    assert subject.entry is not None
    if subject.netns and netns_state(subject.netns) == LIVE:
        raise _Skip(f"netns {subject.netns} is live again: not touched")
    if not subject.netns and _alive_now(ctx, f.container_id, f.ifname):
        raise _Skip("a source now knows the container: not touched")
    rt = attrs.evolve(subject.entry.runtime_config(), netns="")
    changed = "the attachment changed since the examination: not touched"
    _guarded_delete(ctx, subject, rt, (timeout, lock_timeout), changed)
    return _DONE


def _fix_reservation(ctx: Context, f: Finding, timeout: float | None, lock_timeout: float | None) -> Outcome:
    subject: Subject = f._subject  # noqa: SLF001 - the package's own payload
    ifname = f.ifname or "eth0"  # a file of an older host-local names no interface: it releases by id

    def still_held() -> list[str]:
        dirs = {r.path.rsplit("/", 1)[0] for r in subject.reservations}
        return [
            r.address
            for r in read_store(f.network, dirs)
            if r.container_id == f.container_id and r.ifname == f.ifname
        ]

    if not still_held():
        return _DONE
    if _has_attachment(ctx, f.network, f.container_id):
        raise _Skip("the container has an attachment now: not touched")
    if _alive_now(ctx, f.container_id, f.ifname or None):
        raise _Skip("a source now knows the container: not touched")
    # Nothing recorded: the DEL is made from the network's list, and the engine sweeps nothing.
    rt = RuntimeConfig(container_id=f.container_id, netns="", ifname=ifname)
    _guarded_delete(
        ctx, subject, rt, (timeout, lock_timeout), "the container has an attachment now: not touched"
    )
    left = still_held()
    if left:
        return False, f"host-local's DEL left {', '.join(left)} reserved"
    return _DONE


def _fix_chain(ctx: Context, f: Finding, timeout: float | None, lock_timeout: float | None) -> Outcome:
    """The orphan's chains and the rules jumping to them, by the engine's sweep program."""
    if _alive_now(ctx, f.container_id, None):
        raise _Skip("a source now knows the container: not touched")
    chains = f._subject.chains  # noqa: SLF001 - the package's own payload
    with ctx.cache.lock(f.network, exclusive=True, timeout=lock_timeout):
        if _has_attachment(ctx, f.network, f.container_id):
            raise _Skip("the container has an attachment now: not touched")
        key = (f.network, f.container_id, f.ifname)
        ctx.cni._remove_leftovers(key, chains, timeout=timeout)  # noqa: SLF001 - cnilib's own
    return _DONE


def _fix_veth(ctx: Context, f: Finding, timeout: float | None, lock_timeout: float | None) -> Outcome:
    """The veth, by the engine's sweep program (its peer goes with it), if it is still the same."""
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
        link = Link("bridge", veth.name, veth.mac)  # (the sweep checks the MAC address again)
        ctx.cni._remove_leftovers((f.network, f.container_id, f.ifname), [link], timeout=timeout)  # noqa: SLF001
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
    for i, f in enumerate(diagnosis.findings):
        if f.fixable and f.kind == Kind.ORPHAN_CHAIN:
            outcomes[i] = _guarded(_fix_chain, ctx, f, timeout, lock_timeout)
        elif f.fixable and f.kind == Kind.ORPHAN_INTERFACE:
            outcomes[i] = _guarded(_fix_veth, ctx, f, timeout, lock_timeout)
    findings = tuple(
        attrs.evolve(f, fixed=outcomes[i][0], error=outcomes[i][1])
        if i in outcomes
        else attrs.evolve(f, fixed=False)
        for i, f in enumerate(diagnosis.findings)
    )
    return RepairReport(findings, diagnosis.checked, duration_seconds=round(time.monotonic() - started, 3))
