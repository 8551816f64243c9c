"""Keep labelled Docker containers attached to CNI networks: ``cnilib docker watch``.

The watcher follows the engine's event stream and reconciles: every running container labelled
``cnilib.networks=NAME[,NAME...]`` (started with ``--net=none``) is attached to those networks
(``eth0``, ``eth1``, ... in label order) and every attachment it made whose container no longer
runs is deleted. Events only say *which* container to look at; what to do is always decided by
comparing the container's state with the watcher's records, so a missed event, a watcher killed
with SIGKILL or an engine restart are repaired by the next reconciliation (at start, after every
reconnection to the engine, and every ``resync_interval`` seconds).

State kept under ``state_dir`` (default ``<cache_dir>/docker-watch``):

- ``containers/<id>.json``: written before the first plugin runs, removed after the last DEL
  succeeded: the networks (their configuration bytes), interface names and arguments of the
  attachment. It is what makes a crash at any moment recoverable.
- ``netns/<id>``: a bind mount of the container's network namespace, passed to the plugins as
  ``CNI_NETNS``. It keeps the namespace alive after the container died, so DEL still finds the
  interfaces and every plugin can undo what it did (Debian's bridge 1.1.1 only removes its
  ``ipMasq`` NAT chain when it can enter the namespace).

One instance per cache directory: ``<cache_dir>/docker-watch.lock`` is held with ``flock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import json
import logging
import os
import re
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

import cnilib
from cnilib import CNIError
from cnilib.docker import (
    ContainerInfo,
    ContainerNotFoundError,
    DockerError,
    _httpx,
    _is_visible_nsfs,
    _parse_inspect,
    _unreachable,
    netns_path,
    socket_path,
)

if TYPE_CHECKING:
    import httpx

    from cnilib import AsyncCNI, AsyncNetworks, NetworkConfigList

__all__ = [
    "EXIT_FAILURE",
    "EXIT_LOCKED",
    "EXIT_OK",
    "LABEL_ARGS",
    "LABEL_CAPABILITIES",
    "LABEL_NETWORKS",
    "LABEL_PORT_MAPPINGS",
    "AttachSpec",
    "LabelError",
    "ReconcileReport",
    "Watcher",
    "WatcherLockedError",
    "parse_labels",
    "reconcile",
    "watch",
]

#: The networks to attach, in order (``eth0``, ``eth1``, ...): ``NAME[,NAME...]``.
LABEL_NETWORKS = "cnilib.networks"
#: ``CNI_ARGS`` for every network: ``K=V[;K2=V2...]`` (``IgnoreUnknown=1`` is added).
LABEL_ARGS = "cnilib.args"
#: The ``portMappings`` capability: ``published`` (the container's ``-p`` ports) or
#: ``[HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO][,...]``.
LABEL_PORT_MAPPINGS = "cnilib.port-mappings"
#: Any other capability arguments, as a JSON object (``{"bandwidth": {...}}``).
LABEL_CAPABILITIES = "cnilib.capabilities"

#: Exit status: stopped by SIGTERM/SIGINT after in-flight operations finished (or ``--once``
#: converged everything).
EXIT_OK = 0
#: Exit status: a fatal error (unusable state directory, ...) or ``--once`` left a container
#: unconverged.
EXIT_FAILURE = 1
#: Exit status: another watcher holds the cache directory's lock.
EXIT_LOCKED = 3

_LOG = logging.getLogger("cnilib.docker.watch")

_MS_BIND = 4096
_MNT_DETACH = 2
_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")
_FULL_ID = re.compile(r"[0-9a-f]{64}")
_PORT_RE = re.compile(
    r"(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?P<host>\d+):(?P<ctr>\d+)(?:/(?P<proto>tcp|udp|sctp))?"
)


class LabelError(DockerError):
    """A container's ``cnilib.*`` labels cannot be used (malformed, unknown network, ...)."""


class WatcherLockedError(DockerError):
    """Another watcher already serves this cache directory."""


# -- labels ---------------------------------------------------------------------------------------


@attrs.frozen
class AttachSpec:
    """What a container's labels ask for."""

    #: Network names in label order; interface ``eth<i>`` for the i-th.
    networks: tuple[str, ...]
    #: ``CNI_ARGS`` pairs (empty, or ``IgnoreUnknown=1`` first).
    args: tuple[tuple[str, str], ...] = ()
    #: Capability arguments offered to the plugins (``runtimeConfig``).
    capability_args: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


