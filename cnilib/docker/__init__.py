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

from typing import TYPE_CHECKING, Any

from cnilib.docker import _api as _docker_api
from cnilib.docker import _attach
from cnilib.docker._api import (
    ContainerInfo,
    ContainerNotFoundError,
    DockerError,
    PortBinding,
    async_inspect,
    inspect,
    netns_path,
    socket_path,
)
from cnilib.docker._attach import async_attach, async_detach, attach, detach

if TYPE_CHECKING:
    from cnilib.docker._watch import (
        AttachSpec,
        LabelError,
        ReconcileReport,
        Watcher,
        WatcherLockedError,
        parse_labels,
        reconcile,
        watch,
    )

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
        from cnilib.docker import _watch as _docker_watch

        value = getattr(_docker_watch, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cnilib.docker' has no attribute {name!r}")


#: The networks to attach, in order (``eth0``, ``eth1``, ...): ``NAME[,NAME...]``.
LABEL_NETWORKS = _docker_api.LABEL_NETWORKS
#: ``CNI_ARGS`` for every network: ``K=V[;K2=V2...]`` (``IgnoreUnknown=1`` is added).
LABEL_ARGS = _docker_api.LABEL_ARGS
#: The ``portMappings`` capability: ``published`` (the container's ``-p`` ports) or
#: ``[HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO][,...]``.
LABEL_PORT_MAPPINGS = _docker_api.LABEL_PORT_MAPPINGS
#: Any other capability arguments, as a JSON object (``{"bandwidth": {...}}``).
LABEL_CAPABILITIES = _docker_api.LABEL_CAPABILITIES

#: Exit status: stopped by SIGTERM/SIGINT after in-flight operations finished (or ``--once``
#: converged everything).
EXIT_OK = _docker_api.EXIT_OK
#: Exit status: a fatal error (unusable state directory, ...) or ``--once`` left a container
#: unconverged.
EXIT_FAILURE = _docker_api.EXIT_FAILURE
#: Exit status: another watcher holds the cache directory's lock.
EXIT_LOCKED = _docker_api.EXIT_LOCKED

#: The engine address used when neither ``host=`` nor ``DOCKER_HOST`` says otherwise.
DEFAULT_HOST = _docker_api.DEFAULT_HOST


#: ``CNI_ARGS`` as :class:`cnilib.RuntimeConfig` takes them: a mapping or ordered pairs.
CNIArgs = _attach.CNIArgs
