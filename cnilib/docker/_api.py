"""The Docker Engine API client behind :mod:`cnilib.docker`: the errors, :class:`ContainerInfo`,
``inspect`` (sync and asyncio over httpx), the engine's answer parsed without I/O, and the
container's network namespace path.

Private: ``cnilib.docker`` re-exports the public names; the watcher (``cnilib.docker._watch``)
uses the helpers without importing ``cnilib.docker`` (which loads the watcher lazily).
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from cnilib import CNIError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "ContainerInfo",
    "ContainerNotFoundError",
    "DockerError",
    "PortBinding",
    "async_inspect",
    "inspect",
    "netns_path",
    "socket_path",
]

# The engine address used when neither ``host=`` nor ``DOCKER_HOST`` says otherwise.
DEFAULT_HOST = "unix:///var/run/docker.sock"

_DEFAULT_TIMEOUT = 10.0

# The watcher's labels and exit statuses, documented where users read them: cnilib.docker.
LABEL_NETWORKS = "cnilib.networks"
LABEL_ARGS = "cnilib.args"
LABEL_PORT_MAPPINGS = "cnilib.port-mappings"
LABEL_CAPABILITIES = "cnilib.capabilities"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_LOCKED = 3


class DockerError(CNIError):
    """The Docker engine could not be reached or asked, or the container cannot be attached."""

    __module__ = "cnilib.docker"  # tracebacks name the public path


class ContainerNotFoundError(DockerError):
    """The Docker engine knows no container by that name or id."""

    __module__ = "cnilib.docker"  # tracebacks name the public path


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
