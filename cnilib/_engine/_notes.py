"""The per-plugin report (the ``on_plugin`` hook and the ``cnilib`` logger) and error notes.

Free of attrs: the plans use these on every path, the command line's fast path included; the
hook's :class:`~cnilib.PluginRun` is built only when there is a hook.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from .._base._errors import CNIError

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    import logging
    from typing import Any

    from ._reports import PluginRun

__all__ = ["add_note", "report_run"]

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
    request: Any,
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
    request: Any,
    outcome: Any,
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
        from ._reports import PluginRun

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
