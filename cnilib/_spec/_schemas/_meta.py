"""The check of a schema before it is used: only the keywords the interpreter knows, well formed.

A keyword the interpreter does not implement would otherwise be skipped in silence, and a schema
with a typo in it would pass every configuration. So a schema is refused, with the JSON path of
the offending keyword, if it uses anything outside the subset (annotations and ``x-`` extensions
are allowed and ignored), an unknown ``format``, a ``$ref`` that does not resolve, or a
warning-only rule (``additionalProperties: false``, ``x-severity``) inside ``anyOf``, ``oneOf``,
``not`` or ``if``, where "passes" would mean something else here than in JSON Schema.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..._base._errors import ConfigError
from ._formats import FORMATS
from ._interp import child_path

__all__ = ["check_schema"]

_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})
_SCHEMA = ("additionalProperties", "items", "not", "if", "then", "else", "propertyNames")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_NUMBERS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_COUNTS = ("minLength", "maxLength", "minItems", "maxItems")
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "deprecated"}
)
_LEAVES = frozenset({"type", "enum", "const", "required", "dependentRequired", "pattern", "format", "$ref"})
_KNOWN = frozenset(
    {*_SCHEMA, *_SCHEMA_MAPS, *_SCHEMA_LISTS, *_NUMBERS, *_COUNTS, *_ANNOTATIONS, *_LEAVES}
    | {"x-severity", "x-message"}
)
_BRANCHES = frozenset({"anyOf", "oneOf", "not", "if"})


class _Checker:
    def __init__(self, root: Mapping[str, Any], source: str | None) -> None:
        self.root = root
        self.source = source

    def fail(self, message: str, path: str) -> ConfigError:
        return ConfigError(f"unusable plugin schema: {message}", path=path, source=self.source)

    def schema(self, node: Any, path: str, in_branch: bool) -> None:
        if isinstance(node, bool):
            return
        if not isinstance(node, dict):
            raise self.fail("a schema must be an object or a boolean", path)
        for key, value in node.items():
            where = child_path(path, key)
            if key not in _KNOWN and not key.startswith("x-"):
                raise self.fail(f"keyword {key!r} is not supported (see the schema page of the docs)", where)
            if in_branch and (key == "x-severity" or (key == "additionalProperties" and value is False)):
                raise self.fail(f"{key!r} cannot be used inside anyOf, oneOf, not or if", where)
            self.keyword(key, value, where, in_branch or key in _BRANCHES)

    def keyword(self, key: str, value: Any, where: str, in_branch: bool) -> None:
        if key in _SCHEMA:
            self.schema(value, where, in_branch)
        elif key in _SCHEMA_MAPS:
            for name, sub in self.mapping(value, where).items():
                self.schema(sub, child_path(where, name), in_branch)
        elif key in _SCHEMA_LISTS:
            if not isinstance(value, list) or not value:
                raise self.fail(f"{key!r} must be a non-empty array of schemas", where)
            for i, sub in enumerate(value):
                self.schema(sub, child_path(where, i), in_branch)
        else:
            self.leaf(key, value, where)

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            raise self.fail("must be an object", where)
        return value

    def leaf(self, key: str, value: Any, where: str) -> None:
        ok = True
        if key == "type":
            names = [value] if isinstance(value, str) else value
            ok = isinstance(names, list) and bool(names) and all(n in _TYPES for n in names)
        elif key in _NUMBERS:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif key in _COUNTS:
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        elif key in ("required", "enum"):
            ok = isinstance(value, list) and (key == "enum" or all(isinstance(k, str) for k in value))
        elif key == "dependentRequired":
            deps = self.mapping(value, where).values()
            ok = all(isinstance(d, list) and all(isinstance(k, str) for k in d) for d in deps)
        elif key == "format" and value not in FORMATS:
            raise self.fail(f"unknown format {value!r} (known: {', '.join(sorted(FORMATS))})", where)
        elif key == "pattern":
            self.pattern(value, where)
        elif key == "$ref":
            self.ref(value, where)
        elif key == "x-severity":
            ok = value in ("error", "warning")
        elif key == "x-message":
            ok = isinstance(value, str)
        if not ok:
            raise self.fail(f"malformed {key!r}", where)

    def pattern(self, value: Any, where: str) -> None:
        try:
            re.compile(value)
        except (re.error, TypeError):
            raise self.fail(f"{value!r} is not a regular expression", where) from None

    def ref(self, value: Any, where: str) -> None:
        if not isinstance(value, str) or not (value == "#" or value.startswith("#/")):
            raise self.fail("only references inside the same document (#/...) are supported", where)
        node: Any = self.root
        for escaped in value.removeprefix("#").split("/")[1:]:
            part = escaped.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise self.fail(f"reference {value!r} does not resolve", where)
            node = node[part]


def check_schema(schema: Any, *, source: str | None = None) -> None:
    """Raise :class:`~cnilib.ConfigError` (with the JSON path in the schema) if ``schema`` uses
    anything the interpreter does not implement, or is malformed."""
    checker = _Checker(schema if isinstance(schema, dict) else {}, source)
    if not isinstance(schema, dict):
        raise checker.fail("a plugin schema must be a JSON object", "$")
    checker.schema(schema, "$", in_branch=False)
