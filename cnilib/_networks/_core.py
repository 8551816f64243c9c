"""The one implementation behind :class:`~cnilib.Networks` and :class:`~cnilib.AsyncNetworks`:
:class:`_Core` holds the loaded snapshot and decides everything but the I/O (which calls an
operation makes, what their outcomes mean); the fronts only run the calls, with threads or asyncio."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import attrs

from .._base._errors import AlreadyAttachedError, CNIError, ConfigError, MultiError, ValidationError
from .._model._capabilities import Capabilities, capability_args
from .._model._models import NetworkConfigList, RuntimeConfig
from ._attachment import Attachment, NetworkAttachment, newest_shape

if TYPE_CHECKING:
    from .._cache import CacheEntry
    from .._model._results import Result

from ._load import (
    ConfiguredNetwork,
    NetworksConfig,
    NetworksNotReadyError,
    _dir_networks,
    _fingerprint,
    _labels_to_args,
    _log,
    _loopback,
)


@attrs.frozen
class _Call:
    """One network's part of an operation: its list and runtime configuration."""

    config: NetworkConfigList
    rt: RuntimeConfig

    @property
    def key(self) -> str:
        return f"{self.config.name}/{self.rt.ifname}"


# The keyword arguments of the fronts' constructors, which ``from_dir`` takes too and passes on.
_FRONT_ARGS = (
    "confdir",
    "cni",
    "plugin_dirs",
    "cache_dir",
    "timeout",
    "max_networks",
    "min_networks",
    "loopback",
    "interface_prefix",
    "parallel",
)


def _front_kwargs(values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in _FRONT_ARGS}


class _Core:
    """Everything but the I/O: loading, naming, which calls an operation makes, merging."""

    @classmethod
    def for_front(
        cls, networks: Iterable[NetworkConfigList], plugin_dirs: tuple[str, ...], args: Mapping[str, Any]
    ) -> _Core:
        """The core of a front built with ``args`` (its constructor's arguments) on an engine
        searching ``plugin_dirs``."""
        return cls(
            networks,
            confdir=args["confdir"],
            plugin_dirs=plugin_dirs,
            max_networks=args["max_networks"],
            min_networks=args["min_networks"],
            loopback=args["loopback"],
            interface_prefix=args["interface_prefix"],
            parallel=args["parallel"],
        )

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
        _check_unique(nets)
        from .._spec._validate import validate_ifname

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
        changed = _fingerprint(new) != _fingerprint(self.snapshot)
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

    def require_confdir(self) -> str:
        if self.confdir is None:
            raise ValidationError("watch() needs networks loaded from a directory")
        return self.confdir

    @staticmethod
    def reload_failed(exc: CNIError) -> None:
        _log.warning("configuration directory changed but cannot be loaded: %s", exc)

    def status_calls(self) -> list[_Call]:
        """One STATUS call per loaded network; :class:`NetworksNotReadyError` if too few are loaded."""
        snap = self.snapshot
        error = self.not_ready(snap)
        if error is not None:
            raise error
        return [_Call(n.config, RuntimeConfig(container_id="status", ifname=n.ifname)) for n in snap.networks]

    @staticmethod
    def status_outcome(calls: Sequence[_Call], outcomes: Sequence[object]) -> None:
        errors = _errors(calls, outcomes)
        if errors:
            raise NetworksNotReadyError("network status failed", errors)

    def setup_plan(
        self,
        container_id: str,
        netns: str | os.PathLike[str],
        labels: Mapping[str, str] | None,
        capabilities: Capabilities | Mapping[str, Any] | None,
        args: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    ) -> tuple[RuntimeConfig, list[_Call]]:
        """The runtime configuration and the ADD calls of a setup (refused when not ready)."""
        snap = self.snapshot
        error = self.not_ready(snap)
        if error is not None:
            raise error
        rt = self.runtime(container_id, netns, labels, capabilities, args)
        return rt, self.setup_calls(snap, rt)

    @staticmethod
    def to_roll_back(calls: Sequence[_Call], outcomes: Sequence[object]) -> list[_Call]:
        """The ADDs that succeeded when another failed: what a setup deletes again (else none)."""
        if not _errors(calls, outcomes):
            return []
        return [c for c, o in zip(calls, outcomes, strict=True) if not isinstance(o, BaseException)]

    @staticmethod
    def interrupted(calls: Sequence[_Call], outcomes: Sequence[object]) -> list[_Call]:
        """What an interrupted setup DELs again: each network attached and each ADD the interrupt
        ended whose :attr:`_Attempt.applied` says it may have applied something. Never one not
        started, nor one that failed (it rolled itself back) or was refused."""
        return [
            c
            for c, o in zip(calls, outcomes, strict=True)
            if (isinstance(o, _Attempt) and o.applied) or _attached(o)
        ]

    @staticmethod
    def failed_networks(calls: Sequence[_Call], outcomes: Sequence[object]) -> set[str]:
        """The networks whose ADD failed: their intent records tell whether their rollback finished."""
        return {c.config.name for c, o in zip(calls, outcomes, strict=True) if isinstance(o, BaseException)}

    def setup_outcome(
        self,
        rt: RuntimeConfig,
        calls: Sequence[_Call],
        outcomes: Sequence[object],
        done: Sequence[_Call],
        undone: Sequence[object],
        intents: Sequence[CacheEntry] = (),
    ) -> Attachment:
        """The merged attachment, or the :class:`~cnilib.MultiError` naming every failure.

        ``intents``: the unfinished ADDs in the cache after a failure; a failed network whose own
        rollback did not finish still has one, and counts as a failed rollback too."""
        errors = _errors(calls, outcomes)
        if errors:
            errors.update({f"rollback {k}": v for k, v in _errors(done, undone).items()})
            left = {e.key for e in intents}
            for c in calls:
                refused = isinstance(errors.get(c.key), AlreadyAttachedError)  # (nothing ran)
                if (
                    c.key in errors
                    and not refused
                    and (c.config.name, c.rt.container_id, c.rt.ifname) in left
                ):
                    errors[f"rollback {c.key}"] = errors[c.key]  # (its notes say what failed)
            raise MultiError(f"setting up {rt.container_id} failed", errors)
        return self.attachment(rt, calls, cast("list[Result | None]", outcomes))

    @staticmethod
    def verb_outcome(
        verb: str, container_id: str, calls: Sequence[_Call], outcomes: Sequence[object]
    ) -> None:
        errors = _errors(calls, outcomes)
        if errors:
            raise MultiError(f"{verb} of {container_id} failed", errors)

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


