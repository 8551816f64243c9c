"""The watcher's state and its primitives: logfmt log lines, the network namespace pins
(bind mounts), the per-container record (``containers/<id>.json``), the pass report, and the
orphaned-plugin scan run at start."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import attrs

import cnilib
from cnilib.docker._api import (
    DockerError,
)

from ._labels import AttachSpec

_LOG = logging.getLogger("cnilib.docker.watch")

_MS_BIND = 4096
_MNT_DETACH = 2


_FULL_ID = re.compile(r"[0-9a-f]{64}")


def _logfmt(fields: Mapping[str, object]) -> str:
    out = []
    for key, value in fields.items():
        text = f"{value:.1f}" if isinstance(value, float) else str(value)
        if not text or any(c in text for c in ' "=\\') or not text.isprintable():
            text = json.dumps(text)
        out.append(f"{key}={text}")
    return " ".join(out)


def _log(level: int, action: str, **fields: object) -> None:
    if _LOG.isEnabledFor(level):
        _LOG.log(level, "%s", _logfmt({"action": action, **fields}))


def _one_line(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    notes = getattr(exc, "__notes__", ())
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return " ".join(text.split())


# -- the namespace pins ---------------------------------------------------------------------------


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _pin(source: str, target: str) -> None:
    """Bind-mount the namespace file ``source`` on ``target`` (made if missing)."""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.close(fd)
    if _libc().mount(source.encode(), target.encode(), None, _MS_BIND, None) != 0:
        err = ctypes.get_errno()
        raise DockerError(f"cannot pin network namespace {source} on {target}: {os.strerror(err)}")


def _unpin(target: str) -> None:
    """Unmount every mount stacked on ``target`` and remove the file; a missing one is fine."""
    libc = _libc()
    for _ in range(16):
        if libc.umount2(target.encode(), _MNT_DETACH) != 0:
            break
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)


def _same_netns(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


# -- records --------------------------------------------------------------------------------------


@attrs.frozen
class _Record:
    """What the watcher attached to one container (``containers/<id>.json``)."""

    container_id: str
    name: str
    netns: str
    #: (network name, ifname, configuration list bytes as text), in attach order.
    networks: tuple[tuple[str, str, str], ...]
    args: tuple[tuple[str, str], ...]
    capability_args: Mapping[str, Any] = attrs.field(hash=False)

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "containerId": self.container_id,
                "name": self.name,
                "netns": self.netns,
                "networks": [{"name": n, "ifname": i, "config": c} for n, i, c in self.networks],
                "args": [list(p) for p in self.args],
                "capabilityArgs": dict(self.capability_args),
            },
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> _Record:
        try:
            d = json.loads(data)
            return cls(
                container_id=str(d["containerId"]),
                name=str(d.get("name", "")),
                netns=str(d["netns"]),
                networks=tuple((str(n["name"]), str(n["ifname"]), str(n["config"])) for n in d["networks"]),
                args=tuple((str(k), str(v)) for k, v in d.get("args", ())),
                capability_args=dict(d.get("capabilityArgs") or {}),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DockerError(f"unreadable watcher record {where}: {exc!r}") from None

    def spec(self) -> AttachSpec:
        return AttachSpec(
            networks=tuple(n for n, _, _ in self.networks),
            args=self.args,
            capability_args=self.capability_args,
        )


@attrs.frozen
class ReconcileReport:
    """What one reconciliation pass did, by full container id."""

    attached: tuple[str, ...] = ()
    detached: tuple[str, ...] = ()
    #: Attachments found incomplete or stale (a crash, a restarted container) and made again.
    repaired: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    #: Containers left as they were because of an error: id -> the error's message.
    failed: Mapping[str, str] = attrs.field(factory=dict, hash=False)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed


def _processes_with(marker: bytes) -> set[int]:
    """Pids of the processes whose environment has a variable starting with ``marker``."""
    me = os.getpid()
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if env.startswith(marker) or b"\0" + marker in env:
            found.add(int(entry))
    return found


def _rollback_failed(exc: BaseException) -> bool:
    if isinstance(exc, cnilib.MultiError):
        return any(str(k).startswith("rollback ") for k in exc.errors)
    return False


def _only_refused(exc: BaseException) -> bool:
    """Whether every network of a failed setup was refused as already attached (nothing ran)."""
    if not isinstance(exc, cnilib.MultiError) or not exc.errors:
        return False
    return all(isinstance(e, cnilib.AlreadyAttachedError) for e in exc.errors.values())
