"""cnilib.sandbox: real plugins in a throwaway world, as root and as uid 65534.

What is checked: the founding configuration works in it (10.15.30.100/24 in the container), the
inventory sees what the plugins made and what DEL left, nothing is visible outside, and no process
or namespace outlives the sandbox: after close(), after an exception, after SIGKILL of its owner.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sandbox_support import nobody_dir, popen_as_nobody, run_as_nobody

import cnilib
from cnilib.sandbox import HOST, Leftovers, Sandbox, SandboxError, StateItem, UserNamespaceUnavailable

pytestmark = pytest.mark.root

CONF = Path(__file__).resolve().parent.parent / "examples" / "net.d" / "10-mybridge.conf"

# What the bridge plugin keeps after the last DEL, on purpose: the bridge and its address and
# routes, host-local's last-reserved file and its lock.
KEPT = {
    StateItem(HOST, "link", "cni_bridge1 (bridge)"),
    StateItem(HOST, "address", "10.15.30.99/24 on cni_bridge1"),
    StateItem(HOST, "route", "10.15.30.0/24 dev cni_bridge1"),
    StateItem(HOST, "route", "broadcast 10.15.30.255 dev cni_bridge1 table local"),
    StateItem(HOST, "route", "local 10.15.30.99 dev cni_bridge1 table local"),
    StateItem(HOST, "file", "/var/lib/cni/networks/mybridge/last_reserved_ip.0"),
    StateItem(HOST, "file", "/var/lib/cni/networks/mybridge/lock"),
}

# The sample, run as a script (by root and by uid 65534); prints what the test checks.
SAMPLE = textwrap.dedent(
    """
    import json, os, sys
    import cnilib
    from cnilib.sandbox import Sandbox
    conflist = cnilib.NetworkConfigList.from_file(sys.argv[1])
    out = {}
    with Sandbox() as sb:
        out["rootless"] = sb.rootless
        out["holder"] = sb.pid
        ctr = sb.container("c1")
        cni = sb.cni(plugin_dirs=["/usr/lib/cni"])
        rt = cnilib.RuntimeConfig(container_id="c1", netns=ctr.path)
        result = cni.add(conflist, rt)
        out["result"] = result.to_dict()
        out["addr"] = sb.run(["ip", "-br", "addr", "show", "eth0"], netns=ctr).stdout
        out["created"] = [str(i) for i in sb.leaks(strict=True)]
        cni.delete(conflist, rt)
        out["new"] = [str(i) for i in sb.leaks(strict=True)]
        out["left"] = [str(i) for i in sb.leaks()]
        out["kept"] = [str(i) for i in sb.leftovers().kept]
    out["host_sees_bridge"] = os.path.exists("/sys/class/net/cni_bridge1")
    print(json.dumps(out))
    """
)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie not yet reaped by its parent is gone for our purpose; so is a process reaped
    # between the signal above and the read below.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.split(") ")[1].startswith("Z")


def _in_namespace(mnt_ns: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/mnt") == mnt_ns:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def _wait_until(predicate: object, what: str) -> None:
    # Not a timing assertion: the kernel tears namespaces down asynchronously; wait for it.
    for _ in range(600):
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    pytest.fail(f"still not true after 30s: {what}")


def _listing(top: str) -> set[str]:
    return {os.path.join(d, f) for d, _, files in os.walk(top) for f in files}


def test_founding_configuration_as_root() -> None:
    conflist = cnilib.NetworkConfigList.from_file(CONF)
    host_files = _listing("/var/lib/cni")  # other tests may use the real one; this must not
    with Sandbox() as sb:
        assert not sb.rootless
        ctr = sb.container("c1")
        cni = sb.cni(plugin_dirs=["/usr/lib/cni"])
        rt = cnilib.RuntimeConfig(container_id="c1", netns=ctr.path)
        result = cni.add(conflist, rt)
        assert result.to_dict()["ip4"]["ip"] == "10.15.30.100/24"
        assert "10.15.30.100/24" in sb.run(["ip", "-br", "addr", "show", "eth0"], netns=ctr).stdout
        created = set(sb.leaks(strict=True))
        assert StateItem("c1", "address", "10.15.30.100/24 on eth0") in created
        assert StateItem(HOST, "cache", "results/mybridge-c1-eth0") in created
        assert any(i.kind == "iptables" and "MASQUERADE" in i.key for i in created)
        assert created >= KEPT
        # Nothing of it shows outside the sandbox.
        assert not Path("/sys/class/net/cni_bridge1").exists()
        assert not Path("/run/netns/c1").exists()
        cni.delete(conflist, rt)
        assert set(sb.leaks(strict=True)) == KEPT
        # What the bridge plugin keeps on purpose is no leak (the rule `cnilib try` uses).
        assert sb.leaks() == []
        assert sb.leftovers() == Leftovers(left=(), kept=tuple(sorted(KEPT)))
        sb.mark_baseline()
        assert sb.leaks(strict=True) == []
        assert _listing("/var/lib/cni") == host_files


def test_founding_configuration_as_nobody() -> None:
    with nobody_dir() as home:
        proc = run_as_nobody(["-c", SAMPLE, str(CONF)], home)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["rootless"] is True
    assert out["result"]["ip4"]["ip"] == "10.15.30.100/24"
    assert "10.15.30.100/24" in out["addr"]
    assert "c1: address 10.15.30.100/24 on eth0" in out["created"]
    assert set(out["new"]) == set(out["kept"]) == {str(i) for i in KEPT}
    assert out["left"] == []
    assert out["host_sees_bridge"] is False
    assert _gone(out["holder"])


def test_close_ends_every_process_inside() -> None:
    sb = Sandbox()
    holder, mnt_ns = sb.pid, os.readlink(f"/proc/{sb.pid}/ns/mnt")
    sleeper = sb.run(["sh", "-c", "sleep 600 >/dev/null 2>&1 & echo $!"]).stdout.strip()
    assert sleeper.isdigit()
    assert len(_in_namespace(mnt_ns)) >= 2  # the holder and the sleeper
    sb.close()
    sb.close()  # twice is fine
    _wait_until(lambda: _gone(holder) and not _in_namespace(mnt_ns), "the sandbox's processes are gone")
    with pytest.raises(SandboxError, match="closed"):
        sb.container("late")


def test_an_exception_inside_still_closes() -> None:
    namespaces: list[str] = []

    def use_and_fail() -> None:
        with Sandbox() as sb:
            namespaces.append(os.readlink(f"/proc/{sb.pid}/ns/mnt"))
            sb.container("c1")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        use_and_fail()
    [mnt_ns] = namespaces
    _wait_until(lambda: not _in_namespace(mnt_ns), "the sandbox's processes are gone")


KILLED = textwrap.dedent(
    """
    import os, sys, time
    from cnilib.sandbox import Sandbox
    sb = Sandbox()
    sb.container("c1")
    sb.run(["sh", "-c", "sleep 600 >/dev/null 2>&1 &"])
    print(sb.pid, os.readlink(f"/proc/{sb.pid}/ns/mnt"), flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("who", ["root", "nobody"])
def test_sigkill_of_the_owner_ends_the_sandbox(who: str) -> None:
    with nobody_dir() as home:
        if who == "root":
            proc = subprocess.Popen([sys.executable, "-c", KILLED], stdout=subprocess.PIPE, text=True)
        else:
            proc = popen_as_nobody(["-c", KILLED], home)
        try:
            assert proc.stdout is not None
            pid, mnt_ns = proc.stdout.readline().split()
            assert len(_in_namespace(mnt_ns)) >= 2
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        _wait_until(lambda: _gone(int(pid)) and not _in_namespace(mnt_ns), "no process is left inside")


def test_user_namespaces_forbidden_is_one_clear_error() -> None:
    # In a user namespace whose max_user_namespaces is 0, no further user namespace can be made.
    script = "from cnilib.sandbox import Sandbox\nSandbox(rootless=True)"
    shell = 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" -c "$1"'
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "sh", "-c", shell, sys.executable, script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("cnilib.sandbox.UserNamespaceUnavailable: this kernel does not let")
    assert "user namespace" in last
    assert issubclass(UserNamespaceUnavailable, cnilib.CNIError)


def test_bad_names_and_commands() -> None:
    with Sandbox() as sb:
        for bad in ("", "host", "a/b", "x" * 40):
            with pytest.raises(SandboxError, match="invalid container name"):
                sb.container(bad)
        sb.container("c1")
        with pytest.raises(SandboxError, match="already exists"):
            sb.container("c1")
        with pytest.raises(SandboxError, match="no container 'nope'"):
            sb.run(["true"], netns="nope")
        with pytest.raises(SandboxError, match="empty command"):
            sb.run([])
        with pytest.raises(SandboxError, match="exited with status 3"):
            sb.run(["sh", "-c", "exit 3"])
        sb.remove_container("c1")
        assert sb.containers == ()


def test_remove_container_returns_when_the_host_ends_of_its_veths_are_gone() -> None:
    # The kernel removes a deleted namespace's interfaces only when its last user is gone, and
    # then in a work queue, a moment after `ip netns del`: a DEL run right after remove_container()
    # must see the container gone (conformance's del-netns-gone check failed now and then on a
    # loaded machine because the host end still answered). A process holding the namespace for
    # half a second makes that moment long enough to see every time.
    with Sandbox() as sb:
        ctr = sb.container("v1")
        sb.run(["ip", "link", "add", "hostend", "type", "veth", "peer", "name", "ctrend", "netns", ctr.path])
        sb.run(["sh", "-c", f"nsenter --net={ctr.path} sleep 0.5 >/dev/null 2>&1 &"])
        sb.remove_container(ctr)
        assert "hostend" not in sb.run(["ip", "-o", "link", "show"]).stdout


def test_links_of_ip_link_show() -> None:
    from cnilib.sandbox._sandbox import _links

    text = (
        "1: lo: <LOOPBACK> mtu 65536 qdisc noop\\    link/loopback 00:00:00:00:00:00\n"
        "3: a1@if2: <BROADCAST,MULTICAST> mtu 1500 qdisc noop\\    link/ether 8a:97 link-netns zz2\n"
        "7: vlan7@eth0: <BROADCAST> mtu 1500\n"
    )
    assert _links(text) == {1: None, 3: 2, 7: None}


def test_cnilib_sandbox_fixture_fails_a_test_that_leaves_something(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(
        textwrap.dedent(
            """
        import pytest

        def test_leaves(cnilib_sandbox):
            cnilib_sandbox.run(["ip", "link", "add", "left0", "type", "veth", "peer", "name", "left1"])

        @pytest.mark.cnilib_sandbox_leaks_ok
        def test_allowed(cnilib_sandbox):
            cnilib_sandbox.run(["ip", "link", "add", "left0", "type", "veth", "peer", "name", "left1"])

        def test_clean(cnilib_sandbox):
            cnilib_sandbox.run(["ip", "link", "add", "tmp0", "type", "veth", "peer", "name", "tmp1"])
            cnilib_sandbox.run(["ip", "link", "del", "tmp0"])
        """
        )
    )
    # A user's own test run: only the cnilib plugin (pytest11), none of this suite's conftest.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            "test_user.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "3 passed, 1 error" in proc.stdout, proc.stdout
    assert "the test left this in its cnilib_sandbox:" in proc.stdout
    assert "host: link left0 (veth)" in proc.stdout


def test_async_cni_in_the_sandbox() -> None:
    conflist = cnilib.NetworkConfigList.from_file(CONF)

    async def attach_detach(sb: Sandbox) -> str:
        ctr = sb.container("c1")
        rt = cnilib.RuntimeConfig(container_id="c1", netns=ctr.path)
        async with sb.async_cni(plugin_dirs=["/usr/lib/cni"]) as acni:
            result = await acni.add(conflist, rt)
            await acni.delete(conflist, rt)
        return str(result.to_dict()["ip4"]["ip"])

    with Sandbox() as sb:
        assert asyncio.run(attach_detach(sb)) == "10.15.30.100/24"
        assert set(sb.leaks(strict=True)) == KEPT
        assert sb.leaks() == []
