"""``cnilib conformance``: the four broken fakes each fail exactly their checks, the conforming
fake fails none, every Debian plugin this kernel supports gives the results documented in
docs/testing-plugins.md, and the CLI's outputs (text, --json, --junit) as root and as uid 65534."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from sandbox_support import nobody_dir, run_as_nobody

import cnilib
from cnilib.conformance import CHECKS, ConformanceError, run_conformance, spec_for
from cnilib.testing.broken_plugins import BROKEN, write_broken, write_conforming
from cnilib.testing.plugins import write_plugin

pytestmark = pytest.mark.root

# The deviations from the spec found in the Debian plugins (explained in docs/testing-plugins.md).
DEBIAN_FAILS: dict[str, set[str]] = {
    "bridge": set(),
    "ptp": set(),
    "macvlan": set(),
    "host-local": set(),
    "static": set(),
    "tuning": set(),
    "bandwidth": set(),
    "firewall": set(),
    "loopback": {"add-result-valid"},  # 0.3.x/0.4.0 results without ips[].version
    "portmap": {"check-after-add"},  # CHECK looks for an IPv6 chain on an IPv4-only attachment
    "host-device": {"add-result-valid", "del-twice", "del-without-add", "del-netns-gone"},
    "sbr": {"del-without-add", "del-netns-gone"},
}


@pytest.mark.parametrize("variant", sorted(BROKEN))
def test_each_broken_fake_fails_exactly_its_checks(variant: str, tmp_path: Path) -> None:
    report = run_conformance(str(write_broken(tmp_path, variant)))
    assert report.failed_checks() == BROKEN[variant].fails, report.summary()
    assert not report.ok


def test_the_conforming_fake_passes_everything(tmp_path: Path) -> None:
    report = run_conformance(str(write_conforming(tmp_path)))
    assert report.ok, report.summary()
    assert report.versions == ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
    assert {c: report.status_of(c) for c in CHECKS} == dict.fromkeys(CHECKS, "pass")


@pytest.mark.parametrize("plugin", sorted(DEBIAN_FAILS))
def test_debian_plugin(plugin: str) -> None:
    report = run_conformance(plugin)
    assert report.failed_checks() == DEBIAN_FAILS[plugin], report.summary()
    assert report.status_of("version-reply") == "pass"
    assert report.status_of("no-leaks") == "pass"


@pytest.mark.parametrize("plugin", ["vrf", "vlan", "ipvlan", "dhcp"])
def test_plugins_that_cannot_run_here_say_why(plugin: str) -> None:
    with pytest.raises(ConformanceError, match="cannot run here"):
        run_conformance(plugin)


def test_cli_json_and_junit_as_nobody() -> None:
    with nobody_dir() as home:
        plugin = write_broken(home, "chatty")
        junit = home / "report.xml"
        args = ["-m", "cnilib", "conformance", str(plugin), "--cni-version", "1.0.0"]
        proc = run_as_nobody([*args, "--json", "--junit", str(junit)], home)
        xml = junit.read_text()
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is False
    assert report["versions"] == ["1.0.0"]
    failed = {r["check"] for r in report["results"] if r["status"] == "fail"}
    assert failed == {"stdout-json-only"}
    [bad] = [r for r in report["results"] if r["status"] == "fail"]
    assert "fake: ADD for" in bad["evidence"]
    suite = ET.fromstring(xml)
    assert suite.get("failures") == "1"
    [case] = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert case.get("name") == "stdout-json-only"


def test_cli_text_debian_bridge_as_nobody() -> None:
    with nobody_dir() as home:
        proc = run_as_nobody(["-m", "cnilib", "conformance", "bridge", "--cni-version", "1.0.0"], home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("bridge (main), versions 1.0.0:")
    assert re.search(r"^  PASS no-leaks @1\.0\.0 \(\d+\.\d\ds\): ", proc.stdout, re.MULTILINE)
    # Before: ~60 lines and no counts.
    assert proc.stdout.splitlines()[-2:] == ["13 passed, 0 failed, 2 skipped", "OK"]


def test_cli_config_file_and_bad_input(tmp_path: Path) -> None:
    conf = tmp_path / "ptp.json"
    conf.write_text(json.dumps({"type": "ptp", "ipam": {"type": "host-local", "subnet": "10.77.0.0/24"}}))
    cmd = [sys.executable, "-m", "cnilib", "conformance", "ptp", "--cni-version", "0.4.0"]
    proc = subprocess.run([*cmd, "--config", str(conf)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    conf.write_text("{not json")
    proc = subprocess.run([*cmd, "--config", str(conf)], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("cnilib: conformance ptp: ")
    assert "is not JSON" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_spec_for() -> None:
    assert spec_for("/x/portmap").kind == "meta"
    assert spec_for("mine").config == {"type": "mine"}
    spec = spec_for("mine", {"cniVersion": "1.0.0", "name": "n", "foo": 1}, kind="meta")
    assert (spec.config, spec.kind) == ({"foo": 1, "type": "mine"}, "meta")
    with pytest.raises(ConformanceError, match="JSON object"):
        spec_for("mine", [1])  # type: ignore[arg-type]
    with pytest.raises(cnilib.CNIError, match="no broken plugin"):
        write_broken("/nonexistent", "nope")


def test_cli_cni_args_and_cap_args_reach_the_plugin() -> None:
    # The same options and variables as `try` (and `add`): CNI_ARGS in the plugin's environment,
    # capability args in runtimeConfig when its configuration enables them.
    with nobody_dir() as home:
        good = write_conforming(home, "good")
        log = home / "calls.log"
        body = (
            f'conf=$(cat)\nprintf \'%s [%s] %s\\n\' "$CNI_COMMAND" "$CNI_ARGS" "$conf" >> {log}\n'
            f'printf %s "$conf" | exec {good}\n'
        )
        plugin = write_plugin(home, "wrapped", body)
        config = home / "c.json"
        config.write_text(json.dumps({"capabilities": {"portMappings": True}}))
        config.chmod(0o644)
        args = ["-m", "cnilib", "conformance", str(plugin), "--cni-version", "1.0.0", "--config", str(config)]
        args += ["--cni-args", "K8S_POD_NAME=web", "--port-mappings", "8080:80"]
        proc = run_as_nobody(args, home)
        calls = log.read_text().splitlines()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-2:] == ["13 passed, 0 failed, 2 skipped", "OK"]
    mappings = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    for call in calls:
        verb, args_, conf = call.split(" ", 2)
        if verb in ("VERSION", "STATUS", "GC"):
            assert args_ == "[]"  # the spec's variables for these verbs: no CNI_ARGS
            continue
        if conf.startswith("{this"):
            continue  # the check with a configuration that is not JSON
        assert args_ == "[K8S_POD_NAME=web]"
        if json.loads(conf).get("cniVersion") == "1.0.0":
            assert json.loads(conf)["runtimeConfig"] == mappings, call
