"""Tests of the private Docker engine (cnilib.testing.dockerd) and of cnilib.docker.

The engine runs inside a network namespace made here, with all of Docker's networking off, so
nothing reaches the machine's own network.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

import cnilib
from cnilib import docker, netns
from cnilib.docker import ContainerInfo, ContainerNotFoundError, DockerError
from cnilib.docker import _api as _docker_api
from cnilib.docker._attach import _check_attachable
from cnilib.testing.dockerd import (
    DEFAULT_IMAGE,
    INDEX_HTML,
    PrivateDockerd,
    docker_available,
)

# -- fixtures (session-scoped: one engine for the whole run) ----------------------------------


@pytest.fixture
def web(dockerd: PrivateDockerd, busybox_image: str, request: pytest.FixtureRequest) -> Iterator[str]:
    """A running ``--net=none`` busybox httpd container; yields its full id."""
    name = f"web-{request.node.name[:40].replace('[', '-').replace(']', '')}"
    cid = dockerd.run_container(name, busybox_image)
    try:
        yield cid
    finally:
        dockerd.remove_container(cid)


@attrs.define
class RecordingCNI:
    """Stands in for cnilib.CNI: records what attach/detach hand to the engine."""

    calls: list[tuple[str, Any, cnilib.RuntimeConfig]] = attrs.Factory(list)
    kwargs: list[dict[str, Any]] = attrs.Factory(list)

    def add(self, conflist: Any, rt: cnilib.RuntimeConfig, **kwargs: Any) -> str:
        self.calls.append(("add", conflist, rt))
        self.kwargs.append(kwargs)
        return "result"

    def delete(self, conflist: Any, rt: cnilib.RuntimeConfig, **kwargs: Any) -> None:
        self.calls.append(("delete", conflist, rt))
        self.kwargs.append(kwargs)

    def cached_config(self, conflist: Any, rt: cnilib.RuntimeConfig) -> None:
        return None


@attrs.define
class AsyncRecordingCNI:
    calls: list[tuple[str, Any, cnilib.RuntimeConfig]] = attrs.Factory(list)

    async def add(self, conflist: Any, rt: cnilib.RuntimeConfig, **kwargs: Any) -> str:
        assert kwargs == {"rollback": True}
        self.calls.append(("add", conflist, rt))
        return "result"

    async def delete(self, conflist: Any, rt: cnilib.RuntimeConfig) -> None:
        self.calls.append(("delete", conflist, rt))

    def cached_config(self, conflist: Any, rt: cnilib.RuntimeConfig) -> None:
        return None


# -- cnilib.docker without an engine ----------------------------------------------------------


def test_errors_are_cnierrors() -> None:
    assert issubclass(DockerError, cnilib.CNIError)
    assert issubclass(ContainerNotFoundError, DockerError)


def test_socket_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert docker.socket_path() == "/var/run/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/x.sock")
    assert docker.socket_path() == "/tmp/x.sock"
    assert docker.socket_path("unix:///a/b.sock") == "/a/b.sock"
    monkeypatch.setenv("DOCKER_HOST", "")
    assert docker.socket_path() == "/var/run/docker.sock"


@pytest.mark.parametrize("host", ["tcp://127.0.0.1:2375", "ssh://me@box", "npipe:////./pipe/x"])
def test_non_unix_hosts_rejected(host: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DockerError, match="only unix://"):
        docker.socket_path(host)
    monkeypatch.setenv("DOCKER_HOST", host)
    with pytest.raises(DockerError, match="only unix://"):
        docker.inspect("x")


def test_relative_unix_host_rejected() -> None:
    with pytest.raises(DockerError, match="absolute"):
        docker.socket_path("unix://docker.sock")


def test_unreachable_socket_names_it(tmp_path: Path) -> None:
    sock = tmp_path / "nothing.sock"
    with pytest.raises(DockerError, match=f"cannot reach the Docker engine at unix://{sock}"):
        docker.inspect("web", host=f"unix://{sock}")
    with pytest.raises(DockerError, match="cannot reach"):
        asyncio.run(docker.async_inspect("web", host=f"unix://{sock}"))


def test_httpx_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # makes `import httpx` raise ImportError
    with pytest.raises(DockerError, match=r"pip install cnilib\[docker\]"):
        docker.inspect("web", host="unix:///nonexistent.sock")
    with pytest.raises(DockerError, match=r"pip install cnilib\[docker\]"):
        docker.attach(RecordingCNI(), "web", None, host="unix:///nonexistent.sock")


def test_sync_attach_refuses_an_async_engine() -> None:
    # Without the check the coroutine would never be awaited and nothing would be attached.
    with pytest.raises(TypeError, match="async_attach"):
        docker.attach(AsyncRecordingCNI(), "web", None, host="unix:///nonexistent.sock")
    with pytest.raises(TypeError, match="async_detach"):
        docker.detach(AsyncRecordingCNI(), "web", None, host="unix:///nonexistent.sock")


def test_unreachable_engine_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(DockerError, match=r"is dockerd running\?.*DOCKER_HOST"):
        docker.attach(RecordingCNI(), "web", None, host=f"unix://{tmp_path}/none.sock")


def test_not_running_and_wrong_mode_messages() -> None:
    info = ContainerInfo("c" * 64, "web", 0, "", False, "none", "exited")
    with pytest.raises(DockerError, match=r"container web is not running \(status 'exited'\)"):
        _check_attachable(info, need_running=True)
    _check_attachable(info, need_running=False)  # DEL of a stopped container is fine
    bridged = attrs.evolve(info, running=True, status="running", network_mode="bridge")
    with pytest.raises(DockerError, match=r"network mode 'bridge'; start it with --net=none"):
        _check_attachable(bridged, need_running=True)


def test_empty_container_reference() -> None:
    with pytest.raises(DockerError, match="invalid container reference"):
        docker.inspect("", host="unix:///nonexistent.sock")


def test_netns_path_falls_back_to_proc_when_sandbox_key_is_not_a_namespace(tmp_path: Path) -> None:
    # What a SandboxKey looks like from outside dockerd's mount namespace: an empty plain file.
    fake_key = tmp_path / "2e4813b1a912"
    fake_key.touch()
    info = ContainerInfo(
        id="a" * 64,
        name="c",
        pid=os.getpid(),
        sandbox_key=str(fake_key),
        running=True,
        network_mode="none",
    )
    assert docker.netns_path(info) == f"/proc/{os.getpid()}/ns/net"
    visible = attrs.evolve(info, sandbox_key="/proc/self/ns/net")
    assert docker.netns_path(visible) == "/proc/self/ns/net"
    gone = attrs.evolve(info, pid=0, sandbox_key="")
    with pytest.raises(DockerError, match="no network namespace"):
        docker.netns_path(gone)


def test_parse_inspect_errors() -> None:
    parse = _docker_api._parse_inspect
    with pytest.raises(ContainerNotFoundError, match="no such Docker container 'x'"):
        parse("x", 404, b'{"message": "No such container: x"}', "/s")
    with pytest.raises(DockerError, match=r"answered 500.*boom"):
        parse("x", 500, b'{"message": "boom"}', "/s")
    with pytest.raises(DockerError, match="unexpected answer"):
        parse("x", 200, b"{}", "/s")
    info = parse(
        "x",
        200,
        json.dumps(
            {
                "Id": "b" * 64,
                "Name": "/x",
                "State": {"Pid": 42, "Running": True, "Status": "running"},
                "NetworkSettings": {"SandboxKey": "/var/run/docker/netns/abc"},
                "HostConfig": {"NetworkMode": "none"},
            }
        ).encode(),
        "/s",
    )
    assert info == ContainerInfo("b" * 64, "x", 42, "/var/run/docker/netns/abc", True, "none", "running")


# -- the private engine -----------------------------------------------------------------------


@pytest.mark.root
@pytest.mark.docker
@pytest.mark.skipif(not docker_available(), reason="needs root, docker.io and busybox-static")
class TestPrivateEngine:
    def test_engine_runs_in_the_sandbox_namespace(
        self, dockerd: PrivateDockerd, host_ns: netns.NetNS
    ) -> None:
        assert dockerd.pid is not None
        assert os.stat(f"/proc/{dockerd.pid}/ns/net").st_ino == os.stat(host_ns.path).st_ino
        assert dockerd.host == f"unix://{dockerd.workdir}/docker.sock"
        # nothing of Docker's own networking was set up in the sandbox: no docker0
        links = host_ns.run(["ip", "-o", "link"]).stdout
        assert "docker0" not in links

    def test_image_is_built_offline(self, dockerd: PrivateDockerd, busybox_image: str) -> None:
        assert busybox_image == DEFAULT_IMAGE
        out = dockerd.docker("image", "inspect", busybox_image).stdout
        assert json.loads(out)[0]["Config"]["Cmd"][:2] == ["busybox", "httpd"]

    def test_inspect_running_container(self, dockerd: PrivateDockerd, web: str) -> None:
        info = docker.inspect(web, host=dockerd.host)
        name = dockerd.docker("inspect", "-f", "{{.Name}}", web).stdout.strip().lstrip("/")
        assert info.id == web
        assert len(info.id) == 64
        assert info.name == name
        assert info.running
        assert info.network_mode == "none"
        assert info.pid > 0
        assert info.sandbox_key.startswith(f"{dockerd.exec_root}/netns/")
        # by name and by short id give the same answer
        assert docker.inspect(name, host=dockerd.host) == info
        assert docker.inspect(web[:12], host=dockerd.host) == info
        assert asyncio.run(docker.async_inspect(web, host=dockerd.host)) == info

    def test_docker_host_env_is_honoured(
        self, dockerd: PrivateDockerd, web: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("DOCKER_HOST", dockerd.host)
        assert docker.inspect(web).id == web

    def test_proxy_environment_is_ignored(
        self, dockerd: PrivateDockerd, web: str, host_ns: netns.NetNS
    ) -> None:
        # Run in the sandbox namespace so that a wrongly used proxy could only ever be tried on
        # the sandbox's own loopback.
        code = (
            "import sys; from cnilib import docker; print(docker.inspect(sys.argv[1], host=sys.argv[2]).id)"
        )
        proxy = "http://127.0.0.1:9"
        env = {**os.environ, "HTTP_PROXY": proxy, "http_proxy": proxy, "ALL_PROXY": proxy}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        proc = host_ns.run([sys.executable, "-c", code, web, dockerd.host], env=env)
        assert proc.stdout.strip() == web

    def test_netns_path_is_the_sandbox_key(self, dockerd: PrivateDockerd, web: str) -> None:
        info = docker.inspect(web, host=dockerd.host)
        path = docker.netns_path(info)
        assert path == info.sandbox_key
        assert os.stat(path).st_ino == os.stat(f"/proc/{info.pid}/ns/net").st_ino
        # Docker leaves only lo in a --net=none container
        out = netns.run(path, ["ip", "-o", "link"]).stdout
        assert [line.split(":")[1].strip() for line in out.splitlines()] == ["lo"]

    def test_container_serves_http_on_its_loopback(self, dockerd: PrivateDockerd, web: str) -> None:
        path = docker.netns_path(docker.inspect(web, host=dockerd.host))
        body = ""
        for _ in range(50):  # httpd may need a moment to bind
            proc = netns.run(
                path, ["/bin/busybox", "wget", "-q", "-O", "-", "http://127.0.0.1/"], check=False
            )
            body = proc.stdout
            if proc.returncode == 0:
                break
            time.sleep(0.05)
        assert body == INDEX_HTML

    def test_unknown_container(self, dockerd: PrivateDockerd) -> None:
        with pytest.raises(ContainerNotFoundError, match="no-such-container"):
            docker.inspect("no-such-container", host=dockerd.host)
        with pytest.raises(ContainerNotFoundError):
            docker.attach(RecordingCNI(), "no-such-container", None, host=dockerd.host)

    def test_attach_and_detach_hand_the_right_runtime_config(self, dockerd: PrivateDockerd, web: str) -> None:
        cni = RecordingCNI()
        info = docker.inspect(web, host=dockerd.host)
        result = docker.attach(
            cni,
            web[:12],
            "CONFLIST",
            ifname="net1",
            args={"K8S_POD_NAME": "web"},
            capability_args={"portMappings": []},
            host=dockerd.host,
        )
        assert result == "result"
        docker.detach(cni, web, "CONFLIST", ifname="net1", host=dockerd.host)
        (verb1, conf1, rt1), (verb2, conf2, rt2) = cni.calls
        assert (verb1, conf1, verb2, conf2) == ("add", "CONFLIST", "delete", "CONFLIST")
        assert rt1.container_id == rt2.container_id == web  # the full id, whatever was passed
        assert rt1.netns == rt2.netns == info.sandbox_key
        assert rt1.ifname == rt2.ifname == "net1"
        assert rt1.args == (("K8S_POD_NAME", "web"),)
        assert dict(rt1.capability_args) == {"portMappings": []}
        assert cni.kwargs == [{"rollback": True}, {}]  # a failed ADD is always rolled back

    def test_async_attach_and_detach(self, dockerd: PrivateDockerd, web: str) -> None:
        cni = AsyncRecordingCNI()

        async def main() -> None:
            assert await docker.async_attach(cni, web, "L", host=dockerd.host) == "result"
            await docker.async_detach(cni, web, "L", host=dockerd.host)

        asyncio.run(main())
        assert [(c[0], c[2].container_id, c[2].ifname) for c in cni.calls] == [
            ("add", web, "eth0"),
            ("delete", web, "eth0"),
        ]

    def test_stopped_container(self, dockerd: PrivateDockerd, busybox_image: str) -> None:
        cid = dockerd.run_container("stopped", busybox_image)
        try:
            dockerd.stop_container(cid)
            info = docker.inspect(cid, host=dockerd.host)
            assert not info.running
            assert info.pid == 0
            cni = RecordingCNI()
            with pytest.raises(DockerError, match="not running"):
                docker.attach(cni, cid, "L", host=dockerd.host)
            assert cni.calls == []
            # DEL still runs so IPAM can free the address, with an empty netns
            docker.detach(cni, cid, "L", host=dockerd.host)
            assert [(c[0], c[2].netns) for c in cni.calls] == [("delete", "")]
        finally:
            dockerd.remove_container(cid)

    def test_host_mode_container_is_refused(
        self, dockerd: PrivateDockerd, busybox_image: str, host_ns: netns.NetNS
    ) -> None:
        # "host" is the sandbox namespace dockerd runs in, never the machine's.
        cid = dockerd.run_container("hostmode", busybox_image, ["sleep", "300"], net="host")
        try:
            info = docker.inspect(cid, host=dockerd.host)
            assert info.network_mode == "host"
            assert os.stat(f"/proc/{info.pid}/ns/net").st_ino == os.stat(host_ns.path).st_ino
            cni = RecordingCNI()
            with pytest.raises(DockerError, match=r"network mode 'host'.*--net=none"):
                docker.attach(cni, cid, "L", host=dockerd.host)
            with pytest.raises(DockerError, match="network mode 'host'"):
                docker.detach(cni, cid, "L", host=dockerd.host)
            assert cni.calls == []
        finally:
            dockerd.remove_container(cid)

    def test_bridge_mode_container_is_refused(self, dockerd: PrivateDockerd, busybox_image: str) -> None:
        # With --bridge=none Docker still accepts --network=bridge, but wires nothing (no
        # endpoint, no veth): a container of network mode "bridge" that touches no network.
        cid = dockerd.run_container("bridged", busybox_image, ["sleep", "300"], net="bridge")
        try:
            info = docker.inspect(cid, host=dockerd.host)
            assert info.running
            assert info.network_mode == "bridge"
            cni = RecordingCNI()
            with pytest.raises(DockerError, match="network mode 'bridge'"):
                docker.attach(cni, cid, "L", host=dockerd.host)
            assert cni.calls == []
        finally:
            dockerd.remove_container(cid)

    def test_remove_container_is_idempotent(self, dockerd: PrivateDockerd) -> None:
        dockerd.remove_container("never-existed")


@pytest.mark.root
@pytest.mark.docker
@pytest.mark.skipif(not docker_available(), reason="needs root, docker.io and busybox-static")
def test_stop_cleans_up_after_a_crashed_engine() -> None:
    """SIGKILL dockerd with a running container; stop() must still leave nothing behind."""
    with netns.create() as ns:
        engine = PrivateDockerd(netns=ns.path)
        engine.start()
        try:
            workdir = engine.workdir
            assert workdir is not None
            image = engine.build_busybox_image("crash:latest")
            cid = engine.run_container("victim", image, ["sleep", "300"])
            info = docker.inspect(cid, host=engine.host)
            cgroup_parent = engine.cgroup_parent
            assert engine.pid is not None
            os.kill(engine.pid, signal.SIGKILL)
            time.sleep(0.2)
            assert os.path.exists(f"/proc/{info.pid}")  # the container survived its engine
        finally:
            engine.stop()
        assert engine.workdir is None
        assert engine.pid is None
        assert not workdir.exists()
        assert not os.path.exists(f"/proc/{info.pid}") or _is_zombie(info.pid)
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            assert str(workdir) not in f.read()
        leftovers = subprocess.run(["pgrep", "-f", str(workdir)], capture_output=True, text=True, check=False)
        assert leftovers.stdout == ""
        assert not list(Path("/sys/fs/cgroup").glob(f"*/{cgroup_parent.strip('/')}"))
        engine.stop()  # idempotent


@pytest.mark.root
@pytest.mark.docker
@pytest.mark.skipif(not docker_available(), reason="needs root, docker.io and busybox-static")
def test_start_failure_reports_the_log_tail() -> None:
    with netns.create() as ns:
        engine = PrivateDockerd(netns=ns.path, extra_args=["--no-such-flag"], start_timeout=20)
        with pytest.raises(RuntimeError, match=r"(?s)dockerd exited with status \d+.*no-such-flag"):
            engine.start()
    assert engine.workdir is None


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:  # gone before the open, or between the open and the read (ESRCH)
        return True
