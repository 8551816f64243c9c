"""Loading configuration files and directories the way libcni does."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import pytest

import cnilib
from cnilib._model._config import (
    ConfigDirectoryError,
    NetworkNotFoundError,
    conf_files,
    load_conf_file,
    load_network,
    load_networks,
    load_plugin_drop_ins,
    scan_networks,
)


def conflist(name: str, *types: str, **extra: Any) -> dict[str, Any]:
    return {
        "cniVersion": "1.0.0",
        "name": name,
        "plugins": [{"type": t} for t in types],
        **extra,
    }


def conf(name: str, ptype: str = "bridge", **extra: Any) -> dict[str, Any]:
    return {"cniVersion": "0.4.0", "name": name, "type": ptype, **extra}


def put(directory: Path, filename: str, content: Any) -> Path:
    path = directory / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, (bytes, str)):
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    else:
        path.write_text(json.dumps(content))
    return path


def types_of(net: cnilib.NetworkConfigList) -> list[str]:
    return [p.type for p in net.plugins]


# -- conf_files -------------------------------------------------------------------------------


def test_conf_files_sorted_filtered_regular_only(tmp_path: Path) -> None:
    for name in ["b.conf", "a.conflist", "C.json", "d.txt", "e.conf.bak", ".conf", "x.CONF"]:
        put(tmp_path, name, "{}")
    (tmp_path / "dir.conf").mkdir()
    put(tmp_path / "sub", "nested.conf", "{}")
    os.symlink(tmp_path / "b.conf", tmp_path / "link.conf")
    os.symlink(tmp_path / "missing", tmp_path / "dangling.conf")
    names = [os.path.basename(p) for p in conf_files(tmp_path, [".conf", ".conflist", ".json"])]
    # Byte order (uppercase first); ".conf" has the extension ".conf" as in Go's filepath.Ext.
    assert names == [".conf", "C.json", "a.conflist", "b.conf", "link.conf"]
    assert conf_files(tmp_path, ["conflist"]) == [str(tmp_path / "a.conflist")]
    assert conf_files(str(tmp_path), [".conflist"]) == [str(tmp_path / "a.conflist")]


def test_conf_files_missing_directory(tmp_path: Path) -> None:
    assert conf_files(tmp_path / "nope", [".conf"]) == []
    with pytest.raises(cnilib.ConfigError, match="does not exist") as info:
        conf_files(tmp_path / "nope", [".conf"], strict=True)
    assert info.value.source == str(tmp_path / "nope")


def test_conf_files_not_a_directory(tmp_path: Path) -> None:
    path = put(tmp_path, "file", "x")
    with pytest.raises(cnilib.ConfigError, match="cannot read configuration directory"):
        conf_files(path, [".conf"])


# -- lookup order -----------------------------------------------------------------------------


def test_first_sorted_conflist_wins(tmp_path: Path) -> None:
    put(tmp_path, "20-a.conflist", conflist("net", "second"))
    put(tmp_path, "10-b.conflist", conflist("net", "first"))
    put(tmp_path, "05-other.conflist", conflist("other", "x"))
    with pytest.warns(cnilib.DuplicateNetworkWarning, match="20-a.conflist is ignored"):
        net = load_network(tmp_path, "net")
    assert types_of(net) == ["first"]
    assert net.source == str(tmp_path / "10-b.conflist")
    assert net.bytes == (tmp_path / "10-b.conflist").read_bytes()


def test_conflist_before_conf_and_json(tmp_path: Path) -> None:
    put(tmp_path, "00-net.conf", conf("net", "fromconf"))
    put(tmp_path, "00-net.json", conf("net", "fromjson"))
    put(tmp_path, "99-net.conflist", conflist("net", "fromlist"))
    with pytest.warns(cnilib.DuplicateNetworkWarning, match="00-net.conf, .*00-net.json are ignored"):
        assert types_of(load_network(tmp_path, "net")) == ["fromlist"]


def test_conf_and_json_in_sorted_order_wrapped(tmp_path: Path) -> None:
    put(tmp_path, "20-net.conf", conf("net", "late"))
    put(tmp_path, "10-net.json", conf("net", "early", mtu=1400))
    with pytest.warns(cnilib.DuplicateNetworkWarning, match="20-net.conf is ignored"):
        net = load_network(tmp_path, "net")
    assert types_of(net) == ["early"]
    assert net.cni_version == "0.4.0"
    assert net.plugins[0].raw["mtu"] == 1400
    # libcni's wrapping: re-marshalled with sorted keys.
    assert json.loads(net.bytes) == {
        "cniVersion": "0.4.0",
        "name": "net",
        "plugins": [conf("net", "early", mtu=1400)],
    }


def test_subdirectories_are_not_searched_for_lists(tmp_path: Path) -> None:
    put(tmp_path / "nested", "net.conflist", conflist("net", "bridge"))
    put(tmp_path / "net", "x.conflist", conflist("net", "bridge"))
    with pytest.raises(NetworkNotFoundError):
        load_network(tmp_path, "net")


def test_not_found(tmp_path: Path) -> None:
    put(tmp_path, "10-a.conflist", conflist("a", "bridge"))
    with pytest.raises(NetworkNotFoundError) as info:
        load_network(tmp_path, "b")
    err = info.value
    assert isinstance(err, cnilib.ConfigError)
    assert str(err) == f"no network named 'b' in {tmp_path} (networks there: a)"
    assert err.available == ("a",)
    assert err.name == "b"
    assert err.confdir == str(tmp_path)
    assert not err.directory_missing


def test_not_found_in_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(NetworkNotFoundError, match="does not exist") as info:
        load_network(tmp_path / "nope", "net")
    assert info.value.directory_missing


# -- cniVersions and list fields --------------------------------------------------------------


def test_cni_versions_picks_the_highest_supported(tmp_path: Path) -> None:
    put(
        tmp_path,
        "net.conflist",
        conflist("net", "bridge", cniVersion="0.4.0", cniVersions=["0.3.1", "1.0.0", "9.9.9"]),
    )
    net = load_network(tmp_path, "net")
    assert net.cni_version == "1.0.0"
    assert net.cni_versions == ("0.3.1", "1.0.0", "9.9.9")


def test_invalid_cni_versions_entry(tmp_path: Path) -> None:
    path = put(tmp_path, "net.conflist", conflist("net", "bridge", cniVersions=["1.0.0", "1.0"]))
    with pytest.raises(cnilib.ConfigError) as info:
        load_network(tmp_path, "net")
    assert info.value.path == "$.cniVersions[1]"
    assert info.value.source == str(path)


# -- drop-in plugins (spec 1.1) ---------------------------------------------------------------


def test_drop_ins_appended_in_sorted_order(tmp_path: Path) -> None:
    put(tmp_path, "net.conflist", conflist("net", "inline"))
    put(tmp_path / "net", "20-b.conf", {"type": "second", "custom": {"k": 1}})
    put(tmp_path / "net", "10-a.conf", {"type": "first"})
    put(tmp_path / "net", "30-c.json", {"type": "ignored"})
    put(tmp_path / "net" / "deeper", "x.conf", {"type": "ignored"})
    put(tmp_path / "other", "x.conf", {"type": "ignored"})
    net = load_network(tmp_path, "net")
    assert types_of(net) == ["inline", "first", "second"]
    assert net.plugins[2].raw["custom"] == {"k": 1}
    assert net.plugins[2].raw == {"type": "second", "custom": {"k": 1}}
    # The cache stores the list file itself, as libcni does.
    assert net.bytes == (tmp_path / "net.conflist").read_bytes()
    assert types_of(load_network(tmp_path, "net", drop_ins=False)) == ["inline"]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (True, ["inline"]),
        ("true", ["inline"]),
        ("TRUE", ["inline"]),
        (False, ["inline", "dropin"]),
        ("false", ["inline", "dropin"]),
        (None, ["inline", "dropin"]),
    ],
)
def test_load_only_inlined_plugins(tmp_path: Path, flag: Any, expected: list[str]) -> None:
    extra = {} if flag is None else {"loadOnlyInlinedPlugins": flag}
    put(tmp_path, "net.conflist", conflist("net", "inline", **extra))
    put(tmp_path / "net", "a.conf", {"type": "dropin"})
    net = load_network(tmp_path, "net")
    assert types_of(net) == expected
    assert net.load_only_inlined_plugins is (flag in (True, "true", "TRUE"))


def test_load_only_inlined_plugins_bad_value(tmp_path: Path) -> None:
    put(tmp_path, "net.conflist", conflist("net", "inline", loadOnlyInlinedPlugins="yes"))
    with pytest.raises(cnilib.ConfigError) as info:
        load_network(tmp_path, "net")
    assert info.value.path == "$.loadOnlyInlinedPlugins"


def test_plugins_only_from_drop_ins(tmp_path: Path) -> None:
    put(tmp_path, "net.conflist", {"cniVersion": "1.1.0", "name": "net"})
    put(tmp_path / "net", "a.conf", {"type": "bridge"})
    assert types_of(load_network(tmp_path, "net")) == ["bridge"]


def test_no_plugins_is_an_error(tmp_path: Path) -> None:
    path = put(tmp_path, "net.conflist", conflist("net"))
    with pytest.raises(cnilib.ConfigError, match="has no plugins") as info:
        load_network(tmp_path, "net")
    assert info.value.source == str(path)
    assert info.value.path == "$.plugins"
    # Drop-ins do not count when the list says to load only inlined plugins.
    put(tmp_path, "net.conflist", conflist("net", loadOnlyInlinedPlugins=True))
    put(tmp_path / "net", "a.conf", {"type": "bridge"})
    with pytest.raises(cnilib.ConfigError, match="has no plugins"):
        load_network(tmp_path, "net")


def test_bad_drop_in_names_its_file(tmp_path: Path) -> None:
    put(tmp_path, "net.conflist", conflist("net", "inline"))
    bad = put(tmp_path / "net", "a.conf", {"type": 5})
    with pytest.raises(cnilib.ConfigError) as info:
        load_network(tmp_path, "net")
    assert info.value.source == str(bad)
    assert info.value.path == "$.type"
    assert str(bad) in str(info.value)


def test_drop_ins_of_a_name_that_escapes_the_directory(tmp_path: Path) -> None:
    confdir = tmp_path / "net.d"
    put(confdir, "x.conflist", conflist("..", "inline"))
    put(tmp_path, "evil.conf", {"type": "evil"})
    assert load_plugin_drop_ins(confdir, "..") == ()
    with pytest.raises(cnilib.ConfigError, match="invalid network name"):
        load_network(confdir, "..")


def test_conf_files_get_no_drop_ins(tmp_path: Path) -> None:
    put(tmp_path, "net.conf", conf("net"))
    put(tmp_path / "net", "a.conf", {"type": "dropin"})
    assert types_of(load_network(tmp_path, "net")) == ["bridge"]


# -- invalid files ----------------------------------------------------------------------------


def test_bad_json_in_matching_file_names_file_and_path(tmp_path: Path) -> None:
    path = put(
        tmp_path,
        "net.conflist",
        {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "a"}, {"type": 5}]},
    )
    with pytest.raises(cnilib.ConfigError) as info:
        load_network(tmp_path, "net")
    err = info.value
    assert not isinstance(err, NetworkNotFoundError)
    assert err.source == str(path)
    assert err.path == "$.plugins[1].type"
    assert str(err).startswith(f"{path}: ")
    assert "@ $.plugins[1].type" in str(err)


def test_invalid_matching_file_is_not_skipped_for_a_later_one(tmp_path: Path) -> None:
    put(tmp_path, "10.conflist", {"name": "net", "plugins": "nope"})
    put(tmp_path, "20.conflist", conflist("net", "bridge"))
    with pytest.raises(cnilib.ConfigError) as info:
        load_network(tmp_path, "net")
    assert info.value.path == "$.plugins"


def test_unparseable_file_is_skipped_when_a_later_file_matches(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = put(tmp_path, "00-broken.conflist", '{"name": "net", ')
    put(tmp_path, "10-other.conflist", {"name": "other", "plugins": 3})  # invalid, named
    put(tmp_path, "20-net.conflist", conflist("net", "bridge"))
    with caplog.at_level(logging.WARNING, logger="cnilib.config"):
        assert types_of(load_network(tmp_path, "net")) == ["bridge"]
    assert str(broken) in caplog.text
    # libcni's behaviour: the first file that does not parse stops the lookup.
    with pytest.raises(cnilib.ConfigError, match="not valid JSON") as info:
        load_network(tmp_path, "net", strict=True)
    assert info.value.source == str(broken)


def test_strict_mode_also_rejects_invalid_files_with_other_names(tmp_path: Path) -> None:
    put(tmp_path, "10-other.conflist", {"name": "other", "plugins": 3})
    put(tmp_path, "20-net.conflist", conflist("net", "bridge"))
    assert types_of(load_network(tmp_path, "net")) == ["bridge"]
    with pytest.raises(cnilib.ConfigError) as info:
        load_network(tmp_path, "net", strict=True)
    assert info.value.source == str(tmp_path / "10-other.conflist")
    # Files after the match are never read.
    put(tmp_path, "10-other.conflist", conflist("other", "x"))
    put(tmp_path, "30-broken.conflist", "{")
    assert types_of(load_network(tmp_path, "net", strict=True)) == ["bridge"]


def test_not_found_lists_the_skipped_files(tmp_path: Path) -> None:
    broken = put(tmp_path, "00-broken.conflist", b"\xff not json")
    nameless = put(tmp_path, "01-nameless.conf", {"type": "bridge", "name": 7})
    with pytest.raises(NetworkNotFoundError) as info:
        load_network(tmp_path, "net")
    err = info.value
    assert [e.source for e in err.skipped] == [str(broken), str(nameless)]
    assert err.skipped[1].path == "$.name"
    assert "skipped 2 unreadable file(s)" in str(err)


def test_not_an_object(tmp_path: Path) -> None:
    put(tmp_path, "a.conflist", "[1, 2]")
    with pytest.raises(NetworkNotFoundError) as info:
        load_network(tmp_path, "net")
    assert "must be a JSON object" in str(info.value.skipped[0])


# -- whole directories ------------------------------------------------------------------------


def test_load_networks_in_libcni_order_one_per_name(tmp_path: Path) -> None:
    put(tmp_path, "30-c.conflist", conflist("c", "x"))
    put(tmp_path, "10-a.conf", conf("a"))
    put(tmp_path, "20-b.conflist", conflist("b", "x"))
    put(tmp_path, "40-b.conflist", conflist("b", "shadowed"))
    put(tmp_path, "05-c.json", conf("c", "shadowed"))
    put(tmp_path / "b", "x.conf", {"type": "dropin"})
    nets = load_networks(tmp_path)
    assert [n.name for n in nets] == ["b", "c", "a"]
    assert types_of(nets[0]) == ["x", "dropin"]
    scan = scan_networks(tmp_path)
    assert scan.problems == ()
    assert scan.shadowed == (str(tmp_path / "40-b.conflist"), str(tmp_path / "05-c.json"))


def test_load_networks_reports_every_invalid_file(tmp_path: Path) -> None:
    put(tmp_path, "10-a.conflist", conflist("a", "x"))
    put(tmp_path, "20-bad.conflist", "{")
    put(tmp_path, "30-b.conflist", conflist("b"))
    put(tmp_path, "40-b.conflist", conflist("b", "shadowed-by-broken"))
    with pytest.raises(ConfigDirectoryError) as info:
        load_networks(tmp_path)
    err = info.value
    assert isinstance(err, cnilib.ConfigError)
    assert [e.source for e in err.errors] == [
        str(tmp_path / "20-bad.conflist"),
        str(tmp_path / "30-b.conflist"),
    ]
    assert "2 invalid configuration file(s)" in str(err)
    assert [n.name for n in load_networks(tmp_path, skip_invalid=True)] == ["a"]
    scan = scan_networks(tmp_path)
    assert scan.shadowed == (str(tmp_path / "40-b.conflist"),)


def test_load_networks_of_a_missing_directory(tmp_path: Path) -> None:
    assert load_networks(tmp_path / "nope") == []


def test_consistency_between_scan_and_lookup(tmp_path: Path) -> None:
    put(tmp_path, "10-x.conflist", conflist("x", "one"))
    put(tmp_path, "20-x.conf", conf("x", "two"))
    put(tmp_path, "30-y.json", conf("y", "three"))
    for net in load_networks(tmp_path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", cnilib.DuplicateNetworkWarning)  # (x is defined twice)
            assert load_network(tmp_path, net.name) == net


# -- single files -----------------------------------------------------------------------------


def test_load_conf_file(tmp_path: Path) -> None:
    lst = put(tmp_path, "net.conflist", conflist("net", "inline"))
    put(tmp_path / "net", "a.conf", {"type": "dropin"})
    single = put(tmp_path, "single.conf", conf("single"))
    assert types_of(load_conf_file(lst)) == ["inline", "dropin"]
    assert types_of(load_conf_file(lst, drop_ins=False)) == ["inline"]
    wrapped = load_conf_file(single)
    assert wrapped.name == "single"
    assert types_of(wrapped) == ["bridge"]
    assert wrapped == cnilib.NetworkConfigList.from_file(single)


def test_load_conf_file_errors(tmp_path: Path) -> None:
    with pytest.raises(cnilib.ConfigError, match="cannot read"):
        load_conf_file(tmp_path / "missing.conflist")
    with pytest.raises(cnilib.ConfigError, match="cannot read"):
        load_conf_file(tmp_path / "missing.conf")
    bad = put(tmp_path, "bad.conflist", "{")
    with pytest.raises(cnilib.ConfigError, match="not valid JSON") as info:
        load_conf_file(bad)
    assert info.value.source == str(bad)
