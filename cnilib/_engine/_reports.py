"""What the engine reports: value types handed to callers and the per-plugin report (hook + logging)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._base._errors import CNIError
from .._exec._protocol import ExecOutcome, ExecRequest
from .._model._models import VersionInfo
from .._spec._version import Verb

__all__ = [
    "FieldFinding",
    "PlannedCall",
    "PluginReport",
    "PluginRun",
    "RetryPolicy",
    "ValidationReport",
]


@attrs.frozen
class RetryPolicy:
    """Retry a plugin that answers code 11 ("try again later"): ``attempts`` in all, with backoff.

    The pause before retry ``n`` (1-based) is ``backoff * 2**(n-1)``, capped at ``max_backoff``,
    scaled by a random factor in ``[1 - jitter, 1 + jitter]``. A retry that would start after the
    operation's deadline is not made: the plugin's error is raised instead.
    """

    attempts: int = 3
    backoff: float = 0.1
    max_backoff: float = 2.0
    jitter: float = 0.1

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1-based)."""
        import random  # (import cost: only retries need it)

        base: float = min(self.backoff * (2 ** (attempt - 1)), self.max_backoff)
        return base * (1 + random.uniform(-self.jitter, self.jitter))


@attrs.frozen
class PluginRun:
    """What one plugin invocation did; handed to the ``on_plugin`` hook after every run.

    ``duration`` covers starting the plugin, waiting for it and decoding its output (seconds);
    ``started`` is the :func:`time.monotonic` value when it was started. ``outcome`` is None when
    the plugin could not be looked up or its deadline had passed before it could start.
    ``attempt`` counts retries of code 11 (1 for the first run).
    """

    network: str
    verb: Verb
    index: int
    plugin: str
    request: ExecRequest
    outcome: ExecOutcome | None
    duration: float
    error: CNIError | None = None
    attempt: int = 1
    started: float = 0.0


@attrs.frozen
class PlannedCall:
    """One plugin call that ``explain`` would make: the CNI variables and the stdin object."""

    index: int
    plugin: str
    verb: Verb
    plugin_path: str | None
    env: Mapping[str, str]
    stdin: Mapping[str, Any]
    problem: str | None = None


@attrs.frozen
class FieldFinding:
    """One mistake in a configuration's fields, found with the plugin's schema.

    ``path`` locates the value in the file as written (``$.plugins[0].ipam.subnet``; ``$.mtu`` in
    a single-plugin ``.conf``; a key that is missing is named as if present). ``severity`` is
    ``"error"`` for what the plugin would reject and ``"warning"`` for what it would silently
    ignore (an unknown key: Go's decoder skips it). ``plugin`` is the index in the list (None for
    the list's own keys); ``schema`` the plugin whose schema found it, with the release it
    describes; ``keyword`` the JSON Schema keyword that failed (``type``, ``enum``, ``format``,
    ``required``, ``additionalProperties``, ...); ``suggestion`` the known key or value closest
    to a misspelt one.
    """

    path: str
    message: str
    severity: str
    plugin: int | None
    schema: str
    keyword: str
    suggestion: str | None = None

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@attrs.frozen
class PluginReport:
    """Per-plugin part of a :class:`ValidationReport`. ``schemas`` names the schemas its fields
    were checked with (``"bridge (containernetworking-plugins 1.1.1)"``); empty: not checked."""

    index: int
    plugin: str
    path: str | None
    version_info: VersionInfo | None
    supports_list_version: bool
    capabilities: tuple[str, ...]
    problems: tuple[str, ...]
    schemas: tuple[str, ...] = ()


@attrs.frozen
class ValidationReport:
    """What :meth:`CNI.validate` found: every problem of every plugin, and enabled capabilities.

    ``problems`` are the errors as text (each field error as ``PATH: message``), ``warnings`` what
    the plugins would silently ignore; ``findings`` the field mistakes (both kinds) as
    :class:`FieldFinding` values.
    """

    network: str
    cni_version: str
    plugins: tuple[PluginReport, ...]
    problems: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    findings: tuple[FieldFinding, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings do not count)."""
        return not self.problems

    @property
    def capabilities(self) -> tuple[str, ...]:
        """Capabilities any plugin of the list enables, in first-seen order."""
        seen: dict[str, None] = {}
        for p in self.plugins:
            for cap in p.capabilities:
                seen.setdefault(cap)
        return tuple(seen)
