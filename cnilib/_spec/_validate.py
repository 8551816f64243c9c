"""Identifier checks: values that end up in cache file paths, a plugin's environment or its stdin.

(Not to be confused with the plugin probe, ``CNI.validate``, nor with document structuring errors,
which the codec raises as :class:`~cnilib.ConfigError` with a JSON path.)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping

from .._base._errors import ValidationError

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "MAX_DEPTH",
    "validate_capability_args",
    "validate_cni_args",
    "validate_container_id",
    "validate_ifname",
    "validate_netns",
    "validate_network_name",
    "validate_path",
    "cni_args_text",
    "validate_runtime",
    "validate_runtime_value",
]

#: The deepest nesting of arrays and objects cnilib reads or writes (Go allows 10000; every
#: consumer here, Python's own JSON encoder included, must be able to walk what was accepted).
MAX_DEPTH = 256
# C0 controls and DEL: NUL cannot cross execve at all, the others corrupt logs, paths and K=V lists.
_CONTROL = frozenset(map(chr, (*range(0x20), 0x7F)))


def _control(value: str) -> str | None:
    # A set lookup per character: runtime values are short, and a regex would be compiled at import.
    for ch in value:
        if ch in _CONTROL:
            return repr(ch)
    return None


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def validate_runtime_value(value: str, what: str) -> None:
    """Reject a runtime value (netns path, CNI_ARGS entry, ...) holding NUL or another control character."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a string, not {type(value).__name__}")
    bad = _control(value)
    if bad is not None:
        raise ValidationError(f"{what} {value!r} contains the control character {bad}")


def validate_path(path: str | os.PathLike[str], what: str) -> str:
    """The path as a string; reject an empty one, or one holding NUL or another control character."""
    try:
        text = os.fspath(path)
    except TypeError:
        raise ValidationError(f"{what} must be a path, not {type(path).__name__}") from None
    if not isinstance(text, str):
        raise ValidationError(f"{what} must be a text path, not {type(text).__name__}")
    if not text:
        raise ValidationError(f"{what} is empty")
    validate_runtime_value(text, what)
    return text


def validate_capability_args(args: Mapping[str, Any]) -> None:
    """Reject capability args that cannot become the JSON a plugin reads: non-string keys, values that
    are not JSON (NaN, infinities, sets, objects), lone surrogates, nesting deeper than ``MAX_DEPTH``."""
    if not isinstance(args, Mapping):
        raise ValidationError(f"capability args must be a mapping, not {type(args).__name__}")
    if type(args) is dict and _plainly_json(args, 0):
        return  # (every RuntimeConfig is checked when made: the common case must cost little)
    # Each value with the way to it as (parent's way, key): the words are made only for an error.
    stack: list[tuple[Any, Any, int]] = [(args, None, 0)]
    while stack:
        value, way, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationError(f"{_where(way)} is nested more than {MAX_DEPTH} levels deep")
        problem = _json_problem(value)
        if problem:
            raise ValidationError(f"{_where(way)} {problem}")
        if isinstance(value, Mapping):
            for key, item in value.items():
                if type(key) is not str or (not key.isascii() and _has_lone_surrogate(key)):
                    raise ValidationError(f"{_where(way)} has a key that is not valid text: {key!r}")
                stack.append((item, (way, key), depth + 1))
        elif isinstance(value, (list, tuple)):
            stack.extend((item, (way, i), depth + 1) for i, item in enumerate(value))


def _plainly_json(value: Any, depth: int) -> bool:
    """True for what is JSON at a glance (ASCII text, finite numbers, dicts and lists not too
    deep); False: :func:`validate_capability_args` looks closer and says what is wrong, if anything."""
    kind = type(value)
    if kind is dict:
        return depth < MAX_DEPTH and all(
            type(key) is str and key.isascii() and _plainly_json(item, depth + 1)
            for key, item in value.items()
        )
    if kind is list:
        return depth < MAX_DEPTH and all(_plainly_json(item, depth + 1) for item in value)
    leaf = _PLAIN_LEAVES.get(kind)
    return leaf is not None and leaf(value)


_MAX_INT = 2**1023
_PLAIN_LEAVES: dict[type, Callable[[Any], bool]] = {
    str: str.isascii,  # (other text may hold a lone surrogate: looked at closer)
    int: lambda value: -_MAX_INT <= value <= _MAX_INT,
    float: math.isfinite,
    bool: lambda _: True,
    type(None): lambda _: True,
}


def _where(way: Any) -> str:
    keys = []
    while way is not None:
        way, key = way
        keys.append(f"[{key!r}]")
    return "capability args" + "".join(reversed(keys))


