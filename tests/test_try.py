"""``cnilib try``: the founding configuration by uid 65534 and by root, a configuration whose DEL
leaves something behind, a failing ADD, bad input, the CNI version option, CNI_ARGS and capability
args (portmap and bandwidth exercised or said not to be). Streaming: ``test_try_stream.py``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sandbox_support import nobody_dir, run_as_nobody

import cnilib
from cnilib.testing.broken_plugins import write_broken, write_conforming
from cnilib.testing.plugins import RecordingPlugin, recording_plugin

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
    assert re.search(r"^ADD   try-1: FAILED \(\d+\.\d\ds\): ", proc.stdout, re.MULTILINE)
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


# -- the CNI version option, CNI_ARGS and capability args ------------------------------------------


def test_cni_version_option_and_version_is_cnilibs() -> None:
    # Before: the CNI version was `try --version V`, and `try X --version` was a usage error.
    proc = _cnilib("try", "--json", "--cni-version", "1.0.0", str(CONF))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["cniVersion"] == "1.0.0"
    for command in ("try", "conformance"):
        proc = _cnilib(command, "x", "--version")
        assert (proc.returncode, proc.stdout) == (0, f"cnilib {cnilib.__version__}\n"), proc.stderr
    proc = _cnilib("try", "--version", "1.0.0", str(CONF))
    assert proc.stdout == f"cnilib {cnilib.__version__}\n"  # argparse stops at the global option


def _recorder(home: Path) -> RecordingPlugin:
    result = {"ADD": {"cniVersion": "1.0.0", "interfaces": [], "ips": [], "dns": {}}}
    rec = recording_plugin(home, "rec", stdout=result)
    rec.path.chmod(0o755)
    return rec


@pytest.mark.parametrize("how", ["env", "option"])
def test_cni_args_and_cap_args_reach_the_plugin(how: str) -> None:
    # Before: try ignored CNI_ARGS and had no option for CNI_ARGS or capability args.
    with nobody_dir() as home:
        rec = _recorder(home)
        conf = home / "rec.conflist"
        plugin = {"type": "rec", "capabilities": {"portMappings": True, "mac": True}}
        conf.write_text(json.dumps({"cniVersion": "1.0.0", "name": "rec", "plugins": [plugin]}))
        caps = {"mac": "c2:11:22:33:44:55"}
        args = ["try", "--cni-path", str(home), str(conf)]
        env = dict(os.environ)
        if how == "env":
            env.update(CNI_ARGS="K8S_POD_NAME=web;IgnoreUnknown=1", CAP_ARGS=json.dumps(caps))
        else:
            args += ["--cni-args", "K8S_POD_NAME=web;IgnoreUnknown=1", "--cap-args", json.dumps(caps)]
        args += ["--port-mappings", "8080:80,5353:53/udp"]
        proc = subprocess.run(
            [sys.executable, "-m", "cnilib", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
            check=False,
        )
        records = rec.records()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [(r.verb, r.env["CNI_CONTAINERID"]) for r in records] == [
        ("ADD", "cnilib-try-1"),
        ("CHECK", "cnilib-try-1"),
        ("ADD", "cnilib-try-2"),
        ("DEL", "cnilib-try-2"),
        ("DEL", "cnilib-try-1"),
    ]
    assert {r.env["CNI_ARGS"] for r in records} == {"K8S_POD_NAME=web;IgnoreUnknown=1"}
    mappings = [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"},
        {"hostPort": 5353, "containerPort": 53, "protocol": "udp"},
    ]
    for r in records:
        assert r.config["runtimeConfig"] == {"portMappings": mappings, **caps}


def test_bad_cni_args_are_one_line_before_anything_runs() -> None:
    for args, message in (
        (["--cni-args", "A="], "invalid CNI_ARGS pair 'A='"),
        (["--cap-args", "[1]"], "invalid CAP_ARGS: must be a JSON object"),
        (["--port-mappings", "80"], "--port-mappings '80': expected HOST:CONTAINER[/PROTO]"),
        (["--port-mappings", "80:70000"], "--port-mappings '80:70000': a port is 1 to 65535"),
        (["--bandwidth", "fast"], "--bandwidth 'fast': expected RATE/BURST"),
    ):
        proc = _cnilib("try", *args, str(CONF))
        assert proc.returncode == 1, proc
        assert proc.stdout == ""
        assert proc.stderr.startswith("cnilib: try: "), proc.stderr
        assert message in proc.stderr, proc.stderr
        assert proc.stderr.count("\n") == 1


def _portmap_conf(directory: Path, version: str = "1.0.0") -> Path:
    bridge = {"type": "bridge", "bridge": "cnipm1", "ipam": {"type": "host-local", "subnet": "10.89.1.0/24"}}
    plugins = [bridge, {"type": "portmap", "capabilities": {"portMappings": True}}]
    conf = directory / "pm.conflist"
    conf.write_text(json.dumps({"cniVersion": version, "name": "pm", "plugins": plugins}))
    conf.chmod(0o644)
    return conf


def test_portmap_without_port_mappings_is_not_exercised() -> None:
    # Before: "OK" with no word that portmap did nothing (no port mapping was set up).
    with nobody_dir() as home:
        conf = _portmap_conf(home, "0.4.0")
        text = _cnilib("try", str(conf))
        proc = _cnilib("try", "--json", str(conf))
    assert text.returncode == 0, text.stdout + text.stderr
    line = next(line for line in text.stdout.splitlines() if "not exercised" in line)
    assert line == (
        "SKIP  portmap (plugins[1]): not exercised: it enables portMappings and none were given "
        "(use --port-mappings HOST:CONTAINER[/PROTO],... or CAP_ARGS)"
    )
    assert text.stdout.splitlines()[-2] == "6 passed, 0 failed, 1 skipped"
    report = json.loads(proc.stdout)
    assert report["notExercised"] == [
        {"plugin": "portmap", "index": 1, "capability": "portMappings", "option": "--port-mappings"}
    ]
    assert report["counts"] == {"passed": 6, "failed": 0, "skipped": 1}


@pytest.mark.parametrize("who", ["root", "nobody"])
def test_port_mappings_option_sets_up_dnat(who: str) -> None:
    # 0.3.1, without CHECK: Debian's portmap fails CHECK of IPv4-only mappings (docs/cli.md).
    with nobody_dir() as home:
        conf = _portmap_conf(home, "0.3.1")
        args = ["-m", "cnilib", "try", "--json", "--port-mappings", "8080:80", str(conf)]
        if who == "root":
            proc = subprocess.run(
                [sys.executable, *args], capture_output=True, text=True, timeout=900, check=False
            )
        else:
            proc = run_as_nobody(args, home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["rootless"] is (who == "nobody")
    assert report["notExercised"] == []
    dnat = [i for i in report["created"] if "--dport 8080" in i and "DNAT" in i]
    assert any("--to-destination 10.89.1.2:80" in i for i in dnat), report["created"]
    assert report["left"] == []


def test_bandwidth_option_shapes_the_attachment() -> None:
    bridge = {"type": "bridge", "bridge": "cnibw1", "ipam": {"type": "host-local", "subnet": "10.89.2.0/24"}}
    plugins = [bridge, {"type": "bandwidth", "capabilities": {"bandwidth": True}}]
    with nobody_dir() as home:
        conf = home / "bw.conflist"
        conf.write_text(json.dumps({"cniVersion": "1.0.0", "name": "bw", "plugins": plugins}))
        bare = json.loads(_cnilib("try", "--json", str(conf)).stdout)
        proc = _cnilib("try", "--json", "--bandwidth", "1M/100k", str(conf))
    assert [(n["plugin"], n["option"]) for n in bare["notExercised"]] == [("bandwidth", "--bandwidth")]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["notExercised"] == []
    # The bandwidth plugin's ifb device for the container's egress: made by ADD, gone after DEL.
    assert any(i.startswith("host: link bwp") and "(ifb)" in i for i in report["created"]), report["created"]
    assert report["left"] == []
