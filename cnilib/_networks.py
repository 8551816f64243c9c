"""A set of networks set up on a container in one call: the orchestrator's API (go-cni's, and more).

:class:`Networks` (threads) and :class:`AsyncNetworks` (asyncio) share one implementation,
:class:`_Core`, over the engine's public verbs (:class:`~cnilib.CNI` / :class:`~cnilib.AsyncCNI`):

* the networks come from a configuration directory (file names sorted, ``.conf``, ``.conflist`` and
  ``.json`` alike, as go-cni reads it: the first file is the default network), from explicit lists,
  or both (loopback first, then the directory's networks, then the explicit lists);
* interfaces are named ``<prefix>0``, ``<prefix>1``, ... in network order, ``lo`` for loopback;
* labels become ``CNI_ARGS`` with ``IgnoreUnknown=1`` added, as containerd and CRI-O do;
* ``remove`` and ``check`` address what was attached: a cached attachment is deleted (or checked)
  with the configuration it was made with, also after a reload changed or removed its file.

The loaded configuration is an immutable snapshot swapped by :meth:`Networks.reload`; an operation
uses the snapshot it started with.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar, cast

import attrs

from ._attachment import Attachment, NetworkAttachment, newest_shape
from ._capabilities import Capabilities, capability_args
from ._errors import CNIError, ConfigError, MultiError, ValidationError
from ._models import NetworkConfigList, RuntimeConfig
from ._tracing import library_logger

if TYPE_CHECKING:
    import asyncio
    import threading

    from ._cache import CacheEntry
    from ._engine import CNI, AsyncCNI
    from ._results import Result

__all__ = [
    "LOOPBACK_CONFIG",
    "AsyncNetworks",
    "ConfiguredNetwork",
    "Networks",
    "NetworksConfig",
    "NetworksNotReadyError",
]

_log = library_logger("cnilib.networks")
T = TypeVar("T")

#: go-cni's loopback network, byte for byte (its cache entries then match containerd's).
LOOPBACK_CONFIG = b"""{
"cniVersion": "0.3.1",
"name": "cni-loopback",
"plugins": [{
  "type": "loopback"
}]
}"""


class NetworksNotReadyError(MultiError):
    """:meth:`Networks.status`: fewer networks than ``min_networks`` are loaded, or a STATUS failed.

    ``errors`` maps ``"<network>/<ifname>"`` to each failed STATUS (empty when too few networks).
    """


@attrs.frozen
class ConfiguredNetwork:
    """One loaded network and the interface name it is attached as."""

    ifname: str
    config: NetworkConfigList

    @property
    def name(self) -> str:
        """The network's name."""
        return self.config.name

    @property
    def source(self) -> str | None:
        """The file it was read from (None for an explicit list or loopback)."""
        return self.config.source


@attrs.frozen
class NetworksConfig:
    """What is loaded (go-cni's ``GetConfig``): the networks in order, loopback first if enabled."""

    networks: tuple[ConfiguredNetwork, ...]
    confdir: str | None
    plugin_dirs: tuple[str, ...]
    max_networks: int | None
    min_networks: int
    interface_prefix: str

    @property
    def default(self) -> ConfiguredNetwork | None:
        """The default network: the first that is not loopback."""
        return next((n for n in self.networks if n.ifname != "lo"), None)

    def _fingerprint(self) -> tuple[tuple[str, str | None, bytes], ...]:
        return tuple((n.ifname, n.source, n.config.bytes) for n in self.networks)


def _loopback() -> NetworkConfigList:
    return NetworkConfigList.from_bytes(LOOPBACK_CONFIG)


