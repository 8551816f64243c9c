"""The values the plans pass around, made and read in one place.

Only the typed path loads this module (the library's front ends give the planner ``TypedValues``).

A plan never builds a request, decodes an outcome or creates a cache entry itself: it asks its
:class:`Values`. :class:`TypedValues` (the library's path) answers with the typed models; the
command line's fast path (``cnilib._cli._fast``) answers with plain, validated JSON values of the same
shapes (:mod:`cnilib._spec._seam`), so that one set of plans serves both without importing attrs
on the fast path, and mypy checks both families against :class:`Values`.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard, TypeVar

from .._cache._entry import CacheEntry
from .._cache._format import CACHE_KIND, INTENT_KIND, entry_fields
from .._exec._protocol import ExecOutcome, ExecRequest, decode_outcome
from .._model._models import cached_runtime
from .._model._results import AnyResult, Result, parse_result
from .._spec._plain_results import cached_result
from .._spec._wire import request_fields
from ._effects import Placeholder
from ._preflight import cached_args

if TYPE_CHECKING:
    from .._model._models import VersionInfo
    from .._spec._seam import ConfList, Entry, Outcome, Plugin, Request, ResultDoc, Runtime
    from .._spec._version import Verb

__all__ = ["TypedValues", "Values"]

#: The results a family's ADD answers with (what the plans hand back to their caller).
R = TypeVar("R", bound="ResultDoc")


class Values(Protocol[R]):
    """What the plans ask of their values (see the module docstring); ``R`` is the family's result.

    Values are read through the structural shapes of :mod:`cnilib._spec._seam`, which both the
    typed models and the fast path's plain values have.
    """

    def request(
        self,
        verb: Verb,
        conflist: ConfList,
        plugin: Plugin,
        rt: Runtime,
        *,
        version: str,
        search_path: tuple[str, ...],
        prev: ResultDoc | Placeholder | None,
    ) -> Request:
        """The request that runs ``plugin`` of ``conflist`` for ``verb`` (``prev``: prevResult)."""
        ...

    def decode(self, request: Request, outcome: Outcome) -> R | VersionInfo | None:
        """The outcome's value (an ADD's result, None, version info) or its error."""
        ...

    def expired(self) -> Outcome:
        """The outcome of a plugin that could not start before its deadline: a timeout."""
        ...

    def entry(self, conflist: ConfList, rt: Runtime, result: R | None, *, intent: bool = False) -> Entry:
        """The attachment's cache entry (``intent``: its intent record, without a result)."""
        ...

    def is_result(self, value: object) -> TypeGuard[R]:
        """True for a decoded result (not None, not a dry run's placeholder)."""
        ...

    def empty_result(self, version: str) -> R:
        """The empty result of ``version`` (what ADD returns when the last plugin printed null)."""
        ...

    def convert(self, result: R, version: str) -> ResultDoc:
        """``result`` in ``version``; :class:`~cnilib.ResultError` when it cannot be."""
        ...

    def cached_result(self, entry: Entry, version: str) -> ResultDoc:
        """An entry's result in ``version`` (DEL's prevResult); a :class:`~cnilib.CNIError` when it
        is unusable."""
        ...

    def with_cached_args(self, rt: Runtime, cached: Entry | None) -> Runtime:
        """DEL/CHECK without CNI_ARGS or capability args use the ones ADD was made with; explicit win."""
        ...

    def with_netns(self, rt: Runtime, netns: str) -> Runtime:
        """``rt`` with another netns path (``""``: the sandbox is gone)."""
        ...

    def request_of(self, fields: dict[str, Any]) -> Request:
        """A request from its fields (``ExecRequest``'s; cnilib's helper programs)."""
        ...


class TypedValues:
    """The library's values: :class:`~cnilib.ExecRequest`, the result classes, :class:`~cnilib.CacheEntry`."""

    __slots__ = ()

    def request(
        self,
        verb: Verb,
        conflist: ConfList,
        plugin: Plugin,
        rt: Runtime,
        *,
        version: str,
        search_path: tuple[str, ...],
        prev: ResultDoc | Placeholder | None,
    ) -> ExecRequest:
        # A stand-in object keeps prevResult where the real one would be in stdin's key order.
        # (A cached result may come as the fast path's reader wrote it: see cached_result.)
        fields = request_fields(
            verb,
            plugin,
            rt,
            network_name=conflist.name,
            cni_version=version,
            search_path=search_path,
            prev_result={} if isinstance(prev, Placeholder) else None if prev is None else prev.to_dict(),
        )
        if isinstance(prev, Placeholder):
            stdin = json.loads(fields["stdin"])
            stdin["prevResult"] = prev.text
            fields["stdin"] = json.dumps(stdin, separators=(",", ":")).encode()
        return ExecRequest(**fields)

    def decode(self, request: Request, outcome: Outcome) -> AnyResult | VersionInfo | None:
        return decode_outcome(request, outcome)

    def expired(self) -> ExecOutcome:
        return ExecOutcome(exit_status=None, timed_out=True, timeout=0.0)

    def entry(
        self, conflist: ConfList, rt: Runtime, result: AnyResult | None, *, intent: bool = False
    ) -> CacheEntry:
        raw = None if result is None else result.to_dict()
        return CacheEntry(**entry_fields(conflist, rt, raw, INTENT_KIND if intent else CACHE_KIND))

    def is_result(self, value: object) -> TypeGuard[AnyResult]:
        return isinstance(value, Result)

    def empty_result(self, version: str) -> AnyResult:
        return parse_result({"cniVersion": version})

    def convert(self, result: AnyResult, version: str) -> Result:
        return result.convert_to(version)

    def cached_result(self, entry: Entry, version: str) -> ResultDoc:
        # DEL only sends it on, as prevResult: read as the model would write it, without building
        # the model, when the fast path's reader is sure; else the model (its answer or its error).
        return cached_result(entry, version)

    def with_cached_args(self, rt: Runtime, cached: Entry | None) -> Runtime:
        merged = cached_args(rt, cached)
        if merged is None:
            return rt
        # Cached values go on as they are (libcni's way): an odd one never blocks a DEL.
        return cached_runtime(rt, args=merged[0], capability_args=merged[1])

    def with_netns(self, rt: Runtime, netns: str) -> Runtime:
        # (rt may hold cached arguments, which go on unchecked: see with_cached_args)
        return cached_runtime(rt, netns=netns)

    def request_of(self, fields: dict[str, Any]) -> ExecRequest:
        return ExecRequest(**fields)
