"""The codec: every CNI document's JSON goes through here, in both directions.

A leaf of the import graph (it imports only errors, identifier checks, the JSON text decoder and the
element descriptions): the configuration models describe their JSON in attrs field metadata
(:func:`json_field`), a result's elements in :mod:`cnilib._spec._shapes` (the class's ``_SHAPE``
names its description), and this module turns either into cattrs hooks the first time a class is
structured. There is ONE converter
(:data:`CONVERTER`) for plugin configs, configuration lists, results, VERSION replies and error
objects; each model writes its own JSON (``to_dict``, in the Go types' field order) and the converter
unstructures through it. Text is decoded by :func:`decode_json` (see :mod:`cnilib._spec._jsontext`).

Structuring is strict (a JSON number is never a string, a boolean never a number); a failure raises a
:class:`~cnilib.ConfigError` (or the subclass asked for) whose ``path`` is taken from cattrs' structured
errors (class and iterable validation errors and their notes), in JSON key names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, override

from .._base._errors import ConfigError
from .._spec._jsontext import decode_json, decode_object, json_type
from .._spec._scalars import _strict_bool, _strict_int, _strict_str, check_cidr, check_ip, optional_str
from .._spec._shapes import SHAPES
from .._spec._validate import MAX_DEPTH

__all__ = [
    "CONVERTER",
    "MAX_DEPTH",
    "CNIConverter",
    "check_cidr",
    "check_ip",
    "decode_json",
    "decode_object",
    "json_field",
    "json_type",
    "optional_str",
    "structure",
    "unstructure",
]

T = TypeVar("T")

_META = "cnilib.json"


# -- field descriptions ------------------------------------------------------------------------


@attrs.frozen
class _FieldSpec:
    key: str | None
    check: Callable[[Any], Any] | None
    omit: bool


def json_field(
    key: str | None = None, *, check: Callable[[Any], Any] | None = None, omit: bool = False
) -> dict[str, Any]:
    """attrs field metadata: the JSON ``key`` when it differs from the attribute name, a ``check``
    that parses the raw JSON value instead of the type's hook (raise TypeError/ValueError, or a
    :class:`~cnilib.ConfigError` with a path relative to the value, to reject), or ``omit`` for a
    field that is not read from the document (the class's ``_after_structure`` fills it)."""
    return {_META: _FieldSpec(key, check, omit)}


def _spec_of(cl: type, field: attrs.Attribute[Any]) -> _FieldSpec | None:
    spec: _FieldSpec | None = field.metadata.get(_META)
    shape = getattr(cl, "_SHAPE", None)
    if spec is not None or shape is None:
        return spec
    described = SHAPES[shape].field(field.name)
    # Arrays and nested elements keep cattrs' hooks: their errors name the bad index.
    nested = described.many or described.element is not None
    key = described.key if described.key != field.name else None
    return _FieldSpec(key, None if nested else described.check, False)


def _key_of(cl: type, name: str) -> str:
    for field in attrs.fields(cl):
        if field.name == name:
            spec = _spec_of(cl, field)
            return spec.key if spec is not None and spec.key else name
    return name  # pragma: no cover - cattrs only names fields of the class


# -- the converter -----------------------------------------------------------------------------


class CNIConverter(cattrs.Converter):
    """A cattrs converter whose failures become :class:`~cnilib.ConfigError` with a JSON path."""

    def structure_checked(
        self,
        obj: Any,
        cl: type[T],
        *,
        error: type[ConfigError] = ConfigError,
        path: str = "$",
        source: str | None = None,
    ) -> T:
        """Structure ``obj`` as ``cl``; any failure raises ``error`` naming the first bad path."""
        try:
            return self.structure(obj, cl)
        except ConfigError as exc:
            # A nested document's own check (a version string, a name) already knows its path.
            raise error(exc.message, path=_join(path, exc.path), source=source) from None
        except (ClassValidationError, IterableValidationError, ValueError, TypeError, KeyError) as exc:
            problems = list(_problems(exc, path))
            text, where = problems[0] if problems else (f"invalid {cl.__name__}", path)
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise error(text + more, path=where, source=source) from None


def _join(base: str, inner: str | None) -> str:
    if not inner or inner == "$":
        return base
    return base + inner[1:] if inner.startswith("$") else inner


def _problems(exc: BaseException, path: str) -> Iterator[tuple[str, str]]:
    """(message, JSON path) for every leaf failure of a cattrs validation error tree."""
    if isinstance(exc, IterableValidationError):
        with_notes, without = exc.group_exceptions()
        for sub, inote in with_notes:
            index = inote.index
            yield from _problems(sub, f"{path}[{index}]" if isinstance(index, int) else f"{path}.{index}")
        for sub in without:
            yield from _problems(sub, path)
    elif isinstance(exc, ClassValidationError):
        class_notes, others = exc.group_exceptions()
        for sub, anote in class_notes:
            key = _key_of(exc.cl, anote.name)
            if isinstance(sub, KeyError):
                yield f"missing required key {key!r}", f"{path}.{key}"
            else:
                yield from _problems(sub, f"{path}.{key}")
        for sub in others:
            yield from _problems(sub, path)
    elif isinstance(exc, ConfigError):
        yield exc.message, _join(path, exc.path)
    else:
        yield _describe(exc), path


def _describe(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return "missing required key"
    if isinstance(exc, (TypeError, ValueError)) and exc.args and isinstance(exc.args[0], str):
        msg = exc.args[0]
        # attrs internals phrase missing arguments in Python terms; say it in JSON terms.
        if "required positional argument" in msg or ("missing" in msg and "argument" in msg):
            return "missing required key"
        return msg
    return f"invalid value ({type(exc).__name__})"


def _sequence_hook(conv: cattrs.Converter, tp: Any) -> Callable[[Any, Any], Any]:
    elem = tp.__args__[0]
    elem_hook: list[Callable[[Any, Any], Any]] = []  # resolved at first use: classes register lazily

    def hook(value: Any, _: Any) -> tuple[Any, ...]:
        # cattrs would happily iterate a string or a dict: JSON arrays only.
        if not isinstance(value, (list, tuple)):
            raise TypeError(f"expected array, got {json_type(value)}")
        if not elem_hook:
            elem_hook.append(conv.get_structure_hook(elem))
        fn = elem_hook[0]
        try:
            return tuple([fn(item, elem) for item in value])
        except Exception:  # noqa: BLE001 - redone item by item below, to name every bad index
            pass
        errors: list[Exception] = []
        for i, item in enumerate(value):
            try:
                fn(item, elem)
            except Exception as exc:  # noqa: BLE001 - collected with their index, re-raised below
                _note(exc, _index_note(i, elem))
                errors.append(exc)
        raise IterableValidationError("invalid array", errors, tp)

    return hook


def _note(exc: Exception, note: str) -> None:
    # BaseException.add_note is 3.11+; cattrs reads __notes__ the same way on 3.10.
    exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]


def _index_note(index: int | str, tp: Any) -> Any:
    from cattrs.errors import IterableValidationNote

    return IterableValidationNote(f"@ index {index}", index, tp)


def _mapping_hook(conv: cattrs.Converter, tp: Any) -> Callable[[Any, Any], Any]:
    value_type = tp.__args__[1] if getattr(tp, "__args__", None) else Any

    def hook(value: Any, _: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected object, got {json_type(value)}")
        if value_type is Any:
            return dict(value)
        elem_hook = conv.get_structure_hook(value_type)
        out: dict[str, Any] = {}
        errors: list[Exception] = []
        for key, item in value.items():
            try:
                out[key] = elem_hook(item, value_type)
            except Exception as exc:  # noqa: BLE001 - cattrs hooks raise anything; re-raised below
                _note(exc, _index_note(key, value_type))
                errors.append(exc)
        if errors:
            raise IterableValidationError("invalid object", errors, tp)
        return out

    return hook


def _is_sequence(tp: Any) -> bool:
    return getattr(tp, "__origin__", None) is tuple and len(tp.__args__) == 2 and tp.__args__[1] is ...


def _is_mapping(tp: Any) -> bool:
    return tp is Mapping or getattr(tp, "__origin__", None) in (Mapping, dict)


def _class_hook(conv: CNIConverter, cl: type) -> Callable[[Any, Any], Any]:
    overrides: dict[str, Any] = {}
    for field in attrs.fields(cl):
        spec = _spec_of(cl, field)
        if spec is None:
            continue
        kwargs: dict[str, Any] = {"omit": True} if spec.omit else {}
        if spec.key:
            kwargs["rename"] = spec.key
        if spec.check is not None:
            check = spec.check
            kwargs["struct_hook"] = lambda value, _t, check=check: check(value)
        overrides[field.name] = override(**kwargs)
    fn: Callable[[Any, Any], Any] = make_dict_structure_fn(cl, conv, **overrides)
    post = getattr(cl, "_after_structure", None)

    def hook(value: Any, t: Any) -> Any:
        # cattrs' generated functions index whatever they get: a JSON object only, named so.
        if not isinstance(value, Mapping):
            raise TypeError(f"expected object, got {json_type(value)}")
        out = fn(value, t)
        return out if post is None else post(out, value)

    return hook


def _unstructure_model(value: Any) -> Any:
    # Every model writes its own JSON (Go's field order and omitempty rules): see their to_dict.
    return value.to_dict()


def make_converter() -> CNIConverter:
    """Build the converter: strict scalars, JSON-only containers, attrs classes from their metadata."""
    conv = CNIConverter(detailed_validation=True, forbid_extra_keys=False)
    conv.register_structure_hook(str, _strict_str)
    conv.register_structure_hook(int, _strict_int)
    conv.register_structure_hook(bool, _strict_bool)
    conv.register_structure_hook_factory(_is_sequence, lambda tp: _sequence_hook(conv, tp))
    conv.register_structure_hook_factory(_is_mapping, lambda tp: _mapping_hook(conv, tp))
    conv.register_structure_hook_factory(attrs.has, lambda cl: _class_hook(conv, cl))
    conv.register_unstructure_hook_func(
        lambda cl: attrs.has(cl) and hasattr(cl, "to_dict"), _unstructure_model
    )
    return conv


#: The one converter of cnilib.
CONVERTER: CNIConverter = make_converter()


def structure(
    obj: Any,
    cl: type[T],
    *,
    error: type[ConfigError] = ConfigError,
    path: str = "$",
    source: str | None = None,
) -> T:
    """Structure a decoded document as ``cl`` with :data:`CONVERTER` (errors: ``error`` with a path)."""
    return CONVERTER.structure_checked(obj, cl, error=error, path=path, source=source)


def unstructure(value: Any) -> Any:
    """The JSON value of a model (what its ``to_dict`` writes)."""
    return CONVERTER.unstructure(value)
