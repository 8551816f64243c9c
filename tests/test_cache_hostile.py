"""The cache facing hostile files: FIFOs, sockets, directories and symlinks where entries, intents or
lock files should be; colliding file names; corrupt entries; leftover temporary files.

Every case ends in a typed :class:`~cnilib.CacheError` (or works), never a hang or a bare OSError.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_support import LIVE_NETNS, conflist, result_for
from hypothesis import given, settings
from hypothesis import strategies as st

import cnilib
from cnilib import CacheEntry, CacheError, ResultCache, RuntimeConfig
from cnilib._cache import CACHE_KIND, INTENT_KIND
from cnilib.testing.plugins import recording_plugin
from cnilib.testing.strategies import json_values

KEY = ("mynet", "abc123", "eth0")


def entry(key: tuple[str, str, str] = KEY) -> CacheEntry:
    return CacheEntry(
        network_name=key[0],
        container_id=key[1],
        ifname=key[2],
        config=b"{}",
        result=result_for("1.0.0", "10.0.0.2/24"),
    )


@pytest.fixture
def cache(tmp_path: Path) -> ResultCache:
    c = ResultCache(tmp_path / "cni")
    for d in (c.results_dir, c.intents_dir, c.locks_dir):
        os.makedirs(d)
    return c


def _fifo(path: str) -> None:
    os.mkfifo(path)


def _dir(path: str) -> None:
    os.mkdir(path)


def _socket(path: str) -> None:
    # Bound under a short name (AF_UNIX paths are short), then moved into place.
    short = tempfile.mktemp(prefix="cnilib-", dir="/tmp")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(short)
    shutil.move(short, path)


def _device(path: str) -> None:
    os.symlink("/dev/null", path)  # a symlink to a device: refused for not being followed


MAKERS: dict[str, Callable[[str], None]] = {"fifo": _fifo, "dir": _dir, "socket": _socket, "device": _device}


@pytest.mark.parametrize("what", sorted(MAKERS))
def test_a_non_regular_file_at_the_entry_path_is_a_cache_error(cache: ResultCache, what: str) -> None:
    MAKERS[what](cache.path_for(*KEY))
    with pytest.raises(CacheError, match=r"not a regular file|symbolic link"):
        cache.read(*KEY)
    scan = cache.scan()
    assert [Path(p.path).name for p in scan.problems] == ["mynet-abc123-eth0"]


@pytest.mark.parametrize("what", sorted(MAKERS))
def test_a_non_regular_file_at_the_intent_path_is_ignored_by_reads_and_reported_by_scans(
    cache: ResultCache, what: str
) -> None:
    MAKERS[what](cache.intent_path_for(*KEY))
    assert cache.read_intent(*KEY) is None
    assert len(cache.scan_intents().problems) == 1


@pytest.mark.parametrize("what", ["fifo", "dir", "socket"])
def test_a_non_regular_file_at_the_lock_path_is_a_cache_error(cache: ResultCache, what: str) -> None:
    MAKERS[what](cache.lock_path_for("mynet"))
    with pytest.raises(CacheError), cache.lock(*KEY, timeout=1):
        pass


def test_a_lock_is_never_created_or_opened_through_a_symlink(cache: ResultCache, tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    os.symlink(target, cache.lock_path_for("mynet"))  # dangling: O_CREAT would create the target
    with pytest.raises(CacheError, match="symbolic link"), cache.lock("mynet", exclusive=True, timeout=1):
        pass
    assert not target.exists()
    target.write_text("x")
    with pytest.raises(CacheError, match="symbolic link"), cache.lock(*KEY, timeout=1):
        pass
    assert target.read_text() == "x"


def test_colliding_file_names_never_replace_each_other(cache: ResultCache) -> None:
    # libcni's <network>-<id>-<ifname>: ("a", "b-c", "eth0") and ("a-b", "c", "eth0") share a name.
    first, second = ("a", "b-c", "eth0"), ("a-b", "c", "eth0")
    assert cache.path_for(*first) == cache.path_for(*second)
    cache.write(entry(first))
    with pytest.raises(CacheError, match="holds the entry of network 'a'"):
        cache.write(entry(second))
    assert cache.read(*first) == entry(first)
    assert cache.delete(*second) is False  # not its entry
    assert cache.read(*first) is not None
    # Intent records are named by a hash of all three names: they cannot collide.
    assert cache.intent_path_for(*first) != cache.intent_path_for(*second)


def test_add_refuses_an_attachment_whose_file_name_another_attachment_holds(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    recording_plugin(bindir, "p1", log=tmp_path / "log", stdout={"ADD": "{}"})
    cni = cnilib.CNI([str(bindir)], tmp_path / "cache")
    cni.add(conflist("1.0.0", [{"type": "p1"}], name="a"), RuntimeConfig("b-c", LIVE_NETNS, "eth0"))
    (tmp_path / "log").unlink()
    with pytest.raises(CacheError, match="nothing was applied"):
        cni.add(conflist("1.0.0", [{"type": "p1"}], name="a-b"), RuntimeConfig("c", LIVE_NETNS, "eth0"))
    assert not (tmp_path / "log").exists()  # no plugin ran


CORRUPT = {
    "deep": b'{"kind":"cniCacheV1","result":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "bad-utf8": b'{"kind":"cniCacheV1","containerId":"\xff\xfe"}',
    "nan": b'{"kind":"cniCacheV1","containerId":"abc123","ifName":"eth0","networkName":"mynet",'
    b'"result":{"cniVersion":"1.0.0","ips":[],"mtu":NaN}}',
    "utf16-bom": '{"kind":"cniCacheV1"}'.encode("utf-16"),
    "truncated": b'{"kind":"cniCacheV1","contai',
    "deep-result": b'{"kind":"cniCacheV1","containerId":"abc123","ifName":"eth0","networkName":"mynet",'
    b'"result":{"cniVersion":"1.0.0","x":' + b"[" * 5000 + b"]" * 5000 + b"}}",
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
def test_a_corrupt_entry_never_blocks_del_gc_or_cache_list(tmp_path: Path, name: str) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    recording_plugin(bindir, "p1", log=tmp_path / "log", stdout={"ADD": "{}"})
    cni = cnilib.CNI([str(bindir)], tmp_path / "cache")
    net = conflist("1.0.0", [{"type": "p1"}], name="mynet")
    path = Path(cni.cache.path_for(*KEY))
    path.parent.mkdir(parents=True)
    path.write_bytes(CORRUPT[name])
    scan = cni.cache.scan()  # what `cnilib cache list` shows
    assert len(scan.problems) + len(scan.entries) == 1
    cni.gc(net)  # GC skips what it cannot read
    cni.delete(net, RuntimeConfig(*KEY[1:2], "/x", KEY[2]))
    assert not path.exists()


def test_cache_list_shows_a_corrupt_entry_as_a_problem(tmp_path: Path) -> None:
    from cnilib._cli import main

    cache = ResultCache(tmp_path / "cache")
    os.makedirs(cache.results_dir)
    for i, data in enumerate(CORRUPT.values()):
        Path(cache.results_dir, f"mynet-c{i}-eth0").write_bytes(data)
    assert main(["--cache-dir", str(cache.cache_dir), "cache", "list"]) == 0


def test_leftover_temporary_files_are_swept_by_scans(cache: ResultCache) -> None:
    old = Path(cache.results_dir, ".tmp-0123456789abcdef")
    old.write_bytes(b"half")
    past = time.time() - 7200
    os.utime(old, (past, past))
    fresh = Path(cache.results_dir, ".tmp-fedcba9876543210")
    fresh.write_bytes(b"in flight")
    old_intent = Path(cache.intents_dir, ".tmp-00")
    old_intent.write_bytes(b"")
    os.utime(old_intent, (past, past))
    cache.scan()
    cache.scan_intents()
    assert not old.exists()
    assert not old_intent.exists()
    assert fresh.exists()  # a writer may be using it


def test_intent_records_round_trip_and_live_outside_results(cache: ResultCache) -> None:
    rt = RuntimeConfig("abc123", "/run/netns/x", "eth0", args=(("A", "1"),), capability_args={"b": [1]})
    net = conflist("1.0.0", [{"type": "p1"}], name="mynet")
    path = cache.write_intent(CacheEntry.create(net, rt, None))
    assert Path(path).parent == Path(cache.intents_dir)
    got = cache.read_intent(*KEY)
    assert got is not None
    assert (got.kind, got.netns, got.cni_args, dict(got.capability_args), got.config) == (
        INTENT_KIND, "/run/netns/x", (("A", "1"),), {"b": [1]}, net.bytes,
    )  # fmt: skip
    assert json.loads(Path(path).read_bytes())["kind"] == INTENT_KIND
    assert cache.scan().entries == ()  # libcni's directory holds no intent
    assert cache.drop_intent(*KEY) is True
    assert cache.drop_intent(*KEY) is False


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), json_values(allow_nan=True).map(lambda v: json.dumps(v).encode())))
def test_any_bytes_parse_to_an_entry_or_a_cache_error(data: bytes) -> None:
    for kind in (CACHE_KIND, INTENT_KIND):
        try:
            got = CacheEntry.from_json_bytes(data, path="f", key=KEY, kind=kind)
        except CacheError:
            continue
        assert isinstance(got, CacheEntry)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=8), json_values(allow_nan=True), max_size=6))
def test_entry_shaped_objects_parse_to_an_entry_or_a_cache_error(extra: dict[str, object]) -> None:
    doc = {"kind": CACHE_KIND, "containerId": "c", "ifName": "eth0", "networkName": "n", **extra}
    try:
        got = CacheEntry.from_json_bytes(json.dumps(doc).encode(), path="f")
    except CacheError:
        return
    got.to_json_bytes()  # what parsed can be written back (no NaN, no lone surrogate slips through)


def test_cache_list_shows_unfinished_adds(tmp_path: Path, capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    from cnilib._cli import main

    cache = ResultCache(tmp_path / "cache")
    net = conflist("1.0.0", [{"type": "p1"}], name="mynet")
    cache.write_intent(CacheEntry.create(net, RuntimeConfig("abc123", "/run/netns/x", "eth0"), None))
    assert main(["--cache-dir", cache.cache_dir, "cache", "list", "--json"]) == 0
    doc = json.loads(capfdbinary.readouterr().out)
    assert [(a["containerId"], a["netns"]) for a in doc["unfinishedAdds"]] == [("abc123", "/run/netns/x")]
    assert doc["attachments"] == []
    assert main(["--cache-dir", cache.cache_dir, "cache", "list"]) == 0
    assert b"1 unfinished ADD(s)" in capfdbinary.readouterr().out
