"""Tests of cnilib.netns: real network namespaces (root) plus the pure argument checks."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

import cnilib
from cnilib import netns
from cnilib.netns import NetNS, NetnsError

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("nsenter") is None,
    reason="needs root, iproute2 and nsenter",
)
root = [pytest.mark.root, needs_root]


@pytest.fixture
def ns() -> Iterator[NetNS]:
    created = netns.create()
    try:
        yield created
    finally:
        created.delete()
    assert not netns.exists(created.name)


# -- pure -------------------------------------------------------------------------------------


def test_error_is_a_cnierror() -> None:
    assert issubclass(NetnsError, cnilib.CNIError)


def test_enter_argv() -> None:
    assert netns.enter_argv("/run/netns/x") == ["nsenter", "--net=/run/netns/x", "--"]


def test_path_of() -> None:
    assert netns.path_of("abc") == "/run/netns/abc"


@pytest.mark.parametrize("bad", ["", "../etc", "a/b", "-x", ".", "..", "a b", "x" * 65])
def test_bad_names_rejected_before_anything_runs(bad: str) -> None:
    with pytest.raises(NetnsError, match="invalid network namespace name"):
        netns.create(bad)
    with pytest.raises(NetnsError):
        netns.delete(bad)
    with pytest.raises(NetnsError):
        netns.exists(bad)


@pytest.mark.parametrize("pid", [0, -1, True, "1"])
def test_path_of_pid_rejects_non_pids(pid: object) -> None:
    with pytest.raises(NetnsError, match="invalid pid"):
        netns.path_of_pid(pid)  # type: ignore[arg-type]


def test_path_of_pid_missing_process() -> None:
    with pytest.raises(NetnsError, match="no process"):
        netns.path_of_pid(2**22 + 12345)  # above the kernel's pid_max ceiling


def test_path_of_pid_self() -> None:
    path = netns.path_of_pid(os.getpid())
    assert path == f"/proc/{os.getpid()}/ns/net"


def test_run_rejects_missing_namespace_and_empty_argv() -> None:
    with pytest.raises(NetnsError, match="does not exist"):
        netns.run("/run/netns/cnilib-does-not-exist", ["true"])
    with pytest.raises(NetnsError, match="empty command"):
        netns.run("/proc/self/ns/net", [])


# -- real namespaces --------------------------------------------------------------------------


@pytest.mark.root
@needs_root
def test_create_and_delete() -> None:
    created = netns.create()
    try:
        assert created.name.startswith("cnilib-")
        assert created.path == f"/run/netns/{created.name}"
        assert os.path.exists(created.path)
        assert netns.exists(created.name)
        # a new namespace holds only a loopback that is down
        out = netns.run(created.path, ["ip", "-o", "link"]).stdout
        assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]
        assert "state DOWN" in out
    finally:
        created.delete()
    assert not netns.exists(created.name)
    assert not os.path.exists(created.path)
    created.delete()  # idempotent
    netns.delete(created.name)


@pytest.mark.root
@needs_root
def test_create_named_and_duplicate() -> None:
    name = f"cnilib-t{os.getpid()}"
    netns.delete(name)
    created = netns.create(name)
    try:
        assert created == NetNS(name=name, path=f"/run/netns/{name}")
        with pytest.raises(NetnsError, match="already exists"):
            netns.create(name)
    finally:
        netns.delete(name)
    assert not netns.exists(name)


@pytest.mark.root
@needs_root
def test_context_manager_deletes_on_error() -> None:
    seen: list[NetNS] = []

    def body() -> None:
        with netns.create() as created:
            seen.append(created)
            assert netns.exists(created.name)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        body()
    assert not netns.exists(seen[0].name)


@pytest.mark.root
@needs_root
def test_loopback_up() -> None:
    with netns.create(loopback_up=True) as created:
        out = netns.run(created.path, ["ip", "-o", "link", "show", "lo"]).stdout
        assert ",UP" in out
        # and it answers on loopback, inside the namespace only
        if shutil.which("ping"):
            netns.run(created.path, ["ping", "-c1", "-W1", "127.0.0.1"])


@pytest.mark.root
@needs_root
def test_links_made_inside_stay_inside(ns: NetNS) -> None:
    ns.run(["ip", "link", "add", "cnitst0", "type", "veth", "peer", "name", "cnitst1"])
    inside = ns.run(["ip", "-o", "link"]).stdout
    assert "cnitst0" in inside
    assert "cnitst1" in inside
    outside = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    assert "cnitst0" not in outside.stdout


@pytest.mark.root
@needs_root
def test_run_errors(ns: NetNS) -> None:
    with pytest.raises(NetnsError, match="exited with status") as info:
        ns.run(["ip", "link", "show", "nosuchlink"])
    assert "nosuchlink" in str(info.value)
    proc = ns.run(["ip", "link", "show", "nosuchlink"], check=False)
    assert proc.returncode != 0
    with pytest.raises(NetnsError, match="timed out"):
        ns.run(["sleep", "5"], timeout=0.2)
    assert ns.run(["cat"], input="hello").stdout == "hello"
    assert ns.run(["sh", "-c", "echo $X"], env={"X": "y", "PATH": "/usr/bin:/bin"}).stdout == "y\n"


@pytest.mark.root
@needs_root
def test_enter_argv_keeps_the_pid(ns: NetNS) -> None:
    # nsenter execs in place: the pid we spawn is the program's, and it sits in the namespace.
    proc = subprocess.Popen([*netns.enter_argv(ns.path), "sleep", "30"])
    try:
        for _ in range(100):
            if os.readlink(f"/proc/{proc.pid}/exe").endswith("/sleep"):
                break
            subprocess.run(["sleep", "0.01"], check=True)
        assert os.readlink(f"/proc/{proc.pid}/exe").endswith("/sleep")
        path = netns.path_of_pid(proc.pid)
        assert os.stat(path).st_ino == os.stat(ns.path).st_ino
        assert os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino
        out = subprocess.run(
            [*netns.enter_argv(path), "ip", "-o", "link"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0
        assert len(out.stdout.splitlines()) == 1
    finally:
        proc.kill()
        proc.wait()
