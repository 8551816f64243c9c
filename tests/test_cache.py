"""The on-disk result cache: libcni's byte format, atomic writes, tolerant reads, locks."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnilib
from cnilib._cache import CacheEntry, ResultCache, go_json_dumps

HERE = Path(__file__).resolve().parent
CRASH_WRITER = HERE / "crash_writer.py"

CONFIG = b'{"cniVersion":"1.0.0","name":"mynet","plugins":[{"type":"bridge","note":"<&>"}]}'
RESULT: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "sandbox": "/var/run/netns/x"}],
    "ips": [{"address": "10.1.0.5/16", "gateway": "10.1.0.1", "interface": 0}],
    "dns": {},
    "note": "a<b>&c é",
}

# Written by hand from libcni's cachedInfo struct; checked against Go 1.19's json.Marshal.
EXPECTED = (
    '{"kind":"cniCacheV1","containerId":"abc123",'
    '"config":"eyJjbmlWZXJzaW9uIjoiMS4wLjAiLCJuYW1lIjoibXluZXQiLCJwbHVnaW5zIjpbeyJ0eXBlIjoiYnJpZGdl'
    'Iiwibm90ZSI6IjwmPiJ9XX0=",'
    '"ifName":"eth0","networkName":"mynet","netns":"/var/run/netns/x",'
    '"cniArgs":[["K8S_POD_NAME","web"],["IgnoreUnknown","1"]],'
    '"capabilityArgs":{"bandwidth":{"ingressRate":1000000},'
    '"portMappings":[{"containerPort":80,"hostPort":8080,"protocol":"tcp"}]},'
    '"result":{"cniVersion":"1.0.0","dns":{},"interfaces":[{"name":"eth0","sandbox":"/var/run/netns/x"}],'
    '"ips":[{"address":"10.1.0.5/16","gateway":"10.1.0.1","interface":0}],'
    '"note":"a\\u003cb\\u003e\\u0026c é"}}'
).encode()


def make_entry(
    network: str = "mynet", container_id: str = "abc123", ifname: str = "eth0", **kw: Any
) -> CacheEntry:
    fields: dict[str, Any] = {
        "config": CONFIG,
        "netns": "/var/run/netns/x",
        "cni_args": [("K8S_POD_NAME", "web"), ("IgnoreUnknown", "1")],
        "capability_args": {
            "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
            "bandwidth": {"ingressRate": 1e6},
        },
        "result": RESULT,
    }
    fields.update(kw)
    return CacheEntry(network_name=network, container_id=container_id, ifname=ifname, **fields)


@pytest.fixture
def cache(tmp_path: Path) -> ResultCache:
    return ResultCache(tmp_path / "cni")


# -- format -----------------------------------------------------------------------------------


def test_bytes_match_libcni_exactly(cache: ResultCache) -> None:
    entry = make_entry()
    assert entry.to_json_bytes() == EXPECTED
    path = cache.write(entry)
    assert path == os.path.join(cache.cache_dir, "results", "mynet-abc123-eth0")
    assert Path(path).read_bytes() == EXPECTED


def test_empty_fields_are_omitted_like_go_omitempty() -> None:
    entry = CacheEntry("n", "c", "eth0", b"", capability_args={}, result=None)
    assert entry.to_json_bytes() == (
        b'{"kind":"cniCacheV1","containerId":"c","config":"","ifName":"eth0","networkName":"n"}'
    )


def test_round_trip_through_file(cache: ResultCache) -> None:
    entry = make_entry()
    cache.write(entry)
    back = cache.read("mynet", "abc123", "eth0")
    assert back == entry
    assert back is not None
    assert back.path == cache.path_for("mynet", "abc123", "eth0")
    assert not back.legacy
    assert back.config == CONFIG


def test_modes(cache: ResultCache) -> None:
    path = cache.write(make_entry())
    assert stat.S_IMODE(os.stat(cache.cache_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(cache.results_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_existing_directory_mode_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir(mode=0o755)
    os.chmod(tmp_path / "results", 0o755)
    ResultCache(tmp_path).write(make_entry())
    assert stat.S_IMODE(os.stat(tmp_path / "results").st_mode) == 0o755


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e6, "1000000"),
        (1.5, "1.5"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (1e-6, "0.000001"),
        (-0.0, "-0"),
        (2**60, "1152921504606847000"),
        (2**53, str(2**53)),
        ("<\u2028>", '"\\u003c\\u2028\\u003e"'),
        ("\ud800", '"\ufffd"'),
        ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
    ],
)
def test_go_json_dumps(value: Any, text: str) -> None:
    assert go_json_dumps(value) == text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
@settings(max_examples=200, deadline=None)
def test_go_json_dumps_round_trips(value: Any) -> None:
    text = go_json_dumps(value)
    # Go reads numbers back as float64: compare as floats.
    assert _normalize(json.loads(text)) == _normalize(value)
    assert "<" not in text
    assert ">" not in text
    assert "&" not in text


def _normalize(value: Any) -> Any:
    if isinstance(value, str):
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    if isinstance(value, dict):
        return {_normalize(k): _normalize(v) for k, v in value.items()}
    return value


GO_MARSHAL = """
package main

