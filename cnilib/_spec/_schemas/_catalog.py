"""Which schema checks which object: the shipped ones, the caller's, and how they combine.

A plugin's schema describes its own keys. The keys every plugin configuration may have (the spec's,
and what runtimes inject: ``cniVersion``, ``capabilities``, ``runtimeConfig``, ``args``,
``prevResult``, ``ipam``, ``dns``, ``cni.dev/...``) come from ``data/_plugin.json`` and are merged
in, so every schema knows them. An ``ipam`` object is checked with the schema of its own ``type``
(host-local, static, dhcp, or one the caller gave), which describes the ``ipam`` object. A schema
marked ``"x-cni-kind": "ipam"`` checks only ``ipam`` objects.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from importlib import resources
from typing import Any

from ..._base._errors import ConfigError
from ._interp import Problem, Validator, child_path
from ._meta import check_schema

__all__ = ["PluginSchema", "SchemaCatalog", "builtin_catalog", "catalog_from"]

#: What a caller may give as schemas: a mapping of plugin type to schema, or a directory of ``TYPE.json``.
SchemaSource = Mapping[str, Mapping[str, Any]] | str | os.PathLike[str]


class PluginSchema:
    """One plugin's schema and where it comes from (``source``: the plugin release it describes,
    or the file it was read from)."""

    __slots__ = ("_validators", "plugin", "schema", "source")

    def __init__(self, plugin: str, schema: Mapping[str, Any], source: str) -> None:
        self.plugin = plugin
        self.schema = schema
        self.source = source
        self._validators: dict[str, Validator] = {}

    @property
    def ipam_only(self) -> bool:
        """True for an IPAM plugin's schema: it describes an ``ipam`` object, not a plugin."""
        return self.schema.get("x-cni-kind") == "ipam"

    def validator(self, common: Mapping[str, Any]) -> Validator:
        """A validator of this schema with the ``common`` properties merged in (cached per kind)."""
        key = str(common.get("title", ""))
        found = self._validators.get(key)
        if found is None:
            found = Validator(_merged(self.schema, common), subject=self.plugin)
            self._validators[key] = found
        return found


def _merged(schema: Mapping[str, Any], common: Mapping[str, Any]) -> dict[str, Any]:
    # The plugin's own definition of a common key wins (bridge says what it reads in runtimeConfig).
    out = copy.deepcopy(dict(schema))
    for word in ("properties", "patternProperties"):
        mine = out.setdefault(word, {})
        for key, sub in common.get(word, {}).items():
            mine.setdefault(key, sub)
    return out


def _read_json(text: str | bytes, source: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"plugin schema is not JSON: {exc}", source=source) from None


def _data(name: str) -> Any:
    text = resources.files(__package__).joinpath("data").joinpath(name).read_text(encoding="utf-8")
    return _read_json(text, f"cnilib/_spec/_schemas/data/{name}")


_IPAM_COMMON: dict[str, Any] = {"title": "ipam", "properties": {"type": {"type": ["string", "null"]}}}


