"""The values the plans pass around, made and read in one place.

Only the typed path loads this module (the plans take ``TypedValues`` unless given values).

A plan never builds a request, decodes an outcome or creates a cache entry itself: it asks its
:class:`Values`. :class:`TypedValues` (the library's path) answers with the typed models; the
command line's fast path (``cnilib._lean``) answers with plain, validated JSON values that quack
the same, so that one set of plans serves both without importing attrs on the fast path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .._cache._entry import CacheEntry
from .._cache._format import CACHE_KIND, INTENT_KIND
from .._lean._results import cached_result
from .._models import cached_runtime
from .._protocol import ExecOutcome, ExecRequest, build_request, decode_outcome
from .._results import Result, parse_result
from ._effects import Placeholder
from ._preflight import with_cached_args

if TYPE_CHECKING:
    from .._models import NetworkConfigList, PluginConfig, RuntimeConfig
    from .._version import Verb

__all__ = ["TypedValues", "Values"]


class Values(Protocol):
    """What the plans ask of their values (see the module docstring)."""

    def request(
        self,
        verb: Verb,
        conflist: NetworkConfigList,
        plugin: PluginConfig,
        rt: RuntimeConfig,
        *,
        version: str,
        search_path: tuple[str, ...],
        prev: Any,
    ) -> ExecRequest:
        """The request that runs ``plugin`` of ``conflist`` for ``verb`` (``prev``: prevResult)."""
        ...

    def decode(self, request: ExecRequest, outcome: ExecOutcome) -> Any:
        """The outcome's value (an ADD's result, None, version info) or its error."""
        ...

    def expired(self) -> ExecOutcome:
        """The outcome of a plugin that could not start before its deadline: a timeout."""
        ...

    def entry(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, result: Any, *, intent: bool = False
    ) -> CacheEntry:
        """The attachment's cache entry (``intent``: its intent record, without a result)."""
        ...

    def is_result(self, value: Any) -> bool:
        """True for a decoded result (not None, not a dry run's placeholder)."""
        ...

    def empty_result(self, version: str) -> Any:
        """The empty result of ``version`` (what ADD returns when the last plugin printed null)."""
        ...

    def convert(self, result: Any, version: str) -> Any:
        """``result`` in ``version``; :class:`~cnilib.ResultError` when it cannot be."""
        ...

    def cached_result(self, entry: CacheEntry, version: str) -> Any:
        """An entry's result in ``version`` (DEL's prevResult); a :class:`~cnilib.CNIError` when it
        is unusable."""
        ...

    def with_cached_args(self, rt: RuntimeConfig, cached: CacheEntry | None) -> RuntimeConfig:
        """DEL/CHECK without CNI_ARGS or capability args use the ones ADD was made with; explicit win."""
        ...

    def with_netns(self, rt: RuntimeConfig, netns: str) -> RuntimeConfig:
        """``rt`` with another netns path (``""``: the sandbox is gone)."""
        ...

    def request_of(self, fields: dict[str, Any]) -> ExecRequest:
        """A request from its fields (``ExecRequest``'s; cnilib's helper programs)."""
        ...


class TypedValues:
    """The library's values: :class:`~cnilib.ExecRequest`, the result classes, :class:`~cnilib.CacheEntry`."""

    __slots__ = ()

    def request(
        self,
        verb: Verb,
        conflist: NetworkConfigList,
        plugin: PluginConfig,
        rt: RuntimeConfig,
        *,
        version: str,
        search_path: tuple[str, ...],
        prev: Any,
    ) -> ExecRequest:
        placeholder = prev if isinstance(prev, Placeholder) else None
        req = build_request(
            verb,
            plugin,
            rt,
            network_name=conflist.name,
            cni_version=version,
            search_path=search_path,
            # A stand-in object keeps prevResult where the real one would be in stdin's key order.
            # (A cached result may come as the fast path's reader wrote it: see cached_result.)
            prev_result={} if placeholder else None if prev is None else prev.to_dict(),
        )
        if placeholder is not None:
            stdin = json.loads(req.stdin)
            stdin["prevResult"] = placeholder.text
            req = attrs.evolve(req, stdin=json.dumps(stdin, separators=(",", ":")).encode())
        return req

    def decode(self, request: ExecRequest, outcome: ExecOutcome) -> Any:
        return decode_outcome(request, outcome)

    def expired(self) -> ExecOutcome:
        return ExecOutcome(exit_status=None, timed_out=True, timeout=0.0)

    def entry(
        self, conflist: NetworkConfigList, rt: RuntimeConfig, result: Any, *, intent: bool = False
    ) -> CacheEntry:
        return CacheEntry.create(conflist, rt, result, kind=INTENT_KIND if intent else CACHE_KIND)

    def is_result(self, value: Any) -> bool:
        return isinstance(value, Result)

    def empty_result(self, version: str) -> Any:
        return parse_result({"cniVersion": version})

    def convert(self, result: Any, version: str) -> Any:
        return result.convert_to(version)

    def cached_result(self, entry: CacheEntry, version: str) -> Any:
        # DEL only sends it on, as prevResult: read as the model would write it, without building
        # the model, when the fast path's reader is sure; else the model (its answer or its error).
        return cached_result(entry, version)

    def with_cached_args(self, rt: RuntimeConfig, cached: CacheEntry | None) -> RuntimeConfig:
        return with_cached_args(rt, cached)

    def with_netns(self, rt: RuntimeConfig, netns: str) -> RuntimeConfig:
        # (rt may hold cached arguments, which go on unchecked: see with_cached_args)
        return cached_runtime(rt, netns=netns)

    def request_of(self, fields: dict[str, Any]) -> ExecRequest:
        return ExecRequest(**fields)