import (
	"encoding/json"
	"io"
	"os"
)

type cachedInfo struct {
	Kind           string                 `json:"kind"`
	ContainerID    string                 `json:"containerId"`
	Config         []byte                 `json:"config"`
	IfName         string                 `json:"ifName"`
	NetworkName    string                 `json:"networkName"`
	Netns          string                 `json:"netns,omitempty"`
	CniArgs        [][2]string            `json:"cniArgs,omitempty"`
	CapabilityArgs map[string]interface{} `json:"capabilityArgs,omitempty"`
	RawResult      map[string]interface{} `json:"result,omitempty"`
}

func main() {
	data, _ := io.ReadAll(os.Stdin)
	var c cachedInfo
	if err := json.Unmarshal(data, &c); err != nil {
		panic(err)
	}
	out, _ := json.Marshal(&c)
	os.Stdout.Write(out)
}
"""


@pytest.mark.go
@pytest.mark.skipif(shutil.which("go") is None, reason="needs the Go toolchain")
def test_go_reencodes_our_bytes_identically(tmp_path: Path) -> None:
    """Go decodes each entry into libcni's struct (v1.3 fields) and re-marshals the same bytes."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "main.go").write_text(GO_MARSHAL)
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPROXY="off", CGO_ENABLED="0")
    if not env.get("HOME"):
        env["GOCACHE"] = str(tmp_path / "gocache")
    subprocess.run(
        ["go", "build", "-o", str(tmp_path / "marshal"), "."],
        cwd=src,
        env=env,
        check=True,
        capture_output=True,
    )
    rnd = random.Random(7)
    entries = [make_entry(), CacheEntry("n", "c", "e", bytes(range(256)))]
    for i in range(50):
        number = rnd.choice(
            [rnd.uniform(-1e25, 1e25), rnd.random() * 10 ** rnd.randint(-30, 30), float(i)]
        )
        entries.append(make_entry(capability_args={"x": number, "s": "<é\u2028&>"}))
    for entry in entries:
        ours = entry.to_json_bytes()
        go = subprocess.run(
            [str(tmp_path / "marshal")], input=ours, capture_output=True, check=True
        ).stdout
        assert go == ours


# -- model ------------------------------------------------------------------------------------


def test_create_from_conflist_and_runtime() -> None:
    conflist = cnilib.NetworkConfigList.from_bytes(
        b'{"cniVersion":"1.0.0","name":"mynet","plugins":[{"type":"bridge"}]}'
    )
    rt = cnilib.RuntimeConfig(
        container_id="abc",
        netns="/run/netns/a",
        ifname="eth1",
        args={"K": "V"},
        capability_args={"mac": "aa:bb:cc:dd:ee:ff"},
    )
    result = cnilib.parse_result(RESULT)
    entry = CacheEntry.create(conflist, rt, result)
    assert entry.key == ("mynet", "abc", "eth1")
    assert entry.config == conflist.bytes
    assert entry.result == result.to_dict()
    assert entry.runtime_config() == rt
    assert entry.attachment == cnilib.GCAttachment("abc", "eth1")
    assert entry.file_name == "mynet-abc-eth1"


