"""How :mod:`cnilib.testing.plugins` writes its shell plugins: sh quoting, a ``printf`` that
prints exact bytes, per-verb ``case`` statements, and a JSON string escaper in sh."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

# Text or bytes to print; a mapping picks by verb (``CNI_COMMAND``), ``"*"`` being the fallback.
Output: TypeAlias = "str | bytes | Mapping[str, str | bytes]"
# An exit status; a mapping picks by verb, ``"*"`` being the fallback (0 when absent).
Status: TypeAlias = "int | Mapping[str, int]"

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SAFE = frozenset(
    b'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ,.:;-_+=/{}[]()<>@#!?^~|&*$`"'
)


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _quote(text: str | os.PathLike[str]) -> str:
    """Single-quote for sh."""
    return "'" + os.fspath(text).replace("'", "'\\''") + "'"


def _printf(data: str | bytes) -> str:
    """A ``printf`` command printing exactly ``data`` (octal escapes for everything unusual)."""
    raw = data.encode() if isinstance(data, str) else data
    out = []
    for byte in raw:
        if byte in _SAFE:
            out.append(chr(byte))
        elif byte == ord("%"):
            out.append("%%")
        else:
            out.append(f"\\{byte:03o}")
    return "printf '" + "".join(out) + "'"


def _by_verb(value: Any, render: Callable[[Any], str]) -> str:
    """A ``case "$CNI_COMMAND"`` statement choosing ``render(value)`` per verb."""
    if not isinstance(value, Mapping):
        return render(value) + "\n"
    lines = ['case "$CNI_COMMAND" in']
    for verb, item in value.items():
        if verb == "*":
            continue
        if not _NAME_RE.fullmatch(verb):
            raise ValueError(f"invalid verb {verb!r}")
        lines.append(f"  {verb}) {render(item)} ;;")
    if "*" in value:
        lines.append(f"  *) {render(value['*'])} ;;")
    lines.append("esac")
    return "\n".join(lines) + "\n"


def _emit(stdout: Output | None, stderr: Output | None, exit_status: Status) -> str:
    body = ""
    if stdout is not None:
        body += _by_verb(stdout, _printf)
    if stderr is not None:
        body += _by_verb(stderr, lambda d: _printf(d) + " >&2")
    if isinstance(exit_status, Mapping):
        body += _by_verb({"*": 0, **exit_status}, lambda s: f"exit {int(s)}")
    else:
        body += f"exit {int(exit_status)}\n"
    return body


def _stdout_json(value: Output | Mapping[str, Any] | None) -> Output | None:
    # Let callers pass result dicts directly: {"ADD": {...}} or a single dict for every verb.
    if value is None or isinstance(value, (str, bytes)):
        return value
    if all(isinstance(v, (str, bytes, Mapping)) for v in value.values()) and all(
        k == "*" or k.isupper() for k in value
    ):
        return {k: v if isinstance(v, (str, bytes)) else json.dumps(v) for k, v in value.items()}
    return json.dumps(value)


# JSON-escapes $1 into $_J using only builtins (backslash and double quote; CNI values hold no
# control characters).
_SH_JSON = r"""_j() {
  _s=$1 _r=
  while :; do
    case $_s in
      *[\\\"]*)
        _t=${_s%%[\\\"]*}
        _c=${_s#"$_t"}
        _s=${_c#?}
        _c=${_c%"$_s"}
        _r=$_r$_t\\$_c
        ;;
      *) _r=$_r$_s; break ;;
    esac
  done
  _J="\"$_r\""
}
"""
