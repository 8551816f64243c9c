"""Conversion between result versions: every pair converts, up-then-down keeps the data, and going
down loses exactly what the spec says (computed here independently, on the JSON documents)."""

from __future__ import annotations

import copy
import itertools
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
    parse_result,
)
from cnilib.testing import strategies as cst

ALL = cnilib.SUPPORTED_VERSIONS
V020 = ("0.1.0", "0.2.0")
V040 = ("0.3.0", "0.3.1", "0.4.0")
V100 = ("1.0.0", "1.1.0")
SHAPE = {
    **dict.fromkeys(V020, Result020),
    **dict.fromkeys(V040, Result040),
    **dict.fromkeys(V100, Result100),
}

SETTINGS = settings(max_examples=30, deadline=None)


def _v6(address: str) -> bool:
    return ":" in address


# -- expected documents, computed from the spec's rules on JSON ---------------------------------


def expected_down_to_040(doc: dict[str, Any], version: str) -> dict[str, Any]:
    """1.x -> 0.3.x/0.4.0: drop interface mtu/socketPath/pciID, add ips[].version, keep the rest."""
    out = copy.deepcopy(doc)
    out["cniVersion"] = version
    for iface in out.get("interfaces", []):
        for key in ("mtu", "socketPath", "pciID"):
            iface.pop(key, None)
    if "ips" in out:
        out["ips"] = [{"version": "6" if _v6(ip["address"]) else "4", **ip} for ip in out["ips"]]
    return out


def expected_down_to_020(doc: dict[str, Any], version: str) -> dict[str, Any]:
    """0.3+ -> 0.1.0/0.2.0: first IPv4 and first IPv6; routes (dst, gw) under their family's IP."""
    out: dict[str, Any] = {"cniVersion": version}
    for fam_v6, key in ((False, "ip4"), (True, "ip6")):
        first = next((ip for ip in doc.get("ips", []) if _v6(ip["address"]) == fam_v6), None)
        if first is None:
            continue
        block: dict[str, Any] = {"ip": first["address"]}
        if "gateway" in first:
            block["gateway"] = first["gateway"]
        rts = [
            {k: v for k, v in r.items() if k in ("dst", "gw")}
            for r in doc.get("routes", [])
            if _v6(r["dst"]) == fam_v6
        ]
        if rts:
            block["routes"] = rts
        out[key] = block
    out["dns"] = doc["dns"]
    return out


def expected_up_from_020(doc: dict[str, Any], version: str) -> dict[str, Any]:
    """0.1.0/0.2.0 -> 0.3+: ip4 then ip6 become ips (no interface); their routes go top level."""
    out: dict[str, Any] = {"cniVersion": version}
    ips: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
    for key, ver in (("ip4", "4"), ("ip6", "6")):
        block = doc.get(key)
        if block is None:
            continue
        ip: dict[str, Any] = {"version": ver} if version in V040 else {}
        ip["address"] = block["ip"]
        if "gateway" in block:
            ip["gateway"] = block["gateway"]
        ips.append(ip)
        routes.extend(block.get("routes", []))
    if ips:
        out["ips"] = ips
    if routes:
        out["routes"] = routes
    out["dns"] = doc["dns"]
    return out


def same_json(a: dict[str, Any], b: dict[str, Any]) -> None:
    """Equal documents, and equal key order at every level (what a byte comparison would see)."""
    assert a == b
    assert _orders(a) == _orders(b)


