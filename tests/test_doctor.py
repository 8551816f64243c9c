"""The doctor's examination and repair on a node of files: Debian's real host-local (it needs no
namespace: it keeps addresses in files), cache entries made by real ADDs whose namespace is then
moved to a path that is gone, fake plugins (real executables) for the configuration checks, and
``cnilib doctor`` as a process. Namespace evidence here: ``/proc/self/ns/net`` is a live network
namespace, a missing path and an empty file are not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest

import cnilib
from cnilib import doctor
from cnilib.doctor import Kind, ValidSource
from cnilib.testing.plugins import exiting_plugin, write_plugin

PLUGIN_DIR = "/usr/lib/cni"
LIVE = "/proc/self/ns/net"
CNILIB = Path(sys.executable).parent / "cnilib"

pytestmark = pytest.mark.skipif(
    not os.access(f"{PLUGIN_DIR}/host-local", os.X_OK), reason="needs Debian's host-local"
)


class Files:
    """A configuration directory, a cache and host-local's store under ``tmp_path``."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.confdir = tmp_path / "net.d"
        self.confdir.mkdir(mode=0o755)
        self.cache_dir = tmp_path / "cache"
        self.ipam = tmp_path / "ipam"
        self.fakes = tmp_path / "fakes"
        self.fakes.mkdir(mode=0o755)
        self.write("lonet")

    def write(self, name: str, extra: list[dict[str, Any]] | None = None, file: str | None = None) -> None:
        plugins = [{"type": "host-local", "ipam": {"type": "host-local", "subnet": "10.77.0.0/24",
                                                   "dataDir": str(self.ipam)}}]  # fmt: skip
        conf = {"cniVersion": "1.0.0", "name": name, "plugins": plugins + (extra or [])}
        (self.confdir / (file or f"10-{name}.conflist")).write_text(json.dumps(conf))

    def cni(self) -> cnilib.CNI:
        return cnilib.CNI([str(self.fakes), PLUGIN_DIR], self.cache_dir)

    def attach(self, cid: str, *, netns: str = LIVE, network: str = "lonet") -> cnilib.CacheEntry:
        """ADD in a live namespace, then record ``netns`` as the entry's (a sandbox that went)."""
        cni = self.cni()
        cni.add(
            cnilib.load_network(self.confdir, network), cnilib.RuntimeConfig(container_id=cid, netns=LIVE)
        )
        [entry] = cni.cached_attachments(cid)
        moved = attrs.evolve(entry, netns=netns)
        cni.cache.write(moved)
        return moved

    def held(self) -> dict[str, str]:
        d = self.ipam / "lonet"
        names = sorted(os.listdir(d)) if d.is_dir() else []
        return {
            n: (d / n).read_text().split()[0] for n in names if n[0].isdigit() and not n.startswith("last")
        }

    def entries(self) -> list[str]:
        d = self.cache_dir / "results"
        return sorted(os.listdir(d)) if d.is_dir() else []

    def diagnose(self, **kw: Any) -> doctor.Diagnosis:
        return doctor.diagnose(conf_dir=self.confdir, cni=self.cni(), **kw)

    def run(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        argv = [str(CNILIB), "doctor", "--conf-dir", str(self.confdir), "--cache-dir", str(self.cache_dir),
                "--cni-path", f"{self.fakes}:{PLUGIN_DIR}", *args]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(tmp_path)


def kinds(d: doctor.Diagnosis | doctor.RepairReport) -> list[tuple[str, str]]:
    return sorted((f.kind.value, f.container_id) for f in d.findings)


def test_entries_whose_namespace_is_gone_are_freed_and_the_live_one_kept(
    files: Files, tmp_path: Path
) -> None:
    empty = tmp_path / "rebooted"
    empty.touch()
    live = files.attach("c-live")
    files.attach("c-missing", netns=str(tmp_path / "no-such-netns"))
    files.attach("c-empty", netns=str(empty))
    live_bytes = (files.cache_dir / "results" / "lonet-c-live-eth0").read_bytes()
    d = files.diagnose()
    assert kinds(d) == [("stale_attachment", "c-empty"), ("stale_attachment", "c-missing")]
    by_id = {f.container_id: f for f in d.findings}
    assert by_id["c-missing"].evidence[0].endswith("no-such-netns: missing")
    assert "not a network namespace" in by_id["c-empty"].evidence[0]
    assert d.checked.attachments == 3
    assert d.checked.reservations == 3

    report = doctor.repair(d)
    assert report.ok
    assert [f.fixed for f in report.findings] == [True, True]
    assert set(files.held().values()) == {"c-live"}
    assert files.entries() == ["lonet-c-live-eth0"]
    assert (files.cache_dir / "results" / "lonet-c-live-eth0").read_bytes() == live_bytes
    assert live.netns == LIVE
    assert files.diagnose().ok
    assert doctor.repair(d).ok  # a second repair of the same findings: already gone, fixed


def test_an_entry_without_netns_is_judged_by_the_results_sandbox(files: Files, tmp_path: Path) -> None:
    entry = files.attach("c-go", netns="")
    result = {**(entry.result or {}), "interfaces": [{"name": "eth0", "sandbox": str(tmp_path / "gone")}]}
    files.cni().cache.write(attrs.evolve(entry, result=result))  # what libcni 1.1.2 and Podman 4 write
    [finding] = files.diagnose().findings
    assert finding.kind == Kind.STALE_ATTACHMENT
    assert "the cached result's sandbox" in finding.evidence[0]


def test_with_no_namespace_to_look_at_the_sources_decide(files: Files) -> None:
    files.attach("c-nowhere", netns="")
    assert files.diagnose().ok  # no evidence, no finding
    [finding] = files.diagnose(sources=[ValidSource([])]).findings
    assert finding.kind == Kind.STALE_ATTACHMENT
    assert finding.evidence == ("no netns recorded", "valid: the container does not exist")
    assert files.diagnose(sources=[ValidSource(["c-nowhere"])]).ok
    assert files.diagnose(sources=[ValidSource([]), ValidSource([("c-nowhere", "eth0")])]).ok


def test_a_live_namespace_is_never_overruled_by_a_source(files: Files) -> None:
    files.attach("c-live")
    assert files.diagnose(sources=[ValidSource([])]).ok


def test_an_unfinished_add_whose_sandbox_is_gone_is_undone(files: Files, tmp_path: Path) -> None:
    version = '{"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]}'
    stdout = {"ADD": '{"code": 11, "msg": "no"}', "VERSION": version, "*": ""}
    exiting_plugin(files.fakes, "failer", stdout=stdout, exit_status={"ADD": 1, "*": 0})
    files.write("lonet", [{"type": "failer"}])
    cni = files.cni()
    conflist = cnilib.load_network(files.confdir, "lonet")
    with pytest.raises(cnilib.PluginError):
        cni.add(conflist, cnilib.RuntimeConfig(container_id="c-crash", netns=LIVE))
    [intent] = cni.unfinished_adds()
    cni.cache.write_intent(attrs.evolve(intent, netns=str(tmp_path / "gone")))
    with cni.cache.lock("lonet", "c-crash", "eth0"):
        assert files.diagnose().ok  # its ADD is still running: not unfinished
    d = files.diagnose()
    assert kinds(d) == [("unfinished_add", "c-crash")]
    assert doctor.repair(d).ok
    assert cni.unfinished_adds() == []
    assert files.held() == {}


def test_an_intent_next_to_a_live_entry_is_the_entrys_business(files: Files, tmp_path: Path) -> None:
    # A re-ADD killed after its intent record, in a sandbox since gone, of an attachment whose
    # entry is live: DEL would take the live one down (it DELs what the entry records).
    entry = files.attach("c-live")
    files.cni().cache.write_intent(attrs.evolve(entry.as_intent(), netns=str(tmp_path / "gone")))
    assert files.diagnose().ok
    os.unlink(files.cache_dir / "results" / "lonet-c-live-eth0")  # without the entry: unfinished
    assert kinds(files.diagnose()) == [("unfinished_add", "c-live")]


def test_an_orphan_reservation_is_released_after_the_grace_period(files: Files) -> None:
    files.attach("c-killed")
    os.unlink(files.cache_dir / "results" / "lonet-c-killed-eth0")  # a runtime killed before writing it
    assert files.diagnose().ok  # younger than the grace period: maybe an ADD in progress
    d = files.diagnose(grace=0)
    [finding] = d.findings
    assert (finding.kind, finding.container_id, finding.ifname) == (
        Kind.ORPHAN_RESERVATION,
        "c-killed",
        "eth0",
    )
    assert finding.detail == "host-local holds 10.77.0.2 for a container nothing knows"
    assert files.diagnose(grace=0, sources=[ValidSource(["c-killed"])]).ok
    assert doctor.repair(d).ok
    assert files.held() == {}


def test_a_reservation_an_older_host_local_wrote_is_released_by_id(files: Files) -> None:
    store = files.ipam / "lonet"
    store.mkdir(parents=True)
    (store / "10.77.0.9").write_text("c-old")  # the id alone, no interface
    [finding] = files.diagnose(grace=0).findings
    assert (finding.kind, finding.ifname) == (Kind.ORPHAN_RESERVATION, "")
    assert doctor.repair(files.diagnose(grace=0)).ok
    assert not (store / "10.77.0.9").exists()


def test_what_changed_after_the_examination_is_not_touched(files: Files, tmp_path: Path) -> None:
    entry = files.attach("c-restarted", netns=str(tmp_path / "gone"))
    d = files.diagnose()
    files.cni().cache.write(attrs.evolve(entry, netns=LIVE))  # re-attached meanwhile
    report = doctor.repair(d)
    [finding] = report.findings
    assert finding.fixed is False
    assert "changed since the examination" in finding.error
    assert files.entries() == ["lonet-c-restarted-eth0"]
    assert set(files.held().values()) == {"c-restarted"}


def test_what_is_wrong_with_the_configuration(files: Files) -> None:
    write_plugin(
        files.fakes, "oldie", 'echo \'{"cniVersion": "0.3.1", "supportedVersions": ["0.3.0", "0.3.1"]}\'\n'
    )
    (files.fakes / "noexec").write_text("#!/bin/sh\n")
    files.write("health", [{"type": "oldie"}, {"type": "noexec"}, {"type": "nowhere"}])
    files.write("health", file="20-health.conflist")
    (files.confdir / "30-broken.conf").write_text("{not json")
    os.chmod(files.confdir, 0o775)
    d = files.diagnose()  # warnings are errors here: the permission problem is a finding, not a warning
    found = sorted((f.kind.value, f.network) for f in d.findings)
    assert found == [
        ("duplicate_network", "health"),
        ("invalid_config", ""),
        ("missing_plugin", "health"),
        ("missing_plugin", "health"),
        ("unsafe_permissions", ""),
        ("unsupported_version", "health"),
    ]
    texts = " | ".join(f.detail for f in d.findings)
    assert "noexec is not executable" in texts
    assert "(nowhere)" in texts
    assert "does not support cniVersion 1.0.0" in texts
    assert "20-health.conflist names network 'health' too" in texts
    assert not any(f.fixable for f in d.findings)
    report = doctor.repair(d)
    assert not report.ok
    assert len(report.unfixed) == 6


def test_unconfigured_networks_and_unreadable_cache_files_are_reported(files: Files) -> None:
    files.write("retired")
    files.attach("c-1", network="retired")
    os.unlink(files.confdir / "10-retired.conflist")
    (files.cache_dir / "results" / "lonet-garbage-eth0").write_text("{")
    found = {(f.kind, f.network) for f in files.diagnose().findings}
    assert found == {(Kind.UNCONFIGURED_NETWORK, "retired"), (Kind.UNREADABLE_CACHE_FILE, "")}


def test_bad_calls_are_doctor_errors(files: Files) -> None:
    with pytest.raises(doctor.DoctorError, match="grace"):
        files.diagnose(grace=-1)
    with pytest.raises(doctor.DoctorError, match="is not the engine's"):
        doctor.diagnose(conf_dir=files.confdir, cni=files.cni(), cache_dir=files.root / "other")
    with pytest.raises(doctor.DoctorError, match="not made by"):
        doctor.repair(doctor.Diagnosis((), doctor.Checked()))
    with pytest.raises(doctor.DoctorError, match="concurrency"):
        doctor.repair(files.diagnose(), concurrency=0)


# -- the command line, as a process ---------------------------------------------------------------


def test_cnilib_doctor_exit_statuses_json_and_fix(files: Files, tmp_path: Path) -> None:
    files.attach("c-live")
    files.attach("c-gone", netns=str(tmp_path / "gone"))
    proc = files.run()
    assert proc.returncode == 1, proc.stderr
    assert "stale attachment: container c-gone eth0" in proc.stdout
    assert proc.stdout.endswith("1 finding(s), 1 of them fixable with --fix\n")
    proc = files.run("--json", "--fix", "--openmetrics", str(tmp_path / "doctor.prom"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True
    assert [(f["container_id"], f["fixed"]) for f in report["findings"]] == [("c-gone", True)]
    assert "cnilib_doctor_fixed" in (tmp_path / "doctor.prom").read_text()
    proc = files.run()
    assert (proc.returncode, proc.stdout.splitlines()[-1]) == (0, "nothing found")


def test_cnilib_doctor_with_a_valid_list(files: Files, tmp_path: Path) -> None:
    files.attach("c-kubelet", netns="")
    (tmp_path / "valid.json").write_text('[{"containerID": "c-kubelet", "ifname": "eth0"}]')
    assert files.run("--valid", str(tmp_path / "valid.json")).returncode == 0
    (tmp_path / "valid.json").write_text("[]")
    proc = files.run("--valid", str(tmp_path / "valid.json"), "--json")
    assert proc.returncode == 1
    assert [f["container_id"] for f in json.loads(proc.stdout)["findings"]] == ["c-kubelet"]


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (("--source", "systemd"), 2, "invalid choice: 'systemd'"),
        (("--grace", "-1"), 2, "0 or more"),
        (("--valid",), 2, "expected one argument"),
        (("--valid", "/nonexistent/valid.json"), 1, "cannot read the list of valid attachments"),
        (("--openmetrics", "/nonexistent/dir/x.prom"), 1, "cannot write the metrics file"),
    ],
)
def test_cnilib_doctor_bad_input(files: Files, args: tuple[str, ...], status: int, message: str) -> None:
    proc = files.run(*args)
    assert proc.returncode == status, proc.stderr
    assert message in proc.stderr
    assert proc.stderr.count("\n") == 1 or status == 2


def test_an_unreachable_source_fixes_nothing(files: Files, tmp_path: Path) -> None:
    files.attach("c-gone", netns=str(tmp_path / "gone"))
    before = (files.entries(), files.held())
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none.sock"}
    proc = files.run("--fix", "--source", "docker", env=env)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith("cnilib: doctor: cannot reach the Docker engine")
    assert (files.entries(), files.held()) == before


def test_cnilib_doctor_help(files: Files) -> None:
    proc = subprocess.run([str(CNILIB), "doctor", "--help"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    for word in ("--fix", "--source", "--valid", "--openmetrics", "--json", "--conf-dir", "exit status"):
        assert word in proc.stdout, word
    top = subprocess.run([str(CNILIB), "--help"], capture_output=True, text=True, check=False).stdout
    assert "doctor [--fix] [--json]" in top
