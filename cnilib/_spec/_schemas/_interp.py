"""An interpreter of the subset of JSON Schema (2020-12) that the plugin schemas use.

It reports every problem with the JSON path of the value, a message for a person and a severity:
what the plugin would reject is an error; what it would silently ignore (a key it does not know:
``additionalProperties: false``, or a subschema marked ``"x-severity": "warning"``) is a warning.
For an unknown key or a value outside an ``enum`` it suggests the closest known one.

Two rules follow Go's ``encoding/json``, which every reference plugin decodes its configuration with:

* ``integer`` means a JSON number written without a fraction or exponent (Go refuses ``1.0`` for an
  ``int``); after Python's ``json`` that is an ``int``, so ``1.0`` (a ``float``) is not an integer;
* with ``fold_case`` (the default), a key matches a property spelt with other capitals (``"MTU"``
  sets ``mtu``), as Go matches struct fields.

Otherwise the keywords mean what the specification says; ``tests/test_schemas.py`` holds the
interpreter to the ``jsonschema`` library on generated documents. :mod:`._meta` checks a schema
before it is used, so this module may assume well-formed schemas.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from ._formats import FORMAT_HINTS, FORMATS

__all__ = ["Problem", "Validator", "child_path", "parent_path"]

_Schema = Mapping[str, Any]
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LAST = re.compile(r'(\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])$')
_ARTICLE = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


class Problem(NamedTuple):
    """One thing wrong with a document, where it is and how bad it is."""

    path: str
    message: str
    severity: str  # "error" or "warning"
    keyword: str  # the schema keyword that failed: "type", "enum", "additionalProperties", ...
    suggestion: str | None = None


def child_path(path: str, key: str | int) -> str:
    """``$.a`` + ``b`` -> ``$.a.b``; keys that are not identifiers in brackets: ``$.sysctl["net.x"]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENT.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def parent_path(path: str) -> str:
    """``$.a.b`` -> ``$.a``; ``$.sysctl["net.x"]`` -> ``$.sysctl``; ``$`` -> ``$``."""
    return _LAST.sub("", path) or "$"


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    kind = "a string" if isinstance(value, str) else "a number"
    return f"{kind} ({_show(value)})"


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    kinds: dict[str, type | tuple[type, ...]] = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "null": type(None),
    }
    return isinstance(value, kinds[name])


