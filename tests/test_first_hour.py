"""The first hour (issue 24): every error a newcomer meets names the fix, and the Python API refuses
what the command line refuses, at construction.

Each test runs what the user runs (the ``cnilib`` command as a subprocess; the API in Python) with
fake plugins (recording scripts in ``tmp_path``); the tests that need a namespace under
``/run/netns`` make it (root) and delete it. The same with the real plugins, as uid 65534 (a
normal user): ``test_first_hour_real.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_support import LIVE_NETNS, netns_link
from test_cli import CLI, cnitool_id, one_line_error, result_100

import cnilib
from cnilib import netns
from cnilib._engine._plain import LeanRuntime

ROOT = pytest.mark.root


def _lists(cli: CLI, *names: str, version: str = "1.0.0") -> None:
    """A recording plugin ``pa`` and one ``.conflist`` per name (``10-NAME.conflist``)."""
    cli.plugin("pa", stdout={"ADD": result_100()})
    for name in names:
        cli.write_conf(
            f"10-{name}.conflist", {"cniVersion": version, "name": name, "plugins": [{"type": "pa"}]}
        )


def _single(cli: CLI, filename: str, name: str) -> Path:
    """A single-plugin ``.conf`` (the typed path: the fast path takes only ``.conflist`` files)."""
    cli.plugin("pa", stdout={"ADD": result_100()})
    return cli.write_conf(filename, {"cniVersion": "1.0.0", "name": name, "type": "pa"})


# -- a netns given as a name ------------------------------------------------------------------------

# ".conflist": the fast path (cnilib._cli._fast); ".conf": the typed one.
PATHS = pytest.mark.parametrize("kind", [".conflist", ".conf"])


def _net(cli: CLI, kind: str) -> None:
    if kind == ".conflist":
        _lists(cli, "net")
    else:
        _single(cli, "10-net.conf", "net")


@ROOT
@PATHS
@pytest.mark.parametrize("verb", ["add", "check", "del"])
def test_a_namespace_name_points_at_its_path(
    cli: CLI, tmp_path: Path, ctr_ns: Callable[[], netns.NetNS], verb: str, kind: str
) -> None:
    # `cnilib del net ctr1` meant /run/netns/ctr1; it ran DEL for the container id of ./ctr1
    # (another attachment: none), said nothing and exited 0, leaving ctr1 attached.
    _net(cli, kind)
    ctr = ctr_ns()
    name = os.path.basename(ctr.path)
    assert cli.run("add", "net", ctr.path).rc == 0
    cli.clear()
    line = one_line_error(cli.run(verb, "net", name, cwd=tmp_path))
    assert f"network namespace {tmp_path / name} does not exist (did you mean {ctr.path}?)" in line
    assert cli.records() == []
    assert cli.cache_files() == [f"net-{cnitool_id(ctr.path)}-eth0"]
    assert cli.run("del", "net", ctr.path).rc == 0


@ROOT
@PATHS
def test_del_by_the_name_of_a_namespace_that_is_gone_points_at_its_path(
    cli: CLI, tmp_path: Path, ctr_ns: Callable[[], netns.NetNS], kind: str
) -> None:
    # `ip netns del ctr1; cnilib del net ctr1`: nothing to find at either path, but the cache
    # holds the attachment of /run/netns/ctr1, which the DEL by name silently missed.
    _net(cli, kind)
    ctr = ctr_ns()
    name = os.path.basename(ctr.path)
    assert cli.run("add", "net", ctr.path).rc == 0
    ctr.delete()
    cli.clear()
    line = one_line_error(cli.run("del", "net", name, cwd=tmp_path))
    assert f"network namespace {tmp_path / name} does not exist (did you mean {ctr.path}? " in line
    assert cnitool_id(ctr.path) in line  # the attachment that DEL would have missed
    assert cli.records() == []
    run = cli.run("del", "net", ctr.path, cwd=tmp_path)
    assert run.rc == 0, run
    assert cli.cache_files() == []


@PATHS
def test_del_by_a_name_nothing_knows_still_runs(cli: CLI, tmp_path: Path, kind: str) -> None:
    # Not a regression guard only: DEL must still run for a netns that is gone and unknown.
    _net(cli, kind)
    run = cli.run("del", "net", "cnilib-no-such-ns", cwd=tmp_path)
    assert (run.rc, run.err) == (0, ""), run
    assert [v for _, v in cli.calls()] == ["DEL"]


@PATHS
@pytest.mark.parametrize("verb", ["add", "check"])
def test_a_name_that_is_no_namespace_says_a_path_is_expected(
    cli: CLI, tmp_path: Path, verb: str, kind: str
) -> None:
    _net(cli, kind)
    name = "cnilib-no-such-ns"
    assert not os.path.lexists(f"/run/netns/{name}")
    line = one_line_error(cli.run(verb, "net", name, cwd=tmp_path))
    assert f"network namespace {tmp_path / name} does not exist" in line
    assert (
        f"a network namespace path is expected, such as /run/netns/{name} made by `ip netns add {name}`"
        in line
    )


def test_runtime_config_refuses_a_relative_netns_at_construction() -> None:
    name = "cnilib-no-such-ns"
    with pytest.raises(cnilib.NetnsPathError) as info:
        cnilib.RuntimeConfig(container_id="c1", netns=name)
    assert str(info.value) == (
        f"netns path {name!r} is not absolute (a network namespace path is expected, such as "
        f"/run/netns/{name} made by `ip netns add {name}`)"
    )
    assert (info.value.path, info.value.state) == (name, "relative")


@ROOT
def test_runtime_config_points_a_namespace_name_at_its_path(ctr_ns: Callable[[], netns.NetNS]) -> None:
    ctr = ctr_ns()
    name = os.path.basename(ctr.path)
    for make in (cnilib.RuntimeConfig, LeanRuntime):
        with pytest.raises(cnilib.NetnsPathError, match=f"is not absolute \\(did you mean {ctr.path}\\?\\)"):
            make(container_id="c1", netns=name)


# -- the Python API refuses what every verb refuses, at construction --------------------------------

REFUSED = [
    ({"container_id": ""}, "missing container id"),
    ({"container_id": "a/b"}, "invalid container id 'a/b'"),
    ({"container_id": "-x"}, "invalid container id '-x'"),
    ({"ifname": ""}, "missing interface name"),
    ({"ifname": "x" * 16}, "interface name 'xxxxxxxxxxxxxxxx' is longer than 15 bytes"),
    ({"ifname": "a/b"}, "interface name 'a/b' contains invalid character '/'"),
    ({"netns": "ctr1"}, "netns path 'ctr1' is not absolute"),
    ({"netns": "./ctr1"}, "netns path './ctr1' is not absolute"),
    ({"netns": "/run/netns/a\nb"}, "netns path '/run/netns/a\\nb' contains the control character '\\n'"),
    ({"args": [("K", "a;b")]}, "CNI_ARGS value 'a;b' of 'K' must not contain ';' or '='"),
    ({"args": [("K", "a\x1bb")]}, "CNI_ARGS value of 'K' 'a\\x1bb' contains the control character"),
    ({"capability_args": {"mtu": float("nan")}}, "capability args['mtu'] is nan"),
]


@pytest.mark.parametrize("make", [cnilib.RuntimeConfig, LeanRuntime], ids=["typed", "fast path"])
@pytest.mark.parametrize(("fields", "words"), REFUSED, ids=[w for _, w in REFUSED])
def test_runtime_config_refuses_what_every_verb_refuses(
    make: Any, fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(cnilib.ValidationError) as info:
        make(**{"container_id": "ctr1", "netns": "/run/netns/x", **fields})
    assert words in str(info.value)


@pytest.mark.parametrize("make", [cnilib.RuntimeConfig, LeanRuntime], ids=["typed", "fast path"])
def test_runtime_config_keeps_an_empty_netns(make: Any) -> None:
    # DEL, GC and STATUS run without a namespace.
    assert make(container_id="ctr1", netns="").netns == ""


# -- a configuration file given as NETWORK --------------------------------------------------------


def test_add_check_del_gc_status_take_a_configuration_file(cli: CLI, ns_file: str, tmp_path: Path) -> None:
    # Before: "no network named 'net.d/20-side.conf' in ...", while `cnilib try` takes paths.
    side = tmp_path / "net.d" / "20-side.conflist"
    side.parent.mkdir()
    cli.plugin("pa", stdout={"ADD": result_100()})
    side.write_text(json.dumps({"cniVersion": "1.1.0", "name": "side", "plugins": [{"type": "pa"}]}))
    rel = os.path.relpath(side, tmp_path)
    run = cli.run("add", rel, ns_file, cwd=tmp_path)
    assert run.rc == 0, run
    assert json.loads(run.out)["ips"][0]["address"] == "10.1.0.2/24"
    assert cli.cache_files() == [f"side-{cnitool_id(ns_file)}-eth0"]  # the network's name, as always
    for args in (("check", rel, ns_file), ("status", rel), ("del", str(side), ns_file), ("gc", rel)):
        run = cli.run(*args, cwd=tmp_path)
        assert (run.rc, run.out, run.err) == (0, "", ""), (args, run)
    assert [v for _, v in cli.calls()] == ["ADD", "CHECK", "STATUS", "DEL", "GC"]
    assert cli.cache_files() == []


def test_a_file_name_without_a_slash_is_taken_when_no_network_has_that_name(
    cli: CLI, ns_file: str, tmp_path: Path
) -> None:
    _single(cli, "x.conf", "in-conf-dir")
    (tmp_path / "side.conf").write_text(json.dumps({"cniVersion": "1.0.0", "name": "side", "type": "pa"}))
    run = cli.run("add", "side.conf", ns_file, cwd=tmp_path)
    assert run.rc == 0, run
    assert cli.cache_files() == [f"side-{cnitool_id(ns_file)}-eth0"]


def test_a_network_name_wins_over_a_file_of_that_name(cli: CLI, ns_file: str, tmp_path: Path) -> None:
    _single(cli, "x.conf", "net.conf")  # a network called "net.conf" (a valid name)
    (tmp_path / "net.conf").write_text(json.dumps({"cniVersion": "1.0.0", "name": "other", "type": "pa"}))
    assert cli.run("add", "net.conf", ns_file, cwd=tmp_path).rc == 0
    assert cli.cache_files() == [f"net.conf-{cnitool_id(ns_file)}-eth0"]


def test_a_configuration_file_that_is_not_there(cli: CLI, ns_file: str, tmp_path: Path) -> None:
    _lists(cli, "net")
    line = one_line_error(cli.run("add", "net.d/nope.conf", ns_file, cwd=tmp_path))
    assert "configuration file net.d/nope.conf does not exist" in line
    assert "NETWORK is a network name in " + str(cli.conf) in line
    assert cli.records() == []


# -- an unknown network -----------------------------------------------------------------------------


def test_an_unknown_network_lists_the_networks_there(cli: CLI, ns_file: str) -> None:
    _lists(cli, "web", "mybridge")
    cli.write_conf("30-broken.conflist", "{")
    for args in (("add", "mybrige", ns_file), ("add", "--debug", "mybrige", ns_file), ("gc", "mybrige")):
        line = one_line_error(cli.run(*args))
        assert f"no network named 'mybrige' in {cli.conf}; did you mean 'mybridge'?" in line
        assert "networks there: mybridge, web" in line
        assert f"skipped 1 unreadable file(s): {cli.conf / '30-broken.conflist'}" in line
        assert "another directory: --conf-dir DIR or NETCONFPATH" in line


def test_an_empty_or_missing_configuration_directory_says_so(cli: CLI, ns_file: str, tmp_path: Path) -> None:
    _lists(cli)
    line = one_line_error(cli.run("add", "net", ns_file))
    assert (
        f"no network named 'net' in {cli.conf} (the directory holds no .conflist, .conf or .json file)"
        in line
    )
    line = one_line_error(cli.run("add", "net", ns_file, env={"NETCONFPATH": str(tmp_path / "absent")}))
    assert f"in {tmp_path / 'absent'} (the directory does not exist)" in line
    assert "--conf-dir DIR or NETCONFPATH" in line


def test_network_not_found_error_names_the_networks(tmp_path: Path) -> None:
    for name in ("b", "a"):
        (tmp_path / f"{name}.conflist").write_text(
            json.dumps({"cniVersion": "1.0.0", "name": f"net-{name}", "plugins": [{"type": "x"}]})
        )
    with pytest.raises(cnilib.NetworkNotFoundError) as info:
        cnilib.load_network(tmp_path, "other")
    assert info.value.available == ("net-a", "net-b")
    assert str(info.value) == f"no network named 'other' in {tmp_path} (networks there: net-a, net-b)"


# -- duplicate network names ------------------------------------------------------------------------


@pytest.mark.parametrize("second", ["30-dup.conflist", "30-dup.conf"])
def test_a_network_defined_twice_is_one_warning_line(cli: CLI, ns_file: str, second: str) -> None:
    # Before: the first file was taken silently.
    _lists(cli, "main")
    single = second.endswith(".conf")
    dup = {
        "cniVersion": "1.0.0",
        "name": "main",
        **({"type": "pa"} if single else {"plugins": [{"type": "pa"}]}),
    }
    cli.write_conf(second, dup)
    first = cli.conf / "10-main.conflist"
    expected = (
        f"cnilib: warning: network 'main' is defined by more than one file of {cli.conf}: {first} is "
        f"used, {cli.conf / second} is ignored (libcni takes the first; rename or remove the others)"
    )
    run = cli.run("add", "main", ns_file)
    assert run.rc == 0, run
    assert run.err_lines == [expected]
    assert json.loads(run.out)["ips"][0]["address"] == "10.1.0.2/24"
    assert cli.run("del", "main", ns_file).err_lines == [expected]
    assert cli.run("status", "main").err_lines == [expected]


def test_load_network_warns_about_a_network_defined_twice(tmp_path: Path) -> None:
    for filename in ("10-a.conflist", "20-a.conflist"):
        (tmp_path / filename).write_text(
            json.dumps({"cniVersion": "1.0.0", "name": "a", "plugins": [{"type": filename[:2]}]})
        )
    with pytest.warns(cnilib.DuplicateNetworkWarning) as record:
        net = cnilib.load_network(tmp_path, "a")
    assert net.plugins[0].type == "10"
    assert [str(w.message) for w in record] == [
        f"network 'a' is defined by more than one file of {tmp_path}: {tmp_path / '10-a.conflist'} is used, "
        f"{tmp_path / '20-a.conflist'} is ignored (libcni takes the first; rename or remove the others)"
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (tmp_path / "20-a.conflist").unlink()
        cnilib.load_network(tmp_path, "a")


# -- gc --------------------------------------------------------------------------------------------


def _attached(cli: CLI, tmp_path: Path, network: str, *names: str) -> list[str]:
    paths = [netns_link(tmp_path / "ns" / n) for n in names]
    for path in paths:
        assert cli.run("add", network, path).rc == 0
    cli.clear()
    return paths


def test_gc_says_what_it_removed_and_flags_a_keep_that_matches_nothing(cli: CLI, tmp_path: Path) -> None:
    # Before: exit 0, nothing on stdout or stderr, whether --keep matched or not.
    _lists(cli, "g", version="1.1.0")
    a, b = _attached(cli, tmp_path, "g", "a", "b")
    typo = cnitool_id(a)[:-1] + "x"
    run = cli.run("gc", "g", "--keep", f"{cnitool_id(b)}:eth0", "--keep", f"{typo}:eth0")
    assert (run.rc, run.out) == (0, "")
    assert run.err_lines == [
        f"cnilib: gc g: removed 1 cached attachment(s) not kept: {cnitool_id(a)}:eth0 (netns {a})",
        f"cnilib: gc g: warning: --keep {typo}:eth0 matches no attachment of network 'g' "
        f"(kept: {cnitool_id(b)}:eth0)",
    ]
    assert cli.cache_files() == [f"g-{cnitool_id(b)}-eth0"]
    run = cli.run("gc", "g", "--keep", f"{cnitool_id(b)}:eth0")
    assert (run.rc, run.out, run.err) == (0, "", "")  # nothing removed, every --keep matched: quiet


def test_gc_counts_an_unfinished_add_it_undid(cli: CLI, tmp_path: Path) -> None:
    _lists(cli, "g")
    cli.plugin("pb", exit_status={"ADD": 1}, stdout={"ADD": {"code": 7, "msg": "no"}})
    cli.write_conf(
        "20-h.conflist", {"cniVersion": "1.0.0", "name": "h", "plugins": [{"type": "pa"}, {"type": "pb"}]}
    )
    [a] = [netns_link(tmp_path / "ns" / "a")]
    assert cli.run("add", "h", a).rc == 1  # its intent record stays for gc
    run = cli.run("gc", "h")
    assert run.rc == 0, run
    assert run.err_lines == [
        f"cnilib: gc h: removed 1 cached attachment(s) not kept: {cnitool_id(a)}:eth0 "
        f"(netns {a}, unfinished ADD)"
    ]


def test_cni_gc_returns_what_it_deleted(tmp_path: Path) -> None:
    from engine_support import conflist as make_list

    from cnilib.testing.plugins import recording_plugin

    recording_plugin(tmp_path / "bin", "pa", log=tmp_path / "log", stdout={"ADD": result_100()})
    net = make_list("1.1.0", [{"type": "pa"}], name="g")
    cni = cnilib.CNI([str(tmp_path / "bin")], tmp_path / "cache")
    for cid in ("c1", "c2"):
        cni.add(net, cnilib.RuntimeConfig(container_id=cid, netns=LIVE_NETNS))
    removed = cni.gc(net, [cnilib.GCAttachment(container_id="c1", ifname="eth0")])
    assert [(e.container_id, e.ifname, e.netns, e.is_intent) for e in removed] == [
        ("c2", "eth0", LIVE_NETNS, False)
    ]

    async def main() -> list[cnilib.CacheEntry]:
        async with cnilib.AsyncCNI([str(tmp_path / "bin")], tmp_path / "cache") as acni:
            return await acni.gc(net)

    assert [e.container_id for e in asyncio.run(main())] == ["c1"]
    assert cni.gc(net) == []