class _Attempt:
    """The outcome of an ADD while it runs, and after an exception that is not a
    :class:`~cnilib.CNIError` (an interrupt) ended it: whether its cache entry existed before it
    (``existed``), whether it still runs in a worker thread (``running``), and, once looked at,
    whether it may have applied something (``applied``)."""

    __slots__ = ("applied", "existed", "running")

    def __init__(self, existed: bool) -> None:
        self.existed = existed
        self.running = True
        self.applied = False


#: An outcome not there yet: its call never started (or, asyncio, was cancelled before it finished).
_UNFINISHED = object()


def _attached(outcome: object) -> bool:
    return outcome is not _UNFINISHED and not isinstance(outcome, (BaseException, _Attempt))


def _checkable(config: NetworkConfigList) -> bool:
    from .._spec._version import VERB_MIN_VERSION, Verb, normalize_version, version_at_least

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


def _check_unique(nets: list[ConfiguredNetwork]) -> None:
    """ValidationError when two of ``nets`` have one name (cache entries, GC and
    ``Attachment.results`` are keyed by it); a directory's own duplicates are already shadowed."""
    kept: dict[str, ConfiguredNetwork] = {}
    for net in nets:
        first = kept.setdefault(net.name, net)
        if first is not net:
            raise ValidationError(
                f"network {net.name!r} is given twice ({_origin(first)} and {_origin(net)}): "
                "every network needs a name of its own"
            )


def _origin(net: ConfiguredNetwork) -> str:
    return net.source or ("the loopback network" if net.ifname == "lo" else "an explicit list")


def _errors(calls: Sequence[_Call], outcomes: Sequence[object]) -> dict[str, BaseException]:
    return {c.key: o for c, o in zip(calls, outcomes, strict=True) if isinstance(o, BaseException)}


def _watchfiles() -> Any:
    try:
        import watchfiles
    except ImportError:
        raise ConfigError("watch() needs the 'watch' extra: pip install 'cnilib[watch]'") from None
    return watchfiles


def _span(operation: str, container_id: str | None = None) -> Any:
    from .._exec._tracing import operation_span

    return operation_span(operation, network=None, container_id=container_id)
