"""JSON written the way Go's ``encoding/json`` writes it, for byte-compatibility with libcni and cnitool.

Two callers need it: the result cache (``json.Marshal`` of ``interface{}`` values: compact, map keys
sorted, every number a float64) and the command line (``json.MarshalIndent`` of a result struct:
fields in declaration order, which ``Result.to_dict()`` already has).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["go_dumps", "go_string"]

# Go escapes these inside strings whatever the options: U+2028/U+2029 break JavaScript.
_LINE_SEPARATORS = str.maketrans({"\u2028": "\\u2028", "\u2029": "\\u2029"})
# ... and these unless HTML escaping is switched off.
_HTML = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Printable ASCII that no option escapes (not '"', '\\', '<', '>', '&'): most names, ids, paths.
_PLAIN = re.compile(r"[ !#-%'-;=?-\[\]-~]*")


def go_string(text: str, *, escape_html: bool = True) -> str:
    """A JSON string as Go writes it: raw UTF-8, ``<``/``>``/``&`` escaped (unless ``escape_html``
    is false), invalid text (a lone surrogate, Python's spelling of invalid UTF-8) as U+FFFD."""
    if _PLAIN.fullmatch(text):
        return f'"{text}"'  # what the general path below gives, without json.dumps per string
    if _LONE_SURROGATE.search(text):
        text = _LONE_SURROGATE.sub("\ufffd", text)
    return json.dumps(text, ensure_ascii=False).translate(_HTML if escape_html else _LINE_SEPARATORS)


def _go_float(value: float) -> str:
    # strconv's shortest form as Go's encoder uses it: positional for 1e-6 <= |x| < 1e21,
    # exponent otherwise (with "e-7", not Python's "e-07").
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"{value!r} cannot be represented in JSON")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, _, exponent = repr(value).partition("e")
        if exponent.startswith("-0"):
            exponent = "-" + exponent[2:]
        return f"{mantissa}e{exponent}"
    import decimal  # only for floats (rare in CNI documents): keep it off the import path

    text = format(decimal.Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def go_dumps(
    value: Any,
    *,
    indent: str | None = None,
    prefix: str = "",
    sort_keys: bool = False,
    float64: bool = False,
    escape_html: bool = True,
) -> str:
    """Serialize decoded JSON values like Go.

    ``indent``/``prefix`` as ``json.MarshalIndent`` (compact when ``indent`` is None); ``sort_keys``
    and ``float64`` for values that went through Go's ``interface{}`` (maps are written sorted, and
    an integer beyond 2**53 loses its digits as a float64 does).
    """
    encoder = _GoEncoder(indent, prefix, sort_keys=sort_keys, float64=float64, escape_html=escape_html)
    encoder.encode(value, "")
    return "".join(encoder.out)


_CONSTANTS = {None: "null", True: "true", False: "false"}


class _GoEncoder:
    __slots__ = ("escape_html", "float64", "indent", "out", "prefix", "sort_keys")

    def __init__(
        self, indent: str | None, prefix: str, *, sort_keys: bool, float64: bool, escape_html: bool
    ) -> None:
        self.indent = indent
        self.prefix = prefix
        self.sort_keys = sort_keys
        self.float64 = float64
        self.escape_html = escape_html
        self.out: list[str] = []

    def encode(self, v: Any, level: str) -> None:
        if v is None or v is True or v is False:
            self.out.append(_CONSTANTS[v])
        elif isinstance(v, str):
            self.out.append(go_string(v, escape_html=self.escape_html))
        elif isinstance(v, int):
            self.out.append(str(v) if not self.float64 or abs(v) <= 2**53 else _go_float(float(v)))
        elif isinstance(v, float):
            self.out.append(_go_float(v))
        elif isinstance(v, Mapping):
            self.container("{", "}", self.members(v), level)
        elif isinstance(v, (list, tuple)):
            self.container("[", "]", [(None, item) for item in v], level)
        else:
            raise TypeError(f"{type(v).__name__} is not JSON serializable")

    def members(self, v: Mapping[Any, Any]) -> list[tuple[str | None, Any]]:
        keys = sorted(v) if self.sort_keys else list(v)
        for key in keys:
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
        return [(go_string(k, escape_html=self.escape_html), v[k]) for k in keys]

    def container(self, open_: str, close: str, items: Sequence[tuple[str | None, Any]], level: str) -> None:
        out, indent = self.out, self.indent
        if not items:
            out.append(open_ + close)
            return
        inner = level + (indent or "")
        out.append(open_)
        for i, (key, item) in enumerate(items):
            if i:
                out.append(",")
            if indent is not None:
                out.append("\n" + self.prefix + inner)
            if key is not None:
                out.append(key + (": " if indent is not None else ":"))
            self.encode(item, inner)
        if indent is not None:
            out.append("\n" + self.prefix + level)
        out.append(close)