def _closest(word: str, choices: list[str]) -> str | None:
    lowered = {c.lower(): c for c in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None


class Validator:
    """Checks documents against one schema (a decoded JSON Schema document).

    ``subject`` names what the schema describes ("bridge") in the messages about unknown keys.
    """

    def __init__(self, schema: Mapping[str, Any], *, subject: str = "", fold_case: bool = True) -> None:
        self.schema = schema
        self.subject = subject or "the plugin"
        self.fold_case = fold_case

    def problems(self, instance: Any, path: str = "$") -> list[Problem]:
        """Every problem of ``instance``, paths under ``path``, in document order."""
        order: dict[str, int] = {}
        _number_paths(instance, path, order)
        found = list(self._check(self.schema, instance, path, "error"))
        # A missing key has no place in the document: it goes with its object.
        return sorted(found, key=lambda p: order.get(p.path, order.get(parent_path(p.path), 0)))

    def errors_only(self, schema: Any, value: Any, path: str) -> list[Problem]:
        """The errors of ``value`` against a subschema (warnings do not make a branch fail)."""
        return [p for p in self._check(schema, value, path, "error") if p.severity == "error"]

    # -- the keywords ------------------------------------------------------------------------------

    def _check(self, schema: Any, value: Any, path: str, severity: str) -> Iterator[Problem]:
        if schema is True:
            return
        if schema is False:
            yield Problem(path, "is not allowed here", severity, "false")
            return
        severity = schema.get("x-severity", severity)
        if "$ref" in schema:
            yield from self._check(self._resolve(schema["$ref"]), value, path, severity)
        own = list(self._own(schema, value, path, severity))
        if "x-message" in schema:  # the schema's own words for its own failures (not unknown keys)
            words = schema["x-message"]
            own = [p if p.keyword == "additionalProperties" else _reworded(p, words) for p in own]
        yield from own
        if own and own[0].keyword == "type":
            return  # nothing else about a value of the wrong type is worth saying
        yield from self._children(schema, value, path, severity)

    def _own(self, schema: _Schema, value: Any, path: str, severity: str) -> Iterator[Problem]:
        types = schema.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else list(types)
            if not any(_is_type(value, t) for t in names):
                wanted = [_ARTICLE[t] for t in names if t != "null"] or ["null"]
                text = f"must be {' or '.join(wanted)}, not {_describe(value)}"
                yield Problem(path, text, severity, "type")
                return
        yield from self._value(schema, value, path, severity)
        if isinstance(value, str):
            yield from self._string(schema, value, path, severity)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield from self._number(schema, value, path, severity)
        elif isinstance(value, list):
            yield from self._array_size(schema, value, path, severity)
        elif isinstance(value, dict):
            yield from self._keys(schema, value, path, severity)
        yield from self._combined(schema, value, path, severity)

    def _value(self, schema: _Schema, value: Any, path: str, severity: str) -> Iterator[Problem]:
        if "const" in schema and not _equal(value, schema["const"]):
            yield Problem(path, f"must be {_show(schema['const'])}, not {_show(value)}", severity, "const")
        if "enum" in schema and not any(_equal(value, v) for v in schema["enum"]):
            allowed = ", ".join(_show(v) for v in schema["enum"] if v not in (None, ""))
            empty = " (or empty)" if "" in schema["enum"] else ""
            text = f"must be one of {allowed}{empty}, not {_show(value)}"
            words = [v for v in schema["enum"] if isinstance(v, str) and v]
            hint = _closest(value, words) if isinstance(value, str) else None
            if hint is not None:
                text += f"; did you mean {_show(hint)}?"
            yield Problem(path, text, severity, "enum", hint)

    def _string(self, schema: _Schema, value: str, path: str, severity: str) -> Iterator[Problem]:
        if len(value) < schema.get("minLength", 0):
            least = schema["minLength"]
            text = "must not be empty" if value == "" else f"must be at least {least} characters"
            yield Problem(path, text, severity, "minLength")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            yield Problem(path, f"must be at most {schema['maxLength']} characters", severity, "maxLength")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            yield Problem(path, f"{_show(value)} does not match {schema['pattern']}", severity, "pattern")
        fmt = schema.get("format")
        if fmt in FORMATS and not FORMATS[fmt](value):
            yield Problem(path, f"{_show(value)} is not {FORMAT_HINTS[fmt]}", severity, "format")

    def _number(self, schema: _Schema, value: float, path: str, severity: str) -> Iterator[Problem]:
        if "minimum" in schema and value < schema["minimum"]:
            yield Problem(path, f"{value} is below the minimum {schema['minimum']}", severity, "minimum")
        if "maximum" in schema and value > schema["maximum"]:
            yield Problem(path, f"{value} is above the maximum {schema['maximum']}", severity, "maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            text = f"must be more than {schema['exclusiveMinimum']}, not {value}"
            yield Problem(path, text, severity, "exclusiveMinimum")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            text = f"must be less than {schema['exclusiveMaximum']}, not {value}"
            yield Problem(path, text, severity, "exclusiveMaximum")

    def _array_size(self, schema: _Schema, value: list[Any], path: str, sev: str) -> Iterator[Problem]:
        if len(value) < schema.get("minItems", 0):
            text = "must not be empty" if not value else f"must have at least {schema['minItems']} items"
            yield Problem(path, text, sev, "minItems")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            yield Problem(path, f"must have at most {schema['maxItems']} items", sev, "maxItems")

    def _keys(self, schema: _Schema, value: dict[str, Any], path: str, sev: str) -> Iterator[Problem]:
        for key in schema.get("required", ()):
            if self._present(schema, value, key) is None:
                yield Problem(child_path(path, key), f"missing required key {_show(key)}", sev, "required")
        for key, needed in schema.get("dependentRequired", {}).items():
            if self._present(schema, value, key) is None:
                continue
            for other in needed:
                if self._present(schema, value, other) is None:
                    text = f"missing key {_show(other)}, needed with {_show(key)}"
                    yield Problem(child_path(path, other), text, sev, "dependentRequired")
        if schema.get("additionalProperties") is False:
            known = list(schema.get("properties", {}))
            for key in value:
                if self._property(schema, key) is None and not self._patterns(schema, key):
                    yield self._unknown(path, key, known)

    def _unknown(self, path: str, key: str, known: list[str]) -> Problem:
        hint = _closest(key, known)
        text = f"unknown key, {self.subject} ignores it"
        if hint is not None:
            text += f"; did you mean {_show(hint)}?"
        return Problem(child_path(path, key), text, "warning", "additionalProperties", hint)

    def _combined(self, schema: _Schema, value: Any, path: str, sev: str) -> Iterator[Problem]:
        if "anyOf" in schema and not any(not self.errors_only(s, value, path) for s in schema["anyOf"]):
            yield Problem(path, self._none_of(schema["anyOf"], value, path), sev, "anyOf")
        if "oneOf" in schema:
            matched = sum(1 for s in schema["oneOf"] if not self.errors_only(s, value, path))
            if matched == 0:
                yield Problem(path, self._none_of(schema["oneOf"], value, path), sev, "oneOf")
            elif matched > 1:
                yield Problem(path, "matches more than one of the allowed forms", sev, "oneOf")
        if "not" in schema and not self.errors_only(schema["not"], value, path):
            yield Problem(path, "is not allowed here", sev, "not")

    def _none_of(self, branches: list[Any], value: Any, path: str) -> str:
        if all(isinstance(b, dict) and b.get("required") for b in branches):
            keys = [_show(b["required"][0]) for b in branches]
            return f"needs {', '.join(keys[:-1])} or {keys[-1]}" if len(keys) > 1 else f"needs {keys[0]}"
        firsts = [problems[0].message for b in branches if (problems := self.errors_only(b, value, path))]
        return "is none of the allowed forms: " + "; ".join(firsts)

    def _children(self, schema: _Schema, value: Any, path: str, sev: str) -> Iterator[Problem]:
        if isinstance(value, dict):
            yield from self._members(schema, value, path, sev)
        if isinstance(value, list) and "items" in schema:
            for i, item in enumerate(value):
                yield from self._check(schema["items"], item, child_path(path, i), sev)
        for sub in schema.get("allOf", ()):
            yield from self._check(sub, value, path, sev)
        if "if" in schema:
            branch = "then" if not self.errors_only(schema["if"], value, path) else "else"
            if branch in schema:
                yield from self._check(schema[branch], value, path, sev)

    def _members(self, schema: _Schema, value: dict[str, Any], path: str, sev: str) -> Iterator[Problem]:
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            where = child_path(path, key)
            if "propertyNames" in schema:
                for p in self._check(schema["propertyNames"], key, where, sev):
                    yield p._replace(keyword="propertyNames")
            sub = self._property(schema, key)
            patterns = self._patterns(schema, key)
            if sub is not None:
                yield from self._check(sub, item, where, sev)
            for pattern_schema in patterns:
                yield from self._check(pattern_schema, item, where, sev)
            if sub is None and not patterns and extra is not False:
                yield from self._check(extra, item, where, sev)

    # -- lookups -----------------------------------------------------------------------------------

    def _property(self, schema: Mapping[str, Any], key: str) -> Any:
        props: Mapping[str, Any] = schema.get("properties", {})
        if key in props:
            return props[key]
        if self.fold_case:
            for name, sub in props.items():
                if name.lower() == key.lower():
                    return sub
        return None

    def _present(self, schema: _Schema, value: Mapping[str, Any], key: str) -> str | None:
        # The key as written in ``value`` that sets property ``key`` (another spelling with fold_case).
        if key in value:
            return key
        if self.fold_case and key in schema.get("properties", {}):
            return next((k for k in value if k.lower() == key.lower()), None)
        return None

    @staticmethod
    def _patterns(schema: Mapping[str, Any], key: str) -> list[Any]:
        return [sub for pat, sub in schema.get("patternProperties", {}).items() if re.search(pat, key)]

    def _resolve(self, ref: str) -> Any:
        node: Any = self.schema
        for part in ref.removeprefix("#").split("/")[1:]:
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node


def _reworded(problem: Problem, message: str) -> Problem:
    if problem.suggestion is not None:
        message += f"; did you mean {_show(problem.suggestion)}?"
    return problem._replace(message=message)


def _number_paths(value: Any, path: str, order: dict[str, int]) -> None:
    order[path] = len(order)
    if isinstance(value, dict):
        for key, item in value.items():
            _number_paths(item, child_path(path, key), order)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _number_paths(item, child_path(path, i), order)


def _equal(a: Any, b: Any) -> bool:
    # JSON equality: true is not 1, 1 is 1.0 (as in JSON Schema).
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return bool(a == b)