def _orders(value: Any) -> Any:
    if isinstance(value, dict):
        return [(k, _orders(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_orders(v) for v in value]
    return None


# -- every pair ---------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data(), src=cst.versions(), dst=cst.versions())
def test_every_pair_converts(data: st.DataObject, src: str, dst: str) -> None:
    result = data.draw(cst.results(src, min_ips=1))
    out = result.convert_to(dst)
    assert type(out) is SHAPE[dst]
    assert out.cni_version == dst
    assert parse_result(out.to_json()) == out
    assert out.to_dict()["dns"] == result.to_dict()["dns"]


def _full_result(version: str) -> cnilib.Result:
    """A dual-stack result with every field the version can hold."""
    if version in V020:
        return Result020(
            cni_version=version,
            ip4=IPConfig020(
                ip="10.1.0.5/16", gateway="10.1.0.1", routes=[Route(dst="0.0.0.0/0", gw="10.1.0.1")]
            ),
            ip6=IPConfig020(ip="fd00:1::5/64", gateway="fd00:1::1", routes=[Route(dst="::/0")]),
            dns=DNS(
                nameservers=["10.1.0.53"],
                domain="cluster.local",
                search=["svc.cluster.local"],
                options=["ndots:5"],
            ),
        )
    is_11 = version == "1.1.0"
    ver4, ver6 = ("4", "6") if version in V040 else (None, None)
    fields: dict[str, Any] = {
        "cni_version": version,
        "interfaces": [
            Interface(name="cni0", mac="3a:fa:0f:65:9e:b1", mtu=1500 if is_11 else None),
            Interface(
                name="eth0",
                mac="0a:10:d8:7b:e6:5d",
                sandbox="/run/netns/c",
                socket_path="/run/s.sock" if is_11 else None,
                pci_id="0000:00:1f.6" if is_11 else None,
            ),
        ],
        "ips": [
            IPConfig(address="10.1.0.5/16", gateway="10.1.0.1", interface=1, version=ver4),
            IPConfig(address="10.1.0.6/16", interface=1, version=ver4),
            IPConfig(address="fd00:1::5/64", gateway="fd00:1::1", interface=1, version=ver6),
        ],
        "routes": [
            Route(dst="0.0.0.0/0", gw="10.1.0.1", mtu=1400 if is_11 else None),
            Route(dst="::/0", table=7 if is_11 else None),
            Route(dst="192.168.0.0/16"),
        ],
        "dns": DNS(nameservers=["10.1.0.53"]),
    }
    return (Result040 if version in V040 else Result100)(**fields)


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(ALL, ALL)))
def test_every_pair_of_the_seven_versions(src: str, dst: str) -> None:
    result = _full_result(src)
    assert parse_result(result.to_json()) == result
    out = result.convert_to(dst)
    assert type(out) is SHAPE[dst]
    assert out.cni_version == dst
    assert set(out.all_addresses) <= set(result.all_addresses)
    assert "10.1.0.5/16" in out.all_addresses
    assert "fd00:1::5/64" in out.all_addresses
    assert parse_result(out.to_json()) == out


# -- up then down keeps the data ----------------------------------------------------------------


@SETTINGS
@given(data=st.data(), low=st.sampled_from(V020), high=st.sampled_from(V040 + V100))
def test_020_up_and_back_down_is_lossless(data: st.DataObject, low: str, high: str) -> None:
    result = data.draw(cst.results(low, min_ips=1))
    assert result.convert_to(high).convert_to(low) == result


@SETTINGS
@given(data=st.data(), low=st.sampled_from(V040), high=st.sampled_from(V040 + V100))
def test_040_up_and_back_down_is_lossless(data: st.DataObject, low: str, high: str) -> None:
    result = data.draw(cst.results(low))
    assert result.convert_to(high).convert_to(low) == result


@SETTINGS
@given(data=st.data(), a=st.sampled_from(V100), b=st.sampled_from(V100))
def test_100_110_only_the_version_changes(data: st.DataObject, a: str, b: str) -> None:
    result = data.draw(cst.results(a))
    there = result.convert_to(b)
    assert there.convert_to(a) == result
    doc = result.to_dict()
    same_json(there.to_dict(), {**doc, "cniVersion": b})


@SETTINGS
@given(data=st.data(), a=st.sampled_from(V020), b=st.sampled_from(V020))
def test_010_020_only_the_version_changes(data: st.DataObject, a: str, b: str) -> None:
    result = data.draw(cst.results(a))
    same_json(result.convert_to(b).to_dict(), {**result.to_dict(), "cniVersion": b})


@SETTINGS
@given(data=st.data(), a=st.sampled_from(V040), b=st.sampled_from(V040))
def test_03x_04x_only_the_version_changes(data: st.DataObject, a: str, b: str) -> None:
    result = data.draw(cst.results(a))
    same_json(result.convert_to(b).to_dict(), {**result.to_dict(), "cniVersion": b})


def test_named_round_trips() -> None:
    r020 = _full_result("0.2.0")
    assert r020.convert_to("1.0.0").convert_to("0.2.0") == r020
    r040 = _full_result("0.4.0")
    assert r040.convert_to("1.1.0").convert_to("0.4.0") == r040
    r100 = _full_result("1.0.0")
    assert r100.convert_to("1.1.0").convert_to("1.0.0") == r100


# -- going down loses exactly what the spec says -------------------------------------------------


