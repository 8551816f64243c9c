"""Configuration models: plugin-specific keys kept exactly, lists and wrapped .conf files, version
selection, the list switches, RuntimeConfig, the validation rules, and the small spec objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnilib
from cnilib import (
    DNS,
    ConfigError,
    ErrorInfo,
    GCAttachment,
    NetworkConfigList,
    PluginConfig,
    RuntimeConfig,
    ValidationError,
    VersionInfo,
    validate_cni_args,
    validate_container_id,
    validate_ifname,
    validate_network_name,
)
from cnilib._model._codec import CONVERTER
from cnilib._spec._version import parse_version
from cnilib.testing import strategies as cst

SETTINGS = settings(max_examples=30, deadline=None)


def strict_equal(a: Any, b: Any) -> None:
    """Equal as JSON *and* of the same JSON types (1 is not 1.0, True is not 1), same key order."""
    assert _typed(a) == _typed(b)


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return ("object", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("array", [_typed(v) for v in value])
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


# -- PluginConfig -------------------------------------------------------------------------------

PLUGIN_TEXT = """{
  "cniVersion": "1.0.0",
  "name": "mynet",
  "type": "bridge",
  "bridge": "cni0",
  "isGateway": true,
  "mtu": 1500,
  "hairpinRatio": 1.0,
  "tiny": 1e-7,
  "huge": 123456789012345678901234567890,
  "negative": -9223372036854775809,
  "label": "r\u00e9seau \u7db2\u7d61 \U0001f680",
  "escaped": "tab\\tquote\\"nul\\u0000",
  "nothing": null,
  "capabilities": {"portMappings": true, "bandwidth": false, "ips": true},
  "ipam": {
    "type": "host-local",
    "ranges": [[{"subnet": "10.22.0.0/16", "gateway": "10.22.0.1"}]],
    "routes": [{"dst": "0.0.0.0/0"}],
    "dataDir": "/var/lib/cni/networks"
  },
  "dns": {"nameservers": ["10.22.0.53"], "search": ["svc.local"]},
  "args": {"cni": {"labels": [{"key": "app", "value": "web"}]}},
  "deep": {"a": {"b": {"c": [1, 2.5, {"d": [true, false, null]}]}}}
}"""


def test_plugin_config_keeps_every_key_exactly() -> None:
    original = json.loads(PLUGIN_TEXT)
    for data in (PLUGIN_TEXT, PLUGIN_TEXT.encode("utf-8")):
        cfg = PluginConfig.from_bytes(data)
        strict_equal(cfg.to_dict(), original)
        # ...and writing it again gives the same JSON text the user wrote, up to whitespace.
        assert json.dumps(cfg.to_dict(), ensure_ascii=False) == json.dumps(original, ensure_ascii=False)
    out = cfg.to_dict()
    assert type(out["mtu"]) is int
    assert type(out["hairpinRatio"]) is float
    assert out["huge"] == 123456789012345678901234567890
    assert out["negative"] == -(2**63) - 1
    assert out["label"] == "r\u00e9seau \u7db2\u7d61 \U0001f680"
    assert out["escaped"] == 'tab\tquote"nul\x00'
    assert out["deep"]["a"]["b"]["c"][2]["d"] == [True, False, None]


def test_plugin_config_typed_view() -> None:
    cfg = PluginConfig.from_bytes(PLUGIN_TEXT)
    assert cfg.type == "bridge"
    assert cfg.name == "mynet"
    assert cfg.cni_version == "1.0.0"
    assert cfg.capabilities == {"portMappings": True, "bandwidth": False, "ips": True}
    assert cfg.enabled_capabilities == ("portMappings", "ips")
    assert cfg.ipam is not None
    assert cfg.ipam["type"] == "host-local"
    assert cfg.dns == DNS(nameservers=["10.22.0.53"], search=["svc.local"])
    assert cfg.args == {"cni": {"labels": [{"key": "app", "value": "web"}]}}
    assert cfg.runtime_config is None
    assert cfg.prev_result is None


def test_plugin_config_minimal() -> None:
    cfg = PluginConfig.from_dict({"type": "loopback"})
    assert (cfg.type, cfg.name, cfg.cni_version, cfg.capabilities) == ("loopback", None, "", {})
    assert cfg.enabled_capabilities == ()
    assert cfg.to_dict() == {"type": "loopback"}


def test_plugin_config_to_dict_is_a_copy() -> None:
    cfg = PluginConfig.from_dict({"type": "x", "k": 1})
    out = cfg.to_dict()
    out["k"] = 2
    out["new"] = True
    assert cfg.to_dict() == {"type": "x", "k": 1}


@SETTINGS
@given(cst.plugin_config_dicts())
def test_plugin_config_round_trip(obj: dict[str, Any]) -> None:
    cfg = PluginConfig.from_bytes(json.dumps(obj))
    strict_equal(cfg.to_dict(), obj)
    assert PluginConfig.from_dict(cfg.to_dict()) == cfg
    assert PluginConfig.from_bytes(json.dumps(cfg.to_dict()).encode()) == cfg
    assert cfg.type == obj["type"]
    assert cfg.cni_version == obj.get("cniVersion", "")


@SETTINGS
@given(cst.plugin_configs())
def test_plugin_configs_strategy(cfg: PluginConfig) -> None:
    assert PluginConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


_UNICODE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=30)


@SETTINGS
@given(
    st.dictionaries(
        _UNICODE.filter(
            lambda k: (
                k
                not in {
                    "type",
                    "name",
                    "cniVersion",
                    "dns",
                    "capabilities",
                    "ipam",
                    "args",
                    "runtimeConfig",
                    "prevResult",
                }
            )
        ),
        _UNICODE | st.integers() | st.floats(allow_nan=False, allow_infinity=False),
        max_size=6,
    )
)
def test_plugin_specific_unicode_and_numbers_survive_utf8_bytes(extra: dict[str, Any]) -> None:
    obj = {"type": "x", **extra}
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
    strict_equal(PluginConfig.from_bytes(data).to_dict(), obj)


# -- NetworkConfigList --------------------------------------------------------------------------

CONFLIST = {
    "cniVersion": "1.0.0",
    "name": "podnet",
    "plugins": [
        {
            "type": "bridge",
            "bridge": "cni0",
            "ipam": {"type": "host-local", "subnet": "10.1.0.0/16"},
        },
        {"type": "portmap", "capabilities": {"portMappings": True}, "snat": True},
        {"type": "tuning", "sysctl": {"net.core.somaxconn": "500"}},
    ],
}


def test_conflist_from_bytes() -> None:
    data = json.dumps(CONFLIST, indent=2).encode()
    ncl = NetworkConfigList.from_bytes(data)
    assert ncl.name == "podnet"
    assert ncl.cni_version == "1.0.0"
    assert [p.type for p in ncl.plugins] == ["bridge", "portmap", "tuning"]
    assert ncl.plugins[1].enabled_capabilities == ("portMappings",)
    assert ncl.bytes == data  # the exact text, as libcni caches it
    assert ncl.to_dict() == CONFLIST
    assert (ncl.disable_check, ncl.disable_gc, ncl.load_only_inlined_plugins) == (
        False,
        False,
        False,
    )
    assert ncl.cni_versions == ()
    assert ncl.source is None
    assert NetworkConfigList.from_bytes(data.decode()) == ncl


def test_conflist_from_dict() -> None:
    ncl = NetworkConfigList.from_dict(CONFLIST)
    assert ncl.bytes == json.dumps(CONFLIST, separators=(",", ":")).encode()
    assert ncl == NetworkConfigList.from_bytes(ncl.bytes)
    given_bytes = b'{"name": "podnet"}'
    assert NetworkConfigList.from_dict(CONFLIST, data=given_bytes).bytes == given_bytes


@pytest.mark.parametrize("suffix", [".conflist", ".conf", ".json"])
def test_from_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"10-podnet{suffix}"
    data = json.dumps(CONFLIST).encode()
    path.write_bytes(data)
    ncl = NetworkConfigList.from_file(path)
    assert ncl.source == str(path)
    assert ncl.bytes == data
    assert ncl == NetworkConfigList.from_bytes(data)  # source does not take part in equality
    assert NetworkConfigList.from_file(str(path)) == ncl


def test_from_file_errors_name_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.conflist"
    with pytest.raises(ConfigError, match="cannot read network configuration") as info:
        NetworkConfigList.from_file(missing)
    assert str(missing) in str(info.value)
    bad = tmp_path / "bad.conflist"
    bad.write_text('{"name": "x", "plugins": [{"type": 3}]}')
    with pytest.raises(ConfigError) as info:
        NetworkConfigList.from_file(bad)
    assert info.value.source == str(bad)
    assert str(bad) in str(info.value)
    assert "$.plugins[0].type" in str(info.value)


def test_single_conf_is_wrapped_like_libcni(tmp_path: Path) -> None:
    conf = {
        "type": "bridge",
        "name": "br",
        "cniVersion": "0.4.0",
        "zeta": [1, 2],
        "alpha": {"y": 1, "b": 2},
    }
    text = json.dumps(conf, indent=1)
    path = tmp_path / "10-br.conf"
    path.write_text(text)
    ncl = NetworkConfigList.from_file(path)
    wrapped = {"cniVersion": "0.4.0", "name": "br", "plugins": [conf]}
    assert ncl.bytes == json.dumps(wrapped, separators=(",", ":"), sort_keys=True).encode()
    assert ncl.bytes.startswith(b'{"cniVersion":"0.4.0","name":"br","plugins":[{"alpha":{"b":2,"y":1}')
    assert ncl.to_dict() == wrapped
    assert ncl.name == "br"
    assert ncl.cni_version == "0.4.0"
    assert len(ncl.plugins) == 1
    strict_equal(ncl.plugins[0].to_dict(), conf)
    assert ncl.source == str(path)
    # Reading back the bytes that the cache stores gives the same list.
    assert NetworkConfigList.from_bytes(ncl.bytes) == ncl


def test_single_conf_without_version_or_name() -> None:
    ncl = NetworkConfigList.from_dict({"type": "loopback", "name": "lo"})
    assert ncl.cni_version == ""
    assert ncl.bytes == b'{"cniVersion":"","name":"lo","plugins":[{"name":"lo","type":"loopback"}]}'
    with pytest.raises(ConfigError, match="missing required key 'name'") as info:
        NetworkConfigList.from_dict({"type": "loopback"})
    assert info.value.path == "$.name"


def _expected_switch(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _expected_version(obj: dict[str, Any]) -> str:
    current = obj.get("cniVersion", "")
    if "cniVersions" not in obj:
        return current
    usable = [
        v for v in [*obj["cniVersions"], *([current] if current else [])] if parse_version(v) <= (1, 1, 0)
    ]
    return max(usable, key=parse_version) if usable else current


@SETTINGS
@given(cst.network_config_dicts())
def test_conflist_round_trip_and_fields(obj: dict[str, Any]) -> None:
    data = json.dumps(obj).encode()
    ncl = NetworkConfigList.from_bytes(data)
    strict_equal(ncl.to_dict(), obj)
    assert ncl.bytes == data
    assert NetworkConfigList.from_bytes(ncl.bytes) == ncl
    assert NetworkConfigList.from_dict(ncl.to_dict(), data=ncl.bytes) == ncl
    assert ncl.name == obj["name"]
    assert ncl.cni_version == _expected_version(obj)
    assert ncl.cni_versions == tuple(obj.get("cniVersions", ()))
    assert ncl.disable_check == _expected_switch(obj.get("disableCheck"))
    assert ncl.disable_gc == _expected_switch(obj.get("disableGC"))
    assert ncl.load_only_inlined_plugins == _expected_switch(obj.get("loadOnlyInlinedPlugins"))
    for plugin, raw in zip(ncl.plugins, obj["plugins"], strict=True):
        strict_equal(plugin.to_dict(), raw)


@SETTINGS
@given(cst.network_config_lists(single=None))
def test_network_config_lists_strategy(ncl: NetworkConfigList) -> None:
    assert ncl.plugins
    if ncl.raw == json.loads(ncl.bytes):
        assert NetworkConfigList.from_bytes(ncl.bytes) == ncl
        return
    # A wrapped .conf caches the bytes libcni would write: Go's encoder, numbers as float64.
    from cnilib._cache import go_json_dumps

    assert ncl.bytes == go_json_dumps(ncl.raw).encode()
    assert NetworkConfigList.from_bytes(ncl.bytes).name == ncl.name


@pytest.mark.parametrize(
    ("versions", "current", "expected"),
    [
        (["0.3.1", "1.0.0", "0.4.0"], "", "1.0.0"),
        (["0.3.1", "1.0.0"], "1.1.0", "1.1.0"),  # cniVersion takes part in the choice
        (["1.1.0", "1.2.0", "2.0.0"], "0.4.0", "1.1.0"),  # newer than cnilib: skipped
        (["1.10.0"], "1.0.0", "1.0.0"),  # compared numerically, not as text
        (["2.0.0"], "0.4.0", "0.4.0"),
        (["2.0.0"], "", ""),
        ([], "1.0.0", "1.0.0"),
        (["0.1.0"], "", "0.1.0"),
    ],
)
def test_cni_versions_selection(versions: list[str], current: str, expected: str) -> None:
    obj: dict[str, Any] = {"name": "n", "cniVersions": versions, "plugins": [{"type": "x"}]}
    if current:
        obj["cniVersion"] = current
    ncl = NetworkConfigList.from_dict(obj)
    assert ncl.cni_version == expected
    assert ncl.cni_versions == tuple(versions)


def test_cni_versions_selection_skips_unknown_older_versions() -> None:
    obj = {"name": "n", "cniVersions": ["0.4.0", "0.5.0"], "plugins": [{"type": "x"}]}
    assert NetworkConfigList.from_dict(obj).cni_version == "0.4.0"


@pytest.mark.parametrize(
    ("versions", "path"),
    [
        (["1.0.0", "x"], "$.cniVersions[1]"),
        ([3], "$.cniVersions[0]"),
        (["1.0"], "$.cniVersions[0]"),
        ("1.0.0", "$.cniVersions"),
        ({"a": "1.0.0"}, "$.cniVersions"),
    ],
)
def test_cni_versions_invalid_entries(versions: Any, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        NetworkConfigList.from_dict({"name": "n", "cniVersions": versions, "plugins": [{"type": "x"}]})
    assert info.value.path == path


@pytest.mark.parametrize("key", ["disableCheck", "disableGC", "loadOnlyInlinedPlugins"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("TRUE", True),
        ("False", False),
        (None, False),
    ],
)
def test_list_switches(key: str, value: Any, expected: bool) -> None:
    ncl = NetworkConfigList.from_dict({"name": "n", key: value, "plugins": [{"type": "x"}]})
    attr = {
        "disableCheck": "disable_check",
        "disableGC": "disable_gc",
        "loadOnlyInlinedPlugins": "load_only_inlined_plugins",
    }[key]
    assert getattr(ncl, attr) is expected


@pytest.mark.parametrize("key", ["disableCheck", "disableGC", "loadOnlyInlinedPlugins"])
@pytest.mark.parametrize("value", ["yes", "1", "", 1, 0, [], {}])
def test_list_switches_reject(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        NetworkConfigList.from_dict({"name": "n", key: value, "plugins": [{"type": "x"}]})
    assert info.value.path == f"$.{key}"


def test_with_plugins_and_allow_empty() -> None:
    empty = NetworkConfigList.from_dict({"name": "n", "cniVersion": "1.1.0"}, allow_empty=True)
    assert empty.plugins == ()
    extra = PluginConfig.from_dict({"type": "dropin"})
    grown = empty.with_plugins([extra])
    assert grown.plugins == (extra,)
    assert empty.plugins == ()
    assert grown.bytes == empty.bytes
    with pytest.raises(ConfigError, match="has no plugins"):
        NetworkConfigList.from_dict({"name": "n"})


def test_list_is_frozen() -> None:
    ncl = NetworkConfigList.from_dict(CONFLIST)
    with pytest.raises(AttributeError):
        ncl.name = "other"  # type: ignore[misc]


# -- RuntimeConfig ------------------------------------------------------------------------------


def test_runtime_config_defaults() -> None:
    rt = RuntimeConfig(container_id="abc")
    assert (rt.netns, rt.ifname, rt.args, rt.capability_args) == ("", "eth0", (), {})
    assert rt.cni_args == ""
    rt.validate()


def test_runtime_config_args_as_mapping_or_pairs() -> None:
    as_map = RuntimeConfig(container_id="c", args={"K8S_POD_NAME": "web", "IgnoreUnknown": "1"})
    as_pairs = RuntimeConfig(container_id="c", args=[("K8S_POD_NAME", "web"), ("IgnoreUnknown", "1")])
    as_iter = RuntimeConfig(container_id="c", args=iter([("K8S_POD_NAME", "web"), ("IgnoreUnknown", "1")]))
    assert as_map.args == (("K8S_POD_NAME", "web"), ("IgnoreUnknown", "1"))
    assert as_map == as_pairs == as_iter
    assert as_map.cni_args == "K8S_POD_NAME=web;IgnoreUnknown=1"
    # pairs keep duplicates and order, as CNI_ARGS can
    dup = RuntimeConfig(container_id="c", args=[("A", "1"), ("A", "2")])
    assert dup.cni_args == "A=1;A=2"


def test_runtime_config_capability_args_are_copied() -> None:
    caps: dict[str, Any] = {"portMappings": [{"hostPort": 8080, "containerPort": 80}]}
    rt = RuntimeConfig(container_id="c", capability_args=caps)
    caps["bandwidth"] = {}
    assert set(rt.capability_args) == {"portMappings"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"container_id": ""},
        {"container_id": "-x"},
        {"container_id": "a b"},
        {"ifname": ""},
        {"ifname": "x" * 16},
        {"ifname": "a/b"},
        {"args": [("K", "a;b")]},
        {"args": {"K": "a=b"}},
        {"args": [("", "v")]},
    ],
)
def test_runtime_config_rejects_at_construction(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RuntimeConfig(**{"container_id": "ok", **kwargs})


@SETTINGS
@given(cst.runtime_configs())
def test_runtime_configs_strategy_is_valid(rt: RuntimeConfig) -> None:
    rt.validate()
    pairs = tuple(tuple(item.split("=", 1)) for item in rt.cni_args.split(";")) if rt.args else ()
    assert pairs == rt.args


# -- validation rules ---------------------------------------------------------------------------


@pytest.mark.parametrize("good", ["a", "0", "abc", "A1_b.c-d", "x" * 300, "cnitool-0123456789abcdef0123"])
def test_valid_ids_and_names(good: str) -> None:
    validate_container_id(good)
    validate_network_name(good)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "-abc",
        "_abc",
        ".abc",
        "a b",
        "a/b",
        "a:b",
        "\u00fcber",
        "abc\n",
        "a\tb",
        "a;b",
        "../x",
        "a*",
    ],
)
def test_invalid_ids_and_names(bad: str) -> None:
    with pytest.raises(ValidationError, match="container id"):
        validate_container_id(bad)
    with pytest.raises(ValidationError, match="network name"):
        validate_network_name(bad)


@pytest.mark.parametrize("bad", [None, 5, b"abc"])
def test_ids_must_be_strings(bad: Any) -> None:
    with pytest.raises(ValidationError):
        validate_container_id(bad)
    with pytest.raises(ValidationError):
        validate_network_name(bad)


@pytest.mark.parametrize(
    "good", ["eth0", "a", "x" * 15, "\u00e9" * 7, "net-1.2", "a.b", "...", "veth@1", "\u7db2\u7d61"]
)
def test_valid_ifnames(good: str) -> None:
    validate_ifname(good)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("", "missing"),
        (".", "not allowed"),
        ("..", "not allowed"),
        ("x" * 16, "longer than 15 bytes"),
        ("\u00e9" * 8, "longer than 15 bytes"),  # 8 characters but 16 bytes
        ("a/b", "invalid character"),
        ("a:b", "invalid character"),
        ("a b", "invalid character"),
        ("a\tb", "invalid character"),
        ("a\nb", "invalid character"),
        ("a\u00a0b", "invalid character"),
        ("a\u3000b", "invalid character"),
    ],
)
def test_invalid_ifnames(bad: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        validate_ifname(bad)


@given(st.text(max_size=20))
def test_ifname_rule_property(name: str) -> None:
    ok = (
        0 < len(name.encode("utf-8", "surrogatepass")) <= 15
        and name not in (".", "..")
        and not any(c in "/:" or c.isspace() or c < " " or c == "\x7f" for c in name)
    )
    if ok:
        validate_ifname(name)
    else:
        with pytest.raises(ValidationError):
            validate_ifname(name)


@given(cst.ifnames())
def test_ifnames_strategy(name: str) -> None:
    validate_ifname(name)


@given(cst.container_ids(), cst.network_names())
def test_id_strategies(cid: str, name: str) -> None:
    validate_container_id(cid)
    validate_network_name(name)


@pytest.mark.parametrize(
    "pairs",
    [
        [],
        [("K", "V")],
        [("K8S_POD_NAME", "web"), ("K8S_POD_NAMESPACE", "default")],
        [("K", "")],
        [("IgnoreUnknown", "1")],
        [("K", "a b,c/d:e")],
    ],
)
def test_valid_cni_args(pairs: list[tuple[str, str]]) -> None:
    validate_cni_args(pairs)


@pytest.mark.parametrize(
    "pairs",
    [
        [("", "v")],
        [("K=", "v")],
        [("K;", "v")],
        [("K", "a;b")],
        [("K", "a=b")],
        [("K\0", "v")],
        [("K", "v\0")],
        [(1, "v")],
        [("K", None)],
        [("A", "1"), ("B", "x;C=2")],
    ],
)
def test_invalid_cni_args(pairs: list[tuple[Any, Any]]) -> None:
    with pytest.raises(ValidationError, match="CNI_ARGS"):
        validate_cni_args(pairs)


@given(st.lists(st.tuples(st.text(max_size=5), st.text(max_size=5)), max_size=4))
def test_cni_args_rule_property(pairs: list[tuple[str, str]]) -> None:
    def clean(text: str) -> bool:
        # ";" and "=" would corrupt K=V;K2=V2; control characters (NUL first) are refused everywhere.
        return not any(c in ";=" or c < " " or c == "\x7f" for c in text)

    ok = all(k and clean(k) and clean(v) for k, v in pairs)
    if ok:
        validate_cni_args(pairs)
    else:
        with pytest.raises(ValidationError):
            validate_cni_args(pairs)


# -- VersionInfo, ErrorInfo, GCAttachment through the converter ---------------------------------

_VINFO = st.builds(VersionInfo, cst.versions(), st.lists(cst.versions(), unique=True))
_EINFO = st.builds(
    ErrorInfo,
    st.integers(0, 200),
    st.text(max_size=20),
    st.text(max_size=20),
    st.just("") | cst.versions(),
)
_GCA = st.builds(GCAttachment, cst.container_ids(), cst.ifnames())


@SETTINGS
@given(_VINFO)
def test_version_info_round_trip(info: VersionInfo) -> None:
    doc = info.to_dict()
    assert list(doc) == ["cniVersion", "supportedVersions"]
    assert CONVERTER.structure_checked(json.loads(json.dumps(doc)), VersionInfo) == info


@SETTINGS
@given(_EINFO)
def test_error_info_round_trip(info: ErrorInfo) -> None:
    doc = info.to_dict()
    assert ("details" in doc) == bool(info.details)
    assert CONVERTER.structure_checked(json.loads(json.dumps(doc)), ErrorInfo) == info


@SETTINGS
@given(_GCA)
def test_gc_attachment_round_trip(att: GCAttachment) -> None:
    doc = att.to_dict()
    assert doc == {"containerID": att.container_id, "ifname": att.ifname}
    assert CONVERTER.structure_checked(json.loads(json.dumps(doc)), GCAttachment) == att


@pytest.mark.parametrize(
    "value",
    [
        VersionInfo("1.0.0", ["0.4.0", "1.0.0"]),
        ErrorInfo(7, "bad", "x", "1.0.0"),
        GCAttachment("c1", "eth0"),
    ],
    ids=["VersionInfo", "ErrorInfo", "GCAttachment"],
)
def test_converter_unstructure_is_the_inverse_of_structure(value: Any) -> None:
    assert CONVERTER.structure(CONVERTER.unstructure(value), type(value)) == value


def test_version_info_supports() -> None:
    info = VersionInfo("0.2.0", ["0.1.0", "0.2.0"])
    assert info.supports("0.1.0")
    assert info.supports("")  # empty means 0.1.0
    assert not info.supports("0.3.0")


def test_version_info_without_supported_versions() -> None:
    info = CONVERTER.structure_checked({"cniVersion": "0.2.0"}, VersionInfo)
    assert info.supported_versions == ()


def test_error_info_to_dict() -> None:
    assert ErrorInfo(11, "busy").to_dict() == {"cniVersion": "", "code": 11, "msg": "busy"}
    assert ErrorInfo(7, "bad", "more", "1.0.0").to_dict() == {
        "cniVersion": "1.0.0",
        "code": 7,
        "msg": "bad",
        "details": "more",
    }
    assert cnilib.ErrorCode(11) is cnilib.ErrorCode.TRY_AGAIN_LATER