def test_parsed_result_and_conversion() -> None:
    entry = make_entry()
    res = entry.parsed_result()
    assert isinstance(res, cnilib.Result100)
    down = entry.parsed_result("0.4.0")
    assert isinstance(down, cnilib.Result040)
    assert down.ips[0].version == "4"


def test_parsed_result_errors() -> None:
    with pytest.raises(cnilib.CacheError, match="holds no result"):
        make_entry(result=None).parsed_result()
    bad = make_entry(result={"cniVersion": "1.0.0", "ips": [{"address": "nope"}]})
    with pytest.raises(cnilib.ResultError, match="cached result"):
        bad.parsed_result()
    no_ip = make_entry(result={"cniVersion": "1.0.0"})
    with pytest.raises(cnilib.ResultError, match="no valid IP"):
        no_ip.parsed_result("0.2.0")


def test_runtime_config_of_a_minimal_entry() -> None:
    rt = CacheEntry("n", "c", "eth0", b"").runtime_config()
    assert rt == cnilib.RuntimeConfig(container_id="c", ifname="eth0")


# -- reading ----------------------------------------------------------------------------------


def _put(cache: ResultCache, name: str, data: bytes) -> Path:
    path = Path(cache.results_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_absent_entry(cache: ResultCache) -> None:
    assert cache.read("mynet", "abc123", "eth0") is None
    assert cache.read_tolerant("mynet", "abc123", "eth0") == (None, None)
    assert cache.entries() == []


def test_legacy_file_is_readable(cache: ResultCache) -> None:
    raw = {"cniVersion": "0.2.0", "ip4": {"ip": "10.0.0.2/24", "gateway": "10.0.0.1"}}
    _put(cache, "old-net-c1-eth0", json.dumps(raw).encode())
    entry = cache.read("old-net", "c1", "eth0")
    assert entry is not None
    assert entry.legacy
    assert entry.result == raw
    assert entry.config == b""
    assert isinstance(entry.parsed_result(), cnilib.Result020)
    assert isinstance(entry.parsed_result("1.0.0"), cnilib.Result100)
    # A scan cannot tell whose a bare result is: reported, not guessed from the name.
    scan = cache.scan()
    assert scan.entries == ()
    assert "legacy" in scan.problems[0].message


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b'{"kind":"cniCacheV1","containerId":', "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"kind":"cniCacheV2","containerId":"abc123"}', "unsupported cache entry kind"),
        (b'{"containerId":"abc123"}', "unsupported cache entry kind None"),
        (
            b'{"kind":"cniCacheV1","containerId":7,"ifName":"eth0","networkName":"mynet"}',
            "'containerId' must be a string",
        ),
        (
            b'{"kind":"cniCacheV1","containerId":"abc123","config":"%%%",'
            b'"ifName":"eth0","networkName":"mynet"}',
            "not valid base64",
        ),
        (
            b'{"kind":"cniCacheV1","containerId":"abc123","ifName":"eth0","networkName":"mynet",'
            b'"cniArgs":[["a"]]}',
            "pairs",
        ),
        (
            b'{"kind":"cniCacheV1","containerId":"abc123","ifName":"eth0","networkName":"mynet",'
            b'"result":[]}',
            "'result' must be an object",
        ),
        (
            b'{"kind":"cniCacheV1","containerId":"abc123","ifName":"eth0","networkName":"mynet",'
            b'"capabilityArgs":1}',
            "'capabilityArgs' must be an object",
        ),
    ],
)
def test_corrupt_files(cache: ResultCache, content: bytes, message: str) -> None:
    path = _put(cache, "mynet-abc123-eth0", content)
    with pytest.raises(cnilib.CacheError, match=message) as info:
        cache.read("mynet", "abc123", "eth0")
    assert str(path) in str(info.value)
    entry, problem = cache.read_tolerant("mynet", "abc123", "eth0")
    assert entry is None
    assert problem is not None
    assert problem.path == str(path)
    assert not problem.foreign
    assert message.split(maxsplit=1)[0] in problem.message
    assert path.exists()
    cache.read_tolerant("mynet", "abc123", "eth0", discard=True)
    assert not path.exists()
    assert cache.read("mynet", "abc123", "eth0") is None


