"""The command line's fast path: ``cnilib add`` and ``cnilib del`` without attrs or cattrs.

A run of the command line is one process for one operation, and importing the typed models
(attrs, cattrs and the classes built with them) costs more than everything else it does. The fast
path runs the engine's own plans and sync driver (``cnilib._engine``) with plain values that are
validated JSON. What both paths share lives below: the plain values are the engine's
(:mod:`cnilib._engine._plain`), the result reader and writer the spec's
(:mod:`cnilib._spec._plain_results`, exactly what the typed model writes), the cache entries'
bytes the cache's (:mod:`cnilib._cache._format`). What stays here is the command line's glue:
:mod:`._load` (find the list) and :mod:`._run` (the executor, the store and the engine on those
values).

It takes only what it can judge exactly: the loader answers None for anything unusual (before
anything has run, so the command line then takes the typed path), and a result or a cached result
it cannot judge is handed to the typed model for that one step. ``tests/test_lean.py`` checks that
both paths agree: the same plugin stdin and environment, the same cache bytes, the same output.
"""

from __future__ import annotations

__all__: list[str] = []  # the modules are imported directly: ``_load`` first, ``_run`` once found
