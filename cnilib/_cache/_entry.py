"""The entry format: libcni's ``cachedInfo`` JSON, byte for byte as Go's ``json.Marshal`` writes it.

The same format, with its own ``kind``, holds cnilib's intent records (an ADD that has started
but not finished): an intent is an entry without a result.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._base._errors import CacheError, ResultError
from .._model._models import GCAttachment, NetworkConfigList, RuntimeConfig
from .._model._results import Result, parse_result
from ._format import CACHE_KIND, INTENT_KIND, entry_bytes, entry_fields, go_json_dumps, parse_entry

__all__ = [
    "CACHE_KIND",
    "INTENT_KIND",
    "CacheEntry",
    "CacheProblem",
    "CacheScan",
    "go_json_dumps",
]


def _pairs(
    value: Iterable[Iterable[str]] | Mapping[str, str] | None,
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    items = value.items() if isinstance(value, Mapping) else value
    out: list[tuple[str, str]] = []
    for item in items:
        key, val = item
        out.append((key, val))
    return tuple(out)


def _mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value) if value else {}


def _optional_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    return None if value is None else dict(value)


@attrs.frozen
class CacheEntry:
    """One attachment's cache entry: what libcni's ``cachedInfo`` holds.

    ``config`` is the network configuration list's raw bytes, ``result`` the raw result object of
    the last ADD. ``legacy`` marks an old file holding only a bare result (no identity, no config).
    An intent record (``kind`` :data:`INTENT_KIND`) has the same fields and no result.
    """

    network_name: str
    container_id: str
    ifname: str
    config: bytes
    netns: str = ""
    cni_args: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_pairs)
    capability_args: Mapping[str, Any] = attrs.field(factory=dict, converter=_mapping)
    result: Mapping[str, Any] | None = attrs.field(default=None, converter=_optional_mapping)
    kind: str = CACHE_KIND
    path: str | None = attrs.field(default=None, eq=False)
    legacy: bool = False

    @classmethod
    def create(
        cls,
        network: NetworkConfigList,
        runtime: RuntimeConfig,
        result: Result | Mapping[str, Any] | None,
        *,
        kind: str = CACHE_KIND,
    ) -> CacheEntry:
        """The entry libcni writes after a successful ADD of ``network`` with ``runtime``."""
        raw = result.to_dict() if isinstance(result, Result) else result
        return cls(**entry_fields(network, runtime, raw, kind))

    def as_intent(self) -> CacheEntry:
        """The entry as an intent record: same identity and arguments, no result."""
        return attrs.evolve(self, kind=INTENT_KIND, result=None, path=None, legacy=False)

    @property
    def key(self) -> tuple[str, str, str]:
        """``(network_name, container_id, ifname)``: the attachment the entry belongs to."""
        return (self.network_name, self.container_id, self.ifname)

    @property
    def attachment(self) -> GCAttachment:
        """The entry as a GC attachment (container id and interface name)."""
        return GCAttachment(container_id=self.container_id, ifname=self.ifname)

    @property
    def file_name(self) -> str:
        """The entry's file name under ``results/``: ``<network>-<containerID>-<ifName>``."""
        return f"{self.network_name}-{self.container_id}-{self.ifname}"

    @property
    def is_intent(self) -> bool:
        """True for an intent record: an ADD that started and did not finish."""
        return self.kind == INTENT_KIND

    def parsed_result(self, version: str | None = None) -> Result:
        """The cached result, typed, converted to ``version`` if given (as DEL and CHECK need).

        Raises :class:`~cnilib.CacheError` when the entry holds no result and
        :class:`~cnilib.ResultError` when the result is malformed or cannot be converted.
        """
        where = self.path or self.file_name
        if self.result is None:
            raise CacheError(f"cache entry {where} holds no result")
        try:
            parsed: Result = parse_result(self.result)
            if version is not None:
                parsed = parsed.convert_to(version)
        except ResultError as exc:
            raise ResultError(
                f"cached result is unusable: {exc.message}", path=exc.path, source=where
            ) from None
        except RecursionError:
            raise ResultError("cached result is nested too deeply", path="$", source=where) from None
        return parsed

    def runtime_config(self) -> RuntimeConfig:
        """The runtime configuration the attachment was made with (for GC's DEL and for CHECK).

        A netns path that is not absolute (no runtime writes one, but a file may hold anything)
        is read as none: relative to a working directory nobody knows, it names nothing, and DEL
        treats the sandbox as gone."""
        return RuntimeConfig(
            container_id=self.container_id,
            netns=self.netns if self.netns.startswith("/") else "",
            ifname=self.ifname,
            args=self.cni_args,
            capability_args=self.capability_args,
        )

    def to_json_bytes(self) -> bytes:
        """The file content, byte for byte what libcni's ``json.Marshal(cachedInfo)`` produces."""
        return entry_bytes(self)

    @classmethod
    def from_json_bytes(
        cls,
        data: bytes,
        *,
        path: str | None = None,
        key: tuple[str, str, str] | None = None,
        kind: str = CACHE_KIND,
    ) -> CacheEntry:
        """Parse a cache file's content (an intent record's with ``kind=INTENT_KIND``).

        A legacy file (a bare result: ``cniVersion``, no ``kind``) needs ``key`` to know its owner.
        Raises :class:`~cnilib.CacheError` naming ``path`` for anything unusable, however corrupt
        (bad UTF-8, deep nesting, NaN).
        """
        return cls(**parse_entry(data, path=path, key=key, kind=kind), path=path)


@attrs.frozen
class CacheProblem:
    """A cache file that could not be used, and why.

    ``foreign`` is True for a valid entry that belongs to another attachment whose file name happens
    to be the same (libcni's ``<network>-<id>-<ifname>`` is ambiguous when names contain ``-``):
    such a file must not be deleted on behalf of the attachment that was asked for.
    """

    path: str
    message: str
    foreign: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@attrs.frozen
class CacheScan:
    """What :meth:`ResultCache.scan` found: usable entries (by file name) and problem files."""

    entries: tuple[CacheEntry, ...]
    problems: tuple[CacheProblem, ...]