def _dir_networks(confdir: str, max_networks: int | None) -> list[NetworkConfigList]:
    # go-cni's loadFromConfDir: every file sorted by name, whatever its extension; any invalid
    # file fails the load (reported together).
    from ._config import ConfigDirectoryError, conf_files, load_conf_file

    found: list[NetworkConfigList] = []
    problems: list[ConfigError] = []
    for path in conf_files(confdir):
        if max_networks is not None and len(found) >= max_networks:
            break
        try:
            found.append(load_conf_file(path))
        except ConfigError as exc:
            problems.append(exc)
    if problems:
        raise ConfigDirectoryError(confdir, problems)
    return found


def _labels_to_args(
    labels: Mapping[str, str] | None, args: Mapping[str, str] | Iterable[tuple[str, str]] | None
) -> tuple[tuple[str, str], ...]:
    pairs = list((labels or {}).items())
    pairs += list(args.items() if isinstance(args, Mapping) else (args or ()))
    if not pairs:
        return ()  # nothing given: DEL/CHECK may reuse the cached arguments
    if not any(k == "IgnoreUnknown" for k, _ in pairs):
        # Plugins refuse CNI_ARGS keys they do not know (K8S_POD_NAME, ...) unless told to ignore them.
        pairs.insert(0, ("IgnoreUnknown", "1"))
    return tuple(pairs)


@attrs.frozen
class _Call:
    """One network's part of an operation: its list and runtime configuration."""

    config: NetworkConfigList
    rt: RuntimeConfig

    @property
    def key(self) -> str:
        return f"{self.config.name}/{self.rt.ifname}"


