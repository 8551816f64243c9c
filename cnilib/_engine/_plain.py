"""The fast path's values: plain slotted classes of the shapes the typed ones have
(:mod:`cnilib._spec._seam`: what the plans, the drivers, the executor and the store read), and
:class:`LeanValues`, the plans' values made of them (see ``cnilib._engine._values``).

Where a value is one the fast path cannot judge exactly (a 0.2.0 result, a cached result in
another version), :class:`LeanValues` asks the typed model for that one step: the answer (or the
error) is then the library's own.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

from .._cache._format import CACHE_KIND, INTENT_KIND, entry_bytes, entry_fields
from .._spec._plain_results import LeanResult, cached_result, lean_result
from .._spec._validate import cni_args_text, validate_runtime
from .._spec._version import Verb
from .._spec._wire import add_output, failure_of, outcome_context, request_fields

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any, TypeAlias, TypeGuard

    from .._cache import CacheEntry
    from .._model._results import Result
    from .._spec._seam import ConfList, Entry, Outcome, Plugin, Request, ResultDoc, Runtime
    from ._effects import Placeholder

    #: The fast path's results: its own, or the typed model's where it handed a result over.
    LeanAnswer: TypeAlias = LeanResult | Result

__all__ = [
    "LeanConfList",
    "LeanEntry",
    "LeanOutcome",
    "LeanPlugin",
    "LeanProblem",
    "LeanRequest",
    "LeanResult",
    "LeanRuntime",
    "LeanValues",
]


class LeanPlugin:
    """One plugin of a list: its type, its configuration as written, its capabilities."""

    __slots__ = ("capabilities", "raw", "type")

    def __init__(self, type: str, raw: dict[str, Any], capabilities: Mapping[str, bool]) -> None:
        self.type = type
        self.raw = raw
        self.capabilities = capabilities


class LeanConfList:
    """A configuration list: name, version, plugins, and the file's bytes (for the cache)."""

    __slots__ = ("bytes", "cni_version", "name", "plugins", "source")

    def __init__(
        self, name: str, cni_version: str, plugins: tuple[LeanPlugin, ...], data: bytes, source: str
    ) -> None:
        self.name = name
        self.cni_version = cni_version
        self.plugins = plugins
        self.bytes = data
        self.source = source


class LeanRuntime:
    """The runtime configuration (see :class:`~cnilib.RuntimeConfig`, whose checks it runs, at
    construction too; ``checked=False``: arguments read back from the cache, which go on as
    they are, as :func:`cnilib._model._models.cached_runtime` lets them)."""

    __slots__ = ("args", "capability_args", "container_id", "ifname", "netns")

    def __init__(
        self,
        container_id: str,
        netns: str = "",
        ifname: str = "eth0",
        args: tuple[tuple[str, str], ...] = (),
        capability_args: Mapping[str, Any] | None = None,
        *,
        checked: bool = True,
    ) -> None:
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = tuple((k, v) for k, v in args)
        self.capability_args: Mapping[str, Any] = dict(capability_args or {})
        if checked:
            validate_runtime(self)

    def validate(self) -> None:
        """:meth:`cnilib.RuntimeConfig.validate`."""
        validate_runtime(self)

    @property
    def cni_args(self) -> str:
        """The ``CNI_ARGS`` value: ``K=V;K2=V2``."""
        return cni_args_text(self.args)


class LeanRequest:
    """:class:`~cnilib.ExecRequest`'s fields."""

    __slots__ = ("args", "cni_version", "container_id", "env", "plugin", "search_path", "stdin", "verb")

    def __init__(
        self,
        verb: Verb,
        plugin: str,
        search_path: tuple[str, ...],
        env: dict[str, str],
        stdin: bytes,
        container_id: str | None,
        cni_version: str,
        args: tuple[str, ...] = (),
    ) -> None:
        self.verb = verb
        self.plugin = plugin
        self.search_path = search_path
        self.env = env
        self.stdin = stdin
        self.container_id = container_id
        self.cni_version = cni_version
        self.args = tuple(args)


class LeanOutcome:
    """:class:`~cnilib.ExecOutcome`'s fields."""

    __slots__ = (
        "duration",
        "exit_status",
        "plugin_path",
        "signal",
        "start_error",
        "stderr",
        "stdout",
        "stdout_truncated",
        "timed_out",
        "timeout",
    )

    def __init__(
        self,
        exit_status: int | None,
        stdout: bytes = b"",
        stderr: bytes = b"",
        signal: int | None = None,
        plugin_path: str | None = None,
        timed_out: bool = False,
        timeout: float | None = None,
        duration: float = 0.0,
        stdout_truncated: bool = False,
        start_error: str | None = None,
    ) -> None:
        self.exit_status = exit_status
        self.stdout = stdout
        self.stderr = stderr
        self.signal = signal
        self.plugin_path = plugin_path
        self.timed_out = timed_out
        self.timeout = timeout
        self.duration = duration
        self.stdout_truncated = stdout_truncated
        self.start_error = start_error