class SchemaCatalog:
    """Plugin type -> :class:`PluginSchema`, and the checks of a configuration with them."""

    def __init__(self, schemas: Mapping[str, PluginSchema], plugin_common: Mapping[str, Any], listing: Any):
        self.schemas = dict(schemas)
        self.plugin_common = plugin_common
        # libcni reads a list's keys from a map: their spelling must be exact.
        self.list_validator = Validator(listing, subject="libcni", fold_case=False)
        self.list_label = f"network configuration list ({listing.get('x-source', 'CNI specification')})"

    def with_schemas(self, extra: Mapping[str, PluginSchema]) -> SchemaCatalog:
        """A catalog where ``extra`` is added to (and replaces) these schemas."""
        return SchemaCatalog({**self.schemas, **extra}, self.plugin_common, self.list_validator.schema)

    def for_plugin(self, plugin_type: Any) -> PluginSchema | None:
        """The schema of a plugin configuration of this type, if there is one."""
        found = self.schemas.get(plugin_type) if isinstance(plugin_type, str) else None
        return None if found is None or found.ipam_only else found

    def for_ipam(self, plugin_type: Any) -> PluginSchema | None:
        """The schema of an ``ipam`` object of this type, if there is one."""
        return self.schemas.get(plugin_type) if isinstance(plugin_type, str) else None

    def check_list(self, raw: Mapping[str, Any]) -> list[Problem]:
        """The keys of a configuration list that libcni does not know (warnings)."""
        return self.list_validator.problems(raw)

    def check_plugin(self, plugin: Mapping[str, Any], path: str) -> list[tuple[PluginSchema, list[Problem]]]:
        """Each schema that applies to one plugin configuration (its own, its ``ipam`` object's)
        with the problems it found, paths under ``path``."""
        out: list[tuple[PluginSchema, list[Problem]]] = []
        main = self.for_plugin(plugin.get("type"))
        if main is not None:
            out.append((main, main.validator(self.plugin_common).problems(plugin, path)))
        ipam = plugin.get("ipam")
        if isinstance(ipam, dict):
            sub = self.for_ipam(ipam.get("type"))
            if sub is not None:
                out.append((sub, sub.validator(_IPAM_COMMON).problems(ipam, child_path(path, "ipam"))))
        return out


_BUILTIN: list[SchemaCatalog] = []


def builtin_catalog() -> SchemaCatalog:
    """The schemas cnilib ships (the reference plugins), read once per process."""
    if not _BUILTIN:
        folder = resources.files(__package__).joinpath("data")
        schemas: dict[str, PluginSchema] = {}
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            name = entry.name
            if name.endswith(".json") and not name.startswith("_"):
                doc = _read_json(entry.read_text(encoding="utf-8"), f"cnilib/_spec/_schemas/data/{name}")
                plugin = name.removesuffix(".json")
                schemas[plugin] = PluginSchema(plugin, doc, str(doc.get("x-source", "cnilib")))
        _BUILTIN.append(SchemaCatalog(schemas, _data("_plugin.json"), _data("_list.json")))
    return _BUILTIN[0]


def _from_directory(directory: str) -> dict[str, PluginSchema]:
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
    except OSError as exc:
        why = exc.strerror or exc
        raise ConfigError(f"cannot read the schema directory: {why}", source=directory) from None
    out: dict[str, PluginSchema] = {}
    for name in names:
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as fh:
                doc = _read_json(fh.read(), path)
        except OSError as exc:
            raise ConfigError(f"cannot read the plugin schema: {exc.strerror or exc}", source=path) from None
        check_schema(doc, source=path)
        plugin = name.removesuffix(".json")
        out[plugin] = PluginSchema(plugin, doc, str(doc.get("x-source", path)))
    return out


def catalog_from(schemas: SchemaSource | None) -> SchemaCatalog:
    """The shipped schemas plus ``schemas`` (a mapping of plugin type to JSON Schema, or a directory
    of ``TYPE.json`` files); a given schema replaces a shipped one of the same type.

    Raises :class:`~cnilib.ConfigError` for a schema that is not JSON or uses what the
    interpreter does not implement.
    """
    base = builtin_catalog()
    if schemas is None:
        return base
    if isinstance(schemas, (str, os.PathLike)):
        return base.with_schemas(_from_directory(os.fspath(schemas)))
    if not isinstance(schemas, Mapping):
        raise ConfigError(f"schemas must be a mapping or a directory, not {type(schemas).__name__}")
    extra: dict[str, PluginSchema] = {}
    for plugin, doc in schemas.items():
        if not isinstance(plugin, str) or not plugin:
            raise ConfigError(f"schemas: a plugin type must be a non-empty string, not {plugin!r}")
        where = f"schemas[{plugin!r}]"
        check_schema(doc, source=where)
        extra[plugin] = PluginSchema(plugin, doc, str(doc.get("x-source", where)))
    return base.with_schemas(extra)
