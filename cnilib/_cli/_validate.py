"""``cnilib validate [NETWORK | FILE | DIR]``: every plugin's VERSION and every field, per configuration.

Without an argument it checks every configuration file of the configuration directory; a path
(anything with a ``/``, which no network name has) names one file or another directory. Exit
status 1 when any configuration has an error; warnings alone (keys the plugins ignore) exit 0.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

import cnilib

from .._spec._confdir import CONF_EXTENSIONS, LIST_EXTENSIONS, conf_files
from ._output import _one_line, _print_json, _table, _write
from ._settings import EXIT_FAILURE, EXIT_OK, _conf_dir, _engine


def _finding_dict(f: cnilib.FieldFinding) -> dict[str, Any]:
    return {
        "path": f.path,
        "severity": f.severity,
        "message": f.message,
        "plugin": f.plugin,
        "schema": f.schema,
        "keyword": f.keyword,
        "suggestion": f.suggestion,
    }


def _report_dict(report: cnilib.ValidationReport, conflist: cnilib.NetworkConfigList) -> dict[str, Any]:
    return {
        "network": report.network,
        "cniVersion": report.cni_version,
        "source": conflist.source,
        "ok": report.ok,
        "capabilities": list(report.capabilities),
        "plugins": [
            {
                "index": p.index,
                "type": p.plugin,
                "path": p.path,
                "cniVersion": p.version_info.cni_version if p.version_info else None,
                "supportedVersions": (list(p.version_info.supported_versions) if p.version_info else None),
                "supportsListVersion": p.supports_list_version,
                "capabilities": list(p.capabilities),
                "schemas": list(p.schemas),
                "problems": list(p.problems),
            }
            for p in report.plugins
        ],
        "problems": list(report.problems),
        "warnings": list(report.warnings),
        "findings": [_finding_dict(f) for f in report.findings],
    }


def _schemas_line(report: cnilib.ValidationReport) -> str:
    # "bridge (containernetworking-plugins 1.1.1)" labels, grouped by the release they describe.
    by_source: dict[str, list[str]] = {}
    unchecked: list[str] = []
    for p in report.plugins:
        if not p.schemas:
            unchecked.append(p.plugin)
        for label in p.schemas:
            name, _, source = label.partition(" (")
            names = by_source.setdefault(source.removesuffix(")"), [])
            if name not in names:
                names.append(name)
    parts = [f"{', '.join(names)} ({source})" for source, names in by_source.items()]
    text = f"fields checked: {'; '.join(parts)}\n" if parts else ""
    if unchecked:
        text += f"fields not checked (no schema): {', '.join(dict.fromkeys(unchecked))}\n"
    return text


def _report_text(report: cnilib.ValidationReport, conflist: cnilib.NetworkConfigList) -> str:
    version = report.cni_version or "0.1.0"
    out = [f"network {report.network} (cniVersion {version}) from {conflist.source or '?'}\n"]
    rows = [["#", "PLUGIN", "PATH", f"SUPPORTS {version}", "CAPABILITIES", "SUPPORTED VERSIONS"]]
    for p in report.plugins:
        info = p.version_info
        rows.append(
            [
                str(p.index),
                p.plugin,
                p.path or "(not found)",
                "yes" if p.supports_list_version else "NO",
                ",".join(p.capabilities) or "-",
                " ".join(info.supported_versions) if info else "?",
            ]
        )
    out.append(_table(rows))
    out.append(f"capabilities: {', '.join(report.capabilities) or 'none'}\n")
    out.append(_schemas_line(report))
    if report.ok and not report.warnings:
        out.append("no problems found\n")
    if report.problems:
        out.append(f"{len(report.problems)} problem(s):\n")
        out.extend(f"  - {_one_line(p)}\n" for p in report.problems)
    if report.warnings:
        out.append(f"{len(report.warnings)} warning(s) (what the plugins would ignore):\n")
        out.extend(f"  - {_one_line(w)}\n" for w in report.warnings)
    return "".join(out)


def _files(directory: str) -> list[str]:
    # Lists first, then single configurations, each sorted: the order libcni looks them up in.
    return conf_files(directory, LIST_EXTENSIONS) + conf_files(directory, CONF_EXTENSIONS)


def _check(
    ns: argparse.Namespace, cni: cnilib.CNI, conflist: cnilib.NetworkConfigList
) -> cnilib.ValidationReport:
    return cni.validate(conflist, schemas=ns.schema_dir)


def _one(ns: argparse.Namespace, conflist: cnilib.NetworkConfigList) -> int:
    report = _check(ns, _engine(ns), conflist)
    if ns.json:
        _print_json(_report_dict(report, conflist))
    else:
        _write(_report_text(report, conflist))
    return EXIT_OK if report.ok else EXIT_FAILURE


def _directory(ns: argparse.Namespace, directory: str) -> int:
    cni = _engine(ns)
    reports: list[dict[str, Any]] = []
    unusable: list[dict[str, Any]] = []
    texts: list[str] = []
    for path in _files(directory):
        try:
            conflist = cnilib.load_conf_file(path)
        except cnilib.ConfigError as exc:
            unusable.append({"source": path, "path": exc.path, "message": exc.message})
            texts.append(f"{path}: cannot be used: {_one_line(str(exc))}\n")
            continue
        report = _check(ns, cni, conflist)
        reports.append(_report_dict(report, conflist))
        texts.append(_report_text(report, conflist))
    ok = not unusable and all(r["ok"] for r in reports)
    if ns.json:
        _print_json({"confDir": directory, "ok": ok, "networks": reports, "unusable": unusable})
    else:
        failed = len(unusable) + sum(1 for r in reports if not r["ok"])
        warned = sum(1 for r in reports if r["ok"] and r["warnings"])
        total = len(reports) + len(unusable)
        counts = f"{failed} with errors, {warned} with warnings only"
        _write("\n".join([*texts, f"{total} configuration(s) in {directory}: {counts}\n"]))
    return EXIT_OK if ok else EXIT_FAILURE


def _cmd_validate(ns: argparse.Namespace) -> int:
    target = ns.network
    if target is None:
        return _directory(ns, _conf_dir(ns))
    if os.sep in target:
        if os.path.isdir(target):
            return _directory(ns, target)
        return _one(ns, cnilib.load_conf_file(target))
    return _one(ns, cnilib.load_network(_conf_dir(ns), target))
