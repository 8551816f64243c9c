"""The examination: gather what the node holds, ask the sources once, decide from evidence.

Precedence, for an attachment: a namespace path that is missing or is not a network namespace
makes it stale; a live one makes it alive whatever a source says (nothing live is touched); with no
path to look at (or one that cannot be examined) the sources decide: gone when one says so and none
says alive. Reservations, NAT chains and veths belong to no cache entry: they are orphans only when
no entry or intent record names their container and no source knows it alive.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._base._errors import CNIError, LockError
from .._base._nsprobe import GONE, LIVE, MISSING, netns_state
from .._cache import CacheEntry, ResultCache
from .._engine import CNI
from .._model._models import NetworkConfigList
from .._spec._leftover_items import Leftover
from .._spec._leftovers import list_leftovers, sandbox_of
from ._confhealth import examine_config
from ._host import Host
from ._links import Veth, bridge_veths, reachable_nsids
from ._model import Checked, Diagnosis, Finding, Kind
from ._netfilter import NatTable, NatTie, attachment_chains, owners, present, read_nat
from ._reservations import Reservation, host_local_dirs, read_store
from ._sources import Liveness, Query, Source, combine

__all__ = ["Context", "Subject", "examine", "netns_of"]

Owner = tuple[str, str]
Key = tuple[str, str, str]


@attrs.define
class Context:
    """How the node was examined: what the repair needs to re-check and to act."""

    conf_dir: str
    cache: ResultCache
    cni: CNI
    host: Host
    sources: tuple[Source, ...]
    grace: float
    networks: dict[str, NetworkConfigList]


@attrs.frozen
class Subject:
    """What a finding's repair acts on."""

    entry: CacheEntry | None = None
    conflist: NetworkConfigList | None = None
    netns: str = ""
    #: The attachment's cache entry and intent record at the examination: its DEL runs only while
    #: they are still these (``cnilib._engine._guarded.Guard``).
    seen: tuple[CacheEntry | None, CacheEntry | None] = (None, None)
    reservations: tuple[Reservation, ...] = ()
    #: An orphan's leftover chains (``cnilib._spec._leftovers``) that exist: what the sweep removes.
    chains: tuple[Leftover, ...] = ()
    veth: Veth | None = None


def netns_of(entry: CacheEntry) -> str:
    """The attachment's namespace path: the entry's ``netns``, or (libcni 1.1.2 and Podman 4 write
    none) the ``sandbox`` of the cached result's interface, as the engine's DEL reads it."""
    return entry.netns or sandbox_of(entry.result, entry.ifname)


def _netns_evidence(entry: CacheEntry, path: str, state: str) -> str:
    where = "" if entry.netns else " (the cached result's sandbox: the entry records no netns)"
    if state == MISSING:
        return f"netns {path}{where}: missing"
    return f"netns {path}{where}: {state} (a reboot leaves an empty file where the namespace was mounted)"


def _source_evidence(
    sources: Sequence[Source], answers: Sequence[Mapping[Query, Liveness]], q: Query
) -> list[str]:
    words = {Liveness.ALIVE: "knows the container", Liveness.GONE: "the container does not exist"}
    return [f"{s.name}: {words[a[q]]}" for s, a in zip(sources, answers, strict=True) if a[q] in words]


