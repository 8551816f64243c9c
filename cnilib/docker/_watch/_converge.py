"""How the watcher converges one container: :class:`_Converger`, the base of
:class:`~cnilib.docker.Watcher` holding its state (the records and pins under ``state_dir``, the
complaints already logged, the retry backoff) and the per-container steps (compare the container
with its record, then DEL what is stale and ADD what is wanted)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time

import cnilib
from cnilib import CNIError
from cnilib.docker._api import (
    ContainerInfo,
    DockerError,
    _is_visible_nsfs,
    netns_path,
)

from ._backend import _Backend, _Docker, _ifnames
from ._labels import AttachSpec, LabelError, parse_labels
from ._state import (
    _FULL_ID,
    _log,
    _one_line,
    _only_refused,
    _pin,
    _Record,
    _rollback_failed,
    _same_netns,
    _unpin,
)


class _Converger:
    """The watcher's state and per-container convergence; :class:`Watcher` adds the life cycle."""

    conf_dir: str
    state_dir: str
    resync_interval: float
    _backend: _Backend | None
    _docker: _Docker | None
    _sem: asyncio.Semaphore | None
    _stopping: asyncio.Event | None
    _workers: dict[str, asyncio.Task[str]]
    _complaints: dict[str, str]
    _retry: dict[str, tuple[float, float]]

    # -- paths --

    def _record_path(self, cid: str) -> str:
        return os.path.join(self.state_dir, "containers", f"{cid}.json")

    def _pin_path(self, cid: str) -> str:
        return os.path.join(self.state_dir, "netns", cid)

    def _read_record(self, cid: str) -> _Record | None:
        path = self._record_path(cid)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        return _Record.from_json(data, path)

    def _write_record(self, record: _Record) -> None:
        path = self._record_path(record.container_id)
        tmp = f"{path}.tmp"
        with open(tmp, "wb") as f:
            f.write(record.to_json())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def _recorded(self) -> set[str]:
        found = set()
        for name in os.listdir(os.path.join(self.state_dir, "containers")):
            if name.endswith(".tmp"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(self.state_dir, "containers", name))
            elif name.endswith(".json") and _FULL_ID.fullmatch(name[:-5]):
                found.add(name[:-5])
        return found

    def _remove_stray_pins(self, recorded: set[str]) -> None:
        # A pin without a record: a crash after the record went (it is removed last but one).
        for name in os.listdir(os.path.join(self.state_dir, "netns")):
            if name not in recorded and name not in self._workers:
                _unpin(self._pin_path(name))

    # -- running --

    def _parts(self) -> tuple[_Backend, _Docker, asyncio.Semaphore, asyncio.Event]:
        if self._backend is None or self._docker is None or self._sem is None or self._stopping is None:
            raise DockerError("the watcher is not open: use `async with Watcher(...)`")
        return self._backend, self._docker, self._sem, self._stopping

    async def _converge_logged(self, cid: str) -> str:
        try:
            return await self._converge(cid)
        except (CNIError, OSError) as exc:
            self._complain(cid, "converge", exc)
            return "failed"

    def _complain(self, cid: str, action: str, exc: BaseException, name: str = "") -> None:
        # One line per container and problem: a resync finding the same problem stays quiet.
        message = _one_line(exc)
        if self._complaints.get(cid) != message:
            _log(logging.ERROR, action, container=cid[:12], name=name, outcome="error", error=message)
        self._complaints[cid] = message

    async def _converge(self, cid: str) -> str:
        backend, docker, sem, _ = self._parts()
        async with sem:
            info = await docker.inspect(cid)
            record = self._read_record(cid)
            spec = self._wanted(cid, info)
            if record and spec and info and self._intact(record, info, spec, backend):
                return "unchanged"
            if record is not None and not await self._detach(record, info):
                return "failed"
            if spec is None or info is None:
                self._retry.pop(cid, None)
                return "detached" if record is not None else "ignored"
            if record is None and time.monotonic() < self._retry.get(cid, (0.0, 0.0))[0]:
                return "failed"  # failed before: retried with backoff, or at its next event
            if not await self._attach(info, spec, repair=record is not None):
                delay = min(self._retry.get(cid, (0.0, self.resync_interval / 2))[1] * 2, 600.0)
                self._retry[cid] = (time.monotonic() + delay, delay)
                return "failed"
            self._retry.pop(cid, None)
            return "repaired" if record is not None else "attached"

    def _wanted(self, cid: str, info: ContainerInfo | None) -> AttachSpec | None:
        if info is None or not info.running or info.pid <= 0:
            self._complaints.pop(cid, None)
            return None
        try:
            spec = parse_labels(info)
            if spec is not None and info.network_mode != "none":
                raise LabelError(
                    f"network mode {info.network_mode!r}: only containers started with --net=none "
                    "are attached to CNI networks"
                )
        except LabelError as exc:
            self._complain(cid, "attach", exc, info.name)
            return None
        return spec

    def _intact(self, record: _Record, info: ContainerInfo, spec: AttachSpec, backend: _Backend) -> bool:
        if record.spec() != spec or not _is_visible_nsfs(record.netns):
            return False
        try:
            current = netns_path(info)
        except DockerError:
            return False
        return _same_netns(record.netns, current) and backend.attached(record)

    async def _attach(self, info: ContainerInfo, spec: AttachSpec, *, repair: bool) -> bool:
        backend, _, _, _ = self._parts()
        t0 = time.monotonic()
        cid = info.id
        try:
            nets = [cnilib.load_network(self.conf_dir, n) for n in spec.networks]
            source = netns_path(info)
        except CNIError as exc:
            self._complain(cid, "attach", exc, info.name)
            return False
        pin = self._pin_path(cid)
        record = _Record(
            container_id=cid,
            name=info.name,
            netns=pin,
            networks=tuple(
                (n.name, i, n.bytes.decode()) for n, i in zip(nets, _ifnames(len(nets)), strict=True)
            ),
            args=spec.args,
            capability_args=spec.capability_args,
        )
        self._write_record(record)
        adopted = False
        try:
            _pin(source, pin)
            if not _same_netns(pin, source):
                raise DockerError(f"container {info.name or cid[:12]} stopped while being attached")
            addresses = await backend.attach(cid, pin, nets, spec)
        except (CNIError, OSError) as exc:
            if _only_refused(exc) and backend.attached(record):
                # Attached already, in this very namespace (`cnilib docker attach`, or a watcher
                # whose records were lost): the wanted state. Kept as it is, and recorded.
                addresses, adopted = [], True
            else:
                self._complain(cid, "attach", exc, info.name)
                self._forget(record, rolled_back=not _rollback_failed(exc))
                return False
        self._complaints.pop(cid, None)
        _log(
            logging.INFO,
            "attach",
            container=cid[:12],
            name=info.name,
            networks=",".join(spec.networks),
            ifnames=",".join(_ifnames(len(nets))),
            addresses=",".join(addresses),
            repair=repair,
            adopted=adopted,
            duration_ms=(time.monotonic() - t0) * 1000,
            outcome="ok",
        )
        return True

    def _forget(self, record: _Record, *, rolled_back: bool) -> None:
        if not rolled_back:
            return  # keep the record: the next reconciliation runs DEL again
        _unpin(record.netns)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._record_path(record.container_id))

    async def _detach(self, record: _Record, info: ContainerInfo | None) -> bool:
        backend, _, _, _ = self._parts()
        t0 = time.monotonic()
        # The pin keeps the namespace alive; without it (after a reboot) DEL runs without one.
        netns = record.netns if _is_visible_nsfs(record.netns) else ""
        try:
            await backend.detach(record, netns)
        except CNIError as exc:
            self._complain(record.container_id, "detach", exc, record.name)
            return False
        self._forget(record, rolled_back=True)
        self._complaints.pop(record.container_id, None)
        _log(
            logging.INFO,
            "detach",
            container=record.container_id[:12],
            name=record.name,
            networks=",".join(n for n, _, _ in record.networks),
            reason="running"
            if info is not None and info.running
            else "gone"
            if info is None
            else info.status,
            duration_ms=(time.monotonic() - t0) * 1000,
            outcome="ok",
        )
        return True