class _Core:
    """Everything but the I/O: loading, naming, which calls an operation makes, merging."""

    def __init__(
        self,
        networks: Iterable[NetworkConfigList],
        *,
        confdir: str | os.PathLike[str] | None,
        plugin_dirs: tuple[str, ...],
        max_networks: int | None,
        min_networks: int,
        loopback: bool,
        interface_prefix: str,
        parallel: bool,
    ) -> None:
        if max_networks is not None and max_networks < 1:
            raise ValidationError(f"max_networks must be at least 1 (or None for all), got {max_networks}")
        if min_networks < 0:
            raise ValidationError(f"min_networks must not be negative, got {min_networks}")
        self.explicit = tuple(networks)
        self.confdir = None if confdir is None else os.fspath(confdir)
        self.plugin_dirs = plugin_dirs
        self.max_networks = max_networks
        self.min_networks = min_networks
        self.loopback = loopback
        self.prefix = interface_prefix
        self.parallel = parallel
        self.snapshot = self.load()
        # Every network name ever loaded: its cached attachments are ours to remove after a reload.
        self.seen: set[str] = {n.name for n in self.snapshot.networks}

    def load(self) -> NetworksConfig:
        lists = _dir_networks(self.confdir, self.max_networks) if self.confdir is not None else []
        lists += self.explicit
        nets = [ConfiguredNetwork(f"{self.prefix}{i}", c) for i, c in enumerate(lists)]
        if self.loopback:
            nets.insert(0, ConfiguredNetwork("lo", _loopback()))
        from ._validate import validate_ifname

        for net in nets:
            validate_ifname(net.ifname)
        return NetworksConfig(
            networks=tuple(nets),
            confdir=self.confdir,
            plugin_dirs=self.plugin_dirs,
            max_networks=self.max_networks,
            min_networks=self.min_networks,
            interface_prefix=self.prefix,
        )

    def swap(self, new: NetworksConfig) -> bool:
        changed = new._fingerprint() != self.snapshot._fingerprint()
        self.snapshot = new
        self.seen.update(n.name for n in new.networks)
        if changed:
            _log.info("networks reloaded: %s", ", ".join(f"{n.name}={n.ifname}" for n in new.networks))
        return changed

    def not_ready(self, snap: NetworksConfig) -> NetworksNotReadyError | None:
        count = sum(1 for n in snap.networks if n.ifname != "lo")
        if count >= self.min_networks:
            return None
        where = f" from {self.confdir}" if self.confdir else ""
        return NetworksNotReadyError(
            f"cni plugin not initialized: {count} network(s) loaded{where}, "
            f"at least {self.min_networks} needed",
            {},
        )

    def runtime(
        self,
        container_id: str,
        netns: str | os.PathLike[str],
        labels: Mapping[str, str] | None,
        capabilities: Capabilities | Mapping[str, Any] | None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    ) -> RuntimeConfig:
        rt = RuntimeConfig(
            container_id=container_id,
            netns=os.fspath(netns),
            args=_labels_to_args(labels, args),
            capability_args=capability_args(capabilities),
        )
        rt.validate()
        return rt

    def setup_calls(self, snap: NetworksConfig, rt: RuntimeConfig) -> list[_Call]:
        return [_Call(n.config, attrs.evolve(rt, ifname=n.ifname)) for n in snap.networks]

    def attached_calls(
        self, snap: NetworksConfig, rt: RuntimeConfig, entries: Sequence[CacheEntry], *, removing: bool
    ) -> list[_Call]:
        """The calls that address what is attached: cached configurations first, then the rest."""
        calls: list[_Call] = []
        cached_names: set[str] = set()
        used_ifnames: set[str] = set()
        loaded = {n.name for n in snap.networks}
        for entry in entries:
            if entry.network_name not in self.seen:
                continue  # another manager's network sharing the cache directory
            if not removing and entry.network_name not in loaded:
                continue  # CHECK looks at the loaded networks only
            config = _cached_list(entry) or _current_list(snap, entry.network_name)
            if config is None:
                continue
            cached_names.add(entry.network_name)
            used_ifnames.add(entry.ifname)
            calls.append(_Call(config, attrs.evolve(rt, ifname=entry.ifname)))
        for net in snap.networks:
            # A loaded network with no cache entry still gets its DEL (the spec's "DEL without
            # cache"), unless its interface name now belongs to another network's attachment.
            if net.name in cached_names or net.ifname in used_ifnames:
                continue
            calls.append(_Call(net.config, attrs.evolve(rt, ifname=net.ifname)))
        if not removing:
            # CHECK does not exist before 0.4.0 (go-cni's loopback list is 0.3.1): nothing to check.
            calls = [c for c in calls if _checkable(c.config)]
        return calls

    def attachment(
        self, rt: RuntimeConfig, calls: Sequence[_Call], results: Sequence[Result | None]
    ) -> Attachment:
        parts = [
            NetworkAttachment(
                network=c.config.name,
                ifname=c.rt.ifname,
                result=newest_shape(r, c.config.cni_version),
                raw_result=r,
            )
            for c, r in zip(calls, results, strict=True)
        ]
        return Attachment.from_results(rt.container_id, rt.netns, parts, default_ifname=f"{self.prefix}0")


def _checkable(config: NetworkConfigList) -> bool:
    from ._version import VERB_MIN_VERSION, Verb, normalize_version, version_at_least

    return version_at_least(normalize_version(config.cni_version), VERB_MIN_VERSION[Verb.CHECK])


def _cached_list(entry: CacheEntry) -> NetworkConfigList | None:
    if not entry.config:
        return None
    try:
        return NetworkConfigList.from_bytes(entry.config, source=entry.path)
    except ConfigError as exc:
        _log.warning("cached configuration of %s is unusable (%s): using the loaded one", entry.path, exc)
        return None


def _current_list(snap: NetworksConfig, name: str) -> NetworkConfigList | None:
    return next((n.config for n in snap.networks if n.name == name), None)


def _errors(calls: Sequence[_Call], outcomes: Sequence[object]) -> dict[str, BaseException]:
    return {c.key: o for c, o in zip(calls, outcomes, strict=True) if isinstance(o, BaseException)}


def _watchfiles() -> Any:
    try:
        import watchfiles
    except ImportError:
        raise ConfigError("watch() needs the 'watch' extra: pip install 'cnilib[watch]'") from None
    return watchfiles


