"""The NAT state the plugins keep per container, found by its names and comments, and removed.

The reference plugins name a container's chains after a hash of the network name and container id
(their ``utils.FormatChainName``: ``CNI-`` + the first hex digits of SHA-512(network + id), 28
characters in all) and comment the rules with ``name: "<network>" id: "<id>"``:

* bridge and ptp (``ipMasq``): the chain ``CNI-<hash>`` in ``nat``, and a jump to it from
  ``POSTROUTING`` for the container's address;
* portmap: the chain ``CNI-DN-<hash>`` in ``nat``, and a jump to it from ``CNI-HOSTPORT-DNAT``
  (comment ``dnat name: ...``).

Only the minimum the doctor needs; the engine's table of what each plugin leaves is separate.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections.abc import Iterable

import attrs

from ._host import Host
from ._model import DoctorError

__all__ = ["NatRule", "NatTable", "NatTie", "chain_name", "read_nat", "remove_tie", "ties", "tie_owners"]

_CHAIN_LENGTH = 28
_OWNER = re.compile(r'(?:dnat )?name: "(?P<net>[^"\\]*)" id: "(?P<cid>[^"\\]*)"')
_TOOLS = {4: ("iptables-save", "iptables-restore"), 6: ("ip6tables-save", "ip6tables-restore")}

Owner = tuple[str, str]


def chain_name(network: str, container_id: str, prefix: str = "") -> str:
    """The plugins' chain name for a container of a network: ``CNI-`` + ``prefix`` + hash."""
    digest = hashlib.sha512((network + container_id).encode()).hexdigest()
    return f"CNI-{prefix}{digest}"[:_CHAIN_LENGTH]


def container_chains(network: str, container_id: str) -> tuple[str, str]:
    """bridge's (and ptp's) ipMasq chain and portmap's DNAT chain for the container."""
    return chain_name(network, container_id), chain_name(network, container_id, "DN-")


@attrs.frozen
class NatRule:
    """One rule of the ``nat`` table, as ``iptables-save`` prints it."""

    chain: str
    #: The ``-A CHAIN ...`` line (what ``iptables-restore`` reads back).
    line: str
    #: The ``-j`` target ("" when none).
    target: str
    #: ``(network, container id)`` from a plugin's comment, if it has one.
    owner: Owner | None


@attrs.frozen
class NatTable:
    """The ``nat`` table of one family (4 or 6)."""

    family: int
    chains: frozenset[str]
    rules: tuple[NatRule, ...]


@attrs.frozen
class NatTie:
    """What ties the NAT state of one family to one container of a network."""

    network: str
    container_id: str
    family: int
    #: The container's own chains that exist.
    chains: tuple[str, ...]
    #: Rules in other chains that jump to them or carry the container's comment.
    rules: tuple[NatRule, ...]

    def describe(self) -> str:
        """The chains and the number of rules, for the report."""
        what = ", ".join(self.chains) or "no chain"
        ip = "iptables" if self.family == 4 else "ip6tables"
        return f"{ip} nat: {what}; {len(self.rules)} rule(s) elsewhere pointing at them"


def _rule(line: str) -> NatRule | None:
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    if len(words) < 2:
        return None
    target = comment = ""
    for i, word in enumerate(words[:-1]):
        if word in ("-j", "--jump"):
            target = words[i + 1]
        elif word == "--comment":
            comment = words[i + 1]
    match = _OWNER.fullmatch(comment)
    return NatRule(words[1], line, target, (match["net"], match["cid"]) if match else None)


def parse_save(text: str, family: int) -> NatTable:
    """The ``nat`` table from ``iptables-save -t nat`` output."""
    chains: set[str] = set()
    rules: list[NatRule] = []
    for line in text.splitlines():
        if line.startswith(":"):
            chains.add(line[1:].split(" ", 1)[0])
        elif line.startswith("-A "):
            rule = _rule(line)
            if rule is not None:
                rules.append(rule)
    return NatTable(family, frozenset(chains), tuple(rules))


def read_nat(host: Host) -> list[NatTable] | None:
    """Both families' ``nat`` tables (a family whose tools are missing is left out; None when
    iptables cannot be read at all)."""
    tables = []
    for family, (save, _) in _TOOLS.items():
        try:
            proc = host.run([save, "-t", "nat"])
        except DoctorError:
            continue  # not installed
        if proc.returncode != 0:
            if family == 4:
                return None
            continue  # no IPv6 on this node
        tables.append(parse_save(proc.stdout, family))
    return tables or None


def tie_owners(tables: Iterable[NatTable]) -> set[Owner]:
    """Every ``(network, container id)`` a rule's comment names."""
    return {r.owner for t in tables for r in t.rules if r.owner is not None}


def ties(tables: Iterable[NatTable], owners: Iterable[Owner]) -> dict[Owner, list[NatTie]]:
    """The NAT state of each of ``owners`` that exists (owners without any are left out)."""
    out: dict[Owner, list[NatTie]] = {}
    tables = list(tables)
    for owner in set(owners):
        mine = set(container_chains(*owner))
        for table in tables:
            chains = tuple(sorted(mine & table.chains))
            rules = tuple(
                r for r in table.rules if r.chain not in mine and (r.target in mine or r.owner == owner)
            )
            if chains or rules:
                out.setdefault(owner, []).append(NatTie(*owner, table.family, chains, rules))
    return out


def remove_tie(host: Host, tie: NatTie) -> None:
    """Delete the rules, flush and delete the chains, in one ``iptables-restore`` transaction."""
    lines = ["*nat"]
    lines += ["-D" + rule.line[2:] for rule in tie.rules]
    lines += [f"-F {chain}" for chain in tie.chains]
    lines += [f"-X {chain}" for chain in tie.chains]
    lines.append("COMMIT")
    restore = _TOOLS[tie.family][1]
    proc = host.run([restore, "--noflush", "-w", "10"], stdin="\n".join(lines) + "\n")
    if proc.returncode != 0:
        raise DoctorError(f"{restore} could not remove {tie.describe()}: {proc.stderr.strip()}")
