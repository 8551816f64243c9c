"""The node's NAT tables, read once, and which per-attachment chains of ``cnilib._spec._leftovers`` they hold.

What the plugins name and comment per attachment is ``cnilib._spec._leftovers``' knowledge (the chain
names, and the way back from a rule's comment to its network and container); what removes it is
the sweep program (``cnilib._engine._sweep``, whose parser reads the tables here too). This module only
reads the node's state: ``iptables-save -t nat`` of each family.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .._engine._sweep import option, parse_rules, target
from .._spec._leftover_items import Chain, Leftover
from .._spec._leftovers import comment_owner, is_attachment_chain
from ._host import Host
from ._model import DoctorError

__all__ = ["NatTable", "NatTie", "attachment_chains", "owners", "parse_table", "present", "read_nat"]

Owner = tuple[str, str]
_SAVE = {"ipv4": "iptables-save", "ipv6": "ip6tables-save"}


@attrs.frozen
class NatTable:
    """The ``nat`` table of one family (``ipv4``/``ipv6``, as the leftovers spell it)."""

    family: str
    chains: frozenset[str]
    #: Every rule as its words, the chain first (``-A`` left out).
    rules: tuple[tuple[str, ...], ...]


@attrs.frozen
class NatTie:
    """The leftover chains of one container of a network that exist in one family's table."""

    network: str
    container_id: str
    family: str
    #: The leftovers (``cnilib._spec._leftovers.Chain``) whose chain exists: what the sweep removes.
    items: tuple[Chain, ...]
    #: How many rules outside those chains jump to them.
    jumps: int

    @property
    def chains(self) -> tuple[str, ...]:
        """The chains' names, sorted."""
        return tuple(sorted({item.name for item in self.items}))

    def describe(self) -> str:
        """The chains and the rules jumping to them, for the report."""
        ip = "iptables" if self.family == "ipv4" else "ip6tables"
        return f"{ip} nat: {', '.join(self.chains)}; {self.jumps} rule(s) elsewhere pointing at them"


def read_nat(host: Host) -> list[NatTable] | None:
    """Both families' ``nat`` tables (a family whose tools are missing is left out; None when
    iptables cannot be read at all)."""
    tables = []
    for family, save in _SAVE.items():
        try:
            proc = host.run([save, "-t", "nat"])
        except DoctorError:
            continue  # not installed
        if proc.returncode != 0:
            if family == "ipv4":
                return None
            continue  # no IPv6 on this node
        tables.append(parse_table(proc.stdout, family))
    return tables or None


def parse_table(text: str, family: str) -> NatTable:
    """A table from ``iptables-save`` output (the sweep program's parser)."""
    chains, rules = parse_rules(text)
    return NatTable(family, frozenset(chains), tuple(tuple(r) for r in rules))


def owners(tables: Iterable[NatTable]) -> set[Owner]:
    """Every ``(network, container id)`` a plugin's rule comment names."""
    found = (comment_owner(option(r, "--comment")) for t in tables for r in t.rules)
    return {o for o in found if o is not None}


def attachment_chains(tables: Iterable[NatTable]) -> int:
    """How many chains have the form of one attachment's (``CNI-`` and a hash)."""
    return sum(1 for t in tables for c in t.chains if is_attachment_chain(c))


def present(
    tables: Iterable[NatTable], network: str, container_id: str, items: Iterable[Leftover]
) -> list[NatTie]:
    """Which ``nat`` chains among the leftovers ``items`` of the container exist, per family."""
    chains = [i for i in items if isinstance(i, Chain) and i.table == "nat"]
    out = []
    for table in tables:
        found = tuple(c for c in chains if c.family == table.family and c.name in table.chains)
        names = {c.name for c in found}
        if found:
            jumps = sum(1 for r in table.rules if r[0] not in names and target(r) in names)
            out.append(NatTie(network, container_id, table.family, found, jumps))
    return out
