"""``cnilib docker watch`` without an engine: labels, log lines, records, the lock, exit statuses."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import cnilib
from cnilib import docker
from cnilib.docker import ContainerInfo, LabelError, PortBinding
from cnilib.docker._watch._backend import _event_container
from cnilib.docker._watch._state import _logfmt, _Record


def info(labels: dict[str, str], ports: tuple[PortBinding, ...] = ()) -> ContainerInfo:
    return ContainerInfo(
        id="c" * 64,
        name="web",
        pid=42,
        sandbox_key="",
        running=True,
        network_mode="none",
        labels=labels,
        port_bindings=ports,
    )


def test_unlabelled_containers_are_not_asked_for() -> None:
    assert docker.parse_labels(info({})) is None
    assert docker.parse_labels(info({"cnilib.args": "A=b"})) is None


def test_networks_in_label_order_with_args_and_capabilities() -> None:
    spec = docker.parse_labels(
        info(
            {
                "cnilib.networks": "mybridge, second",
                "cnilib.args": "K8S_POD_NAME=web;FOO=bar",
                "cnilib.capabilities": '{"bandwidth": {"ingressRate": 1000}}',
                "cnilib.port-mappings": "8080:80,127.0.0.1:5353:53/udp",
            }
        )
    )
    assert spec is not None
    assert spec.networks == ("mybridge", "second")
    assert spec.args == (("IgnoreUnknown", "1"), ("K8S_POD_NAME", "web"), ("FOO", "bar"))
    assert spec.capability_args == {
        "bandwidth": {"ingressRate": 1000},
        "portMappings": [
            {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
            {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "127.0.0.1"},
        ],
    }


def test_published_ports() -> None:
    ports = (PortBinding(80, "tcp", "8080"), PortBinding(53, "udp", "5353", "10.0.0.1"))
    spec = docker.parse_labels(info({"cnilib.networks": "a", "cnilib.port-mappings": "published"}, ports))
    assert spec is not None
    assert spec.capability_args["portMappings"] == [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 5353, "containerPort": 53, "protocol": "udp", "hostIP": "10.0.0.1"},
    ]
    with pytest.raises(LabelError, match="without a fixed host port"):
        docker.parse_labels(
            info({"cnilib.networks": "a", "cnilib.port-mappings": "published"}, (PortBinding(80, "tcp", ""),))
        )


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"cnilib.networks": ""}, "without empty names"),
        ({"cnilib.networks": "a,,b"}, "without empty names"),
        ({"cnilib.networks": "a,"}, "without empty names"),
        ({"cnilib.networks": "a b"}, "invalid network name 'a b'"),
        ({"cnilib.networks": "../x"}, "invalid network name"),
        ({"cnilib.networks": "a,a"}, "named twice"),
        ({"cnilib.networks": "a", "cnilib.args": "novalue"}, "expected K=V"),
        ({"cnilib.networks": "a", "cnilib.args": "K=a=b"}, "cnilib.args"),
        ({"cnilib.networks": "a", "cnilib.port-mappings": "eighty"}, "expected 'published'"),
        ({"cnilib.networks": "a", "cnilib.port-mappings": "70000:80"}, "out of range"),
        ({"cnilib.networks": "a", "cnilib.capabilities": "{"}, "not JSON"),
        ({"cnilib.networks": "a", "cnilib.capabilities": "[1]"}, "JSON object"),
        (
            {
                "cnilib.networks": "a",
                "cnilib.capabilities": '{"portMappings": []}',
                "cnilib.port-mappings": "1:1",
            },
            "both",
        ),
    ],
)
def test_bad_labels_are_label_errors(labels: dict[str, str], message: str) -> None:
    with pytest.raises(LabelError, match=message.replace("(", r"\(")) as exc:
        docker.parse_labels(info(labels))
    assert isinstance(exc.value, docker.DockerError)


def test_logfmt_quotes_what_needs_it() -> None:
    assert _logfmt({"action": "attach", "ms": 1.234, "error": 'a "b" c', "empty": ""}) == (
        'action=attach ms=1.2 error="a \\"b\\" c" empty=""'
    )


def test_event_lines() -> None:
    cid = "a" * 64
    assert _event_container(f'{{"Type":"container","Action":"die","Actor":{{"ID":"{cid}"}}}}') == cid
    assert _event_container("not json") is None
    assert _event_container('{"Actor": {"ID": "short"}}') is None


def test_record_round_trip_and_bad_record() -> None:
    rec = _Record(
        container_id="a" * 64,
        name="web",
        netns="/x/netns/" + "a" * 64,
        networks=(("mybridge", "eth0", '{"cniVersion":"0.2.0"}'),),
        args=(("IgnoreUnknown", "1"),),
        capability_args={"portMappings": []},
    )
    assert _Record.from_json(rec.to_json(), "here") == rec
    with pytest.raises(docker.DockerError, match="unreadable watcher record here"):
        _Record.from_json(b'{"containerId": 1}', "here")


def _kwargs(tmp_path: Path) -> dict[str, Any]:
    return {
        "conf_dir": tmp_path / "net.d",
        "cache_dir": tmp_path / "cache",
        "host": f"unix://{tmp_path}/no-engine.sock",
    }


def test_one_watcher_per_cache_directory(tmp_path: Path) -> None:
    async def main() -> None:
        async with docker.Watcher(**_kwargs(tmp_path)) as first:
            with pytest.raises(docker.WatcherLockedError, match="another cnilib docker watch"):
                async with docker.Watcher(**_kwargs(tmp_path)):
                    pass
            assert Path(first.lock_path).read_text().strip().isdigit()
        async with docker.Watcher(**_kwargs(tmp_path)):  # released on exit
            pass

    asyncio.run(main())


def test_exit_statuses(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "cnilib.docker.watch")
    # No engine: --once cannot reconcile.
    assert docker.watch(once=True, **_kwargs(tmp_path)) == docker.EXIT_FAILURE
    assert "cannot reach the Docker engine" in caplog.text
    # Another watcher holds the lock.
    holder = docker.Watcher(**_kwargs(tmp_path))
    holder.open()
    try:
        assert docker.watch(**_kwargs(tmp_path)) == docker.EXIT_LOCKED
        assert "outcome=locked" in caplog.text
    finally:
        asyncio.run(holder.close())


def test_cli_usage() -> None:
    run = [sys.executable, "-m", "cnilib", "docker", "watch"]
    helped = subprocess.run([*run, "--help"], capture_output=True, text=True, check=False)
    assert helped.returncode == 0
    assert "--once" in helped.stdout
    assert "--resync" in helped.stdout
    bad = subprocess.run([*run, "--resync", "-1"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert "--resync" in bad.stderr


def _until_exec(pid: int, marker: bytes) -> None:
    """Wait until ``pid`` runs with its own environment: between fork and exec it still has ours
    (the watcher would not recognize it yet; a plugin a killed watcher left has long exec'ed)."""
    for _ in range(500):
        with open(f"/proc/{pid}/environ", "rb") as f:
            if marker in f.read():
                return
        time.sleep(0.01)
    raise AssertionError("the orphan never exec'ed")


def test_start_waits_for_plugins_a_killed_watcher_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plugin still running for one of the state directory's namespaces is waited for."""
    caplog.set_level(logging.INFO, "cnilib.docker.watch")
    w = docker.Watcher(**_kwargs(tmp_path))
    w.open()
    try:
        env = {"CNI_COMMAND": "ADD", "CNI_NETNS": f"{w.state_dir}/netns/{'a' * 64}", "PATH": "/usr/bin:/bin"}
        orphan = subprocess.Popen(["sleep", "0.5"], env=env)
        try:
            _until_exec(orphan.pid, env["CNI_NETNS"].encode())
            asyncio.run(w._startup())
            assert orphan.poll() is not None  # it ended before the start went on
        finally:
            orphan.kill()
            orphan.wait()
        assert "action=wait orphaned_plugins=1" in caplog.text
    finally:
        asyncio.run(w.close())


def test_start_drops_the_intent_of_an_add_killed_after_its_entry(tmp_path: Path) -> None:
    """A watcher killed between writing a cache entry and dropping its intent record: the next
    start drops the record (the attachment looks intact, so the reconciliation would keep it);
    another runtime's unfinished ADD in the same cache directory is left alone."""
    w = docker.Watcher(**_kwargs(tmp_path))
    w.open()
    try:
        mine, theirs = "a" * 64, "b" * 64
        conf = cnilib.NetworkConfigList.from_bytes(
            '{"cniVersion":"1.0.0","name":"net","plugins":[{"type":"no-such-plugin"}]}'
        )
        cache = cnilib.ResultCache(tmp_path / "cache")
        rt = cnilib.RuntimeConfig(mine, f"{w.state_dir}/netns/{mine}", "eth0")
        cache.write(cnilib.CacheEntry.create(conf, rt, cnilib.parse_result({"cniVersion": "1.0.0"})))
        cache.write_intent(cnilib.CacheEntry.create(conf, rt, None))
        cache.write_intent(cnilib.CacheEntry.create(conf, cnilib.RuntimeConfig(theirs, "/x", "eth0"), None))
        networks = (("net", "eth0", conf.bytes.decode()),)
        w._write_record(_Record(mine, "web", rt.netns, networks, (), {}))
        asyncio.run(w._startup())
        engine = cnilib.CNI(cache_dir=tmp_path / "cache")
        assert [e.container_id for e in engine.unfinished_adds()] == [theirs]
        assert [e.key for e in engine.cached_attachments()] == [("net", mine, "eth0")]
    finally:
        asyncio.run(w.close())
