"""Bad input: every malformed document raises a cnilib.CNIError subclass naming the JSON path of the
offending value, never a bare KeyError/TypeError/JSONDecodeError; plus a fuzz of arbitrary JSON."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnilib
from cnilib import (
    CNIError,
    ConfigError,
    ErrorInfo,
    GCAttachment,
    NetworkConfigList,
    PluginConfig,
    ResultError,
    ValidationError,
    VersionInfo,
    parse_result,
)
from cnilib._model._codec import CONVERTER
from cnilib.testing import strategies as cst


def _result(doc: Any) -> Any:
    return parse_result(doc)


def _list(doc: Any) -> Any:
    if isinstance(doc, (bytes, str)):
        return NetworkConfigList.from_bytes(doc)
    return NetworkConfigList.from_dict(doc)


def _plugin(doc: Any) -> Any:
    if isinstance(doc, (bytes, str)):
        return PluginConfig.from_bytes(doc)
    return PluginConfig.from_dict(doc)


def _structure(cls: type) -> Callable[[Any], Any]:
    def run(doc: Any) -> Any:
        return CONVERTER.structure_checked(doc, cls)

    return run


PARSERS: dict[str, Callable[[Any], Any]] = {
    "result": _result,
    "list": _list,
    "plugin": _plugin,
    "version": _structure(VersionInfo),
    "error": _structure(ErrorInfo),
    "gc": _structure(GCAttachment),
}

V1 = {"cniVersion": "1.0.0"}
P = [{"type": "a"}]


def L(**kw: Any) -> dict[str, Any]:
    return {"name": "n", "plugins": P, **kw}


# (parser, input, exception class, JSON path)
CASES: list[tuple[str, Any, type[CNIError], str]] = [
    # malformed JSON / not an object
    ("result", b"{bad", ResultError, "$"),
    ("result", b"", ResultError, "$"),
    ("result", b"\xff\xfe", ResultError, "$"),
    ("result", "[1, 2]", ResultError, "$"),
    ("result", [], ResultError, "$"),
    ("list", b'{"name": "n",', ConfigError, "$"),
    ("list", b"\x80", ConfigError, "$"),
    ("list", b"[]", ConfigError, "$"),
    ("list", b'"text"', ConfigError, "$"),
    ("list", 42, ConfigError, "$"),
    ("plugin", b"{", ConfigError, "$"),
    ("plugin", b"3", ConfigError, "$"),
    ("plugin", None, ConfigError, "$"),
    # unknown / malformed versions
    ("result", {"cniVersion": "9.9.9"}, ResultError, "$.cniVersion"),
    ("result", {"cniVersion": "1.0"}, ResultError, "$.cniVersion"),
    ("result", {"cniVersion": 1}, ResultError, "$.cniVersion"),
    ("result", {"cniVersion": ["1.0.0"]}, ResultError, "$.cniVersion"),
    ("list", L(cniVersion="one"), ConfigError, "$.cniVersion"),
    ("list", L(cniVersion=1.0), ConfigError, "$.cniVersion"),
    ("list", L(cniVersions=["1.0.0", "x"]), ConfigError, "$.cniVersions[1]"),
    ("list", L(cniVersions=[None]), ConfigError, "$.cniVersions[0]"),
    ("list", L(cniVersions="1.0.0"), ConfigError, "$.cniVersions"),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "cniVersion": "abc"}]},
        ConfigError,
        "$.plugins[0].cniVersion",
    ),
    ("plugin", {"type": "a", "cniVersion": 1}, ConfigError, "$.cniVersion"),
    # missing required keys
    ("result", {**V1, "ips": [{}]}, ResultError, "$.ips[0].address"),
    ("result", {**V1, "ips": [{"gateway": "10.0.0.1"}]}, ResultError, "$.ips[0].address"),
    ("result", {**V1, "interfaces": [{"mac": "aa"}]}, ResultError, "$.interfaces[0].name"),
    ("result", {**V1, "routes": [{"gw": "10.0.0.1"}]}, ResultError, "$.routes[0].dst"),
    ("result", {"cniVersion": "0.2.0", "ip4": {}}, ResultError, "$.ip4.ip"),
    ("result", {"cniVersion": "0.2.0", "ip6": {"gateway": "fd00::1"}}, ResultError, "$.ip6.ip"),
    ("list", {}, ConfigError, "$.name"),
    ("list", {"plugins": P}, ConfigError, "$.name"),
    ("list", {"name": "n"}, ConfigError, "$.plugins"),
    ("list", {"name": "n", "plugins": []}, ConfigError, "$.plugins"),
    ("list", {"name": "n", "plugins": [{"type": "a"}, {}]}, ConfigError, "$.plugins[1].type"),
    ("list", {"type": "bridge"}, ConfigError, "$.name"),
    ("plugin", {}, ConfigError, "$.type"),
    ("plugin", {"name": "x"}, ConfigError, "$.type"),
    ("error", {"msg": "x"}, ConfigError, "$.code"),
    ("error", {"code": 1}, ConfigError, "$.msg"),
    ("gc", {"containerID": "c"}, ConfigError, "$.ifname"),
    # wrong types
    ("result", {**V1, "ips": "10.0.0.1/8"}, ResultError, "$.ips"),
    ("result", {**V1, "ips": {"address": "10.0.0.1/8"}}, ResultError, "$.ips"),
    ("result", {**V1, "ips": None}, ResultError, "$.ips"),
    ("result", {**V1, "ips": [{"address": 10}]}, ResultError, "$.ips[0].address"),
    (
        "result",
        {**V1, "ips": [{"address": "10.0.0.1/8", "interface": "0"}]},
        ResultError,
        "$.ips[0].interface",
    ),
    (
        "result",
        {**V1, "ips": [{"address": "10.0.0.1/8", "interface": True}]},
        ResultError,
        "$.ips[0].interface",
    ),
    (
        "result",
        {**V1, "ips": [{"address": "10.0.0.1/8", "interface": 1.5}]},
        ResultError,
        "$.ips[0].interface",
    ),
    (
        "result",
        {**V1, "interfaces": [{"name": "a"}, {"name": 3}]},
        ResultError,
        "$.interfaces[1].name",
    ),
    (
        "result",
        {**V1, "interfaces": [{"name": "a", "mtu": "1500"}]},
        ResultError,
        "$.interfaces[0].mtu",
    ),
    ("result", {**V1, "interfaces": [{"name": "a", "mac": 5}]}, ResultError, "$.interfaces[0].mac"),
    (
        "result",
        {**V1, "routes": [{"dst": "0.0.0.0/0", "table": "main"}]},
        ResultError,
        "$.routes[0].table",
    ),
    ("result", {**V1, "dns": {"nameservers": [1]}}, ResultError, "$.dns.nameservers[0]"),
    ("result", {**V1, "dns": {"domain": ["a"]}}, ResultError, "$.dns.domain"),
    (
        "result",
        {"cniVersion": "0.4.0", "ips": [{"version": 4, "address": "10.0.0.1/8"}]},
        ResultError,
        "$.ips[0].version",
    ),
    (
        "result",
        {"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.1/8", "routes": [{"dst": 0}]}},
        ResultError,
        "$.ip4.routes[0].dst",
    ),
    ("list", {"name": 1, "plugins": P}, ConfigError, "$.name"),
    ("list", {"name": "n", "plugins": {"type": "a"}}, ConfigError, "$.plugins"),
    ("list", {"name": "n", "plugins": [{"type": "a"}, "b"]}, ConfigError, "$.plugins[1]"),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a"}, {"type": 5}]},
        ConfigError,
        "$.plugins[1].type",
    ),
    ("list", {"name": "n", "plugins": [{"type": ""}]}, ConfigError, "$.plugins[0].type"),
    ("list", L(disableCheck="yes"), ConfigError, "$.disableCheck"),
    ("list", L(disableGC=1), ConfigError, "$.disableGC"),
    ("list", L(loadOnlyInlinedPlugins=[]), ConfigError, "$.loadOnlyInlinedPlugins"),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "capabilities": {"x": "true"}}]},
        ConfigError,
        "$.plugins[0].capabilities.x",
    ),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a"}, {"type": "b", "capabilities": []}]},
        ConfigError,
        "$.plugins[1].capabilities",
    ),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "ipam": "host-local"}]},
        ConfigError,
        "$.plugins[0].ipam",
    ),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "ipam": {"type": 1}}]},
        ConfigError,
        "$.plugins[0].ipam.type",
    ),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "dns": {"nameservers": [1]}}]},
        ConfigError,
        "$.plugins[0].dns.nameservers[0]",
    ),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "args": []}]},
        ConfigError,
        "$.plugins[0].args",
    ),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "runtimeConfig": 1}]},
        ConfigError,
        "$.plugins[0].runtimeConfig",
    ),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "prevResult": "x"}]},
        ConfigError,
        "$.plugins[0].prevResult",
    ),
    (
        "list",
        {"name": "n", "plugins": [{"type": "a", "name": 7}]},
        ConfigError,
        "$.plugins[0].name",
    ),
    ("list", {"type": "bridge", "name": 2}, ConfigError, "$.name"),
    ("plugin", {"type": ["bridge"]}, ConfigError, "$.type"),
    ("plugin", {"type": "a", "dns": "8.8.8.8"}, ConfigError, "$.dns"),
    ("version", {"cniVersion": 1}, ConfigError, "$.cniVersion"),
    ("version", {"supportedVersions": "1.0.0"}, ConfigError, "$.supportedVersions"),
    ("error", {"code": "7", "msg": "x"}, ConfigError, "$.code"),
    ("error", {"code": True, "msg": "x"}, ConfigError, "$.code"),
    ("error", {"code": 7, "msg": "x", "details": None}, ConfigError, "$.details"),
    ("gc", {"containerID": "c", "ifname": 0}, ConfigError, "$.ifname"),
    # bad addresses
    ("result", {**V1, "ips": [{"address": "10.0.0.1"}]}, ResultError, "$.ips[0].address"),
    ("result", {**V1, "ips": [{"address": "10.0.0.1/33"}]}, ResultError, "$.ips[0].address"),
    ("result", {**V1, "ips": [{"address": "10.0.0.300/8"}]}, ResultError, "$.ips[0].address"),
    (
        "result",
        {**V1, "ips": [{"address": "10.0.0.1/8", "gateway": "10.0.0.1/8"}]},
        ResultError,
        "$.ips[0].gateway",
    ),
    (
        "result",
        {**V1, "ips": [{"address": "10.0.0.1/8", "gateway": "gw"}]},
        ResultError,
        "$.ips[0].gateway",
    ),
    ("result", {**V1, "routes": [{"dst": "default"}]}, ResultError, "$.routes[0].dst"),
    (
        "result",
        {**V1, "routes": [{"dst": "::/0", "gw": "fe80::g1"}]},
        ResultError,
        "$.routes[0].gw",
    ),
    ("result", {"cniVersion": "0.1.0", "ip4": {"ip": "x/8"}}, ResultError, "$.ip4.ip"),
]


def _case_id(case: tuple[str, Any, type[CNIError], str]) -> str:
    return f"{case[0]}:{case[3]}:{str(case[1])[:40]}"


@pytest.mark.parametrize(("parser", "doc", "exc", "path"), CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_names_the_path(parser: str, doc: Any, exc: type[CNIError], path: str) -> None:
    with pytest.raises(CNIError) as info:
        PARSERS[parser](doc)
    err = info.value
    assert type(err) is exc, f"{type(err).__name__}: {err}"
    assert isinstance(err, ConfigError)
    assert err.path == path, str(err)
    if path != "$":
        assert f"@ {path}" in str(err)
    # the message says what is wrong, not how Python failed
    for python_speak in ("NoneType", "positional argument", "object is not", "indices must be"):
        assert python_speak not in str(err)


# Regressions: inputs that early parsers accepted or reported at the wrong path, fixed since; the
# last field says what used to happen.
REGRESSION_CASES: list[tuple[str, Any, type[CNIError], str, str]] = [
    (
        "result",
        {**V1, "dns": {"nameservers": "8.8.8.8"}},
        ResultError,
        "$.dns.nameservers",
        "was: a string split into characters (DNS/IPConfig020 structure hooks generated before the "
        "JSON-array-only tuple hooks were registered)",
    ),
    (
        "plugin",
        {"type": "a", "dns": {"search": "example.org"}},
        ConfigError,
        "$.dns.search",
        "was: the same DNS hook-order bug, through PluginConfig.from_dict",
    ),
    (
        "result",
        {**V1, "dns": {"options": {"ndots": 5}}},
        ResultError,
        "$.dns.options",
        "was: the same DNS hook-order bug: an object taken as its keys",
    ),
    (
        "result",
        {"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.1/8", "routes": {}}},
        ResultError,
        "$.ip4.routes",
        "was: the same hook-order bug for IPConfig020.routes: {} accepted as no routes",
    ),
    (
        "result",
        {**V1, "dns": []},
        ResultError,
        "$.dns",
        "was: generated dict hooks did not check for a JSON object: [] accepted as empty DNS",
    ),
    (
        "result",
        {**V1, "dns": "8.8.8.8"},
        ResultError,
        "$.dns",
        "was: generated dict hooks did not check for a JSON object: a string accepted",
    ),
    (
        "result",
        {"cniVersion": "0.2.0", "ip4": "10.0.0.1/8"},
        ResultError,
        "$.ip4",
        "was: non-object reported at $.ip4.ip with a Python message ('string indices must be integers')",
    ),
    (
        "result",
        {**V1, "ips": [None]},
        ResultError,
        "$.ips[0]",
        "was: null element reported with a Python message ('argument of type NoneType is not iterable')",
    ),
    (
        "result",
        {"cniVersion": "1.1.0", "interfaces": [{"name": "a", "socketPath": 1}]},
        ResultError,
        "$.interfaces[0].socketPath",
        "was: the path used the Python attribute name socket_path",
    ),
    (
        "result",
        {"cniVersion": "1.1.0", "interfaces": [{"name": "a", "pciID": 1}]},
        ResultError,
        "$.interfaces[0].pciID",
        "was: the path used the Python attribute name pci_id",
    ),
    (
        "gc",
        {"containerID": 1, "ifname": "eth0"},
        ConfigError,
        "$.containerID",
        "was: the path used the Python attribute name container_id",
    ),
    (
        "result",
        b"null",
        ResultError,
        "$",
        "_results._load_json_object names Python types: 'must be a JSON object, not NoneType'",
    ),
    (
        "error",
        [],
        ConfigError,
        "$",
        "a JSON array is reported as 'list indices must be integers' @ $.code",
    ),
]


@pytest.mark.parametrize(
    ("parser", "doc", "exc", "path", "why"),
    REGRESSION_CASES,
    ids=[f"{c[0]}:{c[3]}" for c in REGRESSION_CASES],
)
def test_bad_input_fixed_regressions(parser: str, doc: Any, exc: type[CNIError], path: str, why: str) -> None:
    test_bad_input_names_the_path(parser, doc, exc, path)


@pytest.mark.parametrize("name", ["bad name", "-x", "a/b", ""])
def test_bad_network_name_in_a_list(name: str) -> None:
    with pytest.raises(CNIError) as info:
        NetworkConfigList.from_dict({"name": name, "plugins": P})
    assert "$.name" in str(info.value)


@pytest.mark.parametrize(
    ("check", "value"),
    [
        (cnilib.validate_container_id, "bad id"),
        (cnilib.validate_container_id, ""),
        (cnilib.validate_network_name, "../etc"),
        (cnilib.validate_ifname, "eth0:1"),
        (cnilib.validate_ifname, "x" * 16),
    ],
)
def test_bad_ids_and_names_are_validation_errors(check: Callable[[Any], None], value: str) -> None:
    with pytest.raises(ValidationError) as info:
        check(value)
    assert isinstance(info.value, CNIError)
    if value:
        assert repr(value) in str(info.value)


def test_ifname_with_undecodable_bytes() -> None:
    with pytest.raises(ValidationError):
        cnilib.validate_ifname("eth\udcff" * 4)


def test_config_error_text() -> None:
    err = ConfigError("expected string, got number", path="$.plugins[1].type", source="/etc/x.conflist")
    assert str(err) == "/etc/x.conflist: expected string, got number @ $.plugins[1].type"
    assert (err.message, err.path, err.source) == (
        "expected string, got number",
        "$.plugins[1].type",
        "/etc/x.conflist",
    )
    assert str(ConfigError("broken", path="$")) == "broken"
    assert isinstance(err, ValueError)


# -- fuzz ---------------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "cniVersion",
        "cniVersions",
        "name",
        "type",
        "plugins",
        "ips",
        "ip4",
        "ip6",
        "interfaces",
        "routes",
        "dns",
        "address",
        "gateway",
        "interface",
        "version",
        "ip",
        "dst",
        "gw",
        "mtu",
        "sandbox",
        "mac",
        "nameservers",
        "domain",
        "search",
        "options",
        "capabilities",
        "ipam",
        "args",
        "runtimeConfig",
        "prevResult",
        "disableCheck",
        "disableGC",
        "loadOnlyInlinedPlugins",
        "socketPath",
        "pciID",
        "table",
        "scope",
        "advmss",
        "priority",
        "code",
        "msg",
        "details",
        "containerID",
        "ifname",
        "supportedVersions",
    ]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(
        [
            "1.0.0",
            "0.4.0",
            "0.2.0",
            "1.1.0",
            "",
            "10.0.0.1/8",
            "fd00::1/64",
            "10.0.0.1",
            "::/0",
            "true",
            "eth0",
        ]
    ),
)
# JSON-ish values whose objects mostly use the keys the parsers look at, so the fuzz gets deep.
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_KEYS | st.text(max_size=4), inner, max_size=5)
    ),
    max_leaves=20,
)
_VERSIONED = st.builds(
    lambda d, v: {**d, "cniVersion": v} if isinstance(d, dict) else d, _DOCS, cst.versions()
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _only_cni_errors(fn: Callable[[Any], Any], doc: Any) -> None:
    with contextlib.suppress(CNIError):
        fn(doc)


@pytest.mark.parametrize("parser", sorted(PARSERS))
@FUZZ
@given(doc=_DOCS | _VERSIONED)
def test_fuzz_raises_only_cni_errors(parser: str, doc: Any) -> None:
    _only_cni_errors(PARSERS[parser], doc)


@pytest.mark.parametrize("parser", ["result", "list", "plugin"])
@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=40) | _DOCS.map(lambda d: json.dumps(d).encode()))
def test_fuzz_bytes_raise_only_cni_errors(parser: str, data: bytes) -> None:
    _only_cni_errors(PARSERS[parser], data)


@settings(max_examples=60, deadline=None)
@given(cst.json_values(allow_nan=True))
def test_fuzz_any_json_value(value: Any) -> None:
    for fn in (parse_result, NetworkConfigList.from_dict, PluginConfig.from_dict):
        _only_cni_errors(fn, value)


@pytest.mark.parametrize("parser", ["result", "list", "plugin"])
def test_deeply_nested_json(parser: str) -> None:
    deep = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(ConfigError) as info:
        PARSERS[parser](deep)
    assert info.value.path == "$"


def test_huge_number_is_a_config_error() -> None:
    doc = b'{"cniVersion":"1.0.0","interfaces":[{"name":"a","mtu":' + b"1" * 5000 + b"}]}"
    with pytest.raises(ResultError, match="not valid JSON"):
        parse_result(doc)
