"""Results as validated JSON: the element descriptions the typed model follows
(:mod:`cnilib._spec._shapes`: keys, Go's field order and omitempty, the strict checks), applied to
a decoded object without building the model.

:func:`lean_result` answers exactly what ``parse_result(obj).to_dict()`` would, or None when it is
not sure (a 0.1.0/0.2.0 result, a value the typed model would reject or read differently): the
caller then asks the typed model, which gives the answer or the error. ``tests/test_lean.py``
checks the agreement on generated results.
"""

from __future__ import annotations

from .._base._errors import CNIError, ResultError
from ._jsontext import decode_json
from ._shapes import NEVER, NONE, SHAPES, Field, write
from ._version import FALLBACK_VERSION, LATEST_VERSION, SUPPORTED_VERSIONS, family

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

    from ._seam import Entry, ResultDoc

__all__ = ["LeanResult", "cached_result", "dns_dict", "lean_result", "lean_result_of"]

#: The versions whose shape this module writes (0.3.0+); older ones go to the typed model.
_CURRENT = frozenset(v for v in SUPPORTED_VERSIONS if family(v) != "0.2.0")


class _Unsure(ValueError):
    """The value is not one this module can judge exactly: let the typed model decide."""


class LeanResult:
    """A result kept as the JSON object the typed model would write (``to_dict``)."""

    __slots__ = ("cni_version", "doc")

    def __init__(self, cni_version: str, doc: dict[str, Any]) -> None:
        self.cni_version = cni_version
        self.doc = doc

    def to_dict(self) -> dict[str, Any]:
        """The spec's JSON object (a copy)."""
        return dict(self.doc)


def lean_result(data: bytes, version: str) -> LeanResult | None:
    """A plugin's ADD output as a result (``version``: the configuration's, for a result without
    ``cniVersion``), or None when the typed model must decide."""
    try:
        obj = decode_json(data, what="result", error=ResultError)
    except CNIError:
        return None
    return lean_result_of(obj, version or None)


def lean_result_of(obj: Any, version: str | None) -> LeanResult | None:
    """A decoded result object as a :class:`LeanResult`, or None (see :func:`lean_result`)."""
    if type(obj) is not dict:
        return None
    raw = obj.get("cniVersion")
    if raw is None or raw == "":
        raw = version or FALLBACK_VERSION
    if type(raw) is not str or raw not in _CURRENT:
        return None
    try:
        doc = write(SHAPES["result"], {**obj, "cniVersion": raw}, _checked, raw)
    except (TypeError, ValueError, CNIError):  # (_Unsure is a ValueError)
        return None
    return LeanResult(raw, doc)


def cached_result(entry: Entry, version: str) -> ResultDoc:
    """A cache entry's result in ``version``, as DEL sends it on (prevResult): read here when this
    module is sure, else ``entry.parsed_result(version)`` (the typed model's answer or error)."""
    quick = lean_result_of(entry.result, None)
    if quick is not None and quick.cni_version == version:
        return quick
    return entry.parsed_result(version)


def _checked(field: Field, value: dict[str, Any]) -> Any:
    """The raw ``value``'s ``field`` as the typed model reads it (the writer's reader); _Unsure
    where the typed model would read it otherwise (a missing required key, a null element)."""
    if field.key not in value:
        if field.omit == NEVER and field.element is None:
            raise _Unsure(field.key)
        return None
    raw = value[field.key]
    if field.element is not None:
        if raw is None and field.omit == NONE:
            return None
        if not field.many:
            return _object(raw)
        return [_object(item) for item in _list(raw)]
    check = field.check
    assert check is not None  # (a field is an element or has a check)
    if field.many:
        return [check(item) for item in _list(raw)]
    return check(raw)


def _list(value: Any) -> list[Any]:
    if type(value) is not list:
        raise _Unsure("not an array")
    return value


def _object(value: Any) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Unsure("not an object")
    return value


def dns_dict(value: dict[str, Any]) -> dict[str, Any]:
    """A DNS object as the typed model writes it (empty fields left out)."""
    return write(SHAPES["dns"], value, _checked, LATEST_VERSION)