def test_minimal_libcni_v1_1_entry_without_optional_keys(cache: ResultCache) -> None:
    # What libcni v1.1 writes: no netns; config may even be null in hand-made files.
    _put(
        cache,
        "mynet-abc123-eth0",
        b'{"kind":"cniCacheV1","containerId":"abc123","config":null,"ifName":"eth0",'
        b'"networkName":"mynet","cniArgs":null,"capabilityArgs":null,"result":null}',
    )
    entry = cache.read("mynet", "abc123", "eth0")
    assert entry == CacheEntry("mynet", "abc123", "eth0", b"")


def test_foreign_entry_with_the_same_file_name(cache: ResultCache) -> None:
    # "a-b" + "c" and "a" + "b-c" share the file name a-b-c-eth0 (libcni's naming is ambiguous).
    cache.write(make_entry("a-b", "c", "eth0"))
    with pytest.raises(cnilib.CacheError, match="holds the entry of network 'a-b'"):
        cache.read("a", "b-c", "eth0")
    entry, problem = cache.read_tolerant("a", "b-c", "eth0", discard=True)
    assert entry is None
    assert problem is not None
    assert problem.foreign
    assert not cache.delete("a", "b-c", "eth0")
    assert cache.read("a-b", "c", "eth0") is not None


def test_delete_is_idempotent(cache: ResultCache) -> None:
    cache.write(make_entry())
    assert cache.delete("mynet", "abc123", "eth0")
    assert not cache.delete("mynet", "abc123", "eth0")
    assert cache.read("mynet", "abc123", "eth0") is None
    _put(cache, "mynet-abc123-eth0", b"garbage")
    assert cache.delete("mynet", "abc123", "eth0")


def test_identifiers_are_validated(cache: ResultCache) -> None:
    with pytest.raises(cnilib.ValidationError):
        cache.path_for("../x", "c", "eth0")
    with pytest.raises(cnilib.ValidationError):
        cache.read("net", "c/../../etc", "eth0")
    with pytest.raises(cnilib.ValidationError):
        cache.write(make_entry(ifname="a/b"))
    with pytest.raises(cnilib.ValidationError):
        cache.entries(network="..")


def test_unreadable_path_raises_even_when_tolerant(cache: ResultCache) -> None:
    Path(cache.path_for("mynet", "abc123", "eth0")).mkdir(parents=True)
    with pytest.raises(cnilib.CacheError, match="is a directory, not a regular file"):
        cache.read_tolerant("mynet", "abc123", "eth0")


# -- listing ----------------------------------------------------------------------------------


def test_entries_identified_by_content(cache: ResultCache) -> None:
    keys = [
        ("net-1", "c1", "eth0"),
        ("net-1", "c2", "eth1"),
        ("net", "1-c2", "eth0"),  # file "net-1-c2-eth0" looks like network "net-1"
        ("other", "c1", "eth0"),
    ]
    for key in keys:
        cache.write(make_entry(*key))
    _put(cache, ".tmp-deadbeef", b"partial")
    _put(cache, "broken-c9-eth0", b"{")
    # A valid entry stored under a name that is not its own.
    _put(cache, "x-y-eth0", make_entry("x", "z", "eth0").to_json_bytes())
    (Path(cache.results_dir) / "subdir").mkdir()

    assert [e.key for e in cache.entries()] == sorted(keys, key="-".join)
    assert [e.key for e in cache.entries(network="net-1")] == keys[:2]
    assert [e.key for e in cache.entries(network="net")] == [keys[2]]
    assert [e.key for e in cache.entries(container_id="c1")] == [keys[0], keys[3]]
    assert [e.key for e in cache.entries(network="net-1", container_id="c2")] == [keys[1]]
    assert cache.entries(network="nothing") == []

    scan = cache.scan()
    # A directory where an entry should be is reported (never opened, never a hang).
    assert sorted(Path(p.path).name for p in scan.problems) == ["broken-c9-eth0", "subdir", "x-y-eth0"]
    assert "is a directory" in str(scan.problems[1])
    assert "another attachment" in str(scan.problems[2])
    assert all(e.path is not None for e in scan.entries)


