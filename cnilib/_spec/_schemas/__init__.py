"""The fields of the reference plugins' configurations, as data, and the check of a configuration.

``data/`` holds one JSON Schema (2020-12) document per plugin of containernetworking-plugins (the
release each describes is its ``x-source``), plus ``_plugin.json`` (the keys of every plugin
configuration) and ``_list.json`` (the keys of a configuration list). :mod:`._interp` interprets
the subset of JSON Schema they use; :mod:`._meta` refuses a schema outside that subset; and
:mod:`._catalog` picks the schema for each object and merges the common keys in. Nothing here
imports attrs: the package stands on its own.
"""

from __future__ import annotations

from ._catalog import PluginSchema, SchemaCatalog, SchemaSource, builtin_catalog, catalog_from
from ._interp import Problem, Validator, child_path, parent_path
from ._meta import check_schema

__all__ = [
    "PluginSchema",
    "Problem",
    "SchemaCatalog",
    "SchemaSource",
    "Validator",
    "builtin_catalog",
    "catalog_from",
    "check_schema",
    "child_path",
    "parent_path",
]
