"""The golden corpus: real outputs of the Debian CNI plugins (tests/data/corpus, INDEX.json).

Every result parses, writes back the same JSON (same objects, same key order), converts to every
version (to 0.1.0/0.2.0 only when it has an IP), and cnilib's down-conversion of a plugin's output
matches what the same plugin printed when asked for the lower version (up to per-run values).
"""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest

import cnilib
from cnilib import (
    ErrorInfo,
    NetworkConfigList,
    PluginConfig,
    Result020,
    ResultError,
    VersionInfo,
    parse_result,
)
from cnilib._model._codec import CONVERTER
from cnilib._spec._version import family, parse_version

CORPUS = Path(__file__).parent / "data" / "corpus"
ALL = cnilib.SUPPORTED_VERSIONS

# Plugins whose output is not what their cniVersion says. loopback (containernetworking/plugins)
# builds a current-shaped result, stamps it with the config's version and prints it unconverted:
# at 0.1.0/0.2.0 it prints interfaces/ips instead of ip4/ip6, at 0.3.x/0.4.0 its ips lack "version".
KNOWN_QUIRKS = {"loopback": "prints a current-shaped result under the config's version, unconverted"}


def _load_index() -> dict[str, dict[str, Any]]:
    path = CORPUS / "INDEX.json"
    if not path.is_file():
        return {}
    index: dict[str, dict[str, Any]] = json.loads(path.read_text())
    return index


INDEX = _load_index()
RESULTS = sorted(n for n, m in INDEX.items() if m.get("command") == "ADD" and "exitCode" not in m)
ERRORS = sorted(n for n, m in INDEX.items() if "exitCode" in m)
VERSIONS = sorted(n for n, m in INDEX.items() if m.get("command") == "VERSION")
CONFIGS = sorted(n for n, m in INDEX.items() if isinstance(m.get("config"), dict))