def test_remove_stale_temp_files(cache: ResultCache) -> None:
    old = _put(cache, ".tmp-0001", b"x")
    new = _put(cache, ".tmp-0002", b"x")
    keep = _put(cache, "n-c-eth0", b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert cache.remove_stale_temp_files() == [str(old)]
    assert new.exists()
    assert keep.exists()
    assert cache.remove_stale_temp_files(older_than=-1) == [str(new)]
    assert ResultCache(cache.cache_dir + "-missing").remove_stale_temp_files() == []


# -- atomic writes ----------------------------------------------------------------------------


def test_failed_write_leaves_no_temp_file_and_keeps_old_entry(
    cache: ResultCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.write(make_entry())

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(cnilib.CacheError, match="No space left on device"):
        cache.write(make_entry(netns="/run/netns/new"))
    monkeypatch.undo()
    assert os.listdir(cache.results_dir) == ["mynet-abc123-eth0"]
    entry = cache.read("mynet", "abc123", "eth0")
    assert entry is not None
    assert entry.netns == "/var/run/netns/x"


def test_failed_fsync_raises_cache_error(
    cache: ResultCache, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(cnilib.CacheError, match="Input/output error"):
        cache.write(make_entry())
    monkeypatch.undo()
    assert os.listdir(cache.results_dir) == []


def test_unserializable_entry(cache: ResultCache) -> None:
    with pytest.raises(cnilib.CacheError, match="serialize"):
        cache.write(make_entry(capability_args={"x": object()}))
    with pytest.raises(cnilib.CacheError, match="serialize"):
        cache.write(make_entry(capability_args={"x": float("nan")}))


def test_writes_survive_sigkill_at_random_moments(tmp_path: Path) -> None:
    """kill -9 a writer of ~100 KB entries 50 times: every entry file is whole and parseable."""
    cache_dir = tmp_path / "cni"
    cache = ResultCache(cache_dir)
    rnd = random.Random(1234)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    for round_no in range(50):
        proc = subprocess.Popen(
            [sys.executable, str(CRASH_WRITER), str(cache_dir), str(round_no)],
            stdout=subprocess.PIPE,
            env=env,
        )
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == b"ready\n"
            time.sleep(rnd.uniform(0, 0.05))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        for name in os.listdir(cache.results_dir):
            if name.startswith("."):
                continue  # a writer's temporary file: never an entry name
            entry = CacheEntry.from_json_bytes(
                (Path(cache.results_dir) / name).read_bytes(), path=name
            )
            assert entry.file_name == name
            assert len(entry.capability_args["filler"]) > 90_000
    scan = cache.scan()
    assert scan.problems == ()
    assert sorted(e.key for e in scan.entries) == sorted(
        [("crashnet", "ctr-1", "eth0"), ("crashnet", "ctr-2", "eth0"), ("crash-net", "ctr", "net1")]
    )
    cache.remove_stale_temp_files(older_than=-1)
    assert all(not n.startswith(".") for n in os.listdir(cache.results_dir))


# -- locks ------------------------------------------------------------------------------------


def _overlaps(intervals: list[tuple[float, float]]) -> bool:
    ordered = sorted(intervals)
    return any(b[0] < a[1] for a, b in itertools.pairwise(ordered))


def test_lock_files_live_outside_results(cache: ResultCache) -> None:
    with cache.lock("mynet", "abc123", "eth0") as held:
        assert held.held
        assert held.exclusive
        assert held.path == os.path.join(cache.cache_dir, "locks", "mynet.lock")
        assert stat.S_IMODE(os.stat(os.path.dirname(held.path)).st_mode) == 0o700
    assert not held.held
    with cache.lock("mynet", exclusive=False) as gc:
        assert gc.path == held.path  # one file per network: every lock is a byte range of it
        assert not gc.exclusive
    with cache.lock("mynet", "other", "eth0"), cache.lock("mynet", "abc123", "eth1"):
        pass
    # No file per attachment: a loopback ADD must not pay for creating one.
    assert os.listdir(os.path.join(cache.cache_dir, "locks")) == ["mynet.lock"]
    assert not os.path.exists(cache.results_dir)
    assert cache.entries() == []


def test_threads_are_serialized_on_one_key(cache: ResultCache) -> None:
    intervals: list[tuple[float, float]] = []

    def worker() -> None:
        for _ in range(5):
            with cache.lock("mynet", "abc123", "eth0"):
                start = time.monotonic()
                time.sleep(0.01)
                intervals.append((start, time.monotonic()))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(intervals) == 20
    assert not _overlaps(intervals)


def test_different_keys_are_not_serialized(cache: ResultCache) -> None:
    inside = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    def holder() -> None:
        with cache.lock("mynet", "c1", "eth0"):
            inside.set()
            done.wait(5)

    t = threading.Thread(target=holder)
    t.start()
    try:
        assert inside.wait(5)
        with cache.lock("mynet", "c2", "eth0", timeout=1):
            pass
        with cache.lock("othernet", "c1", "eth0", timeout=1):
            pass
        with (
            pytest.raises(cnilib.LockError, match=r"timed out after 0\.1s"),
            cache.lock("mynet", "c1", "eth0", timeout=0.1),
        ):
            pass  # pragma: no cover
    except BaseException as exc:  # pragma: no cover
        errors.append(exc)
    finally:
        done.set()
        t.join()
    assert not errors


def test_lock_error_is_a_cni_error(cache: ResultCache) -> None:
    with (
        cache.lock("mynet", "c1", "eth0"),
        pytest.raises(cnilib.CNIError),
        cache.lock("mynet", "c1", "eth0", timeout=0),
    ):
        pass  # pragma: no cover


LOCK_SCRIPT = textwrap.dedent(
    """
    import sys, time
    from cnilib._cache import ResultCache
    cache = ResultCache(sys.argv[1])
    with open(sys.argv[2], "a") as log:
        for _ in range(3):
            with cache.lock("mynet", "abc123", "eth0"):
                start = time.time()
                time.sleep(0.05)
                log.write(f"{start} {time.time()}\\n")
                log.flush()
    """
)


def test_processes_are_serialized_on_one_key(cache: ResultCache, tmp_path: Path) -> None:
    log = tmp_path / "intervals"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent), env.get("PYTHONPATH", "")])
    procs = [
        subprocess.Popen([sys.executable, "-c", LOCK_SCRIPT, cache.cache_dir, str(log)], env=env)
        for _ in range(3)
    ]
    # This process takes part too.
    intervals: list[tuple[float, float]] = []
    for _ in range(3):
        with cache.lock("mynet", "abc123", "eth0"):
            start = time.time()
            time.sleep(0.05)
            intervals.append((start, time.time()))
    for p in procs:
        assert p.wait(30) == 0
    for line in log.read_text().splitlines():
        a, b = line.split()
        intervals.append((float(a), float(b)))
    assert len(intervals) == 12
    assert not _overlaps(intervals)


