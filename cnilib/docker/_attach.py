"""Attach and detach a Docker container (the public names are :mod:`cnilib.docker`'s): inspect it
through the engine's API (:mod:`._api`), check it is attachable, and run ADD or DEL through a
:class:`cnilib.CNI` or :class:`cnilib.AsyncCNI` with the container's id and network namespace."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cnilib import AlreadyAttachedError, CNIError
from cnilib.docker._api import (
    ContainerInfo,
    ContainerNotFoundError,
    DockerError,
    async_inspect,
    inspect,
    netns_path,
)

if TYPE_CHECKING:
    from typing import TypeAlias

    from cnilib import CNI, AsyncCNI, NetworkConfigList, Result020, Result040, Result100, RuntimeConfig

    AnyResult: TypeAlias = Result020 | Result040 | Result100

__all__ = ["CNIArgs", "async_attach", "async_detach", "attach", "detach"]

#: ``CNI_ARGS`` as :class:`cnilib.RuntimeConfig` takes them: a mapping or ordered pairs.
CNIArgs = Mapping[str, str] | Sequence[tuple[str, str]]


def _check_attachable(info: ContainerInfo, *, need_running: bool) -> None:
    who = info.name or info.id[:12]
    if need_running and not info.running:
        status = f" (status {info.status!r})" if info.status else ""
        raise DockerError(
            f"container {who} is not running{status}: start it before attaching it to a CNI network"
        )
    if info.network_mode != "none":
        # Docker manages this container's networking; adding CNI interfaces would fight it.
        raise DockerError(
            f"container {who} uses network mode {info.network_mode!r}; "
            "start it with --net=none to attach it to CNI networks"
        )


def _runtime_config(
    info: ContainerInfo,
    netns_path_: str,
    ifname: str,
    args: CNIArgs | None,
    capability_args: Mapping[str, Any] | None,
) -> RuntimeConfig:
    import cnilib  # the package is loaded already; RuntimeConfig loads on first use

    return cnilib.RuntimeConfig(
        container_id=info.id,
        netns=netns_path_,
        ifname=ifname,
        args=args if args is not None else (),
        capability_args=capability_args if capability_args is not None else {},
    )


def _with_cached_args(
    cni: CNI | AsyncCNI,
    network: NetworkConfigList,
    rt: RuntimeConfig,
    args: CNIArgs | None,
    capability_args: Mapping[str, Any] | None,
) -> RuntimeConfig:
    # DEL should see the CNI_ARGS and capability args the attachment was made with (portmap and
    # bandwidth act on them); libcni's cache keeps both, so a caller need not repeat them.
    if args is not None or capability_args is not None:
        return rt
    try:
        cached = cni.cached_config(network, rt)
    except CNIError:
        return rt  # an unreadable cache entry must not block DEL
    return rt if cached is None else cached[1]


_FULL_ID = re.compile(r"[0-9a-f]{64}")


def _gone(container: str, exc: ContainerNotFoundError) -> ContainerInfo:
    # Docker already removed the container: DEL must still run so that IPAM frees its address and
    # the plugins drop their rules; that needs the full id (the CNI container id).
    if not _FULL_ID.fullmatch(container):
        raise ContainerNotFoundError(
            f"{exc}; to release what a removed container still holds, detach it by its full id"
        ) from exc
    return ContainerInfo(id=container, name="", pid=0, sandbox_key="", running=False, network_mode="none")


def _detach_netns(info: ContainerInfo) -> str:
    # DEL must still run for a stopped container so IPAM releases its address; CNI allows an
    # empty CNI_NETNS then.
    if not info.running:
        return ""
    return netns_path(info)


def _detach_first(exc: AlreadyAttachedError, container: str, network: NetworkConfigList) -> None:
    from cnilib._engine._notes import add_note

    add_note(exc, f"for this Docker container: cnilib docker detach {container} {network.name}")


def _refuse_async(cni: object, func: str) -> None:
    import inspect as _inspect  # this module has an `inspect` of its own

    if _inspect.iscoroutinefunction(getattr(cni, "add", None)):
        raise TypeError(f"{func}() needs a cnilib.CNI; use async_{func}() with a cnilib.AsyncCNI")


def attach(
    cni: CNI,
    container: str,
    network: NetworkConfigList,
    *,
    ifname: str = "eth0",
    args: CNIArgs | None = None,
    capability_args: Mapping[str, Any] | None = None,
    host: str | None = None,
) -> AnyResult:
    """Run ADD of ``network`` for a running Docker container started with ``--net=none``.

    ``container`` is a name or a (possibly abbreviated) id; the CNI container id is the full
    Docker id and ``CNI_NETNS`` the container's network namespace (its ``SandboxKey`` when that
    is visible from here, else ``/proc/PID/ns/net``). Returns the typed result of
    :meth:`cnilib.CNI.add`.

    Nothing is applied to a container that is not running or not in network mode ``none``
    (:class:`DockerError`), nor to one attached to ``network`` as ``ifname`` already
    (:class:`cnilib.AlreadyAttachedError`: that attachment is left as it is). When a plugin
    fails, the plugins that ran are deleted again (DEL, in reverse order) before the plugin's error
    is raised, so no half-applied network is left.
    """
    _refuse_async(cni, "attach")
    info = inspect(container, host=host)
    _check_attachable(info, need_running=True)
    rt = _runtime_config(info, netns_path(info), ifname, args, capability_args)
    try:
        return cni.add(network, rt, rollback=True)
    except AlreadyAttachedError as exc:
        _detach_first(exc, container, network)
        raise


def detach(
    cni: CNI,
    container: str,
    network: NetworkConfigList,
    *,
    ifname: str = "eth0",
    args: CNIArgs | None = None,
    capability_args: Mapping[str, Any] | None = None,
    host: str | None = None,
) -> None:
    """Run DEL of ``network`` for a container attached with :func:`attach`.

    Without ``args`` and ``capability_args`` the ones cached at ADD time are used. A stopped
    container, or one Docker has already removed (give its full id then), is detached with an
    empty netns so that IPAM still frees its address. DEL of an attachment that does not exist
    succeeds. Detach before stopping or removing a container when you can: without the netns some
    plugins cannot undo everything (Debian's bridge 1.1.1 then leaves its ipMasq NAT chain).
    """
    _refuse_async(cni, "detach")
    try:
        info = inspect(container, host=host)
    except ContainerNotFoundError as exc:
        info = _gone(container, exc)
    _check_attachable(info, need_running=False)
    rt = _runtime_config(info, _detach_netns(info), ifname, args, capability_args)
    cni.delete(network, _with_cached_args(cni, network, rt, args, capability_args))


async def async_attach(
    cni: AsyncCNI,
    container: str,
    network: NetworkConfigList,
    *,
    ifname: str = "eth0",
    args: CNIArgs | None = None,
    capability_args: Mapping[str, Any] | None = None,
    host: str | None = None,
) -> AnyResult:
    """Asyncio twin of :func:`attach` for a :class:`cnilib.AsyncCNI` (same rollback on failure)."""
    info = await async_inspect(container, host=host)
    _check_attachable(info, need_running=True)
    rt = _runtime_config(info, netns_path(info), ifname, args, capability_args)
    try:
        return await cni.add(network, rt, rollback=True)
    except AlreadyAttachedError as exc:
        _detach_first(exc, container, network)
        raise


async def async_detach(
    cni: AsyncCNI,
    container: str,
    network: NetworkConfigList,
    *,
    ifname: str = "eth0",
    args: CNIArgs | None = None,
    capability_args: Mapping[str, Any] | None = None,
    host: str | None = None,
) -> None:
    """Asyncio twin of :func:`detach` for a :class:`cnilib.AsyncCNI`."""
    try:
        info = await async_inspect(container, host=host)
    except ContainerNotFoundError as exc:
        info = _gone(container, exc)
    _check_attachable(info, need_running=False)
    rt = _runtime_config(info, _detach_netns(info), ifname, args, capability_args)
    await cni.delete(network, _with_cached_args(cni, network, rt, args, capability_args))
