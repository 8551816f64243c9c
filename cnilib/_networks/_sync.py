"""The threaded front: :class:`~cnilib.Networks` runs :class:`_Core`'s calls on a
:class:`~cnilib.CNI`, concurrently in a thread pool (each thread in a copy of the caller's context)."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from .._attachment import Attachment
from .._capabilities import Capabilities
from .._errors import CNIError
from .._models import NetworkConfigList

if TYPE_CHECKING:
    import threading

    from .._engine import CNI

from .._defaults import DEFAULT_CACHE_DIR
from ._core import _Call, _Core, _front_kwargs, _span, _watchfiles
from ._load import NetworksConfig

T = TypeVar("T")


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
        cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
        timeout: float | None = None,
        max_networks: int | None = None,
        min_networks: int = 1,
        loopback: bool = False,
        interface_prefix: str = "eth",
        parallel: bool = True,
    ) -> None:
        if cni is None:
            from .._engine import CNI

            cni = CNI(plugin_dirs=plugin_dirs, cache_dir=cache_dir, timeout=timeout)
        self.cni: CNI = cni
        self._core = _Core.for_front(networks, cni.plugin_dirs, locals())

    @classmethod
    def from_dir(
        cls,
        confdir: str | os.PathLike[str],
        *,
        plugin_dirs: Iterable[str] | str | None = None,
        cache_dir: str | os.PathLike[str] = DEFAULT_CACHE_DIR,
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
        return cls(networks, **_front_kwargs(locals()))

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
        confdir = self._core.require_confdir()
        for _changes in watchfiles.watch(
            confdir, stop_event=stop_event, debounce=debounce_ms, raise_interrupt=False
        ):
            new = self._try_reload()
            if new is not None:
                yield new

    def _try_reload(self) -> NetworksConfig | None:
        try:
            changed = self.reload()
        except CNIError as exc:
            self._core.reload_failed(exc)
            return None
        return self._core.snapshot if changed else None

    def status(self) -> None:
        """Raise :class:`NetworksNotReadyError` unless at least ``min_networks`` networks are loaded
        and every network's STATUS passes (nothing runs for lists older than 1.1.0)."""
        calls = self._core.status_calls()
        outcomes = self._map(lambda c: self.cni.status(c.config), calls, parallel=True)
        self._core.status_outcome(calls, outcomes)

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
        :class:`~cnilib.MultiError` names every failure (keys ``"<network>/<ifname>"``). A network
        the container is attached to already fails with :class:`~cnilib.AlreadyAttachedError`
        and is left as it is (never DELeted by this call).
        """
        core = self._core
        rt, calls = core.setup_plan(container_id, netns, labels, capabilities, args)
        with _span("setup", container_id):
            outcomes = self._map(
                lambda c: self.cni.add(c.config, c.rt, rollback=True), calls, parallel=parallel
            )
            done = core.to_roll_back(calls, outcomes)
            undone = self._map(lambda c: self.cni.delete(c.config, c.rt), done, parallel=parallel)
            intents = [e for n in core.failed_networks(calls, outcomes) for e in self.cni.unfinished_adds(n)]
            return core.setup_outcome(rt, calls, outcomes, done, undone, intents)

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
            outcomes = self._map(lambda c: run(c.config, c.rt), calls, parallel=parallel)
            core.verb_outcome(verb, container_id, calls, outcomes)

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
