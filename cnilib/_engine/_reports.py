"""What the engine reports: value types handed to callers and the per-plugin report (hook + logging)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from .._errors import CNIError
from .._models import VersionInfo
from .._protocol import ExecOutcome, ExecRequest
from .._version import Verb

__all__ = [
    "PlannedCall",
    "PluginReport",
    "PluginRun",
    "RetryPolicy",
    "ValidationReport",
    "add_note",
    "report_run",
]

if TYPE_CHECKING:
    import logging

#: Every plugin call is logged to the ``cnilib`` logger: DEBUG for each run, WARNING for each failure.
_logger: logging.Logger | None = None


def _cnilib_logger() -> logging.Logger | None:
    """The ``cnilib`` logger, or None while nothing in the process has imported :mod:`logging`.

    Until then no handler can have been configured, and the NullHandler added here would swallow
    every record anyway: so a command-line run does not pay for importing logging (it is one of
    the larger imports of a start), and an application that uses logging gets every record.
    """
    global _logger
    if _logger is None:
        logging_module = sys.modules.get("logging")
        if logging_module is None:
            return None
        logger = logging_module.getLogger("cnilib")
        # A library configures no output: without this, logging's last-resort handler would print.
        logger.addHandler(logging_module.NullHandler())
        _logger = logger
    return _logger


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
class PluginReport:
    """Per-plugin part of a :class:`ValidationReport`."""

    index: int
    plugin: str
    path: str | None
    version_info: VersionInfo | None
    supports_list_version: bool
    capabilities: tuple[str, ...]
    problems: tuple[str, ...]


@attrs.frozen
class ValidationReport:
    """What :meth:`CNI.validate` found: every problem of every plugin, and enabled capabilities."""

    network: str
    cni_version: str
    plugins: tuple[PluginReport, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def capabilities(self) -> tuple[str, ...]:
        """Capabilities any plugin of the list enables, in first-seen order."""
        seen: dict[str, None] = {}
        for p in self.plugins:
            for cap in p.capabilities:
                seen.setdefault(cap)
        return tuple(seen)


def add_note(exc: BaseException, text: str) -> None:
    """``exc.add_note(text)``, also on Python 3.10 (where 3.11 tooling looks for notes)."""
    add = getattr(exc, "add_note", None)
    if add is not None:
        add(text)
    else:  # pragma: no cover - Python 3.10
        notes = getattr(exc, "__notes__", None)
        if notes is None:
            notes = []
            exc.__notes__ = notes  # type: ignore[attr-defined]
        notes.append(text)


def _log_run(
    logger: logging.Logger,
    request: ExecRequest,
    where: tuple[str, int],
    duration: float,
    error: CNIError | None,
) -> None:
    network, index = where
    if logger.isEnabledFor(10):  # logging.DEBUG
        logger.debug(
            "%s plugins[%d] %s (network %r) container %r: %s in %.1f ms",
            request.verb.value, index, request.plugin, network, request.container_id,
            "ok" if error is None else "failed", duration * 1000,
        )  # fmt: skip
    if error is not None:
        logger.warning(
            "%s plugins[%d] %s (network %r) failed after %.1f ms: %s",
            request.verb.value, index, request.plugin, network, duration * 1000, error,
        )  # fmt: skip


def report_run(
    hook: Callable[[PluginRun], None] | None,
    run: tuple[str, int, int, float],
    request: ExecRequest,
    outcome: ExecOutcome | None,
    error: CNIError | None,
) -> None:
    """Report one finished plugin run to the ``on_plugin`` hook and the ``cnilib`` logger.

    ``run`` is ``(network, index, attempt, started)``.
    """
    network, index, attempt, started = run
    duration = time.monotonic() - started
    logger = _cnilib_logger()
    if logger is not None:
        _log_run(logger, request, (network, index), duration, error)
    if hook is not None:
        hook(
            PluginRun(
                network=network,
                verb=request.verb,
                index=index,
                plugin=request.plugin,
                request=request,
                outcome=outcome,
                duration=duration,
                error=error,
                attempt=attempt,
                started=started,
            )
        )
