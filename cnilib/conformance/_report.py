"""What a conformance run produces: :class:`CheckResult`, :class:`ConformanceReport` (text,
JSON and JUnit), :class:`PluginSpec` (how a plugin is run), :class:`ConformanceError`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from cnilib._base._errors import CNIError
from cnilib.sandbox._leftovers import counts_line, duration_text

Status = Literal["pass", "fail", "skip"]
Kind = Literal["main", "ipam", "meta"]


class ConformanceError(CNIError):
    """The conformance run itself could not be done (no such plugin, a bad ``config``)."""

    __module__ = "cnilib.conformance"  # tracebacks name the public path


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


@attrs.frozen
class PluginSpec:
    """How to run one plugin: ``config`` (without ``cniVersion``/``name``), its ``kind``, host
    commands to run once (``setup``) and before every ADD (``prepare``, idempotent), and, for a
    plugin that cannot run here, ``unsupported`` (the reason)."""

    config: Mapping[str, Any]
    kind: Kind = "main"
    setup: tuple[tuple[str, ...], ...] = ()
    prepare: tuple[tuple[str, ...], ...] = ()
    unsupported: str = ""


#: The statuses as the counts name them.
_COUNTED: dict[Status, str] = {"pass": "passed", "fail": "failed", "skip": "skipped"}


@attrs.frozen
class CheckResult:
    """One check's outcome; ``version`` is None for checks made once per plugin. ``duration``: the
    seconds since the previous check ended (the calls and inspection that decided this one)."""

    check: str
    status: Status
    evidence: str = ""
    version: str | None = None
    duration: float | None = None

    def line(self) -> str:
        """The check as one line of :meth:`ConformanceReport.summary` (``cnilib conformance``
        prints it as soon as the check ends)."""
        at = f" @{self.version}" if self.version else ""
        took = f" {duration_text(self.duration)}" if self.duration is not None else ""
        evidence = f": {self.evidence}" if self.evidence else ""
        return f"  {self.status.upper():4} {self.check}{at}{took}{evidence}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "check": self.check,
            "version": self.version,
            "status": self.status,
            "evidence": self.evidence,
            "duration": None if self.duration is None else round(self.duration, 3),
        }


@attrs.frozen
class ConformanceReport:
    """Every :class:`CheckResult` of one plugin."""

    plugin: str
    kind: Kind
    versions: tuple[str, ...]
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failed()

    def failed(self) -> list[CheckResult]:
        """The failed checks."""
        return [r for r in self.results if r.status == "fail"]

    def failed_checks(self) -> set[str]:
        """The ids of the checks that failed at least once."""
        return {r.check for r in self.failed()}

    def status_of(self, check: str) -> Status:
        """``fail`` if the check failed at any version, else ``pass`` if it passed once, else ``skip``."""
        statuses = {r.status for r in self.results if r.check == check}
        return "fail" if "fail" in statuses else "pass" if "pass" in statuses else "skip"

    def counts(self) -> dict[str, int]:
        """How many checks ``passed``, ``failed`` and were ``skipped`` (every version counted)."""
        counts = dict.fromkeys(_COUNTED.values(), 0)
        for r in self.results:
            counts[_COUNTED[r.status]] += 1
        return counts

    def heading(self) -> str:
        """The first line of :meth:`summary`: the plugin, its kind and the versions run."""
        return f"{self.plugin} ({self.kind}), versions {', '.join(self.versions) or '-'}:"

    def summary(self) -> str:
        """The heading, one line per check and version, and the counts."""
        lines = [self.heading(), *(r.line() for r in self.results), counts_line(**self.counts())]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (what ``cnilib conformance --json`` prints)."""
        return {
            "plugin": self.plugin,
            "kind": self.kind,
            "versions": list(self.versions),
            "ok": self.ok,
            "counts": self.counts(),
            "results": [r.to_dict() for r in self.results],
        }

    def to_junit(self) -> str:
        """A JUnit XML document: one testcase per check and version."""
        suite = ET.Element("testsuite", name=f"cni-conformance.{self.plugin}")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for r in self.results:
            name = r.check + (f"[{r.version}]" if r.version else "")
            case = ET.SubElement(suite, "testcase", classname=self.plugin, name=name)
            if r.duration is not None:
                case.set("time", f"{r.duration:.3f}")
            counts["tests"] += 1
            if r.status == "fail":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=r.evidence[:200]).text = r.evidence
            elif r.status == "skip":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=r.evidence)
        for key, value in counts.items():
            suite.set(key, str(value))
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)
