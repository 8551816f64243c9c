"""The watcher's two seams: :class:`_Backend` (its only contact with the CNI engine,
:class:`cnilib.AsyncNetworks` over one :class:`cnilib.AsyncCNI`) and :class:`_Docker` (the few
Engine API calls it makes: inspect, list the labelled containers, follow ``/events``)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import cnilib
from cnilib.docker._api import (
    LABEL_NETWORKS,
    ContainerInfo,
    ContainerNotFoundError,
    DockerError,
    _httpx,
    _parse_inspect,
    _unreachable,
    socket_path,
)

if TYPE_CHECKING:
    import httpx

    from cnilib import AsyncCNI, AsyncNetworks, NetworkConfigList

from ._labels import AttachSpec
from ._state import _FULL_ID, _Record, _same_netns

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

    async def recover(self, container_id: str) -> None:
        """Finish what a killed watcher left half-done in the engine for one recorded container.

        An ADD killed after its cache entry was written but before its intent record was dropped
        looks attached, so the reconciliation would keep it as it is, record and all: the engine's
        recovery drops such records (and DELs an ADD killed earlier, which the reconciliation
        would also do). Only the watcher's own containers: other runtimes may share the cache.
        """
        await self.cni.recover(container_id=container_id)

    async def unfinished(self) -> set[str]:
        """The containers with an unfinished ADD in the cache (one scan of the intent records)."""
        import asyncio

        return {e.container_id for e in await asyncio.to_thread(self.cni.unfinished_adds)}

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
        """Whether the cache holds every attachment of ``record`` in its netns (the pin, or the
        same namespace by another path: an attachment made by ``cnilib docker attach``)."""
        for name, ifname, _ in record.networks:
            entries = self.cni.cached_attachments(record.container_id, network=name)
            if not any(e.ifname == ifname and _in_netns(e.netns, record.netns) for e in entries):
                return False
        return True


def _in_netns(netns: str, pin: str) -> bool:
    return netns == pin or (bool(netns) and _same_netns(netns, pin))


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
