"""What a sandbox holds after the last DEL, split into what was left behind and what the plugins
keep across attachments on purpose: one rule, used by ``cnilib try`` and the ``cnilib_sandbox``
fixture (re-exported by :mod:`cnilib.sandbox`).

Plugins keep some state for every attachment to share, created by the first ADD and never removed
by a DEL: the bridge plugin's bridge with its addresses and routes, host-local's
``last_reserved_ip.N`` and ``lock`` files, portmap's and the firewall plugin's shared chains and
the rules that jump to them (and sysctls, which no inventory lists). Everything else belongs to one
attachment and must go with its DEL: a veth or ifb device, a per-container chain or a rule naming
a container or its address, host-local's file for an address, a cache entry, anything in a
container namespace. The rule reads only what remains; ``cnilib try``, which also attaches a
second container, counts whatever that one adds and does not take away as left behind too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

import attrs

from cnilib.sandbox._state import HOST, StateItem

#: Chains the plugins create once per network namespace and share between attachments:
#: portmap's three (nat) and the firewall plugin's two (filter, iptables backend).
SHARED_CHAINS = frozenset(
    {"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK", "CNI-FORWARD", "CNI-ADMIN"}
)
#: Link kinds a plugin shares between attachments (the bridge plugin's bridge).
SHARED_LINK_KINDS = frozenset({"bridge"})
#: host-local's files kept per network: the last address handed out (one per range) and its lock.
_KEPT_FILE = re.compile(r"last_reserved_ip\.\d+|lock")

#: The words ``cnilib try`` and the ``cnilib_sandbox`` fixture use for the two parts.
LEFT_TITLE = "left behind by DEL"
KEPT_TITLE = "kept by the plugins across attachments (not a leak)"


def duration_text(seconds: float) -> str:
    """How ``cnilib try`` and the conformance report show a step's duration: ``(0.12s)``."""
    return f"({seconds:.2f}s)"


def counts_line(passed: int, failed: int, skipped: int) -> str:
    """The line that ends ``cnilib try`` and a conformance report: ``12 passed, 1 failed, 2 skipped``."""
    return f"{passed} passed, {failed} failed, {skipped} skipped"


_LINK = re.compile(r"(?P<name>\S+) \((?P<kind>[^)]*)\)")
_PER_ATTACHMENT_RULE = re.compile(r' id: \\?"| -[sd] ')


@attrs.frozen
class Leftovers:
    """What remains in a sandbox: ``left`` (left behind by DEL: a leak) and ``kept`` (what the
    plugins keep across attachments on purpose), each sorted."""

    left: tuple[StateItem, ...]
    kept: tuple[StateItem, ...]

    def describe(self, *, kept: bool = True) -> str:
        """The two parts as ``cnilib try`` prints them (``kept=False``: the first only)."""
        parts = [(LEFT_TITLE, self.left)] + ([(KEPT_TITLE, self.kept)] if kept else [])
        return "".join(format_section(title, items) for title, items in parts)


def format_section(title: str, items: Iterable[object]) -> str:
    """``title: nothing``, or the title and one indented line per item (``cnilib try``'s report)."""
    lines = [f"  {item}\n" for item in items]
    return f"{title}:\n" + "".join(lines) if lines else f"{title}: nothing\n"


def split_leftovers(
    items: Iterable[StateItem], *, now: Iterable[StateItem] = (), grew: Iterable[StateItem] = ()
) -> Leftovers:
    """Split ``items`` (what is new in a sandbox) into what was left behind and what the plugins
    keep across attachments (see the module documentation).

    ``now``: the sandbox's whole inventory, to know the bridges an address or a route belongs to
    (``items`` already counts); ``grew``: what a second attachment added and did not take away
    (``cnilib try``), left behind whatever it looks like.
    """
    items, grew_set = set(items), set(grew)
    links = (_LINK.match(i.key) for i in (*items, *now) if i.where == HOST and i.kind == "link")
    shared = {m["name"] for m in links if m is not None and m["kind"] in SHARED_LINK_KINDS}
    kept = {i for i in items - grew_set if _kept(i, shared)}
    return Leftovers(tuple(sorted((items | grew_set) - kept)), tuple(sorted(kept)))


def _kept(item: StateItem, shared_links: set[str]) -> bool:
    if item.where != HOST:
        return False  # a container's state goes with its attachment
    if item.kind == "link":
        match = _LINK.match(item.key)
        return match is not None and match["name"] in shared_links
    if item.kind == "address":
        return item.key.rpartition(" on ")[2] in shared_links
    if item.kind == "route":
        words = item.key.split()
        return "dev" in words[:-1] and words[words.index("dev") + 1] in shared_links
    if item.kind == "file":
        return _KEPT_FILE.fullmatch(os.path.basename(item.key)) is not None
    if item.kind == "iptables":
        return _shared_rule(item.key)
    return False  # cache entries, nftables tables and anything new: one attachment's


def _shared_rule(key: str) -> bool:
    """Whether an ``iptables`` item (``TOOL -t TABLE LINE``) is a shared chain or a rule of one
    that names no container, no address and no per-container chain."""
    line = key.split(" ", 3)[3]
    if line.startswith(":"):
        return line[1:].split(" ", 1)[0] in SHARED_CHAINS
    words = line.split()
    chain = words[1] if len(words) > 1 else ""
    target = words[words.index("-j") + 1] if "-j" in words[:-1] else ""
    if _PER_ATTACHMENT_RULE.search(line) or (target.startswith("CNI-") and target not in SHARED_CHAINS):
        return False
    return chain in SHARED_CHAINS or (not chain.startswith("CNI-") and target in SHARED_CHAINS)