def test_lock_is_not_inherited_by_children(cache: ResultCache) -> None:
    with cache.lock("mynet", "abc123", "eth0"):
        child = subprocess.Popen(["sleep", "5"], close_fds=False)
    try:
        with cache.lock("mynet", "abc123", "eth0", timeout=1):
            pass
    finally:
        child.kill()
        child.wait()


def test_gc_lock_exclusive_versus_shared(cache: ResultCache) -> None:
    with cache.lock("mynet", exclusive=False):
        with cache.lock("mynet", exclusive=False, timeout=0.1):
            pass  # two ADD/DELs run together
        with (
            pytest.raises(cnilib.LockError, match="exclusive network mynet"),
            cache.lock("mynet", exclusive=True, timeout=0.1),
        ):
            pass  # pragma: no cover
        with cache.lock("other", exclusive=True, timeout=0.1):
            pass
    with (
        cache.lock("mynet", exclusive=True),
        pytest.raises(cnilib.LockError, match="shared network mynet"),
        cache.lock("mynet", exclusive=False, timeout=0.1),
    ):
        pass  # pragma: no cover


def test_gc_waits_for_running_operations(cache: ResultCache) -> None:
    order: list[str] = []
    started = threading.Event()

    def operation() -> None:
        with cache.lock("mynet", exclusive=False):
            started.set()
            time.sleep(0.2)
            order.append("add done")

    t = threading.Thread(target=operation)
    t.start()
    assert started.wait(5)
    with cache.lock("mynet", exclusive=True, timeout=5):
        order.append("gc")
    t.join()
    assert order == ["add done", "gc"]


