"""The plans of GC, recovery, STATUS, validation and the multi-network calls."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import attrs

from .._base._errors import (
    CacheError,
    CNIError,
    LockError,
    MultiError,
    ResultError,
    ValidationError,
    VersionError,
)
from .._cache import CacheEntry, CacheScan
from .._exec import find_plugin
from .._exec._protocol import build_gc_request, build_status_request
from .._model._models import GCAttachment, NetworkConfigList, RuntimeConfig, VersionInfo
from .._model._results import AnyResult, Result
from .._spec._schemas import SchemaCatalog, builtin_catalog
from .._spec._validate import validate_network_name
from .._spec._version import Verb, check_verb_supported, version_at_least
from ._effects import (
    DropIntent,
    Gather,
    Plan,
    ReadEntry,
    ReadIntent,
    ScanEntries,
    ScanIntents,
    SweepTemp,
    TakeLock,
)
from ._fields import field_findings
from ._plans import Planner
from ._reports import PluginReport, ValidationReport
from ._teardown import cache_step

__all__ = ["add_networks", "check", "delete_networks", "gc", "recover", "status", "validate", "version_info"]


def status(p: Planner, conflist: NetworkConfigList, *, timeout: float | None) -> Plan[None]:
    version = p.check_list(conflist)
    if not version_at_least(version, "1.1.0"):
        return  # STATUS does not exist before 1.1.0: nothing to ask, nothing is wrong
    deadline = p.deadline(Verb.STATUS, timeout)
    for i, plugin in enumerate(conflist.plugins):
        req = build_status_request(
            plugin, network_name=conflist.name, cni_version=version, search_path=p.plugin_dirs
        )
        yield from p.invoke(req, deadline, conflist.name, i)


def check(p: Planner, conflist: NetworkConfigList, rt: RuntimeConfig, *, timeout: float | None) -> Plan[None]:
    """CHECK: every plugin in order with the cached result as prevResult."""
    version = p.check_list(conflist)
    check_verb_supported(Verb.CHECK, version)
    key = p.lock_key(conflist, rt)
    if conflist.disable_check:
        return
    deadline = p.deadline(Verb.CHECK, timeout)  # the lock's wait is part of the operation
    yield p.take_lock(key, deadline)
    # Unlike DEL, an unreadable cache is an error here.
    entry, problem = yield ReadEntry(key)
    if problem is not None:
        raise CacheError(str(problem))
    prev: Result | None = None
    if entry is not None and entry.result is not None:
        try:
            prev = entry.parsed_result(version)
        except ResultError as exc:
            raise CacheError(f"cached result for {conflist.name!r} is unusable: {exc}") from None
    # Unlike DEL, CHECK sends only the caller's arguments: Debian's portmap fails CHECK with
    # IPv4-only portMappings, and CHECK without them is how callers avoid that.
    for i, plugin in enumerate(conflist.plugins):
        req = p.request(Verb.CHECK, conflist, plugin, rt, version=version, prev=prev)
        yield from p.invoke(req, deadline, conflist.name, i)


def version_info(p: Planner, plugin: str, *, timeout: float | None) -> Plan[VersionInfo]:
    """VERSION of one plugin type."""
    from .._exec._protocol import build_version_request

    req = build_version_request(plugin, search_path=p.plugin_dirs)
    info = yield from p.invoke(req, p.deadline(Verb.VERSION, timeout), "", 0)
    return cast("VersionInfo", info)


def _stale(scans: Sequence[CacheScan], valid: Sequence[GCAttachment]) -> list[CacheEntry]:
    """Cached attachments and unfinished ADDs not in ``valid``, each once."""
    keep = {(a.container_id, a.ifname) for a in valid}
    seen: dict[tuple[str, str], CacheEntry] = {}
    for scan in scans:
        for entry in scan.entries:
            ident = (entry.container_id, entry.ifname)
            if ident not in keep:
                seen.setdefault(ident, entry)
    return list(seen.values())


def _within(p: Planner, timeout: float | None, deadline: float | None) -> float | None:
    """A DEL's timeout inside a GC: its own, cut to what is left of the GC's ``deadline``."""
    left = p.time_left(deadline)
    own = timeout if timeout is not None else p.timeouts.get(Verb.DEL, p.timeout)
    if left is None:
        return own
    return left if own is None else min(own, left)


def gc(
    p: Planner, conflist: NetworkConfigList, valid: Sequence[GCAttachment], *, timeout: float | None
) -> Plan[list[CacheEntry]]:
    """libcni's GC (stale-attachment DELs for every version, the GC verb from 1.1.0 on), plus the
    unfinished ADDs (intent records): under the network's exclusive lock, so none is running.
    Returns the entries and intent records it DELeted."""
    version = p.check_list(conflist)
    if conflist.disable_gc:
        return []
    deadline = p.deadline(Verb.GC, timeout)  # the whole GC, its lock's wait included
    yield TakeLock(conflist.name, None, exclusive=True, timeout=p.lock_wait(deadline))
    errors: dict[str, BaseException] = {}
    # No writer of this network runs now: what a killed one left half-written goes at once (a
    # cache that cannot be written is reported with the rest, after the DELs).
    yield from cache_step(SweepTemp(conflist.name), "cache: removing temporary files", errors)
    entries = yield ScanEntries(conflist.name)
    intents = yield ScanIntents(conflist.name)
    removed: list[CacheEntry] = []
    for entry in _stale([entries, intents], valid):
        try:
            yield from p.delete_locked(
                conflist, entry.runtime_config(), timeout=_within(p, timeout, deadline), cached=True
            )
        except CNIError as exc:
            errors[f"DEL {entry.container_id}/{entry.ifname}"] = exc
        else:
            removed.append(entry)
    if version_at_least(version, "1.1.0"):
        for i, plugin in enumerate(conflist.plugins):
            req = build_gc_request(
                plugin,
                network_name=conflist.name,
                cni_version=version,
                search_path=p.plugin_dirs,
                valid_attachments=valid,
            )
            try:
                yield from p.invoke(req, deadline, conflist.name, i)
            except CNIError as exc:
                errors[f"GC {plugin.type} (plugins[{i}])"] = exc
    if errors:
        raise MultiError(f"GC of network {conflist.name!r} failed", errors)
    return removed


def _recover_one(
    p: Planner, conflist: NetworkConfigList | None, intent: CacheEntry, timeout: float | None
) -> Plan[CacheEntry | None]:
    try:
        yield TakeLock(intent.network_name, (intent.container_id, intent.ifname), exclusive=False, timeout=0)
    except LockError:
        return None  # an ADD is running (it holds the attachment's lock): not ours to undo
    current = yield ReadIntent(intent.key)
    if current is None:
        return None  # finished (or undone) meanwhile
    entry, _ = yield ReadEntry(intent.key)
    if entry is not None:
        # Killed between writing the entry and dropping the intent, or a re-ADD of an attachment
        # that has an entry: results/ records it, and DEL or GC will find it there.
        yield DropIntent(intent.key)
        return None
    net = (
        conflist
        if conflist is not None
        else NetworkConfigList.from_bytes(current.config, source=current.path)
    )
    yield from p.delete_locked(net, current.runtime_config(), timeout=timeout, cached=True)
    return cast("CacheEntry", current)


def recover(
    p: Planner,
    conflist: NetworkConfigList | None,
    *,
    timeout: float | None,
    container_id: str | None = None,
) -> Plan[list[CacheEntry]]:
    """DEL every unfinished ADD (of ``conflist``'s network, or of every network with the list it
    recorded; of one container's when ``container_id`` is given) whose attachment lock is free;
    return the intents that were undone."""
    network = None if conflist is None else conflist.name
    if network is not None:
        validate_network_name(network)
    scan = yield ScanIntents(network)
    intents = [i for i in scan.entries if container_id is None or i.container_id == container_id]
    outcomes = yield Gather([_recover_one(p, conflist, i, timeout) for i in intents])
    errors = {
        f"DEL {i.network_name}/{i.container_id}/{i.ifname}": o
        for i, o in zip(intents, outcomes, strict=True)
        if isinstance(o, BaseException)
    }
    if errors:
        raise MultiError("recovering unfinished ADDs failed", errors)
    return [o for o in outcomes if isinstance(o, CacheEntry)]


def validate(
    p: Planner,
    conflist: NetworkConfigList,
    *,
    timeout: float | None,
    catalog: SchemaCatalog | None = None,
) -> Plan[ValidationReport]:
    """VERSION of every plugin, and every field checked with the plugins' schemas (``catalog``:
    the shipped ones when None)."""
    problems: list[str] = []
    try:
        validate_network_name(conflist.name)
    except CNIError as exc:
        problems.append(str(exc))
    try:
        version = p.version_of(conflist)
    except VersionError as exc:
        problems.append(str(exc))
        version = conflist.cni_version
    if not conflist.plugins:
        problems.append(f"network {conflist.name!r} has no plugins")
    findings, schemas = field_findings(conflist, catalog or builtin_catalog())
    reports = []
    for i, plugin in enumerate(conflist.plugins):
        report = yield from _validate_plugin(p, conflist, i, version, timeout)
        reports.append(attrs.evolve(report, schemas=schemas[i]))
        problems.extend(f"plugins[{i}] ({plugin.type}): {m}" for m in report.problems)
    problems.extend(str(f) for f in findings if f.severity == "error")
    return ValidationReport(
        network=conflist.name,
        cni_version=version,
        plugins=tuple(reports),
        problems=tuple(problems),
        warnings=tuple(str(f) for f in findings if f.severity != "error"),
        findings=findings,
    )


def _validate_plugin(
    p: Planner, conflist: NetworkConfigList, i: int, version: str, timeout: float | None
) -> Plan[PluginReport]:
    plugin = conflist.plugins[i]
    mine: list[str] = []
    path: str | None = None
    info: VersionInfo | None = None
    try:
        path = find_plugin(plugin.type, p.plugin_dirs)
        info = yield from version_info(p, plugin.type, timeout=timeout)
    except CNIError as exc:
        mine.append(str(exc))
    supports = info is not None and info.supports(version)
    if info is not None and not supports:
        mine.append(
            f"plugin {plugin.type!r} does not support config version {version!r} "
            f"(it supports {', '.join(info.supported_versions)})"
        )
    if plugin.cni_version and plugin.cni_version != conflist.cni_version:
        mine.append(
            f"plugins[{i}] declares cniVersion {plugin.cni_version!r}; "
            f"the list's {conflist.cni_version!r} is what it will receive"
        )
    return PluginReport(
        index=i,
        plugin=plugin.type,
        path=path,
        version_info=info,
        supports_list_version=supports,
        capabilities=plugin.enabled_capabilities,
        problems=tuple(mine),
    )


# -- several networks -----------------------------------------------------------------------------


def per_network(
    networks: Sequence[NetworkConfigList], rt: RuntimeConfig, ifnames: Sequence[str] | None
) -> list[RuntimeConfig]:
    names = list(ifnames) if ifnames is not None else [f"eth{i}" for i in range(len(networks))]
    if len(names) != len(networks):
        raise ValidationError(f"{len(networks)} networks but {len(names)} interface names")
    keys = [(net.name, n) for net, n in zip(networks, names, strict=True)]
    if len(set(keys)) != len(keys):
        raise ValidationError("the same network and interface name are given twice")
    return [attrs.evolve(rt, ifname=n) for n in names]


def _failures(
    networks: Sequence[NetworkConfigList],
    rts: Sequence[RuntimeConfig],
    outcomes: Sequence[object],
    prefix: str = "",
) -> dict[str, BaseException]:
    return {
        f"{prefix}{net.name}/{r.ifname}": o
        for net, r, o in zip(networks, rts, outcomes, strict=True)
        if isinstance(o, BaseException)
    }


def add_networks(
    p: Planner,
    networks: Sequence[NetworkConfigList],
    rt: RuntimeConfig,
    *,
    ifnames: Sequence[str] | None,
    rollback: bool,
    timeout: float | None,
) -> Plan[list[AnyResult]]:
    """ADD to every network concurrently; on a failure, DEL the others again (with ``rollback``)."""
    rts = per_network(networks, rt, ifnames)
    outcomes = yield Gather(
        [p.add(n, r, timeout=timeout, rollback=rollback) for n, r in zip(networks, rts, strict=True)]
    )
    errors = _failures(networks, rts, outcomes)
    if not errors:
        return cast("list[AnyResult]", outcomes)
    if rollback:
        done = [
            (n, r)
            for n, r, o in zip(networks, rts, outcomes, strict=True)
            if not isinstance(o, BaseException)
        ]
        undone = yield Gather([p.delete(n, r, timeout=timeout) for n, r in done])
        errors.update(_failures([n for n, _ in done], [r for _, r in done], undone, "rollback "))
    raise MultiError("attaching to several networks failed", errors)


def delete_networks(
    p: Planner,
    networks: Sequence[NetworkConfigList],
    rt: RuntimeConfig,
    *,
    ifnames: Sequence[str] | None,
    timeout: float | None,
) -> Plan[None]:
    """DEL from every network concurrently; failures aggregated."""
    rts = per_network(networks, rt, ifnames)
    outcomes: list[Any] = yield Gather(
        [p.delete(n, r, timeout=timeout) for n, r in zip(networks, rts, strict=True)]
    )
    errors = _failures(networks, rts, outcomes)
    if errors:
        raise MultiError("detaching from several networks failed", errors)
