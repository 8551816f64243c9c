"""The field check of :meth:`CNI.validate`: every plugin of a list against its schema, as findings.

Paths name the value in the file the user wrote: ``$.plugins[1].ipam.subnet`` in a list, ``$.mtu``
in a single-plugin ``.conf`` (which cnilib wraps as a one-plugin list). Plugins from drop-in files
are counted after the inline ones, as they run.
"""

from __future__ import annotations

from .._model._models import NetworkConfigList
from .._spec._schemas import PluginSchema, Problem, SchemaCatalog
from ._reports import FieldFinding

__all__ = ["field_findings"]


def _is_wrapped(conflist: NetworkConfigList) -> bool:
    # A wrapped .conf keeps Go's sorted re-encoding of the wrapping as its bytes (see
    # NetworkConfigList._wrap_single); a list read from a file keeps the file's own bytes.
    from .._base._gojson import go_dumps

    raw = conflist.raw
    return (
        set(raw) == {"cniVersion", "name", "plugins"}
        and len(conflist.plugins) == 1
        and conflist.bytes == go_dumps(dict(raw), sort_keys=True, float64=True).encode()
    )


def _label(schema: PluginSchema) -> str:
    return f"{schema.plugin} ({schema.source})"


def _finding(problem: Problem, index: int | None, schema: str) -> FieldFinding:
    return FieldFinding(
        path=problem.path,
        message=problem.message,
        severity=problem.severity,
        plugin=index,
        schema=schema,
        keyword=problem.keyword,
        suggestion=problem.suggestion,
    )


def field_findings(
    conflist: NetworkConfigList, catalog: SchemaCatalog
) -> tuple[tuple[FieldFinding, ...], list[tuple[str, ...]]]:
    """The field mistakes of ``conflist``, and for each plugin the schemas it was checked with."""
    found: list[FieldFinding] = []
    used: list[tuple[str, ...]] = []
    wrapped = _is_wrapped(conflist)
    if not wrapped:
        found += [_finding(p, None, catalog.list_label) for p in catalog.check_list(conflist.raw)]
    for i, plugin in enumerate(conflist.plugins):
        checks = catalog.check_plugin(plugin.raw, "$" if wrapped else f"$.plugins[{i}]")
        for schema, problems in checks:
            found += [_finding(p, i, _label(schema)) for p in problems]
        used.append(tuple(_label(schema) for schema, _ in checks))
    return tuple(found), used