def _json_problem(value: Any) -> str:
    kind = type(value)
    if kind is str:  # (the common leaves first: this runs for every value)
        return (
            ""
            if value.isascii() or not _has_lone_surrogate(value)
            else "is not valid text (a lone surrogate)"
        )
    if value is None or kind is bool or kind is dict or kind is list or isinstance(value, (Mapping, tuple)):
        return ""
    if isinstance(value, str):
        return "is not valid text (a lone surrogate)" if _has_lone_surrogate(value) else ""
    if isinstance(value, float):
        return "" if math.isfinite(value) else f"is {value!r}, which JSON cannot express"
    if isinstance(value, int):
        return "" if abs(value) <= _MAX_INT else "is an integer too large for a JSON number"
    return f"is a {type(value).__name__}, which JSON cannot express"


# libcni's rule for container ids and network names: they become file names in the cache.
_ID_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*")
_IFNAME_MAX = 15  # IFNAMSIZ - 1


def validate_container_id(container_id: str) -> None:
    """Reject an empty container id or one with characters outside ``[a-zA-Z0-9_.-]``."""
    if not isinstance(container_id, str) or not container_id:
        raise ValidationError("missing container id")
    if not _ID_RE.fullmatch(container_id):
        raise ValidationError(
            f"invalid container id {container_id!r}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"
        )


def validate_network_name(name: str) -> None:
    """Reject an empty network name or one with characters outside ``[a-zA-Z0-9_.-]``."""
    if not isinstance(name, str) or not name:
        raise ValidationError("missing network name")
    if not _ID_RE.fullmatch(name):
        raise ValidationError(f"invalid network name {name!r}: must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def validate_ifname(ifname: str) -> None:
    """Reject interface names the kernel would refuse (libcni's rules)."""
    if not isinstance(ifname, str) or not ifname:
        raise ValidationError("missing interface name")
    try:
        # surrogateescape: a name taken from a non-UTF-8 environment keeps its original bytes.
        size = len(ifname.encode("utf-8", "surrogateescape"))
    except UnicodeEncodeError:
        raise ValidationError(f"interface name {ifname!r} is not valid text") from None
    if size > _IFNAME_MAX:
        raise ValidationError(f"interface name {ifname!r} is longer than {_IFNAME_MAX} bytes")
    if ifname in (".", ".."):
        raise ValidationError(f"interface name {ifname!r} is not allowed")
    for ch in ifname:
        if ch in "/:" or ch.isspace() or ch in _CONTROL:
            raise ValidationError(f"interface name {ifname!r} contains invalid character {ch!r}")


def validate_cni_args(args: Iterable[tuple[str, str]]) -> None:
    """Reject CNI_ARGS pairs that would corrupt ``K=V;K2=V2`` (``;`` anywhere, ``=`` in a key, empties)."""
    for key, value in args:
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValidationError(f"CNI_ARGS entry {key!r}={value!r}: keys and values must be strings")
        if not key:
            raise ValidationError(f"CNI_ARGS entry with an empty key (value {value!r})")
        if "=" in key or ";" in key:
            raise ValidationError(f"CNI_ARGS key {key!r} must not contain '=' or ';'")
        if ";" in value or "=" in value:
            raise ValidationError(f"CNI_ARGS value {value!r} of {key!r} must not contain ';' or '='")
        if "\0" in key or "\0" in value:
            raise ValidationError(f"CNI_ARGS entry {key!r} contains a NUL byte")
        validate_runtime_value(key, "CNI_ARGS key")
        validate_runtime_value(value, f"CNI_ARGS value of {key!r}")


def validate_netns(netns: str) -> None:
    """Reject a netns path holding a control character, or one that is not absolute (empty is
    allowed: DEL, GC and STATUS run without a namespace). A relative path means nothing to a
    plugin, whose working directory is not the caller's concern; a bare name is what a user gives
    for ``/run/netns/NAME``, and the error says so (:class:`~cnilib.NetnsPathError`)."""
    validate_runtime_value(netns, "netns path")
    if netns and not netns.startswith("/"):
        from .._base._errors import NetnsPathError
        from .._base._nsprobe import missing_hint  # (only for the error)

        raise NetnsPathError(
            f"netns path {netns!r} is not absolute {missing_hint(netns)}", path=netns, state="relative"
        )


def validate_runtime(rt: Any) -> None:
    """:meth:`cnilib.RuntimeConfig.validate` for anything with its fields (the command line's fast
    path has a plain runtime configuration)."""
    validate_container_id(rt.container_id)
    validate_ifname(rt.ifname)
    validate_netns(rt.netns)
    validate_cni_args(rt.args)
    validate_capability_args(rt.capability_args)


def cni_args_text(args: Iterable[tuple[str, str]]) -> str:
    """The ``CNI_ARGS`` value of ``args``: ``K=V;K2=V2``."""
    return ";".join(f"{k}={v}" for k, v in args)