class _Facts:
    """What the node holds, gathered once."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        entries = ctx.cache.scan()
        intents = ctx.cache.scan_intents()
        self.problems = entries.problems + intents.problems
        self.items: list[tuple[CacheEntry, str, str | None]] = []
        self.records: dict[Key, tuple[CacheEntry | None, CacheEntry | None]] = {}
        for entry in (*entries.entries, *intents.entries):
            path = netns_of(entry)
            self.items.append((entry, path, netns_state(path) if path else None))
            seen = self.records.get(entry.key, (None, None))
            self.records[entry.key] = (seen[0], entry) if entry.is_intent else (entry, seen[1])
        self.attached: set[Owner] = {(e.network_name, e.container_id) for e, _, _ in self.items}
        self.live_ids = {e.container_id for e, _, state in self.items if state == LIVE}
        self.reservations = [
            r for name, conf in ctx.networks.items() for r in read_store(name, host_local_dirs(conf))
        ]
        self.nat: list[NatTable] | None = read_nat(ctx.host)
        bridges = {
            str(p.raw.get("bridge") or "cni0"): name
            for name, conf in ctx.networks.items()
            for p in conf.plugins
            if p.type == "bridge"
        }
        self.bridges = bridges
        self.veths: list[Veth] | None = bridge_veths(ctx.host, bridges)
        # Each known network's list: its file's, else (no file defines it any more) a cached one.
        self.lists = dict(ctx.networks)
        for entry, _, _ in self.items:
            if entry.network_name not in self.lists and (cached := _cached_list(entry)) is not None:
                self.lists[entry.network_name] = cached
        self.known_networks = set(ctx.networks) | {e.network_name for e, _, _ in self.items}

    def queries(self) -> set[Query]:
        out: set[Query] = {(e.container_id, e.ifname) for e, _, state in self.items if state != LIVE}
        out |= {(r.container_id, r.ifname or None) for r in self.reservations}
        out |= {(cid, None) for _, cid in owners(self.nat or ())}
        return out


class _Decider:
    """The findings, from the facts and the sources' answers."""

    def __init__(self, facts: _Facts) -> None:
        self.facts = facts
        ctx = facts.ctx
        queries = facts.queries()
        self.answers = [s.states(queries) for s in ctx.sources]
        self.verdicts = {q: combine(a[q] for a in self.answers) for q in queries}
        self.alive_ids = facts.live_ids | {q[0] for q, v in self.verdicts.items() if v == Liveness.ALIVE}
        self.now = time.time()
        self.young: set[Owner] = {
            (r.network, r.container_id) for r in facts.reservations if self.now - r.mtime < ctx.grace
        }
        self.owners = {o for o in owners(facts.nat or ()) if o[0] in facts.known_networks}

    def evidence(self, q: Query) -> list[str]:
        return _source_evidence(self.facts.ctx.sources, self.answers, q)

    def tied(
        self, conflist: NetworkConfigList | None, cid: str, entry: CacheEntry | None = None
    ) -> list[NatTie]:
        """The container's chains among what the list's plugins may leave for it (``cnilib._spec._leftovers``,
        with the entry's result when there is one) that exist."""
        if conflist is None or not self.facts.nat:
            return []
        raw = [plugin.raw for plugin in conflist.plugins]
        ifname, result = (entry.ifname, entry.result) if entry is not None else ("", None)
        return present(
            self.facts.nat, conflist.name, cid, list_leftovers(raw, conflist.name, cid, ifname, result)
        )

    # -- attachments --

    def attachments(self) -> list[Finding]:
        out = []
        for entry, path, state in self.facts.items:
            q = (entry.container_id, entry.ifname)
            if entry.is_intent and self.facts.records[entry.key][0] is not None:
                continue  # the attachment's entry says what it is (as recover() reads it): judged by it
            if state in GONE:
                evidence = [_netns_evidence(entry, path, str(state))]
            elif state != LIVE and self.verdicts.get(q) == Liveness.GONE:
                evidence = [f"netns {path}: {state}" if path else "no netns recorded"]
            else:
                if entry.network_name not in self.facts.ctx.networks and not entry.is_intent:
                    out.append(_unconfigured(entry, path, state))
                continue
            if entry.is_intent and _add_running(self.facts.ctx.cache, entry):
                continue  # an ADD in progress holds its attachment's lock: not unfinished
            out.append(self._stale(entry, evidence + self.evidence(q)))
        return out

    def _stale(self, entry: CacheEntry, evidence: list[str]) -> Finding:
        conflist = _cached_list(entry) or self.facts.ctx.networks.get(entry.network_name)
        # What the engine's DEL sweeps after the plugins' (the chains bridge 1.1.1 leaves), if there.
        evidence += [f"still present: {t.describe()}" for t in self.tied(conflist, entry.container_id, entry)]
        kind = Kind.UNFINISHED_ADD if entry.is_intent else Kind.STALE_ATTACHMENT
        what = "an ADD that never finished" if entry.is_intent else "a cached attachment"
        action = (
            "DEL with the cached configuration and arguments, CNI_NETNS empty (the sandbox is gone); "
            "then the cache entry, the intent record and any NAT chain the plugins leave go"
        )
        seen = self.facts.records[entry.key]
        return Finding(
            kind,
            entry.network_name,
            f"{what} whose sandbox is gone",
            evidence=tuple(evidence),
            container_id=entry.container_id,
            ifname=entry.ifname,
            fixable=conflist is not None,
            action=action if conflist is not None else "none: no usable configuration (cached or current)",
            subject=Subject(entry=entry, conflist=conflist, netns=netns_of(entry), seen=seen),
        )

    # -- what no entry names --

    def _orphan(self, owner: Owner, query: Query) -> bool:
        return (
            owner not in self.facts.attached
            and owner[1] not in self.alive_ids
            and self.verdicts.get(query) != Liveness.ALIVE
            and owner not in self.young
        )

    def reservations(self) -> list[Finding]:
        groups: dict[tuple[str, str, str], list[Reservation]] = {}
        for r in self.facts.reservations:
            if self._orphan((r.network, r.container_id), (r.container_id, r.ifname or None)):
                groups.setdefault((r.network, r.container_id, r.ifname), []).append(r)
        out = []
        for (network, cid, ifname), held in sorted(groups.items()):
            conflist = self.facts.ctx.networks[network]
            since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(r.mtime for r in held)))
            evidence = [f"{r.path} holds {cid}/{ifname or '(any interface)'}" for r in held]
            evidence += [f"reserved since {since}", f"no cache entry or intent record of {cid} on {network}"]
            evidence += self.evidence((cid, ifname or None))
            addresses = ", ".join(r.address for r in held)
            out.append(
                Finding(
                    Kind.ORPHAN_RESERVATION,
                    network,
                    f"host-local holds {addresses} for a container nothing knows",
                    evidence=tuple(evidence),
                    container_id=cid,
                    ifname=ifname,
                    fixable=True,
                    action=f"DEL synthesized from the configuration of {network} (CNI_NETNS empty): "
                    "host-local releases the address itself",
                    subject=Subject(conflist=conflist, reservations=tuple(held)),
                )
            )
        return out

    def chains(self, orphan_reservations: Iterable[Finding]) -> list[Finding]:
        if self.facts.nat is None:
            return []
        candidates = {o for o in self.owners if self._orphan(o, (o[1], None))}
        # A reservation being released may also have chains without a comment left to find them by.
        candidates |= {(f.network, f.container_id) for f in orphan_reservations}
        out = []
        for network, cid in sorted(candidates):
            tied = self.tied(self.facts.lists.get(network), cid)
            if not tied:
                continue
            out.append(
                Finding(
                    Kind.ORPHAN_CHAIN,
                    network,
                    "NAT chains and rules of a container that has no attachment",
                    evidence=(
                        *[t.describe() for t in tied],
                        f"no cache entry or intent record of {cid}",
                        *self.evidence((cid, None)),
                    ),
                    container_id=cid,
                    fixable=True,
                    action="delete the rules that jump to the chains, flush and delete the chains",
                    subject=Subject(chains=tuple(item for t in tied for item in t.items)),
                )
            )
        return out

    def veths(self) -> list[Finding]:
        veths = [v for v in self.facts.veths or () if v.peer_nsid is not None]
        if not veths:
            return []
        reachable = reachable_nsids(self.facts.ctx.host)
        if reachable is None:
            return []  # no evidence either way
        owners = _veth_owners(e for e, _, _ in self.facts.items)
        out = []
        for veth in veths:
            if veth.peer_nsid in reachable:
                continue
            cid, ifname = owners.get(veth.name, ("", ""))
            out.append(
                Finding(
                    Kind.ORPHAN_INTERFACE,
                    self.facts.bridges[veth.master],
                    f"veth {veth.name} on bridge {veth.master} leads into a namespace nothing uses",
                    evidence=(
                        f"its peer is in the namespace the host knows as nsid {veth.peer_nsid}",
                        "no process, thread, descriptor or nsfs mount holds that namespace",
                    ),
                    container_id=cid,
                    ifname=ifname,
                    fixable=True,
                    action=f"ip link del {veth.name} (its peer goes with it)",
                    subject=Subject(veth=veth),
                )
            )
        return out


