"""Running configuration lists: ADD/DEL/CHECK/STATUS/GC/VERSION, written once as plans.

Layers (see the docs' "Architecture" page): ``_plans``/``_admin`` (what each verb does, as
generators yielding effects) -> ``_effects`` (the effects, plain data) -> ``_drivers`` (sync,
asyncio and dry-run loops that carry effects out) -> ``_front`` (:class:`CNI`, :class:`AsyncCNI`).
"""

from __future__ import annotations

from ._front import CNI, AsyncCNI
from ._reports import PlannedCall, PluginReport, PluginRun, RetryPolicy, ValidationReport

__all__ = ["CNI", "AsyncCNI", "PlannedCall", "PluginReport", "PluginRun", "RetryPolicy", "ValidationReport"]
