#!/usr/bin/env python3
"""Run ``cnilib conformance`` on every Debian CNI plugin and print the results as a Markdown table.

    python scripts/conformance-table.py                      # print the table
    python scripts/conformance-table.py --update docs/testing-plugins.md

With ``--update`` the table replaces what is between the ``conformance-table`` markers of the file.
A plugin that cannot run here (its spec says why) gets a row saying so. Runs as root or not.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from cnilib.conformance import CHECKS, DEFAULT_SPECS, ConformanceReport, run_conformance

PLUGINS = (
    "bridge", "ptp", "macvlan", "host-local", "static", "loopback", "portmap", "tuning",
    "bandwidth", "firewall", "host-device", "sbr", "vrf", "vlan", "ipvlan", "dhcp",
)  # fmt: skip
MARK = {"pass": "pass", "fail": "**FAIL**", "skip": "-"}
START, END = "<!-- conformance-table:start -->", "<!-- conformance-table:end -->"


def _versions(report: ConformanceReport) -> str:
    return f"{report.versions[0]} to {report.versions[-1]}" if report.versions else "none"


def table(plugin_dir: str) -> str:
    """The Markdown table and the list of failures with their first evidence."""
    checks = list(CHECKS)
    head = "| plugin | versions | " + " | ".join(f"`{c}`" for c in checks) + " |"
    lines = [head, "|" + "---|" * (len(checks) + 2)]
    failures: list[str] = []
    for plugin in PLUGINS:
        spec = DEFAULT_SPECS[plugin]
        if spec.unsupported or not os.path.exists(os.path.join(plugin_dir, plugin)):
            why = spec.unsupported or f"not installed in {plugin_dir}"
            lines.append(f"| {plugin} | not run: {why} |" + " |" * (len(checks) - 1) + " |")
            continue
        report = run_conformance(plugin, plugin_dirs=[plugin_dir])
        cells = [MARK[report.status_of(c)] for c in checks]
        lines.append(f"| {plugin} ({report.kind}) | {_versions(report)} | " + " | ".join(cells) + " |")
        # One line per failed check: the versions it failed at, and the first evidence.
        by_check: dict[str, list[str]] = {}
        for result in report.failed():
            by_check.setdefault(result.check, []).append(result.version or "")
        for check, versions in by_check.items():
            at = f" at {', '.join(versions)}" if any(versions) else ""
            [first] = [r for r in report.failed() if r.check == check][:1]
            failures.append(f"- {plugin}, `{check}`{at}: {first.evidence[:240]}")
        print(f"{plugin}: {len(report.failed())} failed", file=sys.stderr)
    return (
        "\n".join(lines)
        + "\n\nFailures, with the evidence each check recorded:\n\n"
        + "\n".join(failures)
        + "\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugin-dir", default="/usr/lib/cni")
    parser.add_argument("--update", metavar="FILE", help="replace the table between the markers of FILE")
    args = parser.parse_args()
    text = table(args.plugin_dir)
    if not args.update:
        sys.stdout.write(text)
        return 0
    with open(args.update, encoding="utf-8") as fh:
        doc = fh.read()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(doc):
        print(f"{args.update} has no {START} ... {END} markers", file=sys.stderr)
        return 1
    new = pattern.sub(lambda _: f"{START}\n{text}{END}", doc)
    with open(args.update, "w", encoding="utf-8") as fh:
        fh.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
