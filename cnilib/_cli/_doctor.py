"""``cnilib doctor``: the node's leaks and configuration problems, and ``--fix``."""

from __future__ import annotations

import argparse
from typing import Any

import cnilib

from ._output import _debug_hook, _write
from ._settings import EXIT_FAILURE, EXIT_OK, _cache_dir, _conf_dir, _plugin_dirs

_DESCRIPTION = """\
Find what any runtime leaked on this node (stale attachments, unfinished ADDs, host-local
reservations, NAT chains and veths nothing owns) and what is wrong with the CNI configuration;
with --fix, free what can be freed through the plugins' own DEL, under the locks ADD, DEL and GC
take. Nothing live is touched: a container is gone only on evidence (its namespace path is missing
or no network namespace, or a runtime given with --source says so)."""

_EPILOG = """\
exit status: 0 nothing found (after --fix: everything fixed), 1 something found (after --fix:
something left), or a failure such as a source that cannot be reached (nothing is fixed then),
2 usage error"""

_SOURCES = ("docker", "podman", "netns")


def _grace(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more: {text!r}")
    return value


def fill_doctor(p: argparse.ArgumentParser, add_options: Any) -> None:
    """The arguments of ``cnilib doctor`` (``add_options``: the parser's shared options)."""
    p.description = _DESCRIPTION
    p.epilog = _EPILOG
    add_options(p, sub=False, runtime=False, json_out=True, docker=True)
    g = p.add_argument_group("doctor")
    g.add_argument("--fix", action="store_true", help="repair what can be repaired, then report")
    g.add_argument(
        "--source",
        metavar="NAME",
        action="extend",
        nargs="+",
        choices=_SOURCES,
        default=[],
        help="ask this runtime too: docker (the Engine API, --docker-host/DOCKER_HOST) or podman "
        "(its command line); netns (the namespace paths) is always asked",
    )
    g.add_argument(
        "--valid",
        metavar="FILE",
        default=None,
        help='a JSON list of the valid container ids, or of {"containerID", "ifname"} (what a '
        "kubelet or Nomad reports); everything else is gone for it ('-': standard input)",
    )
    g.add_argument(
        "--openmetrics",
        metavar="FILE",
        default=None,
        help="also write the findings as OpenMetrics text, atomically (node_exporter's textfile collector)",
    )
    g.add_argument(
        "--grace",
        metavar="SECONDS",
        type=_grace,
        default=None,
        help="a reservation younger than this may be an ADD in progress: never an orphan (default 120)",
    )


def cmd_doctor(ns: argparse.Namespace) -> int:
    """Run ``cnilib doctor``."""
    from cnilib import doctor
    from cnilib.doctor._sources import source_named

    sources: list[doctor.Source] = [
        source_named(name, docker_host=ns.docker_host, timeout=ns.timeout)
        for name in dict.fromkeys(ns.source)
        if name != "netns"
    ]
    if ns.valid is not None:
        sources.append(doctor.ValidSource.from_file(ns.valid))
    cni = cnilib.CNI(
        plugin_dirs=_plugin_dirs(ns),
        cache_dir=_cache_dir(ns),
        timeout=ns.timeout,
        on_plugin=_debug_hook if ns.debug else None,
    )
    diagnosis = doctor.diagnose(
        conf_dir=_conf_dir(ns),
        cni=cni,
        sources=sources,
        grace=doctor.DEFAULT_GRACE if ns.grace is None else ns.grace,
        timeout=ns.timeout or 30.0,
    )
    report: doctor.Diagnosis | doctor.RepairReport = doctor.repair(diagnosis) if ns.fix else diagnosis
    if ns.openmetrics is not None:
        doctor.write_openmetrics(ns.openmetrics, report)
    _write(report.to_json() if ns.json else doctor.text_report(report))
    return EXIT_OK if report.ok else EXIT_FAILURE