def test_attachment_lock_takes_network_shared_then_attachment(cache: ResultCache) -> None:
    # ADD/DEL/CHECK hold both; GC (exclusive) must wait for them, other attachments need not.
    with cache.lock("n", "c", "eth0"):
        with pytest.raises(cnilib.LockError), cache.lock("n", exclusive=True, timeout=0.2):
            pass  # pragma: no cover
        with pytest.raises(cnilib.LockError), cache.lock("n", "c", "eth0", timeout=0.2):
            pass  # pragma: no cover
        with cache.lock("n", "c2", "eth0", timeout=1):
            pass
    with cache.lock("n", exclusive=True, timeout=1):
        pass


def test_gc_waiting_on_the_gate_holds_back_new_attachments(cache: ResultCache) -> None:
    # flock-style readers would starve GC; the gate makes newcomers queue behind a waiting GC.
    first = threading.Event()
    got_gc = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with cache.lock("n", "a", "eth0"):
            first.set()
            release.wait(5)

    def gc() -> None:
        with cache.lock("n", exclusive=True, timeout=5):
            got_gc.set()

    h = threading.Thread(target=holder)
    h.start()
    assert first.wait(5)
    g = threading.Thread(target=gc)
    g.start()
    time.sleep(0.1)  # GC now holds the gate and waits for the network lock
    try:
        with pytest.raises(cnilib.LockError), cache.lock("n", "b", "eth0", timeout=0.2):
            pass  # pragma: no cover
    finally:
        release.set()
        h.join()
        g.join()
    assert got_gc.is_set()
    with cache.lock("n", "b", "eth0", timeout=1):
        pass


def test_async_lock_serializes_and_times_out(cache: ResultCache) -> None:
    async def main() -> list[tuple[float, float]]:
        intervals: list[tuple[float, float]] = []

        async def task() -> None:
            async with cache.alock("mynet", "abc123", "eth0", timeout=5) as held:
                assert held.held
                start = time.monotonic()
                await asyncio.sleep(0.02)
                intervals.append((start, time.monotonic()))

        await asyncio.gather(*(task() for _ in range(5)))
        async with cache.alock("mynet", exclusive=False):
            with pytest.raises(cnilib.LockError):
                async with cache.alock("mynet", exclusive=True, timeout=0.05):
                    pass  # pragma: no cover
        return intervals

    intervals = asyncio.run(main())
    assert len(intervals) == 5
    assert not _overlaps(intervals)