def _split_networks(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(","))
    if not names or any(not n for n in names):
        raise LabelError(f"{LABEL_NETWORKS}={value!r}: expected NAME[,NAME...] without empty names")
    for n in names:
        if not _NAME_RE.fullmatch(n):
            raise LabelError(f"{LABEL_NETWORKS}={value!r}: invalid network name {n!r}")
    if len(set(names)) != len(names):
        raise LabelError(f"{LABEL_NETWORKS}={value!r}: a network is named twice")
    return names


def _parse_args(value: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in value.split(";"):
        key, sep, val = item.partition("=")
        if not sep or not key or not val:
            raise LabelError(f"{LABEL_ARGS}={value!r}: expected K=V[;K2=V2...]")
        pairs.append((key, val))
    try:
        cnilib.validate_cni_args(pairs)
    except CNIError as exc:
        raise LabelError(f"{LABEL_ARGS}={value!r}: {exc}") from None
    if not any(k == "IgnoreUnknown" for k, _ in pairs):
        # As containerd and CRI-O do: plugins that do not know a key must not refuse it.
        pairs.insert(0, ("IgnoreUnknown", "1"))
    return tuple(pairs)


def _published_mappings(info: ContainerInfo) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for b in info.port_bindings:
        if not b.host_port.isdigit():
            raise LabelError(
                f"{LABEL_PORT_MAPPINGS}=published: port {b.container_port}/{b.protocol} is published "
                f"without a fixed host port; publish it as -p HOST:{b.container_port}"
            )
        m: dict[str, Any] = {
            "hostPort": int(b.host_port),
            "containerPort": b.container_port,
            "protocol": b.protocol,
        }
        if b.host_ip and b.host_ip not in ("0.0.0.0", "::"):
            m["hostIP"] = b.host_ip
        out.append(m)
    return out


def _explicit_mappings(value: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in value.split(","):
        m = _PORT_RE.fullmatch(item.strip())
        if m is None:
            raise LabelError(
                f"{LABEL_PORT_MAPPINGS}={value!r}: expected 'published' or "
                "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp|sctp][,...]"
            )
        host, ctr = int(m["host"]), int(m["ctr"])
        if not (0 < host < 65536 and 0 < ctr < 65536):
            raise LabelError(f"{LABEL_PORT_MAPPINGS}={value!r}: port out of range in {item!r}")
        mapping: dict[str, Any] = {"hostPort": host, "containerPort": ctr, "protocol": m["proto"] or "tcp"}
        if m["ip"]:
            mapping["hostIP"] = m["ip"].strip("[]")
        out.append(mapping)
    return out


def _capabilities(value: str) -> dict[str, Any]:
    try:
        caps = json.loads(value)
    except ValueError as exc:
        raise LabelError(f"{LABEL_CAPABILITIES}: not JSON: {exc}") from None
    if not isinstance(caps, dict) or not all(isinstance(k, str) and k for k in caps):
        raise LabelError(f"{LABEL_CAPABILITIES}: expected a JSON object of capability arguments")
    return caps


def parse_labels(info: ContainerInfo) -> AttachSpec | None:
    """What ``info``'s labels ask for; None for a container without :data:`LABEL_NETWORKS`.

    Raises :class:`LabelError` naming the label for anything malformed.
    """
    labels = info.labels
    if LABEL_NETWORKS not in labels:
        return None
    networks = _split_networks(labels[LABEL_NETWORKS])
    args = _parse_args(labels[LABEL_ARGS]) if LABEL_ARGS in labels else ()
    caps = _capabilities(labels[LABEL_CAPABILITIES]) if LABEL_CAPABILITIES in labels else {}
    if LABEL_PORT_MAPPINGS in labels:
        if "portMappings" in caps:
            raise LabelError(f"both {LABEL_PORT_MAPPINGS} and {LABEL_CAPABILITIES} set portMappings")
        value = labels[LABEL_PORT_MAPPINGS].strip()
        caps["portMappings"] = (
            _published_mappings(info) if value == "published" else _explicit_mappings(value)
        )
    return AttachSpec(networks=networks, args=args, capability_args=caps)


# -- log lines ------------------------------------------------------------------------------------


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


# -- the engine seam ------------------------------------------------------------------------------


class _Backend:
    """The watcher's only contact with the CNI engine.

    :class:`cnilib.AsyncNetworks` over one shared :class:`cnilib.AsyncCNI`, built per container
    from the networks its label names: ``setup`` attaches them concurrently as ``eth0``,
    ``eth1``, ... and rolls back the ones that succeeded when one fails; ``remove`` runs DEL for
    every network with the configuration cached at ADD time, trying every network and naming
    every failure.
    """

    def __init__(self, cni: AsyncCNI) -> None:
        self.cni = cni

    async def recover(self) -> None:
        """Finish what a killed watcher left half-done in the engine: nothing to do here.

        Every attachment an interrupted ADD or DEL may have begun has a watcher record, and the
        reconciliation runs DEL for all of its networks before anything else (which also drops
        an engine's intent record for the same attachment); a cache-wide recovery would also
        touch attachments of other runtimes sharing the cache directory.
        """

    def _networks(self, networks: Sequence[NetworkConfigList]) -> AsyncNetworks:
        return cnilib.AsyncNetworks(networks, cni=self.cni)

    async def attach(
        self, container_id: str, netns: str, networks: Sequence[NetworkConfigList], spec: AttachSpec
    ) -> list[str]:
        attachment = await self._networks(networks).setup(
            container_id, netns, args=spec.args, capabilities=spec.capability_args
        )
        return [
            str(a.address)
            for name in _ifnames(len(networks))
            if name in attachment.interfaces
            for a in attachment.interfaces[name].addresses
        ]

    async def detach(self, record: _Record, netns: str) -> None:
        nets = [
            cnilib.NetworkConfigList.from_bytes(c, source=f"record of {n}") for n, _, c in record.networks
        ]
        await self._networks(nets).remove(
            record.container_id, netns, args=record.args, capabilities=record.capability_args
        )

    def attached(self, record: _Record) -> bool:
        """Whether the cache holds every attachment of ``record`` with its netns."""
        for name, ifname, _ in record.networks:
            entries = self.cni.cached_attachments(record.container_id, network=name)
            if not any(e.ifname == ifname and e.netns == record.netns for e in entries):
                return False
        return True


def _ifnames(n: int) -> list[str]:
    return [f"eth{i}" for i in range(n)]


# -- the engine API -------------------------------------------------------------------------------


class _Docker:
    """The few Engine API calls the watcher makes, over one asyncio httpx client."""

    def __init__(self, host: str | None, timeout: float) -> None:
        hx = _httpx()
        self.sock = socket_path(host)
        self.hx = hx
        self.client: httpx.AsyncClient = hx.AsyncClient(
            transport=hx.AsyncHTTPTransport(uds=self.sock, verify=False),
            base_url="http://docker",
            timeout=timeout,
            trust_env=False,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def _get(self, url: str, params: Mapping[str, str] | None = None) -> httpx.Response:
        try:
            return await self.client.get(url, params=params)
        except self.hx.TransportError as exc:
            raise _unreachable(self.sock, exc) from exc

    async def inspect(self, container_id: str) -> ContainerInfo | None:
        response = await self._get(f"/containers/{container_id}/json")
        try:
            return _parse_inspect(container_id, response.status_code, response.content, self.sock)
        except ContainerNotFoundError:
            return None

    async def labelled(self) -> list[str]:
        """Ids of the running containers carrying :data:`LABEL_NETWORKS`."""
        filters = json.dumps({"label": [LABEL_NETWORKS], "status": ["running"]})
        response = await self._get("/containers/json", {"filters": filters})
        try:
            if response.status_code != 200:
                raise ValueError(response.status_code)
            return [str(c["Id"]) for c in response.json()]
        except (ValueError, KeyError, TypeError) as exc:
            raise DockerError(
                f"unexpected answer to GET /containers/json from unix://{self.sock}: {exc!r}"
            ) from None

    async def events(self, on_open: Callable[[], Awaitable[None]], on_event: Callable[[str], object]) -> None:
        """Follow ``/events`` for labelled containers until the stream ends."""
        filters = json.dumps(
            {"type": ["container"], "label": [LABEL_NETWORKS], "event": ["start", "die", "destroy"]}
        )
        timeout = self.hx.Timeout(10.0, read=None)
        try:
            async with self.client.stream(
                "GET", "/events", params={"filters": filters}, timeout=timeout
            ) as r:
                if r.status_code != 200:
                    raise DockerError(f"GET /events answered {r.status_code} (engine at unix://{self.sock})")
                await on_open()
                async for line in r.aiter_lines():
                    cid = _event_container(line)
                    if cid:
                        on_event(cid)
        except self.hx.TransportError as exc:
            raise _unreachable(self.sock, exc) from exc


def _event_container(line: str) -> str | None:
    try:
        event = json.loads(line)
        cid = (event.get("Actor") or {}).get("ID") or event.get("id")
    except (ValueError, AttributeError):
        return None
    return cid if isinstance(cid, str) and _FULL_ID.fullmatch(cid) else None


# -- the watcher ----------------------------------------------------------------------------------


class Watcher:
    """Keep labelled containers attached; an asyncio object for embedding.

    ``conf_dir`` holds the network configurations (``NETCONFPATH``), ``plugin_dirs`` the plugins
    (``CNI_PATH``), ``cache_dir`` libcni's result cache. ``host`` is the Docker engine (default:
    ``DOCKER_HOST``, else ``/var/run/docker.sock``). ``argv_prefix`` is passed to the plugin
    executor (e.g. ``nsenter --net=...``). ``concurrency`` bounds the containers handled at once.

    Use as ``async with Watcher(...) as w: await w.run()``; entering takes the cache directory's
    lock (:class:`WatcherLockedError` if another watcher holds it). :meth:`stop` ends :meth:`run`
    after the operations in flight finished; :meth:`reconcile` is one full pass.
    """

    def __init__(
        self,
        *,
        conf_dir: str | os.PathLike[str],
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = "/var/lib/cni",
        state_dir: str | os.PathLike[str] | None = None,
        host: str | None = None,
        timeout: float | None = 60.0,
        argv_prefix: Sequence[str] = (),
        resync_interval: float = 60.0,
        concurrency: int = 8,
        shutdown_timeout: float = 30.0,
    ) -> None:
        self.conf_dir = os.fspath(conf_dir)
        self.cache_dir = os.path.abspath(os.fspath(cache_dir))
        base = os.path.join(self.cache_dir, "docker-watch") if state_dir is None else os.fspath(state_dir)
        self.state_dir = os.path.abspath(base)
        self.host = host
        self.resync_interval = resync_interval
        self.shutdown_timeout = shutdown_timeout
        self._cni_kwargs: dict[str, Any] = {
            "plugin_dirs": plugin_dirs,
            "cache_dir": self.cache_dir,
            "timeout": timeout,
            "argv_prefix": argv_prefix,
        }
        self._concurrency = max(1, concurrency)
        self._lock_fd: int | None = None
        self._backend: _Backend | None = None
        self._docker: _Docker | None = None
        self._sem: asyncio.Semaphore | None = None
        self._stopping: asyncio.Event | None = None
        self._workers: dict[str, asyncio.Task[str]] = {}
        self._dirty: set[str] = set()
        self._complaints: dict[str, str] = {}
        # Containers whose attach failed: (not before, delay), so that a network that cannot work
        # is not set up and rolled back again at every pass.
        self._retry: dict[str, tuple[float, float]] = {}

    # -- life cycle --

    @property
    def lock_path(self) -> str:
        """The lock file that admits one watcher per cache directory."""
        return os.path.join(self.cache_dir, "docker-watch.lock")

    async def __aenter__(self) -> Watcher:
        self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def open(self) -> None:
        """Take the lock and prepare the state directory (done by ``async with``)."""
        os.makedirs(self.cache_dir, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise WatcherLockedError(
                f"another cnilib docker watch (pid {holder}) serves cache directory {self.cache_dir} "
                f"(lock {self.lock_path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        for sub in ("containers", "netns"):
            os.makedirs(os.path.join(self.state_dir, sub), exist_ok=True)
        self._backend = _Backend(cnilib.AsyncCNI(**self._cni_kwargs))
        self._docker = _Docker(self.host, 10.0)
        self._sem = asyncio.Semaphore(self._concurrency)
        self._stopping = asyncio.Event()

    async def close(self) -> None:
        """Release the engine client and the lock."""
        if self._docker is not None:
            await self._docker.close()
            self._docker = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def stop(self) -> None:
        """Ask :meth:`run` to return once the operations in flight are done (signal-safe in the loop)."""
        if self._stopping is not None:
            self._stopping.set()

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

    async def run(self, *, on_ready: Callable[[], None] | None = None) -> None:
        """Follow events and reconcile until :meth:`stop`; reconnects when the engine goes away.

        ``on_ready`` is called once, after the first full reconciliation.
        """
        _, docker, _, stopping = self._parts()
        await self._startup()
        _log(logging.INFO, "start", cache_dir=self.cache_dir, conf_dir=self.conf_dir, engine=docker.sock)
        ready = [on_ready]
        follow = asyncio.ensure_future(self._follow(ready))
        resync = asyncio.ensure_future(self._resync_loop())
        stop_wait = asyncio.ensure_future(stopping.wait())
        try:
            await asyncio.wait({follow, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (follow, resync, stop_wait):
                t.cancel()
            await asyncio.gather(follow, resync, stop_wait, return_exceptions=True)
            await self._drain()
        if follow.done() and not follow.cancelled() and follow.exception() is not None:
            raise follow.exception()  # type: ignore[misc]
        _log(logging.INFO, "stop", outcome="ok")

    async def _startup(self) -> None:
        # A previous watcher killed while plugins ran leaves them running, orphaned: wait until
        # they finish (or kill them after the plugin timeout) before deciding anything, or a
        # repair would race with an ADD or DEL still in progress.
        backend, _, _, _ = self._parts()
        marker = f"CNI_NETNS={self._pin_path('')}".encode()
        deadline = time.monotonic() + (self._cni_kwargs["timeout"] or 60.0)
        pids = _processes_with(marker)
        if pids:
            _log(logging.INFO, "wait", orphaned_plugins=len(pids))
        while pids and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            pids = _processes_with(marker)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await backend.recover()

    async def _drain(self) -> None:
        pending = [t for t in self._workers.values() if not t.done()]
        if not pending:
            return
        _log(logging.INFO, "drain", in_flight=len(pending))
        self._dirty.clear()
        _, still = await asyncio.wait(pending, timeout=self.shutdown_timeout)
        for t in still:
            t.cancel()
        if still:
            await asyncio.wait(still)

    async def _follow(self, ready: list[Callable[[], None] | None]) -> None:
        _, docker, _, _ = self._parts()
        delay = 0.1

        async def opened() -> None:
            nonlocal delay
            _log(logging.INFO, "connected", engine=docker.sock)
            delay = 0.1
            await self.reconcile()
            callback, ready[0] = ready[0], None
            if callback is not None:
                callback()

        while True:
            try:
                await docker.events(opened, self._on_event)
                _log(logging.WARNING, "disconnected", engine=docker.sock, error="event stream ended")
            except DockerError as exc:
                _log(logging.WARNING, "disconnected", engine=docker.sock, error=_one_line(exc), retry_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _resync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.resync_interval)
            try:
                await self.reconcile()
            except (CNIError, OSError) as exc:
                _log(logging.WARNING, "resync", outcome="error", error=_one_line(exc))

    def _on_event(self, cid: str) -> None:
        self._retry.pop(cid, None)  # a container that (re)starts is tried at once
        self._trigger(cid)

    def _trigger(self, cid: str) -> asyncio.Task[str]:
        self._dirty.add(cid)
        task = self._workers.get(cid)
        if task is None or task.done():
            task = asyncio.ensure_future(self._worker(cid))
            self._workers[cid] = task
        return task

    async def _worker(self, cid: str) -> str:
        outcome = "unchanged"
        try:
            while cid in self._dirty:
                self._dirty.discard(cid)
                outcome = await self._converge_logged(cid)
        finally:
            if self._workers.get(cid) is asyncio.current_task():
                del self._workers[cid]
        return outcome

    async def reconcile(self) -> ReconcileReport:
        """One full pass: attach every running labelled container that is not, detach every
        recorded attachment whose container does not run anymore, repair what a crash left."""
        _, docker, _, _ = self._parts()
        t0 = time.monotonic()
        running = await docker.labelled()
        recorded = self._recorded()
        self._remove_stray_pins(recorded)
        tasks = {cid: self._trigger(cid) for cid in sorted(set(running) | recorded)}
        if tasks:
            await asyncio.wait(tasks.values())
        by: dict[str, list[str]] = {}
        failed: dict[str, str] = {}
        for cid, task in tasks.items():
            outcome = "failed" if task.cancelled() or task.exception() else task.result()
            by.setdefault(outcome, []).append(cid)
            if outcome == "failed":
                failed[cid] = self._complaints.get(cid, "cancelled")
        report = ReconcileReport(
            attached=tuple(by.get("attached", ())),
            detached=tuple(by.get("detached", ())),
            repaired=tuple(by.get("repaired", ())),
            unchanged=tuple(by.get("unchanged", []) + by.get("ignored", [])),
            failed=failed,
        )
        _log(
            logging.INFO,
            "reconcile",
            running=len(running),
            recorded=len(recorded),
            attached=len(report.attached),
            detached=len(report.detached),
            repaired=len(report.repaired),
            failed=len(failed),
            duration_ms=(time.monotonic() - t0) * 1000,
        )
        return report

    # -- one container --

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
        try:
            _pin(source, pin)
            if not _same_netns(pin, source):
                raise DockerError(f"container {info.name or cid[:12]} stopped while being attached")
            addresses = await backend.attach(cid, pin, nets, spec)
        except (CNIError, OSError) as exc:
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


# -- synchronous entry points ---------------------------------------------------------------------


def reconcile(
    *,
    conf_dir: str | os.PathLike[str],
    plugin_dirs: Iterable[str] | str | None = None,
    cache_dir: str | os.PathLike[str] = "/var/lib/cni",
    state_dir: str | os.PathLike[str] | None = None,
    host: str | None = None,
    timeout: float | None = 60.0,
    argv_prefix: Sequence[str] = (),
    resync_interval: float = 60.0,
    concurrency: int = 8,
    shutdown_timeout: float = 30.0,
) -> ReconcileReport:
    """One reconciliation pass, synchronously (the arguments are :class:`Watcher`'s)."""
    kwargs: dict[str, Any] = {
        "conf_dir": conf_dir,
        "plugin_dirs": plugin_dirs,
        "cache_dir": cache_dir,
        "state_dir": state_dir,
        "host": host,
        "timeout": timeout,
        "argv_prefix": argv_prefix,
        "resync_interval": resync_interval,
        "concurrency": concurrency,
        "shutdown_timeout": shutdown_timeout,
    }

    async def once() -> ReconcileReport:
        async with Watcher(**kwargs) as w:
            await w._startup()  # noqa: SLF001 - the module's own entry point drives the watcher's steps
            return await w.reconcile()

    return asyncio.run(once())


def watch(
    *,
    conf_dir: str | os.PathLike[str],
    plugin_dirs: Iterable[str] | str | None = None,
    cache_dir: str | os.PathLike[str] = "/var/lib/cni",
    state_dir: str | os.PathLike[str] | None = None,
    host: str | None = None,
    timeout: float | None = 60.0,
    argv_prefix: Sequence[str] = (),
    resync_interval: float = 60.0,
    concurrency: int = 8,
    shutdown_timeout: float = 30.0,
    once: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run a :class:`Watcher` until SIGTERM or SIGINT; returns an exit status.

    :data:`EXIT_OK` after a clean stop, :data:`EXIT_LOCKED` when another watcher serves the cache
    directory, :data:`EXIT_FAILURE` for anything fatal. With ``once`` a single reconciliation runs
    (exit status 1 if a container could not be converged). When ``NOTIFY_SOCKET`` is set (systemd
    ``Type=notify``), ``READY=1`` is sent after the first reconciliation and ``STOPPING=1`` on a
    signal.
    """
    kwargs: dict[str, Any] = {
        "conf_dir": conf_dir,
        "plugin_dirs": plugin_dirs,
        "cache_dir": cache_dir,
        "state_dir": state_dir,
        "host": host,
        "timeout": timeout,
        "argv_prefix": argv_prefix,
        "resync_interval": resync_interval,
        "concurrency": concurrency,
        "shutdown_timeout": shutdown_timeout,
    }
    try:
        if once:
            report = reconcile(**kwargs)
            return EXIT_OK if report.ok else EXIT_FAILURE
        asyncio.run(_serve(kwargs, on_ready))
    except WatcherLockedError as exc:
        _log(logging.ERROR, "start", outcome="locked", error=_one_line(exc))
        return EXIT_LOCKED
    except (CNIError, OSError) as exc:
        _log(logging.ERROR, "start" if once else "run", outcome="error", error=_one_line(exc))
        return EXIT_FAILURE
    return EXIT_OK


async def _serve(kwargs: Mapping[str, Any], on_ready: Callable[[], None] | None) -> None:
    loop = asyncio.get_running_loop()
    async with Watcher(**kwargs) as w:

        def stop(signum: int) -> None:
            _log(logging.INFO, "signal", signal=signal.Signals(signum).name)
            _sd_notify("STOPPING=1")
            w.stop()

        handled: list[signal.Signals] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, stop, sig)
                handled.append(sig)
            except (ValueError, RuntimeError):
                pass  # not the main thread: the embedding program handles signals itself

        def ready() -> None:
            _sd_notify("READY=1")
            if on_ready is not None:
                on_ready()

        try:
            await w.run(on_ready=ready)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)


def _sd_notify(message: str) -> None:
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address:
        return
    import socket

    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.connect(address)
        s.sendall(message.encode())
