"""What a plugin may leave on the node for one attachment: the kinds of leftovers.

:mod:`cnilib._leftovers` says which plugin leaves which (its table) and makes the request that
removes them; ``_sweep.py`` removes them, reading each item's JSON form (:meth:`Leftover.to_dict`).
Free of attrs and typing: DEL on the command line's fast path uses it.
"""

from __future__ import annotations

from collections.abc import Iterable

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Chain", "File", "Leftover", "Link", "Reservations", "Rule"]


class Leftover:
    """One thing a plugin may leave for an attachment; ``plugin`` is its type. Subclasses say what."""

    __slots__ = ("plugin",)
    kind = ""
    #: Removing it can never touch another container's state (see the module docstring).
    owned = True

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (what the sweep program reads)."""
        out: dict[str, Any] = {"kind": self.kind, "plugin": self.plugin}
        for cls in type(self).__mro__:
            for name in getattr(cls, "__slots__", ()):
                if name != "plugin":
                    value = getattr(self, name)
                    out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Leftover) and type(other) is type(self) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "kind")
        return f"{type(self).__name__}({fields})"


class Chain(Leftover):
    """An iptables chain of this attachment (``family`` ``ipv4``/``ipv6``), with the rules of
    ``parents`` that jump to it. ``sources``: the addresses whose jump rules are this
    attachment's (empty: every rule jumping to the chain is, its name being the attachment's)."""

    __slots__ = ("family", "name", "parents", "sources", "table")
    kind = "chain"

    def __init__(
        self,
        plugin: str,
        family: str,
        table: str,
        name: str,
        parents: Iterable[str],
        sources: Iterable[str] = (),
    ) -> None:
        super().__init__(plugin)
        self.family = family
        self.table = table
        self.name = name
        self.parents = tuple(parents)
        self.sources = tuple(sources)


class Rule(Leftover):
    """An iptables rule (``spec``, as given to ``-A chain``) that names only an address: never
    owned (another container may hold the same address later); its plugin removes it."""

    __slots__ = ("chain", "family", "spec", "table")
    kind = "rule"
    owned = False

    def __init__(self, plugin: str, family: str, table: str, chain: str, spec: Iterable[str]) -> None:
        super().__init__(plugin)
        self.family = family
        self.table = table
        self.chain = chain
        self.spec = tuple(spec)


class Link(Leftover):
    """A link in the plugins' (host) namespace; ``mac``, when known, must match for it to be ours."""

    __slots__ = ("mac", "name")
    kind = "link"

    def __init__(self, plugin: str, name: str, mac: str = "") -> None:
        super().__init__(plugin)
        self.name = name
        self.mac = mac


class File(Leftover):
    """A file whose name is the attachment's."""

    __slots__ = ("path",)
    kind = "file"

    def __init__(self, plugin: str, path: str) -> None:
        super().__init__(plugin)
        self.path = path


class Reservations(Leftover):
    """host-local's reservations: files of ``directory`` (named by address) holding exactly the
    container id and the interface name."""

    __slots__ = ("container_id", "directory", "ifname")
    kind = "reservations"

    def __init__(self, plugin: str, directory: str, container_id: str, ifname: str) -> None:
        super().__init__(plugin)
        self.directory = directory
        self.container_id = container_id
        self.ifname = ifname