def _veth_owners(entries: Iterable[CacheEntry]) -> dict[str, tuple[str, str]]:
    owners = {}
    for entry in entries:
        interfaces = (entry.result or {}).get("interfaces")
        for iface in interfaces if isinstance(interfaces, list) else ():
            if isinstance(iface, dict) and not iface.get("sandbox") and isinstance(iface.get("name"), str):
                owners[iface["name"]] = (entry.container_id, entry.ifname)
    return owners


def _cached_list(entry: CacheEntry) -> NetworkConfigList | None:
    try:
        conflist = NetworkConfigList.from_bytes(entry.config, source=entry.path)
    except CNIError:
        return None
    return conflist if conflist.name == entry.network_name and conflist.plugins else None


def _add_running(cache: ResultCache, entry: CacheEntry) -> bool:
    try:
        with cache.lock(*entry.key, timeout=0):
            return False
    except LockError:
        return True


def _unconfigured(entry: CacheEntry, path: str, state: str | None) -> Finding:
    return Finding(
        Kind.UNCONFIGURED_NETWORK,
        entry.network_name,
        f"an attachment of network {entry.network_name!r}, which no configuration file defines",
        evidence=(f"cache entry {entry.path}", f"netns {path}: {state}" if path else "no netns recorded"),
        container_id=entry.container_id,
        ifname=entry.ifname,
        action="report only: a later DEL uses the cached configuration",
    )


def _unreadable(problem: Any) -> Finding:
    return Finding(
        Kind.UNREADABLE_CACHE_FILE,
        "",
        f"a cache file that cannot be used: {problem}",
        evidence=(str(problem.message),),
        action="report only: inspect and remove it by hand",
    )


def examine(ctx: Context, *, sources_checked: bool = False) -> Diagnosis:
    """Examine the node described by ``ctx``."""
    started = time.monotonic()
    if not sources_checked:
        for source in ctx.sources:
            source.check()
    networks, findings = examine_config(ctx.conf_dir, ctx.cni, ctx.cache.cache_dir)
    ctx.networks = networks
    facts = _Facts(ctx)
    decide = _Decider(facts)
    findings += [_unreadable(p) for p in facts.problems]
    findings += decide.attachments()
    reservations = decide.reservations()
    findings += reservations + decide.chains(reservations) + decide.veths()
    checked = Checked(
        networks=len(networks),
        attachments=sum(1 for e, _, _ in facts.items if not e.is_intent),
        unfinished_adds=sum(1 for e, _, _ in facts.items if e.is_intent),
        reservations=len(facts.reservations),
        chains=attachment_chains(facts.nat or ()),
        interfaces=len(facts.veths or ()),
        sources=("netns", *(s.name for s in ctx.sources)),
        duration_seconds=round(time.monotonic() - started, 3),
    )
    return Diagnosis(tuple(findings), checked, context=ctx)
