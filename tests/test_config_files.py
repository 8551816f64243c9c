"""Configuration files are read with care: a FIFO, socket, device or directory, and a file larger
than ``MAX_CONFIG_SIZE`` (told by its size, unread), are a ``ConfigError`` naming the file, never a
hang or a ``MemoryError``; symbolic links are followed; and such a file never hides the good
network that ``load_network`` asks for by name.

The whole of it as a user meets it: a 64 GiB sparse ``.conflist`` sorting before a good one, and a
FIFO, in a process whose address space is limited to 2 GiB: ``load_network``, ``Networks.from_dir``
and ``cnilib add`` (the fast path and the typed one) -- by root and by uid 65534.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sandbox_support import nobody_dir, run_as_nobody
from test_cli import CLI, Run, result_100

import cnilib
from cnilib._model._config import ConfigDirectoryError, NetworkNotFoundError, load_conf_file, load_network
from cnilib._spec import _confdir
from cnilib._spec._confdir import MAX_CONFIG_SIZE, read_config
from cnilib.testing.plugins import exiting_plugin

GOOD = {"cniVersion": "1.0.0", "name": "good", "plugins": [{"type": "bridge"}]}
HUGE = 64 << 30
#: A live network namespace (this process's): the fake plugin never enters it.
NETNS = f"/proc/{os.getpid()}/ns/net"


def directory(root: Path) -> Path:
    """A configuration directory: a 64 GiB sparse list, a FIFO, then the good list."""
    confdir = root / "net.d"
    confdir.mkdir()
    with open(confdir / "10-huge.conflist", "wb") as fh:
        fh.truncate(HUGE)
    os.mkfifo(confdir / "15-fifo.conflist")
    (confdir / "20-good.conflist").write_text(json.dumps(GOOD))
    return confdir


# -- the reader ------------------------------------------------------------------------------------


def test_a_file_larger_than_the_cap_is_refused_by_its_size(tmp_path: Path) -> None:
    confdir = directory(tmp_path)
    huge = str(confdir / "10-huge.conflist")
    with pytest.raises(cnilib.ConfigError) as info:
        load_conf_file(huge)
    assert info.value.source == huge
    assert f"too large ({HUGE} bytes; a configuration file may hold {MAX_CONFIG_SIZE})" in str(info.value)
    with pytest.raises(cnilib.ConfigError, match="too large") as info:
        cnilib.NetworkConfigList.from_file(huge)
    assert info.value.source == huge
    # The limit itself is fine.
    exact = tmp_path / "exact.conflist"
    text = json.dumps(GOOD)
    exact.write_text(text + " " * (MAX_CONFIG_SIZE - len(text)))
    assert load_conf_file(exact).name == "good"


def test_the_cap_also_holds_while_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    # A file whose size says nothing (procfs says 0) is cut off at the limit all the same.
    monkeypatch.setattr(_confdir, "MAX_CONFIG_SIZE", 16)
    with pytest.raises(cnilib.ConfigError, match=r"too large \(more than 16 bytes"):
        read_config("/proc/self/status")


@pytest.mark.timeout(60)
def test_special_files_are_errors_not_hangs(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.conflist"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock.conflist"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    (tmp_path / "dir.conflist").mkdir()
    os.symlink("/dev/kmsg", tmp_path / "kmsg.conflist")  # a read would wait for kernel messages
    os.symlink(fifo, tmp_path / "to-fifo.conflist")
    try:
        for name, kind in [
            ("fifo", "a FIFO"),
            ("to-fifo", "a FIFO"),
            ("sock", "a socket"),
            ("dir", "a directory"),
            ("kmsg", "a device"),
        ]:
            path = str(tmp_path / f"{name}.conflist")
            with pytest.raises(cnilib.ConfigError) as info:
                load_conf_file(path)
            assert info.value.source == path
            assert f"it is {kind}, not a regular file" in str(info.value)
    finally:
        sock.close()


def test_symbolic_links_are_followed(tmp_path: Path) -> None:
    # /etc/cni/net.d entries are often links to files installed elsewhere.
    elsewhere = tmp_path / "pkg" / "good.conflist"
    elsewhere.parent.mkdir()
    elsewhere.write_text(json.dumps(GOOD))
    confdir = tmp_path / "net.d"
    confdir.mkdir()
    os.symlink(elsewhere, confdir / "10-good.conflist")
    assert load_network(confdir, "good").source == str(confdir / "10-good.conflist")
    assert load_conf_file(confdir / "10-good.conflist").name == "good"


def test_a_bad_file_never_hides_the_good_one(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    confdir = directory(tmp_path)
    huge = str(confdir / "10-huge.conflist")
    with caplog.at_level(logging.WARNING, logger="cnilib.config"):
        assert load_network(confdir, "good").source == str(confdir / "20-good.conflist")
    assert f"skipping {huge}: network configuration is too large" in caplog.text
    # The huge file's network cannot be named: asked for another name, the error names it.
    with pytest.raises(NetworkNotFoundError) as info:
        load_network(confdir, "huge")
    assert [e.source for e in info.value.skipped] == [huge]
    # libcni's behaviour on request: the first invalid file stops the lookup.
    with pytest.raises(cnilib.ConfigError, match="too large") as err:
        load_network(confdir, "good", strict=True)
    assert err.value.source == huge
    # go-cni's rule for a directory of networks: every file is one, so an invalid one fails it.
    with pytest.raises(ConfigDirectoryError) as dir_info:
        cnilib.Networks.from_dir(confdir, plugin_dirs=[str(tmp_path)], cache_dir=tmp_path / "cache")
    assert [e.source for e in dir_info.value.errors] == [huge]


# -- as a user meets it: a process with 2 GiB of address space ---------------------------------------

LIMITED = textwrap.dedent(
    """
    import json, resource, sys
    import cnilib
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    confdir = sys.argv[1]
    out = {"good": cnilib.load_network(confdir, "good").source}
    for name, call in [
        ("huge", lambda: cnilib.load_network(confdir, "huge")),
        ("from_dir", lambda: cnilib.Networks.from_dir(confdir, plugin_dirs=["/nonexistent"])),
    ]:
        try:
            call()
        except cnilib.ConfigError as exc:
            out[name] = [type(exc).__name__, str(exc)]
    print(json.dumps(out))
    """
)


def _check_limited(proc: subprocess.CompletedProcess[str], confdir: Path) -> None:
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    huge = f"{confdir}/10-huge.conflist: network configuration is too large ({HUGE} bytes"
    assert out["good"] == f"{confdir}/20-good.conflist"
    assert out["huge"][0] == "NetworkNotFoundError"
    assert huge in out["huge"][1]
    assert out["from_dir"][0] == "ConfigDirectoryError"
    assert huge in out["from_dir"][1]


def _add(cli: CLI, network: str, *, typed: bool) -> Run:
    # prlimit: the same 2 GiB limit on the command (the fast path, or --debug for the typed one).
    program = ("prlimit", f"--as={2 << 30}", sys.executable, "-m", "cnilib")
    args = ("add", "--debug", network, NETNS) if typed else ("add", network, NETNS)
    return cli.run(*args, program=program, timeout=60)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("typed", [False, True], ids=["fast-path", "typed-path"])
def test_a_64_gib_config_beside_a_good_one_under_a_2_gib_limit(tmp_path: Path, typed: bool) -> None:
    cli = CLI(tmp_path / "cli")
    cli.conf.rmdir()
    confdir = directory(cli.root)
    cli.conf = confdir
    exiting_plugin(cli.bin, "bridge", stdout=json.dumps(result_100()))
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED, str(confdir)], capture_output=True, text=True, check=False, timeout=60
    )
    _check_limited(proc, confdir)
    run = _add(cli, "good", typed=typed)
    assert run.rc == 0, run
    assert run.json()["ips"][0]["address"] == "10.1.0.2/24"
    [entry] = cli.cache_files()
    assert entry.startswith("good-")
    bad = _add(cli, "huge", typed=typed)
    assert bad.rc == 1, bad
    assert len(bad.err_lines) == 1, bad
    assert f"10-huge.conflist: network configuration is too large ({HUGE} bytes" in bad.err


@pytest.mark.root
@pytest.mark.timeout(120)
def test_the_same_as_an_unprivileged_user() -> None:
    with nobody_dir() as home:
        confdir = directory(home)
        for path in (confdir, *confdir.iterdir()):
            os.chown(path, 65534, 65534, follow_symlinks=False)
        proc = run_as_nobody(["-c", LIMITED, str(confdir)], home, timeout=60)
        _check_limited(proc, confdir)