def _span(operation: str, container_id: str | None = None) -> Any:
    from ._tracing import operation_span

    return operation_span(operation, network=None, container_id=container_id)


class Networks:
    """A set of networks attached to containers together (threads; see :class:`AsyncNetworks`).

    ``networks`` are explicit lists; ``confdir`` a directory read as go-cni does (see
    :meth:`from_dir`). ``cni`` is the engine to use; without it one is made from ``plugin_dirs``,
    ``cache_dir`` and ``timeout``. ``parallel`` attaches the networks concurrently (go-cni's
    ``Setup``; False is its ``SetupSerially``). ``min_networks`` counts the networks besides
    loopback (go-cni counts its loopback network too: containerd asks it for 2).
    """

    def __init__(
        self,
        networks: Iterable[NetworkConfigList] = (),
        *,
        confdir: str | os.PathLike[str] | None = None,
        cni: CNI | None = None,
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = "/var/lib/cni",
        timeout: float | None = None,
        max_networks: int | None = None,
        min_networks: int = 1,
        loopback: bool = False,
        interface_prefix: str = "eth",
        parallel: bool = True,
    ) -> None:
        if cni is None:
            from ._engine import CNI

            cni = CNI(plugin_dirs=plugin_dirs, cache_dir=cache_dir, timeout=timeout)
        self.cni: CNI = cni
        self._core = _Core(
            networks,
            confdir=confdir,
            plugin_dirs=cni.plugin_dirs,
            max_networks=max_networks,
            min_networks=min_networks,
            loopback=loopback,
            interface_prefix=interface_prefix,
            parallel=parallel,
        )

    @classmethod
    def from_dir(
        cls,
        confdir: str | os.PathLike[str],
        *,
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = "/var/lib/cni",
        timeout: float | None = None,
        max_networks: int | None = None,
        min_networks: int = 1,
        loopback: bool = False,
        interface_prefix: str = "eth",
        networks: Iterable[NetworkConfigList] = (),
        cni: CNI | None = None,
        parallel: bool = True,
    ) -> Networks:
        """The networks of ``confdir``: every ``.conf``/``.conflist``/``.json`` file sorted by name
        (at most ``max_networks``), the first being the default network (``eth0``)."""
        return cls(
            networks,
            confdir=confdir,
            cni=cni,
            plugin_dirs=plugin_dirs,
            cache_dir=cache_dir,
            timeout=timeout,
            max_networks=max_networks,
            min_networks=min_networks,
            loopback=loopback,
            interface_prefix=interface_prefix,
            parallel=parallel,
        )

    # -- configuration --

    def config(self) -> NetworksConfig:
        """What is loaded now (go-cni's ``GetConfig``)."""
        return self._core.snapshot

    def reload(self) -> bool:
        """Re-read the directory (and keep the explicit lists); True if anything changed.

        A directory that has become invalid raises :class:`~cnilib.ConfigError` and the loaded
        networks stay as they were.
        """
        return self._core.swap(self._core.load())

    def watch(
        self,
        *,
        stop_event: threading.Event | None = None,
        debounce_ms: int = 200,
    ) -> Iterator[NetworksConfig]:
        """Reload whenever the directory changes; yield the new configuration after each change.

        Needs the ``watch`` extra (watchfiles). Runs until ``stop_event`` is set or the caller stops
        iterating. A change that leaves the directory invalid is logged at WARNING and skipped.
        """
        watchfiles = _watchfiles()
        confdir = self._require_confdir()
        for _changes in watchfiles.watch(
            confdir, stop_event=stop_event, debounce=debounce_ms, raise_interrupt=False
        ):
            new = self._try_reload()
            if new is not None:
                yield new

    def _require_confdir(self) -> str:
        if self._core.confdir is None:
            raise ValidationError("watch() needs networks loaded from a directory")
        return self._core.confdir

    def _try_reload(self) -> NetworksConfig | None:
        try:
            changed = self.reload()
        except CNIError as exc:
            _log.warning("configuration directory changed but cannot be loaded: %s", exc)
            return None
        return self._core.snapshot if changed else None

    # -- verbs --

    def status(self) -> None:
        """Raise :class:`NetworksNotReadyError` unless at least ``min_networks`` networks are loaded
        and every network's STATUS passes (nothing runs for lists older than 1.1.0)."""
        snap = self._core.snapshot
        error = self._core.not_ready(snap)
        if error is not None:
            raise error
        calls = [
            _Call(n.config, RuntimeConfig(container_id="status", ifname=n.ifname)) for n in snap.networks
        ]
        outcomes = self._map(lambda c: self.cni.status(c.config), calls, parallel=True)
        errors = _errors(calls, outcomes)
        if errors:
            raise NetworksNotReadyError("network status failed", errors)

    def setup(
        self,
        container_id: str,
        netns: str | os.PathLike[str],
        *,
        labels: Mapping[str, str] | None = None,
        capabilities: Capabilities | Mapping[str, Any] | None = None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        parallel: bool | None = None,
    ) -> Attachment:
        """Attach the container to every network and return the merged :class:`~cnilib.Attachment`.

        When any network fails, the ones that succeeded are removed again and a
        :class:`~cnilib.MultiError` names every failure (keys ``"<network>/<ifname>"``).
        """
        core = self._core
        snap = core.snapshot
        error = core.not_ready(snap)
        if error is not None:
            raise error
        rt = core.runtime(container_id, netns, labels, capabilities, args)
        calls = core.setup_calls(snap, rt)
        with _span("setup", container_id):
            outcomes = self._map(
                lambda c: self.cni.add(c.config, c.rt, rollback=True), calls, parallel=parallel
            )
            errors = _errors(calls, outcomes)
            if errors:
                done = [c for c, o in zip(calls, outcomes, strict=True) if not isinstance(o, BaseException)]
                undone = self._map(lambda c: self.cni.delete(c.config, c.rt), done, parallel=parallel)
                errors.update({f"rollback {k}": v for k, v in _errors(done, undone).items()})
                raise MultiError(f"setting up {container_id} failed", errors)
            return core.attachment(rt, calls, cast("list[Result | None]", outcomes))

    def remove(
        self,
        container_id: str,
        netns: str | os.PathLike[str] = "",
        *,
        labels: Mapping[str, str] | None = None,
        capabilities: Capabilities | Mapping[str, Any] | None = None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        parallel: bool | None = None,
    ) -> None:
        """DEL the container from every network it is attached to, each with the configuration it
        was attached with (also after a reload changed or removed its file); keeps going past
        failures and raises one :class:`~cnilib.MultiError` naming them all."""
        self._each("remove", container_id, netns, labels, capabilities, args, parallel)

    def check(
        self,
        container_id: str,
        netns: str | os.PathLike[str],
        *,
        labels: Mapping[str, str] | None = None,
        capabilities: Capabilities | Mapping[str, Any] | None = None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        parallel: bool | None = None,
    ) -> None:
        """CHECK every loaded network's attachment; one :class:`~cnilib.MultiError` names every failure."""
        self._each("check", container_id, netns, labels, capabilities, args, parallel)

    def _each(
        self,
        verb: str,
        container_id: str,
        netns: str | os.PathLike[str],
        labels: Mapping[str, str] | None,
        capabilities: Capabilities | Mapping[str, Any] | None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        parallel: bool | None,
    ) -> None:
        core = self._core
        snap = core.snapshot
        rt = core.runtime(container_id, netns, labels, capabilities, args)
        removing = verb == "remove"
        with _span(verb, container_id):
            entries = self.cni.cached_attachments(container_id)
            calls = core.attached_calls(snap, rt, entries, removing=removing)
            run = self.cni.delete if removing else self.cni.check
            errors = _errors(calls, self._map(lambda c: run(c.config, c.rt), calls, parallel=parallel))
            if errors:
                raise MultiError(f"{verb} of {container_id} failed", errors)

    def _map(
        self, fn: Callable[[_Call], T], calls: Sequence[_Call], *, parallel: bool | None
    ) -> list[T | CNIError]:
        def one(call: _Call) -> T | CNIError:
            try:
                return fn(call)
            except CNIError as exc:
                return exc

        if len(calls) < 2 or not (self._core.parallel if parallel is None else parallel):
            return [one(c) for c in calls]
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            # Each thread runs in a copy of the caller's context, so trace spans nest.
            futures = [pool.submit(contextvars.copy_context().run, one, c) for c in calls]
            return [f.result() for f in futures]


