"""``cnilib try``: the founding configuration by uid 65534 and by root, a configuration whose DEL
leaves something behind, a failing ADD, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_support import nobody_dir, run_as_nobody

from cnilib.testing.broken_plugins import write_broken, write_conforming

pytestmark = pytest.mark.root

CONF = Path(__file__).resolve().parent.parent / "examples" / "net.d" / "10-mybridge.conf"


def _cnilib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cnilib", *args], capture_output=True, text=True, check=False, timeout=900
    )


def test_founding_configuration_by_an_unprivileged_user() -> None:
    with nobody_dir() as home:
        proc = run_as_nobody(["-m", "cnilib", "try", str(CONF)], home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "as an unprivileged user (user namespace)" in out
    assert '"ip": "10.15.30.100/24"' in out
    assert "try-1: address 10.15.30.100/24 on eth0" in out  # created by ADD
    assert "left behind by DEL: nothing" in out
    assert "host: link cni_bridge1 (bridge)" in out.split("kept by the plugins")[1]
    assert out.rstrip().endswith("OK")


def test_founding_configuration_as_root_json() -> None:
    proc = _cnilib("try", "--json", str(CONF))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert report["rootless"] is False
    assert report["result"]["ip4"]["ip"] == "10.15.30.100/24"
    assert [(s["verb"], s["container"], s["ok"]) for s in report["steps"]] == [
        ("ADD", "try-1", True),
        ("ADD", "try-2", True),
        ("DEL", "try-2", True),
        ("DEL", "try-1", True),
    ]
    assert report["left"] == []
    assert "host: link cni_bridge1 (bridge)" in report["kept"]


def test_version_override_adds_check() -> None:
    proc = _cnilib("try", "--json", "--version", "1.0.0", str(CONF))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["cniVersion"] == "1.0.0"
    assert ("CHECK", "try-1", True) in [(s["verb"], s["container"], s["ok"]) for s in report["steps"]]
    assert report["result"]["ips"][0]["address"] == "10.15.30.100/24"


def _conf(directory: Path, plugin: str) -> Path:
    path = directory / f"{plugin}.conf"
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": f"net-{plugin}", "type": plugin}))
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("who", ["root", "nobody"])
def test_del_that_leaves_an_interface_fails_and_names_it(who: str) -> None:
    with nobody_dir() as home:
        write_broken(home, "leaky")
        conf = _conf(home, "leaky")
        args = ["try", "--cni-path", str(home), str(conf)]
        proc = _cnilib(*args) if who == "root" else run_as_nobody(["-m", "cnilib", *args], home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    left = proc.stdout.split("left behind by DEL:")[1].split("kept by the plugins")[0]
    # The veth host end of the second attachment (fk + md5 of its container id) and, in the first
    # container, the end DEL never removed.
    assert "host: link fk" in left
    assert "try-1: link eth0 (veth)" in left
    assert proc.stdout.rstrip().endswith("FAILED")


def test_conforming_fake_passes() -> None:
    with nobody_dir() as home:
        write_conforming(home, "good")
        proc = _cnilib("try", "--cni-path", str(home), str(_conf(home, "good")))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "left behind by DEL: nothing" in proc.stdout
    assert "kept by the plugins across attachments (not a leak): nothing" in proc.stdout


def test_failing_add_exits_1() -> None:
    with nobody_dir() as home:
        proc = _cnilib("try", "--cni-path", str(home), str(_conf(home, "absent")))
    assert proc.returncode == 1
    assert "ADD   try-1: FAILED: " in proc.stdout
    assert "absent" in proc.stdout


def test_bad_input_is_one_line() -> None:
    proc = _cnilib("try", "/nonexistent/x.conf")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("cnilib: try: /nonexistent/x.conf: cannot read network configuration")
    proc = _cnilib("try", "--conf-dir", "/nonexistent", "nosuchnet")
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1


def test_cap_args_reach_both_attachments(tmp_path: Path) -> None:
    # cnitool's CAP_ARGS: portmap gets its port mappings; its shared chains are kept, not left.
    bridge = {"type": "bridge", "bridge": "cnipm0", "ipam": {"type": "host-local", "subnet": "10.89.0.0/24"}}
    plugins = [bridge, {"type": "portmap", "capabilities": {"portMappings": True}}]
    conf = tmp_path / "pm.conflist"
    conf.write_text(json.dumps({"cniVersion": "0.3.1", "name": "pm", "plugins": plugins}))
    caps = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    proc = subprocess.run(
        [sys.executable, "-m", "cnilib", "try", "--json", str(conf)],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, "CAP_ARGS": json.dumps(caps)},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["left"] == []
    assert any("--dport 8080" in item and "DNAT" in item for item in report["created"])
    assert "host: iptables iptables -t nat :CNI-HOSTPORT-DNAT -" in report["kept"]
