"""A set of networks set up on a container in one call: the orchestrator's API (go-cni's, and more).

:class:`Networks` (threads) and :class:`AsyncNetworks` (asyncio) share one implementation,
:class:`_Core`, over the engine's public verbs (:class:`~cnilib.CNI` / :class:`~cnilib.AsyncCNI`):

* the networks come from a configuration directory (file names sorted, ``.conf``, ``.conflist`` and
  ``.json`` alike, as go-cni reads it: the first file is the default network), from explicit lists,
  or both (loopback first, then the directory's networks, then the explicit lists);
* interfaces are named ``<prefix>0``, ``<prefix>1``, ... in network order, ``lo`` for loopback;
* labels become ``CNI_ARGS`` with ``IgnoreUnknown=1`` added, as containerd and CRI-O do;
* ``remove`` and ``check`` address what was attached: a cached attachment is deleted (or checked)
  with the configuration it was made with, also after a reload changed or removed its file.

The loaded configuration is an immutable snapshot swapped by :meth:`Networks.reload`; an operation
uses the snapshot it started with.

The package: ``_load`` (the snapshot and how it is read), ``_core`` (:class:`_Core`, the one
implementation), ``_sync`` and ``_async`` (the two fronts, which only run the calls).
"""

from __future__ import annotations

from ._async import AsyncNetworks
from ._load import LOOPBACK_CONFIG, ConfiguredNetwork, NetworksConfig, NetworksNotReadyError
from ._sync import Networks

__all__ = [
    "LOOPBACK_CONFIG",
    "AsyncNetworks",
    "ConfiguredNetwork",
    "Networks",
    "NetworksConfig",
    "NetworksNotReadyError",
]
