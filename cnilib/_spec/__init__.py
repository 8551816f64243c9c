"""The spec's documents described as data, free of attrs, cattrs and typing: the elements of a
result (:mod:`._shapes`), the plugin keys both loaders check (:mod:`._plugin`), and the shapes
of the values the engine passes around (:mod:`._seam`, for the type checker only)."""

from __future__ import annotations

__all__: list[str] = []  # the modules are imported directly