@SETTINGS
@given(data=st.data(), src=st.sampled_from(V100), dst=st.sampled_from(V040))
def test_1x_to_040_drops_only_11_interface_fields(data: st.DataObject, src: str, dst: str) -> None:
    result = data.draw(cst.results(src))
    out = result.convert_to(dst)
    same_json(out.to_dict(), expected_down_to_040(result.to_dict(), dst))


@SETTINGS
@given(data=st.data(), src=st.sampled_from(V040 + V100), dst=st.sampled_from(V020))
def test_down_to_020(data: st.DataObject, src: str, dst: str) -> None:
    result = data.draw(cst.results(src, min_ips=1))
    out = result.convert_to(dst)
    same_json(out.to_dict(), expected_down_to_020(result.to_dict(), dst))


@SETTINGS
@given(data=st.data(), src=st.sampled_from(V020), dst=st.sampled_from(V040 + V100))
def test_up_from_020(data: st.DataObject, src: str, dst: str) -> None:
    result = data.draw(cst.results(src))
    same_json(result.convert_to(dst).to_dict(), expected_up_from_020(result.to_dict(), dst))


@SETTINGS
@given(data=st.data(), src=st.sampled_from(V040), dst=st.sampled_from(V100))
def test_040_to_1x_drops_ips_version(data: st.DataObject, src: str, dst: str) -> None:
    result = data.draw(cst.results(src))
    doc = result.to_dict()
    doc["cniVersion"] = dst
    for ip in doc.get("ips", []):
        del ip["version"]
    same_json(result.convert_to(dst).to_dict(), doc)


@SETTINGS
@given(data=st.data(), src=st.sampled_from(V040 + V100), dst=st.sampled_from(V020))
def test_down_to_020_without_ips_fails(data: st.DataObject, src: str, dst: str) -> None:
    result = data.draw(cst.results(src)).__class__(
        cni_version=src, interfaces=[Interface(name="eth0")], routes=[Route(dst="0.0.0.0/0")]
    )
    with pytest.raises(ResultError, match="no valid IP addresses"):
        result.convert_to(dst)


def test_down_to_020_examples() -> None:
    out = _full_result("1.1.0").convert_to("0.2.0")
    assert out == Result020(
        cni_version="0.2.0",
        # the first IPv4 only (10.1.0.6 is dropped), and the first IPv6
        ip4=IPConfig020(
            ip="10.1.0.5/16",
            gateway="10.1.0.1",
            routes=[Route(dst="0.0.0.0/0", gw="10.1.0.1"), Route(dst="192.168.0.0/16")],
        ),
        ip6=IPConfig020(ip="fd00:1::5/64", gateway="fd00:1::1", routes=[Route(dst="::/0")]),
        dns=DNS(nameservers=["10.1.0.53"]),
    )
    # IPv6 routes are dropped when there is no IPv6 address, and vice versa.
    only4 = Result100(
        cni_version="1.0.0",
        ips=[IPConfig(address="10.0.0.2/8")],
        routes=[Route(dst="::/0"), Route(dst="10.0.0.0/8")],
    )
    assert only4.convert_to("0.1.0") == Result020(
        cni_version="0.1.0", ip4=IPConfig020(ip="10.0.0.2/8", routes=[Route(dst="10.0.0.0/8")])
    )
    only6 = Result040(
        cni_version="0.3.1",
        ips=[IPConfig(address="fd00::2/64", version="6")],
        routes=[Route(dst="0.0.0.0/0")],
    )
    assert only6.convert_to("0.2.0") == Result020(cni_version="0.2.0", ip6=IPConfig020(ip="fd00::2/64"))


def test_no_ips_message_and_path() -> None:
    with pytest.raises(ResultError) as info:
        Result100(cni_version="1.0.0").convert_to("0.2.0")
    assert "cannot convert: no valid IP addresses" in str(info.value)
    assert isinstance(info.value, cnilib.CNIError)


def test_empty_020_result_converts_up_and_sideways() -> None:
    empty = Result020(cni_version="0.2.0")
    assert empty.convert_to("0.1.0") == Result020(cni_version="0.1.0")
    assert empty.convert_to("1.0.0") == Result100(cni_version="1.0.0")
    assert empty.convert_to("0.4.0") == Result040(cni_version="0.4.0")


def test_1x_to_040_recomputes_a_wrong_version() -> None:
    # A 1.x result carries no version; anything parsed there is recomputed from the address.
    parsed = parse_result({"cniVersion": "1.0.0", "ips": [{"address": "fd00::1/64", "version": "4"}]})
    assert parsed.convert_to("0.4.0").to_dict()["ips"] == [{"version": "6", "address": "fd00::1/64"}]
