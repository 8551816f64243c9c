"""The values the engine's plans pass around, as the shapes both families of values have: the
library's typed models and the command line's plain values (:mod:`cnilib._lean._values`).

Structural protocols, for the type checker only (nothing here exists at run time, so the fast
path imports no ``typing``): the plans and their values (``cnilib._engine._values.Values``) are
typed with them, and mypy checks that each family satisfies them. Attributes are read-only
properties, so that frozen attrs classes and plain slotted classes both fit.

:class:`Family` is the one name that exists at run time: a base that is ``typing.Generic`` to
the type checker and an empty class otherwise, for the classes that a family parameterizes
(the planner by its results, the runner by its outcomes).
"""

from __future__ import annotations

__all__ = ["Family"]

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Generic as Family
else:

    class Family:
        """``typing.Generic`` for the type checker; subscripting it gives this empty base."""

        __slots__ = ()

        def __class_getitem__(cls, _: object) -> type:
            return cls


if TYPE_CHECKING:
    import builtins
    from collections.abc import Mapping, Sequence
    from typing import Any, Protocol

    from .._version import Verb

    class Plugin(Protocol):
        """One plugin of a list (:class:`~cnilib.PluginConfig`)."""

        @property
        def type(self) -> str: ...
        @property
        def raw(self) -> Mapping[str, Any]: ...
        @property
        def capabilities(self) -> Mapping[str, bool]: ...

    class ConfList(Protocol):
        """A configuration list (:class:`~cnilib.NetworkConfigList`)."""

        @property
        def name(self) -> str: ...
        @property
        def cni_version(self) -> str: ...
        @property
        def plugins(self) -> Sequence[Plugin]: ...
        @property
        def bytes(self) -> builtins.bytes: ...

    class Runtime(Protocol):
        """A runtime configuration (:class:`~cnilib.RuntimeConfig`)."""

        @property
        def container_id(self) -> str: ...
        @property
        def netns(self) -> str: ...
        @property
        def ifname(self) -> str: ...
        @property
        def args(self) -> tuple[tuple[str, str], ...]: ...
        @property
        def capability_args(self) -> Mapping[str, Any]: ...
        @property
        def cni_args(self) -> str: ...
        def validate(self) -> None: ...

    class Request(Protocol):
        """One plugin run's request (:class:`~cnilib.ExecRequest`)."""

        @property
        def verb(self) -> Verb: ...
        @property
        def plugin(self) -> str: ...
        @property
        def search_path(self) -> tuple[str, ...]: ...
        @property
        def env(self) -> Mapping[str, str]: ...
        @property
        def stdin(self) -> bytes: ...
        @property
        def container_id(self) -> str | None: ...
        @property
        def cni_version(self) -> str: ...

    class Outcome(Protocol):
        """What a plugin run produced (:class:`~cnilib.ExecOutcome`)."""

        @property
        def exit_status(self) -> int | None: ...
        @property
        def stdout(self) -> bytes: ...
        @property
        def stderr(self) -> bytes: ...
        @property
        def signal(self) -> int | None: ...
        @property
        def plugin_path(self) -> str | None: ...
        @property
        def timed_out(self) -> bool: ...
        @property
        def timeout(self) -> float | None: ...
        @property
        def duration(self) -> float: ...
        @property
        def stdout_truncated(self) -> bool: ...
        @property
        def start_error(self) -> str | None: ...

    class ResultDoc(Protocol):
        """A result: its version and the JSON object it writes (:class:`~cnilib.Result`)."""

        @property
        def cni_version(self) -> str: ...
        def to_dict(self) -> dict[str, Any]: ...

    class Entry(Protocol):
        """An attachment's cache entry (:class:`~cnilib.CacheEntry`)."""

        @property
        def network_name(self) -> str: ...
        @property
        def container_id(self) -> str: ...
        @property
        def ifname(self) -> str: ...
        @property
        def config(self) -> bytes: ...
        @property
        def netns(self) -> str: ...
        @property
        def cni_args(self) -> tuple[tuple[str, str], ...]: ...
        @property
        def capability_args(self) -> Mapping[str, Any]: ...
        @property
        def result(self) -> Mapping[str, Any] | None: ...
        @property
        def kind(self) -> str: ...
        @property
        def key(self) -> tuple[str, str, str]: ...
        def to_json_bytes(self) -> bytes: ...
        def parsed_result(self, version: str | None = None) -> ResultDoc: ...
