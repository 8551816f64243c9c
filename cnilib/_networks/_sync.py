"""The threaded front: :class:`~cnilib.Networks` runs :class:`_Core`'s calls on a
:class:`~cnilib.CNI`, concurrently in a thread pool (each thread in a copy of the caller's context)."""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from .._base._errors import CNIError
from .._model._capabilities import Capabilities
from .._model._models import NetworkConfigList
from ._attachment import Attachment

if TYPE_CHECKING:
    import threading

    from .._engine import CNI

from .._base._defaults import DEFAULT_CACHE_DIR
from .._engine._notes import add_note
from ._core import _UNFINISHED, _Attempt, _Call, _Core, _front_kwargs, _span, _watchfiles
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

        Interrupted before it returns (``KeyboardInterrupt``, or any exception that is not a
        :class:`~cnilib.CNIError`), it leaves nothing attached, as a cancelled
        :meth:`AsyncNetworks.setup` does: the ADDs running in threads end first, the one running in
        this thread is stopped (its plugin's process group killed); then every network attached,
        or whose stopped ADD may have applied something, is DELeted, and the exception goes on
        (its notes say what was undone). Interrupted again meanwhile, it goes on without finishing
        (a DEL running in a thread ends first): what is left is in the cache, for :meth:`remove`
        or :meth:`~cnilib.CNI.recover`.
        """
        core = self._core
        rt, calls = core.setup_plan(container_id, netns, labels, capabilities, args)
        threads = self._threads(calls, parallel)
        with _span("setup", container_id):
            outcomes: list[Any] = [_UNFINISHED] * len(calls)
            try:
                self._adds(calls, outcomes, threads)
                if not core.failed_networks(calls, outcomes):
                    return core.attachment(rt, calls, outcomes)
            except BaseException as exc:
                self._undo_interrupted(calls, outcomes, threads, exc)
                raise
            done = core.to_roll_back(calls, outcomes)
            undone = self._map(lambda c: self.cni.delete(c.config, c.rt), done, parallel=parallel)
            intents = [e for n in core.failed_networks(calls, outcomes) for e in self.cni.unfinished_adds(n)]
            return core.setup_outcome(rt, calls, outcomes, done, undone, intents)

    def _adds(self, calls: Sequence[_Call], outcomes: list[Any], threads: bool) -> None:
        """ADD every call; each one's outcome in ``outcomes``: its result, its CNIError or, while it
        runs and once an exception that is not a CNIError ended it, an :class:`_Attempt`."""

        def one(i: int, call: _Call) -> None:
            attempt = _Attempt(self._has(call, "entry"))
            outcomes[i] = attempt
            try:
                outcomes[i] = self.cni.add(call.config, call.rt, rollback=True)
            except CNIError as exc:
                outcomes[i] = exc
            finally:
                attempt.running = False

        self._run(one, calls, threads)

    def _undo_interrupted(
        self, calls: Sequence[_Call], outcomes: Sequence[Any], threads: bool, exc: BaseException
    ) -> None:
        """DEL what an interrupted setup attached, or may have; its notes on ``exc``."""
        attempts = [(c, o) for c, o in zip(calls, outcomes, strict=True) if isinstance(o, _Attempt)]
        if threads and any(o.running for _, o in attempts):
            # Interrupted again while the running ADDs were awaited: nothing is settled.
            add_note(exc, "setup interrupted while ADDs ran: remove() or CNI.recover() undoes them")
            return
        for call, attempt in attempts:
            # An entry there before belongs to an attachment this setup did not make. Otherwise the
            # intent record says the ADD passed its checks (and may have run plugins), a new entry
            # that it finished just as the interrupt came.
            attempt.applied = not attempt.existed and (self._has(call, "intent") or self._has(call, "entry"))
        undo = self._core.interrupted(calls, outcomes)
        failed = self._map(lambda c: self.cni.delete(c.config, c.rt), undo, parallel=threads)
        for call, error in zip(undo, failed, strict=True):
            verdict = (
                "DELeted" if not isinstance(error, CNIError) else f"DEL failed ({error}); remove() retries"
            )
            add_note(exc, f"setup interrupted: {call.key} {verdict}")

    def _has(self, call: _Call, what: str) -> bool:
        """Whether the attachment's cache ``entry`` (or ``intent`` record) exists."""
        cache = self.cni.cache
        where = cache.path_for if what == "entry" else cache.intent_path_for
        try:
            return os.path.lexists(where(call.config.name, call.rt.container_id, call.rt.ifname))
        except CNIError:  # (names already validated by the setup)
            return False

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

    def _threads(self, calls: Sequence[_Call], parallel: bool | None) -> bool:
        return len(calls) > 1 and (self._core.parallel if parallel is None else parallel)

    def _map(
        self, fn: Callable[[_Call], T], calls: Sequence[_Call], *, parallel: bool | None
    ) -> list[T | CNIError]:
        outcomes: list[Any] = [None] * len(calls)

        def one(i: int, call: _Call) -> None:
            try:
                outcomes[i] = fn(call)
            except CNIError as exc:
                outcomes[i] = exc

        self._run(one, calls, self._threads(calls, parallel))
        return outcomes

    @staticmethod
    def _run(one: Callable[[int, _Call], None], calls: Sequence[_Call], threads: bool) -> None:
        if not threads:
            for i, c in enumerate(calls):
                one(i, c)
            return
        # An interrupt lands in this thread, never in a worker: leaving the block waits for the
        # calls that run (an ADD ends attached or rolled back), then the interrupt goes on.
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            # Each thread runs in a copy of the caller's context, so trace spans nest.
            futures = [pool.submit(contextvars.copy_context().run, one, i, c) for i, c in enumerate(calls)]
            for future in futures:
                future.result()
