"""The doctor's reports for people (text grouped by network) and for monitoring (OpenMetrics)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections import Counter

from ._model import Diagnosis, DoctorError, Finding, RepairReport

__all__ = ["openmetrics_text", "text_report", "write_openmetrics"]

_TITLES = {
    "stale_attachment": "stale attachment",
    "unfinished_add": "unfinished ADD",
    "orphan_reservation": "orphan reservation",
    "orphan_chain": "orphan NAT chains",
    "orphan_interface": "orphan interface",
    "missing_plugin": "missing plugin",
    "unsupported_version": "unsupported version",
    "duplicate_network": "duplicate network",
    "invalid_config": "invalid configuration",
    "unsafe_permissions": "unsafe permissions",
    "unconfigured_network": "unconfigured network",
    "unreadable_cache_file": "unreadable cache file",
}


def _finding_lines(f: Finding, repaired: bool) -> list[str]:
    who = " ".join(x for x in (f"container {f.container_id}" if f.container_id else "", f.ifname) if x)
    lines = [f"  {_TITLES[f.kind.value]}{': ' + who if who else ''}", f"    {f.detail}"]
    lines += [f"    - {e}" for e in f.evidence]
    if repaired and f.fixed:
        lines.append(f"    fixed: {f.action}")
    elif repaired and f.fixable:
        lines.append(f"    NOT fixed: {f.error or 'failed'}")
    elif f.fixable:
        lines.append(f"    --fix: {f.action}")
    else:
        lines.append(f"    {f.action}")
    return lines


def _checked_line(report: Diagnosis | RepairReport) -> str:
    c = report.checked
    return (
        f"checked {c.networks} network(s), {c.attachments} cached attachment(s), "
        f"{c.unfinished_adds} unfinished ADD(s), {c.reservations} reservation(s), "
        f"{c.chains} NAT chain(s), {c.interfaces} bridge port(s); "
        f"sources: {', '.join(c.sources)}; {c.duration_seconds:.2f} s"
    )


def text_report(report: Diagnosis | RepairReport) -> str:
    """The readable report: findings grouped by network, evidence, what ``--fix`` does (or did)."""
    repaired = isinstance(report, RepairReport)
    out: list[str] = []
    for network, findings in report.by_network().items():
        out.append(f"network {network}" if network else "not tied to a network")
        for f in findings:
            out += _finding_lines(f, repaired)
    out.append(_checked_line(report))
    total = len(report.findings)
    if not total:
        out.append("nothing found")
    elif repaired:
        unfixed = sum(1 for f in report.findings if not f.fixed)
        out.append(f"{total} finding(s): {total - unfixed} fixed, {unfixed} left")
    else:
        fixable = sum(1 for f in report.findings if f.fixable)
        out.append(f"{total} finding(s), {fixable} of them fixable with --fix")
    return "\n".join(out) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _gauge(name: str, help_: str, samples: list[tuple[dict[str, str], float | int]]) -> list[str]:
    lines = [f"# HELP {name} {help_}", f"# TYPE {name} gauge"]
    for labels, value in samples:
        text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        number = str(value) if isinstance(value, int) else repr(float(value))
        lines.append(f"{name}{{{text}}} {number}" if text else f"{name} {number}")
    return lines


def openmetrics_text(report: Diagnosis | RepairReport, *, now: float | None = None) -> str:
    """The report as OpenMetrics text (also valid Prometheus text for node_exporter's textfile
    collector): findings by kind and network, fixed ones after a repair, what was checked."""
    found = Counter((f.kind.value, f.network) for f in report.findings)
    lines = _gauge(
        "cnilib_doctor_findings",
        "Problems cnilib doctor found, by kind and network.",
        [({"kind": k, "network": n}, v) for (k, n), v in sorted(found.items())],
    )
    if isinstance(report, RepairReport):
        fixed = Counter((f.kind.value, f.network) for f in report.findings if f.fixed)
        lines += _gauge(
            "cnilib_doctor_fixed",
            "Findings the repair fixed, by kind and network.",
            [({"kind": k, "network": n}, fixed[(k, n)]) for (k, n) in sorted(found)],
        )
    c = report.checked
    lines += _gauge("cnilib_doctor_ok", "1 when nothing was left to fix, else 0.", [({}, int(report.ok))])
    for name, help_, value in (
        ("networks_checked", "Networks of the configuration directory.", c.networks),
        ("attachments_checked", "Cached attachments examined.", c.attachments),
        ("unfinished_adds_checked", "Intent records of unfinished ADDs examined.", c.unfinished_adds),
        ("reservations_checked", "host-local reservations examined.", c.reservations),
        ("duration_seconds", "Seconds the examination took.", c.duration_seconds),
        ("last_run_timestamp_seconds", "When the doctor ran (Unix time).", now or time.time()),
    ):
        lines += _gauge(f"cnilib_doctor_{name}", help_, [({}, value)])
    return "\n".join(lines) + "\n# EOF\n"


def write_openmetrics(path: str | os.PathLike[str], report: Diagnosis | RepairReport) -> None:
    """Write :func:`openmetrics_text` to ``path`` atomically (a temporary file in the same
    directory, fsynced, renamed over it): the textfile collector never reads half a file."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    data = openmetrics_text(report).encode()
    try:
        fd, tmp = tempfile.mkstemp(prefix=".cnilib-doctor-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise DoctorError(f"cannot write the metrics file {target}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # node_exporter often runs as another user
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise DoctorError(f"cannot write the metrics file {target}: {exc.strerror or exc}") from None
        raise
