"""What pre-flight ADD checks, and how DEL/CHECK fall back on the arguments ADD was made with."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

from .._errors import ValidationError

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

    from .._spec._seam import Entry, Runtime

__all__ = ["cached_args", "check_runtime_values"]


def _check_text(what: str, value: str) -> None:
    """Reject what cannot reach a plugin intact: NUL and control characters, lone surrogates."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValidationError(f"{what} {value!r} contains a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} {value!r} is not valid Unicode text") from None


def _finite(value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a JSON number")
    children = (
        value.values() if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) else ()
    )
    for child in children:
        _finite(child)


def check_runtime_values(rt: Any) -> None:
    """Everything ADD will serialize for a plugin is valid text and JSON, or ValidationError."""
    rt.validate()
    _check_text("network namespace path", rt.netns)
    for key, value in rt.args:
        _check_text("CNI_ARGS entry", f"{key}={value}")
    try:
        _finite(rt.capability_args)
        json.dumps(rt.capability_args, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise ValidationError(f"capability arguments cannot be sent to a plugin: {exc}") from None


def cached_args(
    rt: Runtime, cached: Entry | None
) -> tuple[tuple[tuple[str, str], ...], Mapping[str, Any]] | None:
    """The (CNI_ARGS, capability args) a DEL or CHECK runs with when the ones ADD was made with
    (``cached``: its entry or intent record) fill in what ``rt`` lacks; None when ``rt``'s own serve
    (explicit ones win)."""
    if cached is None or (rt.args and rt.capability_args):
        return None
    return rt.args or cached.cni_args, rt.capability_args or cached.capability_args