class AsyncNetworks:
    """A set of networks attached to containers together (asyncio; the same rules as :class:`Networks`)."""

    def __init__(
        self,
        networks: Iterable[NetworkConfigList] = (),
        *,
        confdir: str | os.PathLike[str] | None = None,
        cni: AsyncCNI | None = None,
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = "/var/lib/cni",
        timeout: float | None = None,
        max_networks: int | None = None,
        min_networks: int = 1,
        loopback: bool = False,
        interface_prefix: str = "eth",
        parallel: bool = True,
    ) -> None:
        if cni is None:
            from ._engine import AsyncCNI

            cni = AsyncCNI(plugin_dirs=plugin_dirs, cache_dir=cache_dir, timeout=timeout)
        self.cni: AsyncCNI = cni
        self._core = _Core(
            networks,
            confdir=confdir,
            plugin_dirs=cni.plugin_dirs,
            max_networks=max_networks,
            min_networks=min_networks,
            loopback=loopback,
            interface_prefix=interface_prefix,
            parallel=parallel,
        )

    @classmethod
    def from_dir(
        cls,
        confdir: str | os.PathLike[str],
        *,
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = "/var/lib/cni",
        timeout: float | None = None,
        max_networks: int | None = None,
        min_networks: int = 1,
        loopback: bool = False,
        interface_prefix: str = "eth",
        networks: Iterable[NetworkConfigList] = (),
        cni: AsyncCNI | None = None,
        parallel: bool = True,
    ) -> AsyncNetworks:
        """The networks of ``confdir`` (see :meth:`Networks.from_dir`)."""
        return cls(
            networks,
            confdir=confdir,
            cni=cni,
            plugin_dirs=plugin_dirs,
            cache_dir=cache_dir,
            timeout=timeout,
            max_networks=max_networks,
            min_networks=min_networks,
            loopback=loopback,
            interface_prefix=interface_prefix,
            parallel=parallel,
        )

    async def __aenter__(self) -> AsyncNetworks:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def config(self) -> NetworksConfig:
        """What is loaded now (go-cni's ``GetConfig``)."""
        return self._core.snapshot

    async def reload(self) -> bool:
        """Re-read the directory (in a worker thread); True if anything changed."""
        import asyncio

        new = await asyncio.to_thread(self._core.load)
        return self._core.swap(new)

    async def watch(
        self,
        *,
        stop_event: asyncio.Event | None = None,
        debounce_ms: int = 200,
    ) -> AsyncIterator[NetworksConfig]:
        """Reload whenever the directory changes; yield each new configuration (``stop_event``: an
        :class:`asyncio.Event`). Needs the ``watch`` extra (watchfiles)."""
        watchfiles = _watchfiles()
        if self._core.confdir is None:
            raise ValidationError("watch() needs networks loaded from a directory")
        async for _changes in watchfiles.awatch(
            self._core.confdir, stop_event=stop_event, debounce=debounce_ms
        ):
            try:
                changed = await self.reload()
            except CNIError as exc:
                _log.warning("configuration directory changed but cannot be loaded: %s", exc)
                continue
            if changed:
                yield self._core.snapshot

    async def status(self) -> None:
        """See :meth:`Networks.status`."""
        snap = self._core.snapshot
        error = self._core.not_ready(snap)
        if error is not None:
            raise error
        calls = [
            _Call(n.config, RuntimeConfig(container_id="status", ifname=n.ifname)) for n in snap.networks
        ]
        outcomes = await self._map(lambda c: self.cni.status(c.config), calls, parallel=True)
        errors = _errors(calls, outcomes)
        if errors:
            raise NetworksNotReadyError("network status failed", errors)

    async def setup(
        self,
        container_id: str,
        netns: str | os.PathLike[str],
        *,
        labels: Mapping[str, str] | None = None,
        capabilities: Capabilities | Mapping[str, Any] | None = None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        parallel: bool | None = None,
    ) -> Attachment:
        """See :meth:`Networks.setup`. A cancelled setup leaves what was already attached: call
        :meth:`remove` then."""
        core = self._core
        snap = core.snapshot
        error = core.not_ready(snap)
        if error is not None:
            raise error
        rt = core.runtime(container_id, netns, labels, capabilities, args)
        calls = core.setup_calls(snap, rt)
        with _span("setup", container_id):
            outcomes = await self._map(
                lambda c: self.cni.add(c.config, c.rt, rollback=True), calls, parallel=parallel
            )
            errors = _errors(calls, outcomes)
            if errors:
                done = [c for c, o in zip(calls, outcomes, strict=True) if not isinstance(o, BaseException)]
                undone = await self._map(lambda c: self.cni.delete(c.config, c.rt), done, parallel=parallel)
                errors.update({f"rollback {k}": v for k, v in _errors(done, undone).items()})
                raise MultiError(f"setting up {container_id} failed", errors)
            return core.attachment(rt, calls, cast("list[Result | None]", outcomes))

    async def remove(
        self,
        container_id: str,
        netns: str | os.PathLike[str] = "",
        *,
        labels: Mapping[str, str] | None = None,
        capabilities: Capabilities | Mapping[str, Any] | None = None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        parallel: bool | None = None,
    ) -> None:
        """See :meth:`Networks.remove`."""
        await self._each("remove", container_id, netns, labels, capabilities, args, parallel)

    async def check(
        self,
        container_id: str,
        netns: str | os.PathLike[str],
        *,
        labels: Mapping[str, str] | None = None,
        capabilities: Capabilities | Mapping[str, Any] | None = None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
        parallel: bool | None = None,
    ) -> None:
        """See :meth:`Networks.check`."""
        await self._each("check", container_id, netns, labels, capabilities, args, parallel)

    async def _each(
        self,
        verb: str,
        container_id: str,
        netns: str | os.PathLike[str],
        labels: Mapping[str, str] | None,
        capabilities: Capabilities | Mapping[str, Any] | None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None,
        parallel: bool | None,
    ) -> None:
        import asyncio

        core = self._core
        snap = core.snapshot
        rt = core.runtime(container_id, netns, labels, capabilities, args)
        removing = verb == "remove"
        with _span(verb, container_id):
            entries = await asyncio.to_thread(self.cni.cached_attachments, container_id)
            calls = core.attached_calls(snap, rt, entries, removing=removing)
            run = self.cni.delete if removing else self.cni.check
            errors = _errors(calls, await self._map(lambda c: run(c.config, c.rt), calls, parallel=parallel))
            if errors:
                raise MultiError(f"{verb} of {container_id} failed", errors)

    async def _map(
        self, fn: Callable[[_Call], Any], calls: Sequence[_Call], *, parallel: bool | None
    ) -> list[Any]:
        import asyncio

        async def one(call: _Call) -> Any:
            try:
                return await fn(call)
            except CNIError as exc:
                return exc

        if not (self._core.parallel if parallel is None else parallel):
            return [await one(c) for c in calls]
        return list(await asyncio.gather(*(one(c) for c in calls)))
