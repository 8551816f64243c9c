"""The spec's rules and the reference plugins' rules as data (layer 1), free of attrs, cattrs and
typing, so that the typed models and the command line's fast path stand on the same rules: the
elements of a result (:mod:`._shapes`) and their plain reader and writer (:mod:`._plain_results`),
the versions (:mod:`._version`), the strict scalar and JSON checks (:mod:`._scalars`,
:mod:`._jsontext`, :mod:`._validate`), the plugin keys both loaders check and their checks
(:mod:`._plugin`), the wire format of requests and outcomes (:mod:`._wire`), the careful
configuration reader and libcni's directory order (:mod:`._confdir`), the plugins' field schemas
(:mod:`._schemas`), what each reference plugin leaves behind (:mod:`._leftovers`), and the shapes
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
