"""The on-disk cache: the entry format (libcni's bytes), the store, and the locks.

``results/`` is byte-compatible with libcni (cnitool, containerd and CRI-O read what cnilib writes
and the other way round); ``intents/`` and ``locks/`` are cnilib's own, where libcni never looks.
See :class:`ResultCache` for the layout.
"""

from __future__ import annotations

from .._defaults import DEFAULT_CACHE_DIR
from ._entry import CACHE_KIND, INTENT_KIND, CacheEntry, CacheProblem, CacheScan, go_json_dumps
from ._locks import HeldLock
from ._store import ResultCache

__all__ = [
    "CACHE_KIND",
    "DEFAULT_CACHE_DIR",
    "INTENT_KIND",
    "CacheEntry",
    "CacheProblem",
    "CacheScan",
    "HeldLock",
    "ResultCache",
    "go_json_dumps",
]
