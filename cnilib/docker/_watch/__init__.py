"""Keep labelled Docker containers attached to CNI networks: ``cnilib docker watch``.

The watcher follows the engine's event stream and reconciles: every running container labelled
``cnilib.networks=NAME[,NAME...]`` (started with ``--net=none``) is attached to those networks
(``eth0``, ``eth1``, ... in label order) and every attachment it made whose container no longer
runs is deleted. Events only say *which* container to look at; what to do is always decided by
comparing the container's state with the watcher's records, so a missed event, a watcher killed
with SIGKILL or an engine restart are repaired by the next reconciliation (at start, after every
reconnection to the engine, and every ``resync_interval`` seconds).

State kept under ``state_dir`` (default ``<cache_dir>/docker-watch``):

- ``containers/<id>.json``: written before the first plugin runs, removed after the last DEL
  succeeded: the networks (their configuration bytes), interface names and arguments of the
  attachment. It is what makes a crash at any moment recoverable.
- ``netns/<id>``: a bind mount of the container's network namespace, passed to the plugins as
  ``CNI_NETNS``. It keeps the namespace alive after the container died, so DEL still finds the
  interfaces and every plugin can undo what it did (Debian's bridge 1.1.1 only removes its
  ``ipMasq`` NAT chain when it can enter the namespace).

One instance per cache directory: ``<cache_dir>/docker-watch.lock`` is held with ``flock``.

The package: ``_labels`` (the labels and :class:`AttachSpec`), ``_state`` (log lines, pins,
records, the report), ``_backend`` (the CNI engine and Docker Engine seams), ``_converge`` (one
container), ``_watcher`` (:class:`Watcher`), ``_entry`` (:func:`watch`, :func:`reconcile`).
``cnilib.docker`` re-exports the public names, loading this package on first use.
"""

from __future__ import annotations

from cnilib.docker._api import (
    EXIT_FAILURE,
    EXIT_LOCKED,
    EXIT_OK,
    LABEL_ARGS,
    LABEL_CAPABILITIES,
    LABEL_NETWORKS,
    LABEL_PORT_MAPPINGS,
)

from ._entry import reconcile, watch
from ._labels import AttachSpec, LabelError, parse_labels
from ._state import ReconcileReport
from ._watcher import Watcher, WatcherLockedError

__all__ = [
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
]