def test_async_lock_waits_for_a_thread_holder(cache: ResultCache) -> None:
    holding = threading.Event()
    releasing_at: list[float] = []

    def holder() -> None:
        with cache.lock("mynet", "abc123", "eth0"):
            holding.set()
            time.sleep(0.2)
            releasing_at.append(time.monotonic())

    t = threading.Thread(target=holder)
    t.start()
    assert holding.wait(5)

    async def main() -> float:
        async with cache.alock("mynet", "abc123", "eth0", timeout=5):
            return time.monotonic()

    acquired_at = asyncio.run(main())
    t.join()
    assert acquired_at >= releasing_at[0]


def test_async_lock_cancellation_is_prompt_and_leaks_nothing(cache: ResultCache) -> None:
    fd_dir = "/proc/self/fd"

    async def main() -> None:
        with cache.lock("mynet", "abc123", "eth0"):
            before = len(os.listdir(fd_dir))
            entered = False

            async def waiter() -> None:
                nonlocal entered
                async with cache.alock("mynet", "abc123", "eth0"):
                    entered = True  # pragma: no cover

            task = asyncio.create_task(waiter())
            await asyncio.sleep(0.1)
            start = time.monotonic()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert time.monotonic() - start < 0.5
            assert not entered
            assert len(os.listdir(fd_dir)) == before
        async with cache.alock("mynet", "abc123", "eth0", timeout=1):
            pass

    asyncio.run(main())


RECORDER = """#!/bin/sh
cat > "$RECORD_DIR/stdin-$CNI_COMMAND.json"
if [ "$CNI_COMMAND" = ADD ]; then
  echo '{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"'"$CNI_NETNS"'"}],'\\
'"ips":[{"address":"10.9.0.2/24","interface":0}],"dns":{}}'
fi
"""


@pytest.mark.go
def test_libcni_reads_and_writes_our_cache(tmp_path: Path) -> None:
    """Real libcni (cnigo) writes an entry we re-encode byte for byte; its DEL uses ours."""
    gotools = pytest.importorskip("gotools")
    if not gotools.go_available():
        pytest.skip("needs the Go toolchain and Debian's libcni source")
    cnigo = gotools.build_cnigo(tmp_path / "bin")
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "recorder").write_text(RECORDER)
    (plugins / "recorder").chmod(0o755)
    netdir = tmp_path / "net.d"
    netdir.mkdir()
    (netdir / "inter.conflist").write_text(
        '{"cniVersion":"1.0.0","name":"inter","plugins":[{"type":"recorder","note":"<&>"}]}\n'
    )
    env = dict(
        os.environ,
        NETCONFPATH=str(netdir),
        CNI_PATH=str(plugins),
        CNI_CACHE_DIR=str(tmp_path / "cache"),
        CNI_CONTAINERID="ctr1",
        CNI_ARGS="A=b",
        CAP_ARGS='{"portMappings":[{"hostPort":80,"protocol":"tcp"}]}',
        RECORD_DIR=str(tmp_path),
    )
    add = gotools.run_cnigo(cnigo, ["add", "inter", "/run/netns/x"], env)
    assert add.returncode == 0, add.stderr

    cache = ResultCache(tmp_path / "cache")
    entry = cache.read("inter", "ctr1", "eth0")
    assert entry is not None
    assert entry.config == (netdir / "inter.conflist").read_bytes()
    assert entry.cni_args == (("A", "b"),)
    assert Path(cache.path_for("inter", "ctr1", "eth0")).read_bytes() == entry.to_json_bytes()

    assert entry.result is not None
    changed = {**entry.result, "ips": [{"address": "10.77.0.9/24", "interface": 0}]}
    cache.write(attrs.evolve(entry, result=changed))
    delete = gotools.run_cnigo(cnigo, ["del", "inter", "/run/netns/x"], env)
    assert delete.returncode == 0, delete.stderr
    stdin = json.loads((tmp_path / "stdin-DEL.json").read_text())
    assert stdin["prevResult"]["ips"] == [{"interface": 0, "address": "10.77.0.9/24"}]
    assert stdin["note"] == "<&>"
    assert cache.read("inter", "ctr1", "eth0") is None
