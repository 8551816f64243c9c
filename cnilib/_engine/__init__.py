"""Running configuration lists: ADD/DEL/CHECK/STATUS/GC/VERSION, written once as plans.

Layers (see the docs' "Architecture" page): ``_plans``/``_admin`` (what each verb does, as
generators yielding effects) -> ``_effects`` (the effects, plain data) -> ``_drivers`` (sync,
asyncio and dry-run loops that carry effects out) -> ``_front`` (:class:`CNI`, :class:`AsyncCNI`).
The plans see values through ``_values`` (:class:`TypedValues`, the library's) or ``_plain`` (plain
JSON, the command line's fast path, ``cnilib._cli._fast``). ``_preflight`` (pre-flight ADD's checks),
``_rollback``, ``_teardown`` (DEL on a node in trouble) and ``_sweep`` (the program that removes a
gone sandbox's leftovers, run like a plugin) complete the verbs. Names load on first use.
"""

from __future__ import annotations

from .._base._lazy import lazy_getattr

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from ._front import CNI, AsyncCNI
    from ._reports import FieldFinding, PlannedCall, PluginReport, PluginRun, RetryPolicy, ValidationReport

__all__ = [
    "CNI",
    "AsyncCNI",
    "FieldFinding",
    "PlannedCall",
    "PluginReport",
    "PluginRun",
    "RetryPolicy",
    "ValidationReport",
]

_LAZY = {
    "CNI": "._front",
    "AsyncCNI": "._front",
    "FieldFinding": "._reports",
    "PlannedCall": "._reports",
    "PluginReport": "._reports",
    "PluginRun": "._reports",
    "RetryPolicy": "._reports",
    "ValidationReport": "._reports",
}


__getattr__ = lazy_getattr(globals(), _LAZY)
