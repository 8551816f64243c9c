"""Results of the three shapes: parse(dump(x)) == x for every version, the JSON written, helpers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnilib
from cnilib import (
    DNS,
    Interface,
    IPConfig,
    IPConfig020,
    Result020,
    Result040,
    Result100,
    ResultError,
    Route,
    VersionError,
    parse_result,
)
from cnilib.testing import strategies as cst

ALL = cnilib.SUPPORTED_VERSIONS
SHAPE = {
    "0.1.0": Result020,
    "0.2.0": Result020,
    "0.3.0": Result040,
    "0.3.1": Result040,
    "0.4.0": Result040,
    "1.0.0": Result100,
    "1.1.0": Result100,
}

# A realistic bridge result (host bridge, host veth, container eth0) as the bridge plugin prints it.
BRIDGE_100: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "interfaces": [
        {"name": "cni0", "mac": "3a:fa:0f:65:9e:b1"},
        {"name": "veth20eab00a", "mac": "32:25:14:9c:85:f0"},
        {"name": "eth0", "mac": "0a:10:d8:7b:e6:5d", "sandbox": "/run/netns/ctr"},
    ],
    "ips": [{"interface": 2, "address": "10.22.0.5/16", "gateway": "10.22.0.1"}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.22.0.1"}],
    "dns": {},
}


# -- round trips (Hypothesis) -------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_round_trip_every_version(version: str, data: st.DataObject) -> None:
    result = data.draw(cst.results(version))
    assert type(result) is SHAPE[version]
    assert parse_result(result.to_json()) == result
    assert parse_result(result.to_bytes()) == result
    assert parse_result(result.to_dict()) == result
    assert parse_result(result.to_json(indent=2)) == result
    assert json.loads(result.to_json()) == result.to_dict()


@settings(max_examples=50, deadline=None)
@given(cst.results())
def test_round_trip_is_a_fixed_point_of_the_json(result: cnilib.Result) -> None:
    text = result.to_json()
    assert parse_result(text).to_json() == text


@settings(max_examples=25, deadline=None)
@given(cst.results())
def test_dns_is_always_written(result: cnilib.Result) -> None:
    doc = result.to_dict()
    assert "dns" in doc
    assert next(iter(doc)) == "cniVersion"
    assert list(doc)[-1] == "dns"


@pytest.mark.parametrize("version", ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0"])
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_no_11_only_fields_before_11(version: str, data: st.DataObject) -> None:
    doc = data.draw(cst.results(version)).to_dict()
    for iface in doc.get("interfaces", []):
        assert set(iface) <= {"name", "mac", "sandbox"}
    routes = [*doc.get("routes", [])]
    for block in ("ip4", "ip6"):
        routes += doc.get(block, {}).get("routes", [])
    for route in routes:
        assert set(route) <= {"dst", "gw"}


@settings(max_examples=30, deadline=None)
@given(cst.results("0.4.0", min_ips=1))
def test_040_ips_carry_a_matching_version(result: cnilib.Result) -> None:
    for ip in result.to_dict()["ips"]:
        assert ip["version"] == ("6" if ":" in ip["address"] else "4")
        assert next(iter(ip)) == "version"


# -- the JSON written: key order and omissions follow libcni's Go types --------------------------


def test_bridge_result_round_trips_byte_for_byte() -> None:
    text = json.dumps(BRIDGE_100, separators=(",", ":"))
    result = parse_result(text)
    assert isinstance(result, Result100)
    assert result.to_json() == text
    assert result.interfaces[2] == Interface(name="eth0", mac="0a:10:d8:7b:e6:5d", sandbox="/run/netns/ctr")
    assert result.ips == (IPConfig(address="10.22.0.5/16", gateway="10.22.0.1", interface=2),)
    assert result.routes == (Route(dst="0.0.0.0/0", gw="10.22.0.1"),)
    assert result.dns == DNS()
    assert result.all_addresses == ("10.22.0.5/16",)


def test_key_order_of_a_full_11_result() -> None:
    result = Result100(
        cni_version="1.1.0",
        interfaces=[
            Interface(
                name="eth0",
                mac="aa:bb:cc:dd:ee:ff",
                mtu=1400,
                sandbox="/run/netns/x",
                socket_path="/run/s.sock",
                pci_id="0000:00:1f.6",
            )
        ],
        ips=[IPConfig(address="fd00::2/64", gateway="fd00::1", interface=0)],
        routes=[Route(dst="::/0", gw="fd00::1", mtu=1400, advmss=1360, priority=10, table=100, scope=0)],
        dns=DNS(
            nameservers=["fd00::53"],
            domain="example.org",
            search=["a.example"],
            options=["ndots:2"],
        ),
    )
    doc = result.to_dict()
    assert list(doc) == ["cniVersion", "interfaces", "ips", "routes", "dns"]
    assert list(doc["interfaces"][0]) == ["name", "mac", "mtu", "sandbox", "socketPath", "pciID"]
    assert list(doc["ips"][0]) == ["interface", "address", "gateway"]
    assert list(doc["routes"][0]) == ["dst", "gw", "mtu", "advmss", "priority", "table", "scope"]
    assert list(doc["dns"]) == ["nameservers", "domain", "search", "options"]
    assert doc["routes"][0]["scope"] == 0  # zero is a value, not "absent"
    assert parse_result(doc) == result


def test_key_order_of_a_020_result() -> None:
    result = Result020(
        cni_version="0.2.0",
        ip4=IPConfig020(ip="10.0.0.2/24", gateway="10.0.0.1", routes=[Route(dst="0.0.0.0/0")]),
        ip6=IPConfig020(ip="fd00::2/64"),
        dns=DNS(nameservers=["10.0.0.53"]),
    )
    doc = result.to_dict()
    assert list(doc) == ["cniVersion", "ip4", "ip6", "dns"]
    assert list(doc["ip4"]) == ["ip", "gateway", "routes"]
    assert doc["ip6"] == {"ip": "fd00::2/64"}
    assert result.all_addresses == ("10.0.0.2/24", "fd00::2/64")
    assert parse_result(doc) == result


def test_key_order_of_a_040_result() -> None:
    result = Result040(
        cni_version="0.4.0",
        interfaces=[Interface(name="eth0")],
        ips=[IPConfig(address="10.0.0.2/24", interface=0, version="4", gateway="10.0.0.1")],
    )
    doc = result.to_dict()
    assert doc == {
        "cniVersion": "0.4.0",
        "interfaces": [{"name": "eth0"}],
        "ips": [{"version": "4", "interface": 0, "address": "10.0.0.2/24", "gateway": "10.0.0.1"}],
        "dns": {},
    }
    assert list(doc["ips"][0]) == ["version", "interface", "address", "gateway"]


def test_empty_results_write_only_version_and_dns() -> None:
    assert Result100(cni_version="1.0.0").to_dict() == {"cniVersion": "1.0.0", "dns": {}}
    assert Result040(cni_version="0.3.1").to_dict() == {"cniVersion": "0.3.1", "dns": {}}
    assert Result020(cni_version="0.1.0").to_dict() == {"cniVersion": "0.1.0", "dns": {}}


def test_040_ip_without_version_gets_one_derived_from_the_address() -> None:
    result = parse_result({"cniVersion": "0.3.1", "ips": [{"address": "fd00::5/64"}]})
    assert result.to_dict()["ips"] == [{"version": "6", "address": "fd00::5/64"}]


def test_to_json_compact_and_indented() -> None:
    result = parse_result(BRIDGE_100)
    assert " " not in result.to_json()
    assert result.to_json(indent=4) == json.dumps(BRIDGE_100, indent=4)
    assert result.to_bytes() == result.to_json().encode()


def test_unknown_keys_in_a_result_are_ignored() -> None:
    # Go's decoder ignores unknown fields; a plugin that adds some must still be readable.
    doc = {**BRIDGE_100, "x-extra": {"a": 1}, "ips": [{**BRIDGE_100["ips"][0], "note": "hi"}]}
    assert parse_result(doc) == parse_result(BRIDGE_100)


# -- cniVersion picking -------------------------------------------------------------------------


@pytest.mark.parametrize("version", ALL)
def test_shape_is_picked_from_cni_version(version: str) -> None:
    doc = {"cniVersion": version, "dns": {}}
    result = parse_result(doc)
    assert type(result) is SHAPE[version]
    assert result.cni_version == version


@pytest.mark.parametrize("doc", [{"dns": {}}, {"cniVersion": "", "dns": {}}, {"cniVersion": None}])
def test_missing_version_means_010(doc: dict[str, Any]) -> None:
    result = parse_result(doc)
    assert isinstance(result, Result020)
    assert result.cni_version == "0.1.0"


def test_missing_version_takes_the_config_version() -> None:
    result = parse_result({"ips": [{"address": "10.0.0.2/24"}]}, version="1.0.0")
    assert isinstance(result, Result100)
    assert result.to_dict()["cniVersion"] == "1.0.0"
    # An explicit cniVersion wins over the fallback.
    assert parse_result({"cniVersion": "0.4.0"}, version="1.0.0").cni_version == "0.4.0"


@pytest.mark.parametrize("version", ["9.9.9", "1.2.0", "0.5.0", "1.0", "v1"])
def test_unknown_result_version(version: str) -> None:
    with pytest.raises(ResultError, match="unsupported CNI result version") as info:
        parse_result({"cniVersion": version})
    assert info.value.path == "$.cniVersion"


def test_parse_accepts_bytes_str_bytearray_memoryview_and_mapping() -> None:
    text = json.dumps(BRIDGE_100)
    expected = parse_result(BRIDGE_100)
    for data in (text, text.encode(), bytearray(text.encode()), memoryview(text.encode())):
        assert parse_result(data) == expected


# -- helpers on the models ----------------------------------------------------------------------


def test_route_basic_and_family() -> None:
    full = Route(dst="10.0.0.0/8", gw="10.0.0.1", mtu=1400, table=5)
    assert full.basic() == Route(dst="10.0.0.0/8", gw="10.0.0.1")
    plain = Route(dst="::/0")
    assert plain.basic() is plain
    assert plain.is_ipv6
    assert not full.is_ipv6


def test_interface_basic() -> None:
    full = Interface(
        name="eth0",
        mac="aa:bb:cc:dd:ee:ff",
        mtu=9000,
        sandbox="/x",
        socket_path="/s",
        pci_id="0000:01:00.0",
    )
    assert full.basic() == Interface(name="eth0", mac="aa:bb:cc:dd:ee:ff", sandbox="/x")
    plain = Interface(name="lo")
    assert plain.basic() is plain


def test_dns_truthiness() -> None:
    assert not DNS()
    assert DNS(nameservers=["1.1.1.1"])
    assert DNS(domain="example.org")
    assert DNS(search=["a"])
    assert DNS(options=["rotate"])


def test_ipconfig_family() -> None:
    assert IPConfig(address="fd00::1/64").is_ipv6
    assert not IPConfig(address="10.0.0.1/8").is_ipv6


def test_models_are_frozen_and_hashable() -> None:
    result = parse_result(BRIDGE_100)
    assert hash(result) == hash(parse_result(BRIDGE_100))
    with pytest.raises(AttributeError):
        result.cni_version = "0.4.0"  # type: ignore[misc]


def test_tuple_fields_accept_lists() -> None:
    result = Result100(cni_version="1.0.0", ips=[IPConfig(address="10.0.0.1/8")])
    assert result.ips == (IPConfig(address="10.0.0.1/8"),)
    assert DNS(nameservers=["a"]).nameservers == ("a",)


def test_convert_to_same_version_is_identity() -> None:
    result = parse_result(BRIDGE_100)
    assert result.convert_to("1.0.0") is result


@pytest.mark.parametrize("version", ["9.9.9", "", "1.2.0", "0.5.0"])
def test_convert_to_unknown_version(version: str) -> None:
    with pytest.raises(VersionError, match="unsupported CNI result version"):
        parse_result(BRIDGE_100).convert_to(version)


def test_empty_optional_strings_are_stable() -> None:
    doc = {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "eth0", "mac": "", "sandbox": "", "socketPath": "", "pciID": ""}],
        "dns": {"domain": ""},
    }
    parsed = parse_result(doc)
    assert parse_result(parsed.to_json()) == parsed


# -- the public strategies keep their promises ----------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(st.tuples(cst.cidrs(4), cst.cidrs(6), cst.cidrs()), st.tuples(cst.ips(4), cst.ips(6), cst.ips()))
def test_address_strategies(cidrs: tuple[str, str, str], ips: tuple[str, str, str]) -> None:
    import ipaddress

    assert [ipaddress.ip_interface(c).version for c in cidrs[:2]] == [4, 6]
    assert [ipaddress.ip_address(i).version for i in ips[:2]] == [4, 6]
    assert all("/" in c for c in cidrs)
    ipaddress.ip_interface(cidrs[2])
    ipaddress.ip_address(ips[2])


@settings(max_examples=30, deadline=None)
@given(data=st.data(), version=cst.versions())
def test_piece_strategies_follow_the_version(data: st.DataObject, version: str) -> None:
    route = data.draw(cst.routes(version))
    if version != "1.1.0":
        assert route.basic() is route
    if route.gw is not None:
        assert route.is_ipv6 == (":" in route.gw)
    iface = data.draw(cst.interfaces(version))
    if version != "1.1.0":
        assert iface.basic() is iface
    ip = data.draw(cst.ip_configs(version, n_interfaces=2))
    assert ip.interface in (None, 0, 1)
    if version in ("0.3.0", "0.3.1", "0.4.0"):
        assert ip.version == ("6" if ip.is_ipv6 else "4")
    else:
        assert ip.version is None
    assert isinstance(data.draw(cst.dns()), DNS)


@settings(max_examples=20, deadline=None)
@given(cst.results("0.2.0", min_ips=2), cst.results("1.1.0", min_ips=3))
def test_results_min_ips(r020: cnilib.Result, r110: cnilib.Result) -> None:
    assert len(r020.all_addresses) == 2
    assert len(r110.all_addresses) >= 3


@settings(max_examples=1, deadline=None)
@given(st.data())
def test_results_min_ips_too_many_for_020(data: st.DataObject) -> None:
    with pytest.raises(ValueError, match="at most two"):
        data.draw(cst.results("0.1.0", min_ips=3))


def test_import_cnilib_does_not_import_hypothesis() -> None:
    import subprocess
    import sys

    code = "import sys, cnilib; assert 'hypothesis' not in sys.modules, 'hypothesis imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
