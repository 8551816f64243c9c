"""The sandbox's vocabulary and how it reads its state: the errors, :class:`Container`,
:class:`StateItem` and :class:`Inventory` (re-exported by :mod:`cnilib.sandbox`), and the inventory
probes (one shell script run in the sandbox, its sections parsed into items)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs

from cnilib._base._errors import CNIError

# The ``where`` of an item of the sandbox's host namespace (``cnilib.sandbox.HOST``).
HOST = "host"

_CACHE_IN_SANDBOX = "/run/cnilib-cache"

# What an inventory asks in every namespace (one shell run in the sandbox, sections marked).
_MARK = "@@cnilib-probe"
_PROBES = (
    ("link", "ip -d -j link show"),
    ("addr", "ip -j addr show"),
    ("route4", "ip -4 -j route show table all"),
    ("route6", "ip -6 -j route show table all"),
    ("iptables", "iptables-save"),
    ("ip6tables", "ip6tables-save"),
    ("nft", "nft -j list tables"),
)
# Files the plugins keep (host-local's leases, dhcp's socket...), not the namespaces or the cache.
_FIND = (
    f"find /var/lib/cni /run -path /run/netns -prune -o -path {_CACHE_IN_SANDBOX} -prune -o "
    "\\( -type f -o -type s \\) ! -name xtables.lock -print"
)


class SandboxError(CNIError):
    """The sandbox could not be created, used or closed."""

    __module__ = "cnilib.sandbox"  # tracebacks name the public path


class UserNamespaceUnavailable(SandboxError):
    """This kernel (or its configuration) does not let an unprivileged user create a user namespace."""

    __module__ = "cnilib.sandbox"  # tracebacks name the public path


@attrs.frozen
class Container:
    """A container network namespace inside a sandbox; ``path`` is what goes into ``CNI_NETNS``."""

    name: str
    path: str


@attrs.frozen(order=True)
class StateItem:
    """One piece of a sandbox's state: ``where`` (``"host"`` or a container's name), ``kind``
    (``link``, ``address``, ``route``, ``iptables``, ``nftables``, ``file``, ``cache``) and a
    ``key`` that stays the same while the thing exists (no counters, no interface indexes)."""

    where: str
    kind: str
    key: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.key}"


@attrs.frozen
class Inventory:
    """Everything :meth:`Sandbox.inventory` found, as a set of :class:`StateItem`."""

    items: frozenset[StateItem]

    def __sub__(self, other: Inventory) -> list[StateItem]:
        """What is here and not in ``other``, sorted."""
        return sorted(self.items - other.items)

    def __iter__(self) -> Iterator[StateItem]:
        return iter(sorted(self.items))

    def __len__(self) -> int:
        return len(self.items)


def _probe_script(targets: Sequence[tuple[str, str]], *, host: bool) -> str:
    """The script printing every probe's output for ``targets`` ((where, command prefix)), marked."""
    lines = [
        f"echo '{_MARK} {name} {probe}'; {prefix}{command} 2>/dev/null"
        for name, prefix in targets
        for probe, command in _PROBES
    ]
    if host:
        lines.append(f"echo '{_MARK} {HOST} files'; {_FIND} 2>/dev/null")
    return "\n".join(lines)


def _probe_sections(stdout: str) -> dict[tuple[str, str], str]:
    """The script's output split by (where, probe)."""
    out: dict[tuple[str, str], list[str]] = {}
    current: list[str] = []
    for line in stdout.splitlines():
        if line.startswith(_MARK + " "):
            _, where, probe = line.split(" ", 2)
            current = out.setdefault((where, probe), [])
        else:
            current.append(line)
    return {key: "\n".join(value) for key, value in out.items()}


def _items(where: str, out: Mapping[tuple[str, str], str]) -> Iterator[StateItem]:
    def js(probe: str) -> Any:
        text = out.get((where, probe), "").strip()
        try:
            return json.loads(text) if text else []
        except json.JSONDecodeError as exc:
            raise SandboxError(f"{probe} in {where} printed what is not JSON: {exc}") from None

    for link in js("link"):
        kind = (link.get("linkinfo") or {}).get("info_kind", link.get("link_type", ""))
        master = f" master {link['master']}" if link.get("master") else ""
        yield StateItem(where, "link", f"{link.get('ifname')} ({kind}){master}")
    for link in js("addr"):
        for addr in link.get("addr_info", []):
            if addr.get("family") == "inet6" and addr.get("scope") == "link":
                continue  # made by the kernel for every link, and late (DAD): the link says it
            local, plen = addr.get("local"), addr.get("prefixlen")
            yield StateItem(where, "address", f"{local}/{plen} on {link.get('ifname')}")
    for route in [*js("route4"), *js("route6")]:
        if str(route.get("dst", "")).startswith(("fe80:", "ff00::")):
            continue  # the kernel's own per-link IPv6 routes, as above
        yield StateItem(where, "route", _route_key(route))
    for tool in ("iptables", "ip6tables"):
        yield from _iptables_items(where, tool, out.get((where, tool), ""))
    data = js("nft")
    for entry in data.get("nftables", []) if isinstance(data, dict) else []:
        t = entry.get("table")
        # iptables-nft's own tables are reported (rule by rule) by iptables-save above.
        if t and t.get("name") not in ("filter", "nat", "mangle", "raw", "security"):
            yield StateItem(where, "nftables", f"table {t.get('family')} {t.get('name')}")


def _iptables_items(where: str, tool: str, text: str) -> Iterator[StateItem]:
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A ") or (line.startswith(":") and " - " in line + " "):
            # Rules and user-defined chains (policy "-"); built-in chains come with the table.
            yield StateItem(where, "iptables", f"{tool} -t {table} {line.split(' [')[0]}")


def _route_key(route: Mapping[str, Any]) -> str:
    parts = [str(route.get("dst", "?"))]
    for field, word in (("gateway", "via"), ("dev", "dev"), ("table", "table"), ("src", "src")):
        if route.get(field):
            parts += [word, str(route[field])]
    if route.get("type") not in (None, "unicast"):
        parts.insert(0, str(route["type"]))
    return " ".join(parts)
