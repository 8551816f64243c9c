"""The synchronous entry points: :func:`reconcile` (one pass) and :func:`watch` (serve until a
signal, ``cnilib docker watch``), their exit statuses, and the systemd notification."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from cnilib import CNIError
from cnilib.docker._api import EXIT_FAILURE, EXIT_LOCKED, EXIT_OK, _httpx

from ..._base._defaults import DEFAULT_CACHE_DIR
from ._state import ReconcileReport, _log, _one_line
from ._watcher import Watcher, WatcherLockedError

# The arguments of Watcher(), which reconcile() and watch() take too and pass on.
_WATCHER_ARGS = (
    "conf_dir",
    "plugin_dirs",
    "cache_dir",
    "state_dir",
    "host",
    "timeout",
    "argv_prefix",
    "resync_interval",
    "concurrency",
    "shutdown_timeout",
)


def _watcher_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in _WATCHER_ARGS}


def reconcile(
    *,
    conf_dir: str | os.PathLike[str],
    plugin_dirs: Iterable[str] | str | None = None,
    cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
    state_dir: str | os.PathLike[str] | None = None,
    host: str | None = None,
    timeout: float | None = 60.0,
    argv_prefix: Sequence[str] = (),
    resync_interval: float = 60.0,
    concurrency: int = 8,
    shutdown_timeout: float = 30.0,
) -> ReconcileReport:
    """One reconciliation pass, synchronously (the arguments are :class:`Watcher`'s)."""
    kwargs = _watcher_kwargs(locals())

    async def once() -> ReconcileReport:
        async with Watcher(**kwargs) as w:
            await w._startup()  # noqa: SLF001 - the module's own entry point drives the watcher's steps
            return await w.reconcile()

    return asyncio.run(once())


def watch(
    *,
    conf_dir: str | os.PathLike[str],
    plugin_dirs: Iterable[str] | str | None = None,
    cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
    state_dir: str | os.PathLike[str] | None = None,
    host: str | None = None,
    timeout: float | None = 60.0,
    argv_prefix: Sequence[str] = (),
    resync_interval: float = 60.0,
    concurrency: int = 8,
    shutdown_timeout: float = 30.0,
    once: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run a :class:`Watcher` until SIGTERM or SIGINT; returns an exit status.

    :data:`EXIT_OK` after a clean stop, :data:`EXIT_LOCKED` when another watcher serves the cache
    directory, :data:`EXIT_FAILURE` for anything fatal. With ``once`` a single reconciliation runs
    (exit status 1 if a container could not be converged). When ``NOTIFY_SOCKET`` is set (systemd
    ``Type=notify``), ``READY=1`` is sent after the first reconciliation and ``STOPPING=1`` on a
    signal.
    """
    kwargs = _watcher_kwargs(locals())
    try:
        _httpx()  # without the ``docker`` extra: the one line that says so, before any state is made
        if once:
            report = reconcile(**kwargs)
            return EXIT_OK if report.ok else EXIT_FAILURE
        asyncio.run(_serve(kwargs, on_ready))
    except WatcherLockedError as exc:
        _log(logging.ERROR, "start", outcome="locked", error=_one_line(exc))
        return EXIT_LOCKED
    except (CNIError, OSError) as exc:
        _log(logging.ERROR, "start" if once else "run", outcome="error", error=_one_line(exc))
        return EXIT_FAILURE
    return EXIT_OK


async def _serve(kwargs: Mapping[str, Any], on_ready: Callable[[], None] | None) -> None:
    loop = asyncio.get_running_loop()
    async with Watcher(**kwargs) as w:

        def stop(signum: int) -> None:
            _log(logging.INFO, "signal", signal=signal.Signals(signum).name)
            _sd_notify("STOPPING=1")
            w.stop()

        handled: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop, sig)
                handled.append(sig)
            except (ValueError, RuntimeError):
                pass  # not the main thread: the embedding program handles signals itself

        def ready() -> None:
            _sd_notify("READY=1")
            if on_ready is not None:
                on_ready()

        try:
            await w.run(on_ready=ready)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)


def _sd_notify(message: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    import socket

    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(message.encode())
