"""What the doctor reports: the kinds of findings, a finding, the diagnosis and the repair report."""

from __future__ import annotations

import enum
import json
from typing import Any

import attrs

from .._base._errors import CNIError

__all__ = ["Checked", "Diagnosis", "DoctorError", "Finding", "Kind", "RepairReport", "SourceError"]


class DoctorError(CNIError):
    """The doctor could not examine the node (or repair it) at all."""

    __module__ = "cnilib.doctor"


class SourceError(DoctorError):
    """A liveness source that was asked for cannot answer (the runtime is unreachable, the list of
    valid attachments cannot be read): an error, never "every container is gone"."""

    __module__ = "cnilib.doctor"


class Kind(str, enum.Enum):
    """What a finding is about (the ``kind`` of the JSON report and of the metrics)."""

    #: A cache entry whose sandbox is gone: DEL with its cached configuration frees what it holds.
    STALE_ATTACHMENT = "stale_attachment"
    #: An intent record (an ADD that never finished) whose sandbox is gone: DEL undoes it.
    UNFINISHED_ADD = "unfinished_add"
    #: A host-local address held by a container that has no cache entry and is alive nowhere.
    ORPHAN_RESERVATION = "orphan_reservation"
    #: NAT chains and rules (bridge's ipMasq, portmap's DNAT) of a container that has no attachment.
    ORPHAN_CHAIN = "orphan_chain"
    #: A host-side veth on a configured bridge whose peer is in no namespace that anything can reach.
    ORPHAN_INTERFACE = "orphan_interface"
    #: A plugin of a configuration is not installed (or not executable) in the plugin directories.
    MISSING_PLUGIN = "missing_plugin"
    #: A plugin does not support the configuration's version (its VERSION answer), or cannot say.
    UNSUPPORTED_VERSION = "unsupported_version"
    #: Two configuration files name one network: the later one is never used.
    DUPLICATE_NETWORK = "duplicate_network"
    #: A configuration file that cannot be loaded.
    INVALID_CONFIG = "invalid_config"
    #: A plugin, a plugin or configuration directory, a configuration file or the cache is writable
    #: by its group or by other users.
    UNSAFE_PERMISSIONS = "unsafe_permissions"
    #: An attachment (not known to be stale) of a network no configuration file defines any more.
    UNCONFIGURED_NETWORK = "unconfigured_network"
    #: A file in the cache that cannot be read as an entry or intent record.
    UNREADABLE_CACHE_FILE = "unreadable_cache_file"

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class Finding:
    """One thing the doctor found: what, where, the evidence, and what a repair does about it."""

    kind: Kind
    #: The network it belongs to ("" when none: a configuration file, a plugin directory).
    network: str
    #: What it is, in one sentence.
    detail: str
    #: The facts that make it a finding (a missing namespace, a runtime's answer, a file's age...).
    evidence: tuple[str, ...] = ()
    #: The container it belongs to ("" when unknown or none).
    container_id: str = ""
    #: The interface name inside the container ("" when unknown or none).
    ifname: str = ""
    #: True when :func:`repair` can fix it.
    fixable: bool = False
    #: What :func:`repair` does about it, or why it does nothing.
    action: str = ""
    #: None until a repair ran; then whether it was fixed (or was already gone).
    fixed: bool | None = None
    #: Why the repair failed ("" otherwise).
    error: str = ""
    # What the repair acts on (a cache entry, a reservation, chains, a veth): the doctor's own.
    _subject: Any = attrs.field(default=None, eq=False, repr=False, alias="subject")

    def to_dict(self) -> dict[str, Any]:
        """The finding as in the JSON report."""
        return {
            "kind": self.kind.value,
            "network": self.network,
            "container_id": self.container_id,
            "ifname": self.ifname,
            "detail": self.detail,
            "evidence": list(self.evidence),
            "fixable": self.fixable,
            "fixed": self.fixed,
            "action": self.action,
            "error": self.error,
        }


@attrs.frozen
class Checked:
    """What the doctor looked at."""

    #: Networks of the configuration directory.
    networks: int = 0
    #: Cache entries examined (whichever runtime wrote them).
    attachments: int = 0
    #: Intent records (cnilib's unfinished ADDs) examined.
    unfinished_adds: int = 0
    #: host-local reservation files examined.
    reservations: int = 0
    #: Per-container NAT chains seen (bridge's ipMasq, portmap's DNAT).
    chains: int = 0
    #: veths seen on the configured bridges.
    interfaces: int = 0
    #: The liveness sources asked, ``netns`` (the filesystem) first.
    sources: tuple[str, ...] = ("netns",)
    #: Seconds the examination took.
    duration_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The counts as in the JSON report."""
        out = attrs.asdict(self)
        out["sources"] = list(self.sources)
        return out


class _Report:
    findings: tuple[Finding, ...]
    checked: Checked

    @property
    def ok(self) -> bool:
        raise NotImplementedError

    def by_network(self) -> dict[str, list[Finding]]:
        """The findings grouped by network, networks sorted ("" last: no network)."""
        groups: dict[str, list[Finding]] = {}
        for finding in self.findings:
            groups.setdefault(finding.network, []).append(finding)
        return {k: groups[k] for k in sorted(groups, key=lambda n: (n == "", n))}

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: ``{"ok", "findings": [...], "checked": {...}}`` (see the docs page)."""
        return {
            "ok": self.ok,
            "findings": [f.to_dict() for f in self.findings],
            "checked": self.checked.to_dict(),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"


@attrs.frozen
class Diagnosis(_Report):
    """What :func:`~cnilib.doctor.diagnose` found; :func:`~cnilib.doctor.repair` takes it."""

    findings: tuple[Finding, ...]
    checked: Checked
    # How the node was examined (paths, engine, sources): what the repair needs to re-check.
    _context: Any = attrs.field(default=None, eq=False, repr=False, alias="context")

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings

    @property
    def fixable(self) -> tuple[Finding, ...]:
        """The findings :func:`~cnilib.doctor.repair` can fix."""
        return tuple(f for f in self.findings if f.fixable)


@attrs.frozen
class RepairReport(_Report):
    """What :func:`~cnilib.doctor.repair` did: every finding of the diagnosis with ``fixed`` set."""

    findings: tuple[Finding, ...]
    checked: Checked
    #: Seconds the repair took.
    duration_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every finding was fixed (or was already gone)."""
        return all(f.fixed for f in self.findings)

    @property
    def unfixed(self) -> tuple[Finding, ...]:
        """The findings that are still there."""
        return tuple(f for f in self.findings if not f.fixed)
