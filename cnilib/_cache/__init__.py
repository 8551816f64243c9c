"""The on-disk cache: the entry format (libcni's bytes), the store, and the locks.

``results/`` is byte-compatible with libcni (cnitool, containerd and CRI-O read what cnilib writes
and the other way round); ``intents/`` and ``locks/`` are cnilib's own, where libcni never looks.
See :class:`ResultCache` for the layout. The typed entry classes load on first use (the command
line's fast path works without them).
"""

from __future__ import annotations

from .._base._defaults import DEFAULT_CACHE_DIR
from .._base._lazy import lazy_getattr
from ._format import CACHE_KIND, INTENT_KIND, go_json_dumps
from ._locks import HeldLock
from ._store import ResultCache

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from ._entry import CacheEntry, CacheProblem, CacheScan

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

_LAZY = {"CacheEntry": "._entry", "CacheProblem": "._entry", "CacheScan": "._entry"}


__getattr__ = lazy_getattr(globals(), _LAZY)
