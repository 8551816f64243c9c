"""Attach Docker containers to CNI networks.

A container started with ``docker run --net=none`` gets a network namespace holding only ``lo``;
this module finds that namespace and the container's full id through the Docker Engine API and
runs a CNI configuration list against it::

    import cnilib
    from cnilib import docker

    cni = cnilib.CNI(plugin_dirs=["/usr/lib/cni"])
    conflist = cnilib.load_network("/etc/cni/net.d", "mybridge")
    result = docker.attach(cni, "web", conflist)         # ADD, ifname eth0
    ...
    docker.detach(cni, "web", conflist)                  # DEL

The engine is reached over its unix socket with httpx, an optional dependency
(``pip install cnilib[docker]``). The socket comes from ``host=``, else ``DOCKER_HOST``, else
``unix:///var/run/docker.sock``; only ``unix://`` addresses are supported.
Failures raise :class:`DockerError` (:class:`ContainerNotFoundError` for an unknown container);
errors of the plugins themselves are the engine's usual :class:`cnilib.CNIError` subclasses.

:func:`attach` never leaves a half-applied network behind: when ADD fails, what was applied is
deleted again (DEL) before the error is raised; a note on the error says whether that worked.

:class:`Watcher` (``cnilib docker watch``; :func:`watch` and :func:`reconcile` synchronously) does
it without hands: every container labelled ``cnilib.networks=NAME[,NAME...]`` is attached when it
starts and detached when it stops or is removed, reconciled after crashes and engine restarts.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from cnilib import CNIError

if TYPE_CHECKING:
    from typing import TypeAlias

    import httpx

    from cnilib import CNI, AsyncCNI, NetworkConfigList, Result020, Result040, Result100, RuntimeConfig
    from cnilib._docker_watch import (
        EXIT_FAILURE,
        EXIT_LOCKED,
        EXIT_OK,
        LABEL_ARGS,
        LABEL_CAPABILITIES,
        LABEL_NETWORKS,
        LABEL_PORT_MAPPINGS,
        AttachSpec,
        LabelError,
        ReconcileReport,
        Watcher,
        WatcherLockedError,
        parse_labels,
        reconcile,
        watch,
    )

    AnyResult: TypeAlias = Result020 | Result040 | Result100

__all__ = [
    "DEFAULT_HOST",
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
    "CNIArgs",
    "ContainerInfo",
    "ContainerNotFoundError",
    "DockerError",
    "PortBinding",
    "async_attach",
    "async_detach",
    "async_inspect",
    "attach",
    "detach",
    "inspect",
    "netns_path",
    "socket_path",
]

# The watcher (``cnilib docker watch``) lives in its own module, loaded on first use.
_WATCH_NAMES = frozenset(
    (
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
    )
)


def __getattr__(name: str) -> Any:
    if name in _WATCH_NAMES:
        from cnilib import _docker_watch

        value = getattr(_docker_watch, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnilib.docker' has no attribute {name!r}")


#: The engine address used when neither ``host=`` nor ``DOCKER_HOST`` says otherwise.
DEFAULT_HOST = "unix:///var/run/docker.sock"

_DEFAULT_TIMEOUT = 10.0


#: ``CNI_ARGS`` as :class:`cnilib.RuntimeConfig` takes them: a mapping or ordered pairs.
CNIArgs = Mapping[str, str] | Sequence[tuple[str, str]]


class DockerError(CNIError):
    """The Docker engine could not be reached or asked, or the container cannot be attached."""


class ContainerNotFoundError(DockerError):
    """The Docker engine knows no container by that name or id."""


@attrs.frozen
class ContainerInfo:
    """What CNI needs to know about a Docker container (from ``GET /containers/{id}/json``)."""

    #: The full 64-hex-digit container id; it is the CNI container id.
    id: str
    #: The container's name without Docker's leading ``/``.
    name: str
    #: Pid of the container's init process on the engine's host; 0 when not running.
    pid: int
    #: ``NetworkSettings.SandboxKey``: the bind mount of the network namespace ("" when none).
    sandbox_key: str
    running: bool
    #: ``HostConfig.NetworkMode``: ``none``, ``bridge``, ``host``, ``container:ID``, a network name.
    network_mode: str
    #: ``State.Status``: ``created``, ``running``, ``paused``, ``restarting``, ``exited``, ``dead``.
    status: str = ""
    #: ``Config.Labels`` (``docker run --label``).
    labels: Mapping[str, str] = attrs.field(factory=dict, hash=False)
    #: ``HostConfig.PortBindings`` (``docker run -p``), one entry per binding.
    port_bindings: tuple[PortBinding, ...] = ()


@attrs.frozen
class PortBinding:
    """One published port of a container (``docker run -p [HOST_IP:]HOST_PORT:PORT[/PROTO]``)."""

    container_port: int
    #: ``tcp``, ``udp`` or ``sctp``.
    protocol: str
    #: Empty when Docker is to pick the host port (``-p PORT``).
    host_port: str
    #: Empty for every address.
    host_ip: str = ""


def _port_bindings(raw: Any) -> tuple[PortBinding, ...]:
    # {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], ...}; a port exposed but not published
    # maps to null.
    return tuple(
        PortBinding(
            container_port=int(port),
            protocol=proto or "tcp",
            host_port=str(b.get("HostPort") or ""),
            host_ip=str(b.get("HostIp") or ""),
        )
        for key, bindings in sorted((raw or {}).items())
        for port, _, proto in [str(key).partition("/")]
        for b in bindings or ()
    )


def socket_path(host: str | None = None) -> str:
    """Return the engine socket path from ``host``, else ``DOCKER_HOST``, else the default."""
    address = host if host is not None else (os.environ.get("DOCKER_HOST") or DEFAULT_HOST)
    if not address.startswith("unix://"):
        raise DockerError(
            f"unsupported Docker host {address!r}: only unix:// sockets are supported "
            "(set DOCKER_HOST=unix:///path/to/docker.sock)"
        )
    path = address[len("unix://") :]
    if not path.startswith("/"):
        raise DockerError(f"Docker host {address!r} must name an absolute socket path")
    return path


def _httpx() -> Any:
    # Imported lazily: httpx is the optional `docker` extra and the rest of cnilib must not need it.
    try:
        import httpx
    except ImportError as exc:
        raise DockerError("the Docker integration needs httpx: pip install cnilib[docker]") from exc
    return httpx


def _inspect_url(container: str) -> str:
    if not isinstance(container, str) or not container:
        raise DockerError(f"invalid container reference {container!r}")
    return f"/containers/{urllib.parse.quote(container, safe='')}/json"


def _parse_inspect(container: str, status: int, body: bytes, sock: str) -> ContainerInfo:
    """Turn the engine's answer into a :class:`ContainerInfo` or the matching error (sans-IO)."""
    import json  # only needed here; keeps module import cheap

    try:
        data: Any = json.loads(body) if body else {}
    except ValueError:
        data = {}
    message = data.get("message") if isinstance(data, dict) else None
    if status == 404:
        raise ContainerNotFoundError(f"no such Docker container {container!r} (engine at unix://{sock})")
    if status != 200:
        raise DockerError(
            f"Docker engine at unix://{sock} answered {status} for container {container!r}: "
            f"{message or body[:200]!r}"
        )
    try:
        state = data["State"]
        host_config = data.get("HostConfig") or {}
        return ContainerInfo(
            id=str(data["Id"]),
            name=str(data.get("Name") or "").lstrip("/"),
            pid=int(state.get("Pid") or 0),
            sandbox_key=str((data.get("NetworkSettings") or {}).get("SandboxKey") or ""),
            running=bool(state.get("Running")),
            network_mode=str(host_config.get("NetworkMode") or ""),
            status=str(state.get("Status") or ""),
            labels={str(k): str(v) for k, v in ((data.get("Config") or {}).get("Labels") or {}).items()},
            port_bindings=_port_bindings(host_config.get("PortBindings")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DockerError(
            f"unexpected answer from the Docker engine at unix://{sock} for {container!r}: {exc!r}"
        ) from exc


def _unreachable(sock: str, exc: Exception) -> DockerError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return DockerError(
        f"cannot reach the Docker engine at unix://{sock}: {reason} "
        "(is dockerd running? pass host= or set DOCKER_HOST=unix:///path/to/docker.sock)"
    )


def _probe(sock: str, timeout: float) -> None:
    # httpcore 1.0's sync transport leaks its socket when a unix connect fails, which resurfaces
    # later as a ResourceWarning; catch the usual failures (no socket, refused, denied) with a
    # socket of our own that is always closed.
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(timeout)
        probe.connect(sock)
    except OSError as exc:
        raise _unreachable(sock, exc) from None
    finally:
        probe.close()


def inspect(container: str, *, host: str | None = None, timeout: float = _DEFAULT_TIMEOUT) -> ContainerInfo:
    """Look a container up by name or (possibly abbreviated) id."""
    hx = _httpx()
    sock = socket_path(host)
    url = _inspect_url(container)
    _probe(sock, timeout)
    try:
        # Plain HTTP over a local socket: no TLS context (loading CA certificates costs ~20 ms)
        # and nothing taken from the environment (proxies, .netrc) for a local engine.
        with hx.Client(
            transport=hx.HTTPTransport(uds=sock, verify=False),
            base_url="http://docker",
            timeout=timeout,
            trust_env=False,
        ) as client:
            response: httpx.Response = client.get(url)
    except hx.TransportError as exc:
        raise _unreachable(sock, exc) from exc
    return _parse_inspect(container, response.status_code, response.content, sock)


async def async_inspect(
    container: str, *, host: str | None = None, timeout: float = _DEFAULT_TIMEOUT
) -> ContainerInfo:
    """Asyncio twin of :func:`inspect`."""
    hx = _httpx()
    sock = socket_path(host)
    url = _inspect_url(container)
    try:
        # Same settings as inspect(): no TLS context, nothing from the environment.
        async with hx.AsyncClient(
            transport=hx.AsyncHTTPTransport(uds=sock, verify=False),
            base_url="http://docker",
            timeout=timeout,
            trust_env=False,
        ) as client:
            response: httpx.Response = await client.get(url)
    except hx.TransportError as exc:
        raise _unreachable(sock, exc) from exc
    return _parse_inspect(container, response.status_code, response.content, sock)


def _is_visible_nsfs(path: str) -> bool:
    # A SandboxKey is an nsfs bind mount in dockerd's mount namespace. Seen from another mount
    # namespace it is an empty regular file, which plugins reject ("unknown FS magic"). Every
    # nsfs inode lives on one superblock, so comparing st_dev with our own namespace file tells
    # them apart.
    try:
        return os.stat(path).st_dev == os.stat("/proc/self/ns/net").st_dev
    except OSError:
        return False


def netns_path(info: ContainerInfo) -> str:
    """Return the path of the container's network namespace as seen from this process.

    The ``SandboxKey`` when it is a namespace file visible here, else ``/proc/PID/ns/net``
    (valid from any mount namespace while the container runs).
    """
    if info.sandbox_key and _is_visible_nsfs(info.sandbox_key):
        return info.sandbox_key
    if info.pid > 0:
        from cnilib import netns

        try:
            return netns.path_of_pid(info.pid)
        except netns.NetnsError as exc:
            raise DockerError(
                f"network namespace of container {info.name or info.id} is not reachable: {exc}"
            ) from exc
    raise DockerError(f"container {info.name or info.id} has no network namespace (not running?)")


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
    (:class:`DockerError`). When a plugin fails, the plugins that ran are deleted again (DEL, in
    reverse order) before the plugin's error is raised, so no half-applied network is left.
    """
    _refuse_async(cni, "attach")
    info = inspect(container, host=host)
    _check_attachable(info, need_running=True)
    rt = _runtime_config(info, netns_path(info), ifname, args, capability_args)
    return cni.add(network, rt, rollback=True)


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
    return await cni.add(network, rt, rollback=True)


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