def _read(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _orders(value: Any) -> Any:
    """The key order at every level of a JSON value."""
    if isinstance(value, dict):
        return [(k, _orders(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_orders(v) for v in value]
    return None


def _quirk(doc: dict[str, Any]) -> str | None:
    shape = family(doc.get("cniVersion", ""))
    if shape == "0.2.0" and ("ips" in doc or "interfaces" in doc):
        return "current-shape-labelled-020"
    if shape == "0.4.0" and any("version" not in ip for ip in doc.get("ips", [])):
        return "ips-without-version"
    return None


# -- the corpus is there and consistent ---------------------------------------------------------


def test_corpus_is_present() -> None:
    # Fail, do not skip: without the corpus every parametrized test below silently disappears.
    assert CORPUS.is_dir(), f"{CORPUS} is missing (written by tests/data/capture_corpus.py)"
    assert INDEX, f"{CORPUS / 'INDEX.json'} is missing or empty"
    assert len(RESULTS) >= 10
    assert ERRORS
    assert VERSIONS
    assert {family(INDEX[n]["cniVersion"]) for n in RESULTS} == {"0.2.0", "0.4.0", "1.0.0"}


def test_index_lists_exactly_the_files() -> None:
    on_disk = {p.name for p in CORPUS.glob("*.json")} - {"INDEX.json"}
    assert on_disk == set(INDEX)
    for name, meta in INDEX.items():
        assert "plugin" in meta, name
        assert "command" in meta, name


# -- results ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RESULTS)
def test_result_round_trips(name: str) -> None:
    raw = _read(name)
    doc = json.loads(raw)
    result = parse_result(raw)
    assert result.cni_version == INDEX[name]["cniVersion"] == doc["cniVersion"]
    written = json.loads(result.to_json())
    quirk = _quirk(doc)
    if quirk is None:
        assert written == doc
        assert _orders(written) == _orders(doc)
        assert parse_result(result.to_json()) == result
        return
    plugin = INDEX[name]["plugin"]
    assert plugin in KNOWN_QUIRKS, f"{name}: unexpected {quirk} from {plugin}"
    if quirk == "current-shape-labelled-020":
        # As libcni's 0.2.0 decoder does: unknown keys are ignored, nothing is left.
        assert result == Result020(cni_version=doc["cniVersion"])
    else:
        fixed = {
            **doc,
            "ips": [{"version": "6" if ":" in ip["address"] else "4", **ip} for ip in doc["ips"]],
        }
        assert written == fixed
        assert _orders(written) == _orders(fixed)


@pytest.mark.parametrize(
    ("name", "target"),
    [(n, t) for n in RESULTS for t in ALL],
)
def test_result_converts_to_every_version(name: str, target: str) -> None:
    result = parse_result(_read(name))
    lossy = family(target) == "0.2.0" and not isinstance(result, Result020)
    if lossy and not result.all_addresses:
        with pytest.raises(ResultError, match="no valid IP addresses"):
            result.convert_to(target)
        return
    out = result.convert_to(target)
    assert out.cni_version == target
    assert parse_result(out.to_json()) == out
    assert set(out.all_addresses) <= set(result.all_addresses)
    if lossy:
        v4 = [a for a in result.all_addresses if ":" not in a][:1]
        v6 = [a for a in result.all_addresses if ":" in a][:1]
        assert out.all_addresses == (*v4, *v6)
    else:
        assert out.all_addresses == result.all_addresses


@pytest.mark.parametrize(
    "name",
    RESULTS,
)
def test_result_survives_a_trip_through_the_newest_version(name: str) -> None:
    result = parse_result(_read(name))
    if isinstance(result, Result020) and not result.all_addresses:
        # the loopback quirk: nothing survived parsing, and an empty result cannot come back down
        with pytest.raises(ResultError, match="no valid IP addresses"):
            result.convert_to("1.1.0").convert_to(result.cni_version)
        return
    assert result.convert_to("1.1.0").convert_to(result.cni_version) == result


def test_corpus_exercises_the_lossy_paths() -> None:
    kinds = collections.Counter()
    for name in RESULTS:
        result = parse_result(_read(name))
        if isinstance(result, Result020):
            continue
        kinds["with ips" if result.all_addresses else "without ips"] += 1
        kinds["dual stack"] += any(":" in a for a in result.all_addresses) and any(
            ":" not in a for a in result.all_addresses
        )
    assert kinds["with ips"]
    assert kinds["dual stack"]


# -- cnilib's conversion against the plugins' own -----------------------------------------------

_PER_RUN = {"mac", "sandbox", "name"}  # random per run: MACs, netns paths, veth names


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (None if k in _PER_RUN else _mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _same_run_pairs() -> list[tuple[str, str]]:
    groups: dict[tuple[str, str], dict[str, str]] = collections.defaultdict(dict)
    for name in RESULTS:
        meta = INDEX[name]
        if meta["plugin"] not in KNOWN_QUIRKS:
            groups[(meta["plugin"], meta.get("variant", ""))][meta["cniVersion"]] = name
    pairs = []
    for files in groups.values():
        for src, src_name in files.items():
            for dst, dst_name in files.items():
                # Going down (or sideways within a shape) loses nothing the plugin did not drop too.
                if parse_version(dst) <= parse_version(src) or family(dst) == family(src):
                    pairs.append((src_name, dst_name))
    return sorted(pairs)


@pytest.mark.parametrize(("src", "dst"), _same_run_pairs())
def test_conversion_matches_the_plugins_own_output(src: str, dst: str) -> None:
    converted = parse_result(_read(src)).convert_to(INDEX[dst]["cniVersion"]).to_dict()
    printed = json.loads(_read(dst))
    assert _mask(converted) == _mask(printed)
    assert _orders(converted) == _orders(printed)


# -- error objects and VERSION answers -------------------------------------------------------------


@pytest.mark.parametrize("name", ERRORS)
def test_error_objects(name: str) -> None:
    doc = json.loads(_read(name))
    info = CONVERTER.structure_checked(doc, ErrorInfo)
    assert info.code == doc["code"]
    assert info.msg == doc["msg"]
    assert info.details == doc.get("details", "")
    written = info.to_dict()
    assert written.pop("cniVersion") == ""  # Go plugins print no cniVersion in their errors
    assert written == doc
    assert _orders(written) == _orders(doc)
    assert INDEX[name]["exitCode"] != 0


@pytest.mark.parametrize("name", VERSIONS)
def test_version_answers(name: str) -> None:
    raw = _read(name)
    doc = json.loads(raw)
    info = CONVERTER.structure_checked(doc, VersionInfo)
    assert info.to_dict() == doc
    assert _orders(info.to_dict()) == _orders(doc)
    assert info.cni_version in ALL
    assert all(v in ALL for v in info.supported_versions)
    for v in info.supported_versions:
        assert info.supports(v)
    assert json.dumps(info.to_dict(), separators=(",", ":")).encode() == raw.strip()


# -- the configurations the corpus was captured with -------------------------------------------


@pytest.mark.parametrize("name", CONFIGS)
def test_capture_configs_load(name: str) -> None:
    conf = INDEX[name]["config"]
    plugin = PluginConfig.from_dict(conf)
    assert plugin.to_dict() == conf
    assert plugin.type == INDEX[name]["plugin"]
    ncl = NetworkConfigList.from_dict(conf)
    assert ncl.cni_version == INDEX[name]["cniVersion"]
    assert ncl.plugins == (plugin,)
    assert NetworkConfigList.from_bytes(ncl.bytes) == ncl


@pytest.mark.parametrize("name", ERRORS)
def test_error_case_inputs_load_or_fail_cleanly(name: str) -> None:
    stdin = INDEX[name].get("stdin")
    if not isinstance(stdin, str):
        pytest.skip("no stdin recorded")
    if INDEX[name].get("variant") == "badjson":
        with pytest.raises(cnilib.ConfigError) as info:
            NetworkConfigList.from_bytes(stdin)
        assert info.value.path == "$"
        return
    ncl = NetworkConfigList.from_bytes(stdin)
    assert ncl.plugins[0].type == INDEX[name]["plugin"]
