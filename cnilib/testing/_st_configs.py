"""Configuration strategies of :mod:`cnilib.testing.strategies`: plugin configurations, network
configuration lists (as dicts and parsed), ``CNI_ARGS`` pairs and runtime configurations."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from cnilib import (
    DNS,
    NetworkConfigList,
    PluginConfig,
    RuntimeConfig,
)

from ._st_results import _DNS
from ._st_values import (
    _CAPABILITIES,
    _CONTAINER_IDS,
    _IFNAMES,
    _LIST_KEYS,
    _LOWER,
    _NETWORK_NAMES,
    _PLUGIN_KEYS,
    _SANDBOXES,
    _VERSIONS,
    _json_values,
    _words,
)


def _dns_dict(d: DNS) -> dict[str, Any]:
    return d.to_dict()


@functools.cache
def _extra_keys(reserved: frozenset[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.text(min_size=1, max_size=12).filter(lambda k: k not in reserved)
    return st.dictionaries(keys, _json_values(False, 8), max_size=4)


_PLUGIN_TYPES = _words(_LOWER, _LOWER + "0123456789-", 15)
_CAPS = st.dictionaries(st.sampled_from(_CAPABILITIES), st.booleans(), max_size=3)
_IPAM_TYPES = st.sampled_from(("host-local", "static", "dhcp"))
_ARGS = st.dictionaries(st.text(min_size=1, max_size=8), _json_values(False, 8), max_size=3)


@st.composite
def _plugin_config_dicts(draw: st.DrawFn, in_list: bool) -> dict[str, Any]:
    obj: dict[str, Any] = draw(_extra_keys(_PLUGIN_KEYS))
    obj["type"] = draw(_PLUGIN_TYPES)
    if not in_list:
        obj["name"] = draw(_NETWORK_NAMES)
        obj["cniVersion"] = draw(_VERSIONS)
    if draw(st.booleans()):
        obj["capabilities"] = draw(_CAPS)
    if draw(st.booleans()):
        ipam: dict[str, Any] = draw(_extra_keys(frozenset({"type"})))
        ipam["type"] = draw(_IPAM_TYPES)
        obj["ipam"] = ipam
    if draw(st.booleans()):
        obj["dns"] = _dns_dict(draw(_DNS))
    if draw(st.booleans()):
        obj["args"] = draw(_ARGS)
    # Keep the typed keys at varied positions: key order is part of "as written".
    items = list(obj.items())
    order = draw(st.permutations(range(len(items))))
    return {items[i][0]: items[i][1] for i in order}


_PLUGIN_DICTS = {flag: _plugin_config_dicts(flag) for flag in (False, True)}


def plugin_config_dicts(*, in_list: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """The JSON object of one plugin configuration, with plugin-specific keys of any JSON type.

    A standalone one (``in_list=False``) has a ``name`` and a ``cniVersion``, as a ``.conf`` file
    needs; one inside a list (``in_list=True``) has neither, as usual.
    """
    return _PLUGIN_DICTS[in_list]


def plugin_configs() -> st.SearchStrategy[PluginConfig]:
    """A parsed standalone plugin configuration (see :func:`plugin_config_dicts`)."""
    return _PLUGIN_CONFIGS


_PLUGIN_CONFIGS = _PLUGIN_DICTS[False].map(PluginConfig.from_dict)
_BOOL_SPELLINGS = (True, False, "true", "false", "True", "FALSE")
_VERSION_LISTS = st.lists(_VERSIONS | st.sampled_from(("1.2.0", "1.10.0", "2.0.0")), max_size=4)
_SWITCH = st.sampled_from(_BOOL_SPELLINGS)
_PLUGIN_LISTS = st.lists(_PLUGIN_DICTS[True], min_size=1, max_size=3)


@st.composite
def _network_config_dicts(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = draw(_extra_keys(_LIST_KEYS))
    obj["name"] = draw(_NETWORK_NAMES)
    if draw(st.integers(0, 4)):
        obj["cniVersion"] = draw(_VERSIONS)
    if draw(st.booleans()):
        obj["cniVersions"] = draw(_VERSION_LISTS)
    for key in ("disableCheck", "disableGC", "loadOnlyInlinedPlugins"):
        if draw(st.booleans()):
            obj[key] = draw(_SWITCH)
    obj["plugins"] = draw(_PLUGIN_LISTS)
    return obj


_NETWORK_DICTS = _network_config_dicts()


def network_config_dicts() -> st.SearchStrategy[dict[str, Any]]:
    """The JSON object of a ``.conflist``: 1-3 plugins, optional ``cniVersions`` and switches.

    The switches (``disableCheck``...) are drawn as booleans or as the strings libcni accepts.
    ``cniVersions`` may name versions newer than 1.1.0, which version selection must skip.
    """
    return _NETWORK_DICTS


def network_config_lists(*, single: bool | None = False) -> st.SearchStrategy[NetworkConfigList]:
    """A parsed network configuration list.

    ``single=True`` gives a wrapped single-plugin ``.conf``, ``None`` either kind.
    """
    lists = _NETWORK_DICTS.map(NetworkConfigList.from_dict)
    singles = _PLUGIN_DICTS[False].map(NetworkConfigList.from_dict)
    if single is None:
        return lists | singles
    return singles if single else lists


def _arg_text(min_size: int) -> st.SearchStrategy[str]:
    return st.text(
        # Cc: NUL and the other control characters are refused in runtime values.
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"], exclude_characters=";="),
        min_size=min_size,
        max_size=16,
    )


_UPPER = _LOWER.upper() + "_"
_ARG_PAIRS = st.lists(
    st.tuples(st.one_of(_words(_UPPER, _UPPER + "0123456789", 15), _arg_text(1)), _arg_text(0)),
    max_size=4,
)


def cni_arg_pairs() -> st.SearchStrategy[list[tuple[str, str]]]:
    """``CNI_ARGS`` pairs that pass :func:`cnilib.validate_cni_args` (no ``;``, ``=``, control characters)."""
    return _ARG_PAIRS


_CAP_ARGS = st.dictionaries(st.sampled_from(_CAPABILITIES), _json_values(False, 8), max_size=3)
_NETNS = st.just("") | _SANDBOXES


@st.composite
def _runtime_configs(draw: st.DrawFn) -> RuntimeConfig:
    pairs = draw(_ARG_PAIRS)
    args: Mapping[str, str] | Sequence[tuple[str, str]] = pairs
    if draw(st.booleans()):
        args = dict(pairs)
    return RuntimeConfig(
        container_id=draw(_CONTAINER_IDS),
        netns=draw(_NETNS),
        ifname=draw(_IFNAMES),
        args=args,
        capability_args=draw(_CAP_ARGS),
    )


_RUNTIME_CONFIGS = _runtime_configs()


def runtime_configs() -> st.SearchStrategy[RuntimeConfig]:
    """A runtime configuration that passes :meth:`cnilib.RuntimeConfig.validate`.

    ``args`` is given either as ordered pairs or as a mapping (both are accepted).
    """
    return _RUNTIME_CONFIGS
