"""``cnilib conformance PLUGIN``: :func:`cnilib.conformance.run_conformance` from the command line,
each check printed as soon as it ends (on a terminal with a status line for the plugin call in
progress), the counts and OK or FAILED at the end; ``--json`` and ``--junit FILE`` at the end."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from .._spec._confdir import read_config
from ..sandbox._leftovers import counts_line
from ._progress import Progress
from ._try_options import add_run_options, plugin_dirs, runtime_args, timeout

if TYPE_CHECKING:
    from cnilib.conformance import ConformanceReport

__all__ = ["cmd_conformance", "fill_conformance"]


def fill_conformance(p: argparse.ArgumentParser) -> None:
    """The arguments of ``cnilib conformance``."""
    p.add_argument("plugin", metavar="PLUGIN", help="plugin name (looked up in CNI_PATH) or path")
    p.add_argument(
        "--config", metavar="FILE", help="the plugin's configuration (JSON; cniVersion and name are set)"
    )
    p.add_argument("--kind", choices=("main", "ipam", "meta"), help="how to run it (default: by plugin)")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    add_run_options(p, repeatable_version=True, limit_of="each plugin call")


def cmd_conformance(ns: argparse.Namespace) -> int:
    """Run ``cnilib conformance``; 0 when no check failed."""
    from cnilib.conformance import ConformanceError, run_conformance

    config = None
    if ns.config:
        data = read_config(ns.config, "plugin configuration", permissions=False)
        try:
            config = json.loads(data)
        except ValueError as exc:
            raise ConformanceError(f"{ns.config} is not JSON: {exc}") from None
    args, capability_args = runtime_args(ns)
    with Progress.for_command(ns.json) as progress:
        progress.begin("sandbox")

        def on_check(report: ConformanceReport) -> None:
            if len(report.results) == 1:
                progress.line(report.heading())
            progress.line(report.results[-1].line())

        report = run_conformance(
            ns.plugin,
            config=config,
            kind=ns.kind,
            plugin_dirs=plugin_dirs(ns),
            versions=ns.cni_version,
            timeout=timeout(ns),
            args=args,
            capability_args=capability_args,
            on_check=on_check,
            on_call=progress.begin,
        )
        # The heading and the check lines are out already: the rest of report.summary().
        progress.line(counts_line(**report.counts()))
        progress.line("OK" if report.ok else "FAILED")
    if ns.junit:
        with open(ns.junit, "w", encoding="utf-8") as fh:
            fh.write(report.to_junit() + "\n")
    if ns.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    return 0 if report.ok else 1
