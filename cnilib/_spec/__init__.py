"""The spec's documents described as data, free of attrs, cattrs and typing: the elements of a
result (:mod:`._shapes`), the plugin keys both loaders check (:mod:`._plugin`), and the shapes
of the values the engine passes around (:mod:`._seam`, for the type checker only).

:class:`Family` is a base that is ``typing.Generic`` to the type checker and an empty class
otherwise, for the classes a family of values parameterizes (the planner by its results, the
runner by its outcomes) on the command line's fast path, which never imports typing.
"""

from __future__ import annotations

__all__ = ["Family"]

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Generic as Family
else:

    class Family:
        """``typing.Generic`` for the type checker; subscripting it gives this empty base."""

        __slots__ = ()

        def __class_getitem__(cls, _: object) -> type:
            return cls