class LeanEntry:
    """:class:`~cnilib.CacheEntry`'s fields and the methods the store and the plans use."""

    __slots__ = (
        "capability_args",
        "cni_args",
        "config",
        "container_id",
        "ifname",
        "kind",
        "legacy",
        "netns",
        "network_name",
        "path",
        "result",
    )

    def __init__(
        self,
        network_name: str,
        container_id: str,
        ifname: str,
        config: bytes,
        netns: str = "",
        cni_args: Iterable[tuple[str, str]] = (),
        capability_args: Mapping[str, Any] | None = None,
        result: Mapping[str, Any] | None = None,
        kind: str = CACHE_KIND,
        path: str | None = None,
        legacy: bool = False,
    ) -> None:
        self.network_name = network_name
        self.container_id = container_id
        self.ifname = ifname
        self.config = config
        self.netns = netns
        self.cni_args = tuple((k, v) for k, v in cni_args)
        self.capability_args: Mapping[str, Any] = dict(capability_args) if capability_args else {}
        self.result = None if result is None else dict(result)
        self.kind = kind
        self.path = path
        self.legacy = legacy

    @property
    def key(self) -> tuple[str, str, str]:
        """``(network_name, container_id, ifname)``."""
        return (self.network_name, self.container_id, self.ifname)

    @property
    def file_name(self) -> str:
        """The entry's file name under ``results/``."""
        return f"{self.network_name}-{self.container_id}-{self.ifname}"

    def as_intent(self) -> LeanEntry:
        """The entry as an intent record (no result)."""
        return LeanEntry(
            self.network_name,
            self.container_id,
            self.ifname,
            self.config,
            self.netns,
            self.cni_args,
            self.capability_args,
            None,
            INTENT_KIND,
        )

    def to_json_bytes(self) -> bytes:
        """The file content, byte for byte what libcni writes."""
        return entry_bytes(self)

    def typed(self) -> CacheEntry:
        """The same entry as a :class:`~cnilib.CacheEntry`."""
        from .._cache._entry import CacheEntry

        return CacheEntry(**{name: getattr(self, name) for name in self.__slots__})

    def parsed_result(self, version: str | None = None) -> Result:
        """:meth:`cnilib.CacheEntry.parsed_result` (the typed model's answer or error)."""
        return self.typed().parsed_result(version)


class LeanProblem:
    """:class:`~cnilib.CacheProblem`'s fields."""

    __slots__ = ("foreign", "message", "path")

    def __init__(self, path: str, message: str, *, foreign: bool = False) -> None:
        self.path = path
        self.message = message
        self.foreign = foreign

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _is_typed_result(value: object) -> TypeGuard[Result]:
    # Only a step the fast path handed to the typed model can have made one (then it is loaded).
    results = sys.modules.get("cnilib._model._results")
    return results is not None and isinstance(value, results.Result)


class LeanValues:
    """The plans' values on the fast path (see ``cnilib._engine._values.Values``)."""

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
    ) -> LeanRequest:
        from ._effects import Placeholder

        fields = request_fields(
            verb,
            plugin,
            rt,
            network_name=conflist.name,
            cni_version=version,
            search_path=search_path,
            # (the fast path makes no dry runs: there is no placeholder)
            prev_result=None if prev is None or isinstance(prev, Placeholder) else prev.to_dict(),
        )
        return LeanRequest(**fields)

    def decode(self, request: Request, outcome: Outcome) -> LeanAnswer | None:
        ctx = outcome_context(request, outcome)
        if failure_of(request, outcome, ctx) or request.verb is not Verb.ADD:
            # (failure_of is True only for VERSION, which the fast path never runs)
            return None
        out = add_output(outcome, ctx)
        result = None if out is None else lean_result(out, request.cni_version)
        if result is not None or out is None:
            return result
        from .._exec._protocol import decode_add  # a result this reader is not sure of: the model's answer

        return decode_add(request, outcome, ctx)

    def expired(self) -> LeanOutcome:
        return LeanOutcome(exit_status=None, timed_out=True, timeout=0.0)

    def entry(
        self, conflist: ConfList, rt: Runtime, result: LeanAnswer | None, *, intent: bool = False
    ) -> LeanEntry:
        raw = None if result is None else result.to_dict()
        return LeanEntry(**entry_fields(conflist, rt, raw, INTENT_KIND if intent else CACHE_KIND))

    def is_result(self, value: object) -> TypeGuard[LeanAnswer]:
        return isinstance(value, LeanResult) or _is_typed_result(value)

    def empty_result(self, version: str) -> LeanResult:
        return LeanResult(version, {"cniVersion": version, "dns": {}})

    def convert(self, result: LeanAnswer, version: str) -> ResultDoc:
        if isinstance(result, LeanResult):
            if result.cni_version == version:
                return result
            from .._model._results import parse_result

            return parse_result(result.doc).convert_to(version)
        return result.convert_to(version)

    def cached_result(self, entry: Entry, version: str) -> ResultDoc:
        return cached_result(entry, version)

    def with_cached_args(self, rt: Runtime, cached: Entry | None) -> Runtime:
        from ._preflight import cached_args  # (not at import: the loader needs no engine)

        merged = cached_args(rt, cached)
        if merged is None:
            return rt
        return LeanRuntime(rt.container_id, rt.netns, rt.ifname, *merged, checked=False)

    def with_netns(self, rt: Runtime, netns: str) -> Runtime:
        return LeanRuntime(rt.container_id, netns, rt.ifname, rt.args, rt.capability_args, checked=False)

    def request_of(self, fields: dict[str, Any]) -> LeanRequest:
        return LeanRequest(**fields)
