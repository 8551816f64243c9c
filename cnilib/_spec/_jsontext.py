"""Untrusted JSON text to Python values: Go's ``encoding/json`` rules, made safe for input from a
plugin or a file. Used by the codec (:mod:`cnilib._model._codec`) for every document, and by the cache.

* rejected like Go: a byte order mark, UTF-16/32 text, invalid UTF-8 outside strings, raw control
  characters in strings, ``NaN``/``Infinity``, numbers that overflow a float64 (``1e999``);
* replaced like Go: invalid UTF-8 inside strings and lone surrogate escapes (``"\\ud800"``) become
  U+FFFD, so a decoded document can always be encoded again;
* bounded: more than :data:`~cnilib._spec._validate.MAX_DEPTH` nested arrays/objects is an error (Go allows
  10000, but every consumer here, Go-style encoding included, must be able to walk what was accepted).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping

from .._base._errors import ConfigError
from ._validate import MAX_DEPTH

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["decode_json", "decode_object", "json_type"]

# The largest integer a float64 can hold (Go decodes plugin-specific numbers as float64).
_FLOAT_MAX = int(sys.float_info.max)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type (``null``, ``boolean``, ``array``, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


class _Rejected(ValueError):
    """A number JSON (or Go) does not have; raised from inside ``json.loads``."""


def _no_constant(name: str) -> Any:
    raise _Rejected(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _Rejected(f"number {text[:40]} overflows a float64")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)
    # Only long literals can exceed a float64; the length test keeps the common case cheap.
    if len(text) > 300 and abs(value) > _FLOAT_MAX:
        raise _Rejected(f"number {text[:40]}... overflows a float64")
    return value


# Integers go through a hook too: one Python call per integer costs less than scanning the text
# for a digit run long enough to overflow a float64.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int)


def _text_of(data: bytes | str, what: str) -> str:
    if isinstance(data, str):
        # A Python caller's lone surrogate is what invalid UTF-8 becomes: Go reads it as U+FFFD.
        return _SURROGATE.sub("\ufffd", data) if not data.isascii() else data
    if data.startswith(_BOMS) or data[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        raise _Rejected(f"{what} starts with a byte order mark (expected UTF-8 without one)")
    if b"\x00" in data[:4]:
        raise _Rejected(f"{what} looks like UTF-16 or UTF-32 text (expected UTF-8)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Go keeps invalid UTF-8 inside strings as U+FFFD; outside strings it stays a syntax error.
        return data.decode("utf-8", "replace")


def _depth_exceeds(value: Any, limit: int) -> bool:
    # Iterative, so that a document just under the parser's own limit cannot overflow the stack here.
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _scrub(value: Any) -> Any:
    # Lone surrogate escapes decode to lone surrogates in Python; Go decodes them as U+FFFD.
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def decode_json(data: bytes | bytearray | memoryview | str, *, what: str, error: type[ConfigError]) -> Any:
    """Decode untrusted JSON; every failure (syntax, encoding, numbers, nesting) is ``error`` at ``$``.

    See the module docstring for what is rejected and what is replaced, as Go does.
    """
    raw = bytes(data) if isinstance(data, (memoryview, bytearray)) else data
    try:
        text = _text_of(raw, what)
        value = _DECODER.decode(text)
    except _Rejected as exc:
        raise error(f"{what} is not valid JSON: {exc}", path="$") from None
    except RecursionError:
        raise error(f"{what} is nested too deeply to decode", path="$") from None
    except ValueError as exc:
        raise error(f"{what} is not valid JSON: {exc}", path="$") from None
    if (text.count("[") + text.count("{") > MAX_DEPTH) and _depth_exceeds(value, MAX_DEPTH):
        raise error(f"{what} is nested more than {MAX_DEPTH} levels deep", path="$")
    if "\\u" in text and _SURROGATE_ESCAPE.search(text):
        value = _scrub(value)
    return value


def decode_object(
    data: bytes | bytearray | memoryview | str,
    *,
    what: str,
    error: type[ConfigError] = ConfigError,
    source: str | None = None,
) -> dict[str, Any]:
    """:func:`decode_json` for a document that must be a JSON object; errors are at ``$``."""
    try:
        obj = decode_json(data, what=what, error=error)
    except ConfigError as exc:
        raise error(exc.message, path="$", source=source) from None
    if not isinstance(obj, dict):
        raise error(f"{what} must be a JSON object, not {json_type(obj)}", path="$", source=source)
    return obj
