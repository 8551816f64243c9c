"""The asyncio front: :class:`~cnilib.AsyncNetworks` runs :class:`_Core`'s calls on an
:class:`~cnilib.AsyncCNI`, concurrently with ``asyncio.gather``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._base._errors import CNIError
from .._model._capabilities import Capabilities
from .._model._models import NetworkConfigList
from ._attachment import Attachment

if TYPE_CHECKING:
    import asyncio

    from .._engine import AsyncCNI

from .._base._defaults import DEFAULT_CACHE_DIR
from ._core import _UNFINISHED, _attached, _Call, _Core, _front_kwargs, _span, _watchfiles
from ._load import NetworksConfig


class AsyncNetworks:
    """A set of networks attached to containers together (asyncio; the same rules as :class:`Networks`)."""

    def __init__(
        self,
        networks: Iterable[NetworkConfigList] = (),
        *,
        confdir: str | os.PathLike[str] | None = None,
        cni: AsyncCNI | None = None,
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
            from .._engine import AsyncCNI

            cni = AsyncCNI(plugin_dirs=plugin_dirs, cache_dir=cache_dir, timeout=timeout)
        self.cni: AsyncCNI = cni
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
        cni: AsyncCNI | None = None,
        parallel: bool = True,
    ) -> AsyncNetworks:
        """The networks of ``confdir`` (see :meth:`Networks.from_dir`)."""
        return cls(networks, **_front_kwargs(locals()))

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
        confdir = self._core.require_confdir()
        async for _changes in watchfiles.awatch(confdir, stop_event=stop_event, debounce=debounce_ms):
            try:
                changed = await self.reload()
            except CNIError as exc:
                self._core.reload_failed(exc)
                continue
            if changed:
                yield self._core.snapshot

    async def status(self) -> None:
        """See :meth:`Networks.status`."""
        calls = self._core.status_calls()
        outcomes = await self._map(lambda c: self.cni.status(c.config), calls, parallel=True)
        self._core.status_outcome(calls, outcomes)

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
        """See :meth:`Networks.setup`. A cancelled setup leaves nothing attached: the ADDs in
        flight roll back, the finished ones are DELeted, then the cancellation goes on."""
        import asyncio

        core = self._core
        rt, calls = core.setup_plan(container_id, netns, labels, capabilities, args)
        with _span("setup", container_id):
            outcomes: list[Any] = [_UNFINISHED] * len(calls)
            try:
                await self._map(self._add, calls, parallel=parallel, into=outcomes)
            except asyncio.CancelledError:
                attached = [c for c, o in zip(calls, outcomes, strict=True) if _attached(o)]
                await self._map(self._delete, attached, parallel=parallel)
                raise
            done = core.to_roll_back(calls, outcomes)
            undone = await self._map(self._delete, done, parallel=parallel)
            failed = core.failed_networks(calls, outcomes)
            intents = [e for n in failed for e in await asyncio.to_thread(self.cni.unfinished_adds, n)]
            return core.setup_outcome(rt, calls, outcomes, done, undone, intents)

    async def _add(self, call: _Call) -> Any:
        return await self.cni.add(call.config, call.rt, rollback=True)

    async def _delete(self, call: _Call) -> None:
        await self.cni.delete(call.config, call.rt)

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
            outcomes = await self._map(lambda c: run(c.config, c.rt), calls, parallel=parallel)
            core.verb_outcome(verb, container_id, calls, outcomes)

    async def _map(
        self,
        fn: Callable[[_Call], Any],
        calls: Sequence[_Call],
        *,
        parallel: bool | None,
        into: list[Any] | None = None,
    ) -> list[Any]:
        """Each call's outcome (its value or its CNIError), in ``into`` when given: a cancelled
        map leaves there what had finished (:data:`_UNFINISHED` elsewhere)."""
        import asyncio

        outcomes = [_UNFINISHED] * len(calls) if into is None else into

        async def one(i: int, call: _Call) -> None:
            try:
                outcomes[i] = await fn(call)
            except CNIError as exc:
                outcomes[i] = exc

        if not (self._core.parallel if parallel is None else parallel):
            for i, c in enumerate(calls):
                await one(i, c)
            return outcomes
        tasks = [asyncio.ensure_future(one(i, c)) for i, c in enumerate(calls)]
        try:
            await asyncio.gather(*tasks)
        except asyncio.CancelledError:
            # gather cancelled the unfinished calls: let them end (an ADD rolls itself back).
            if tasks:
                await asyncio.wait(tasks)
            raise
        return outcomes
