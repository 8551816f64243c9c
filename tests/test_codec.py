"""The codec: one converter for every document, paths from cattrs' structured errors, Go's decoding
rules, and the version-independent accessors of results."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

import cnilib
from cnilib import ConfigError, NetworkConfigList, PluginConfig, ResultError, parse_result
from cnilib._model._codec import CONVERTER, decode_json, json_field, structure, unstructure

R020 = {
    "cniVersion": "0.2.0",
    "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1", "routes": [{"dst": "0.0.0.0/0"}]},
    "ip6": {"ip": "fd00::2/64", "routes": [{"dst": "::/0", "gw": "fd00::1"}]},
    "dns": {"nameservers": ["10.0.0.53"]},
}


def test_a_020_result_reads_like_a_100_result() -> None:
    old = parse_result(R020)
    new = old.convert_to("1.0.0")
    assert old.ips == new.ips
    assert old.routes == new.routes
    assert old.dns == new.dns
    assert old.interfaces == () == new.interfaces
    assert [ip.address for ip in old.ips] == ["10.0.0.2/24", "fd00::2/64"]
    assert old.ips[0].gateway == "10.0.0.1"
    assert old.ips[0].version is None  # the 1.0 element type
    assert [r.dst for r in old.routes] == ["0.0.0.0/0", "::/0"]


@pytest.mark.parametrize("version", ["0.3.1", "0.4.0", "1.0.0", "1.1.0"])
def test_current_results_expose_their_fields(version: str) -> None:
    doc = {
        "cniVersion": version,
        "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
        "ips": [{"address": "10.0.0.2/24", "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0"}],
    }
    res = parse_result(doc)
    assert res.interfaces[0].sandbox == "/run/netns/x"
    assert res.ips[0].address == "10.0.0.2/24"
    assert res.routes[0].dst == "0.0.0.0/0"
    assert res.all_addresses == ("10.0.0.2/24",)


def test_configs_go_through_the_one_converter() -> None:
    doc = {"cniVersion": "1.0.0", "name": "n", "disableCheck": "TRUE", "plugins": [{"type": "a"}]}
    conf = structure(doc, NetworkConfigList)
    assert conf.disable_check is True
    assert conf.plugins[0].raw == {"type": "a"}
    assert CONVERTER.structure(doc["plugins"][0], PluginConfig).type == "a"
    assert unstructure(conf.plugins[0]) == {"type": "a"}
    assert unstructure(parse_result(R020)) == parse_result(R020).to_dict()


def test_every_problem_is_counted_and_the_first_is_named() -> None:
    doc = {"name": "n", "plugins": [{"type": 1}, {"type": "b", "capabilities": {"x": 1}}]}
    with pytest.raises(ConfigError) as info:
        NetworkConfigList.from_dict(doc)
    assert info.value.path == "$.plugins[0].type"
    assert info.value.message == "expected string, got number (and 1 more)"


def test_paths_use_the_json_names_and_prefixes() -> None:
    with pytest.raises(ResultError) as info:
        parse_result({"cniVersion": "1.1.0", "interfaces": [{"name": "a", "socketPath": 1}]})
    assert info.value.path == "$.interfaces[0].socketPath"
    with pytest.raises(ConfigError) as info2:
        PluginConfig.from_dict({"type": "a", "ipam": {"type": 3}}, path="$.plugins[4]")
    assert info2.value.path == "$.plugins[4].ipam.type"
    with pytest.raises(ConfigError, match="missing required key 'containerID'") as info3:
        structure({"ifname": "eth0"}, cnilib.GCAttachment)
    assert info3.value.path == "$.containerID"


def test_field_metadata_drives_a_new_class() -> None:
    @attrs.frozen
    class Doc:
        the_key: str = attrs.field(metadata=json_field("theKey"))
        count: int = attrs.field(default=0, metadata=json_field(check=lambda v: int(v) * 2))

    assert structure({"theKey": "x", "count": "21"}, Doc) == Doc("x", 42)
    with pytest.raises(ConfigError) as info:
        structure({"theKey": 1}, Doc)
    assert info.value.path == "$.theKey"


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xef\xbb\xbf{}", "byte order mark"),
        ("\ufeff{}".encode("utf-16"), "byte order mark"),
        ("{}".encode("utf-16-le"), "UTF-16 or UTF-32"),
        (b"[NaN]", "NaN is not a JSON number"),
        (b"[-Infinity]", "-Infinity is not a JSON number"),
        (b"[1e999]", "overflows a float64"),
        (b"[" * 300 + b"]" * 300, "nested more than"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'["\x01"]', "Invalid control character"),
    ],
)
def test_decoding_refuses_what_go_refuses(data: bytes, says: str) -> None:
    with pytest.raises(ConfigError, match=says) as info:
        decode_json(data, what="doc", error=ConfigError)
    assert info.value.path == "$"


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b'["\xff"]', ["\ufffd"]),
        (b'["\\ud800x"]', ["\ufffdx"]),
        ('["\udcff"]', ["\ufffd"]),  # a Python str holding a lone surrogate
        (b'{"\\udc00":1}', {"\ufffd": 1}),
        (b"[1.0, 2, -0]", [1.0, 2, 0]),
        (b"[" + b"1" + b"0" * 300 + b"]", [10**300]),  # still fits a float64, as in Go
    ],
)
def test_decoding_replaces_what_go_replaces(data: Any, value: Any) -> None:
    assert decode_json(data, what="doc", error=ConfigError) == value
