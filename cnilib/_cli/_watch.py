"""``cnilib docker watch``: its arguments and its command (the watcher itself is cnilib.docker's)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._settings import _cache_dir, _conf_dir, _plugin_dirs

_HELP = "keep containers labelled cnilib.networks=NAME[,NAME...] attached (see docs/docker-watch.md)"
_EPILOG = (
    "exit status: 0 stopped by SIGTERM/SIGINT (--once: all converged), 1 failure, "
    "2 usage error, 3 another watcher serves the cache directory"
)


def fill_watch(cmds: Any, add_options: Any, formatter: type[argparse.HelpFormatter], seconds: Any) -> None:
    """Add the ``watch`` subcommand to ``cnilib docker``'s subparsers."""
    q = cmds.add_parser("watch", help=_HELP, description=_HELP, epilog=_EPILOG, formatter_class=formatter)
    add_options(q, sub=True, runtime=False, json_out=False, docker=True)
    q.add_argument("--once", action="store_true", help="reconcile once and exit (1 if a container failed)")
    q.add_argument(
        "--resync",
        metavar="SECONDS",
        type=seconds,
        default=60.0,
        help="full reconciliation period (default 60)",
    )
    q.add_argument("--state-dir", metavar="DIR", default=None, help="default CACHE_DIR/docker-watch")
    q.add_argument(
        "--concurrency", metavar="N", type=int, default=8, help="containers handled at once (default 8)"
    )


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
