"""``cnilib docker watch``: the command (its arguments are in ``_parser``; the watcher is cnilib.docker's)."""

from __future__ import annotations

import argparse
import sys

from ._settings import _cache_dir, _conf_dir, _plugin_dirs


def cmd_docker_watch(ns: argparse.Namespace) -> int:
    """Run the watcher until SIGTERM/SIGINT (or one reconciliation with ``--once``)."""
    import logging

    from cnilib import docker

    # The watcher logs every attach/detach and every failure once; the engine's own records
    # (a warning per failed plugin call, at every retry) only with --debug.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("ts=%(asctime)s level=%(levelname)s %(message)s"))
    logging.getLogger("cnilib").addHandler(handler)
    logging.getLogger("cnilib").setLevel(logging.DEBUG if ns.debug else logging.ERROR)
    logging.getLogger("cnilib.docker.watch").setLevel(logging.DEBUG if ns.debug else logging.INFO)
    return docker.watch(
        once=ns.once,
        conf_dir=_conf_dir(ns),
        plugin_dirs=_plugin_dirs(ns),
        cache_dir=_cache_dir(ns),
        state_dir=ns.state_dir,
        host=ns.docker_host or None,
        timeout=ns.timeout if ns.timeout is not None else 60.0,
        resync_interval=ns.resync,
        concurrency=ns.concurrency,
    )
