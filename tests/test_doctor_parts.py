"""The doctor's parts on their own: liveness sources (a fake ``podman`` executable, Docker without an
engine, the valid list), the leftover chains (``cnilib._spec._leftovers``) found in what the real plugins
wrote, and the reports (the OpenMetrics file parsed by prometheus_client)."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_prometheus

from cnilib import doctor
from cnilib._spec._leftovers import chain_name, list_leftovers
from cnilib.doctor import Checked, Diagnosis, Finding, Kind, Liveness, RepairReport, SourceError
from cnilib.doctor._netfilter import attachment_chains, owners, parse_table, present
from cnilib.doctor._sources import combine
from cnilib.testing.plugins import write_plugin

FULL = "a" * 64
OTHER = "b" * 64

# -- the valid list -------------------------------------------------------------------------------


def test_valid_list_of_ids_and_attachments() -> None:
    src = doctor.ValidSource.from_json(
        json.dumps(["c1", {"containerID": "c2", "ifname": "eth1"}, {"containerID": "c3"}])
    )
    assert src.state("c1", "eth7") == Liveness.ALIVE
    assert src.state("c2", "eth1") == Liveness.ALIVE
    assert src.state("c2", "eth0") == Liveness.GONE
    assert src.state("c2") == Liveness.ALIVE  # the container, whichever interface
    assert src.state("c3", "eth0") == Liveness.ALIVE
    assert src.state("c4") == Liveness.GONE
    assert src.states([("c1", None), ("c9", "eth0")]) == {
        ("c1", None): Liveness.ALIVE,
        ("c9", "eth0"): Liveness.GONE,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ('{"containerID": "c1"}', "must be a JSON list"),
        ("[1]", "[0] must be a container id"),
        ('[{"containerID": "c1", "ifname": 3}]', "[0].ifname must be a string"),
        ('["bad id!"]', "container id"),
        ('[{"containerID": "c1", "ifname": "a/b"}]', "interface name"),
    ],
)
def test_a_bad_valid_list_is_a_source_error(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=re.escape(message)):
        doctor.ValidSource.from_json(text, source="valid.json")


def test_an_unreadable_valid_file_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="cannot read the list of valid attachments"):
        doctor.ValidSource.from_file(tmp_path / "missing.json")


def test_combine_prefers_alive_then_gone() -> None:
    assert combine([Liveness.GONE, Liveness.ALIVE]) == Liveness.ALIVE
    assert combine([Liveness.UNKNOWN, Liveness.GONE]) == Liveness.GONE
    assert combine([]) == Liveness.UNKNOWN


# -- podman, as a fake executable -----------------------------------------------------------------

_FAKE_PODMAN = """
echo "$@" >> "$(dirname "$0")/calls"
case "$1 $2" in
  "container exists")
    case "$3" in
      {alive}) exit 0 ;;
      {broken}) echo "Error: storage is locked" >&2; exit 125 ;;
      *) exit 1 ;;
    esac ;;
  "ps --all") {ps}; exit 0 ;;
esac
exit 125
"""


def fake_podman(tmp_path: Path, *, ps: str = "echo {alive}", broken: str = "none") -> tuple[Path, Path]:
    body = _FAKE_PODMAN.format(alive=FULL, broken=broken, ps=ps.format(alive=FULL))
    return write_plugin(tmp_path, "podman", body, shebang="#!/bin/sh"), tmp_path / "calls"


def test_podman_lists_containers_once(tmp_path: Path) -> None:
    podman, calls = fake_podman(tmp_path)
    src = doctor.PodmanSource([str(podman)])
    src.check()
    answers = src.states([(FULL, "eth0"), (OTHER, None), ("cnitool-1234", "eth0")])
    assert answers == {
        (FULL, "eth0"): Liveness.ALIVE,
        (OTHER, None): Liveness.GONE,
        ("cnitool-1234", "eth0"): Liveness.UNKNOWN,  # not a podman id: never asked as a name
    }
    assert calls.read_text().splitlines() == [
        f"container exists {'0' * 64}",
        "ps --all --no-trunc --format {{.ID}}",
    ]


def test_podman_asks_one_by_one_when_ps_fails_after_a_crash(tmp_path: Path) -> None:
    podman, calls = fake_podman(tmp_path, ps="echo 'Error: joining network namespace' >&2; exit 125")
    src = doctor.PodmanSource([str(podman)])
    assert src.states([(FULL, None), (OTHER, "eth0")]) == {
        (FULL, None): Liveness.ALIVE,
        (OTHER, "eth0"): Liveness.GONE,
    }
    assert f"container exists {OTHER}" in calls.read_text()
    assert src.state("not-an-id") == Liveness.UNKNOWN


def test_podman_that_cannot_answer_is_a_source_error(tmp_path: Path) -> None:
    podman, _ = fake_podman(tmp_path, broken=OTHER)
    with pytest.raises(SourceError, match="storage is locked"):
        doctor.PodmanSource([str(podman)]).state(OTHER)
    with pytest.raises(SourceError, match="cannot run podman"):
        doctor.PodmanSource([str(tmp_path / "no-podman")]).check()


# -- docker without an engine ---------------------------------------------------------------------


def test_docker_that_cannot_be_reached_is_a_source_error(tmp_path: Path) -> None:
    src = doctor.DockerSource(f"unix://{tmp_path}/docker.sock", timeout=2)
    with pytest.raises(SourceError, match="cannot reach the Docker engine"):
        src.check()
    with pytest.raises(SourceError, match="cannot reach the Docker engine"):
        src.states([(FULL, "eth0")])
    assert src.state("cnitool-12") == Liveness.UNKNOWN  # not Docker's to judge: nothing asked
    with pytest.raises(SourceError, match="only unix://"):
        doctor.DockerSource("tcp://127.0.0.1:2375").check()


# -- the plugins' NAT state, read with the leftovers' knowledge -----------------------------------

# What Debian's bridge and portmap 1.1.1 wrote for network "expnet", container "ctr-abc", port
# 18080 (iptables-save -t nat in a sandbox namespace), trimmed to the relevant lines.
_SAVED = (Path(__file__).parent / "data" / "iptables-save-bridge-portmap.txt").read_text()
_BRIDGE = {"type": "bridge", "ipMasq": True, "ipam": {"type": "host-local"}}
_PORTMAP = {"type": "portmap", "capabilities": {"portMappings": True}}


def test_the_saved_rules_name_their_container_and_its_chains_are_the_leftovers() -> None:
    table = parse_table(_SAVED, "ipv4")
    assert owners([table]) == {("expnet", "ctr-abc")}  # from the comments, bridge's and portmap's
    assert attachment_chains([table]) == 2  # not CNI-HOSTPORT-*
    items = list_leftovers([_BRIDGE, _PORTMAP], "expnet", "ctr-abc", "eth0", None)
    [tie] = present([table], "expnet", "ctr-abc", items)
    assert tie.chains == (chain_name("expnet", "ctr-abc"), chain_name("expnet", "ctr-abc", "DN-"))
    assert tie.chains == ("CNI-49ad84885322968ce20c0579", "CNI-DN-49ad84885322968ce20c0")
    assert {(i.plugin, i.parents) for i in tie.items} == {  # type: ignore[attr-defined]
        ("bridge", ("POSTROUTING",)),
        ("portmap", ("CNI-HOSTPORT-DNAT",)),
    }  # what the sweep removes, and from where
    assert tie.jumps == 2  # POSTROUTING's and CNI-HOSTPORT-DNAT's jumps, not the shared rules
    assert tie.describe() == (
        "iptables nat: CNI-49ad84885322968ce20c0579, CNI-DN-49ad84885322968ce20c0; "
        "2 rule(s) elsewhere pointing at them"
    )
    someone_else = list_leftovers([_BRIDGE, _PORTMAP], "expnet", "other", "eth0", None)
    assert present([table], "expnet", "other", someone_else) == []
    # Only what the network's plugins make: without ipMasq, bridge's chain is nobody's leftover.
    [portmap_only] = present(
        [table], "expnet", "ctr-abc", list_leftovers([_PORTMAP], "expnet", "ctr-abc", "", None)
    )
    assert portmap_only.chains == ("CNI-DN-49ad84885322968ce20c0",)
    # With the cached result's addresses (IPv4 only), bridge's chain is looked for in IPv4 only.
    result = {"cniVersion": "1.0.0", "ips": [{"address": "10.99.7.2/24"}]}
    cached = list_leftovers([_BRIDGE], "expnet", "ctr-abc", "eth0", result)
    assert [t.family for t in present([table, parse_table(_SAVED, "ipv6")], "expnet", "ctr-abc", cached)] == [
        "ipv4"
    ]


# -- reports --------------------------------------------------------------------------------------


def _report(fixed: bool | None = None) -> Diagnosis | RepairReport:
    findings = (
        Finding(Kind.STALE_ATTACHMENT, "net", "a cached attachment whose sandbox is gone",
                evidence=("netns /x: missing",), container_id="c1", ifname="eth0", fixable=True,
                action="DEL", fixed=fixed),
        Finding(Kind.UNSAFE_PERMISSIONS, "", 'path "a\\b" writable', action="report only",
                fixed=fixed and False),
    )  # fmt: skip
    checked = Checked(
        networks=1, attachments=2, reservations=3, sources=("netns", "docker"), duration_seconds=0.25
    )
    if fixed is None:
        return Diagnosis(findings, checked)
    return RepairReport(findings, checked, duration_seconds=1.5)


def test_the_json_report_has_the_documented_schema() -> None:
    data = json.loads(_report().to_json())
    assert list(data) == ["ok", "findings", "checked"]
    assert data["ok"] is False
    assert list(data["findings"][0]) == [
        "kind", "network", "container_id", "ifname", "detail", "evidence", "fixable", "fixed",
        "action", "error",
    ]  # fmt: skip
    assert data["findings"][0]["kind"] == "stale_attachment"
    assert data["findings"][0]["fixed"] is None
    assert data["checked"] == {
        "networks": 1, "attachments": 2, "unfinished_adds": 0, "reservations": 3, "chains": 0,
        "interfaces": 0, "sources": ["netns", "docker"], "duration_seconds": 0.25,
    }  # fmt: skip
    repaired = json.loads(_report(fixed=True).to_json())
    assert [f["fixed"] for f in repaired["findings"]] == [True, False]
    assert repaired["ok"] is False


def test_the_text_report_groups_by_network_and_says_what_fix_does() -> None:
    text = doctor.text_report(_report())
    assert text.splitlines()[:6] == [
        "network net",
        "  stale attachment: container c1 eth0",
        "    a cached attachment whose sandbox is gone",
        "    - netns /x: missing",
        "    --fix: DEL",
        "not tied to a network",
    ]
    assert text.endswith("2 finding(s), 1 of them fixable with --fix\n")
    assert "fixed: DEL" in doctor.text_report(_report(fixed=True))
    assert doctor.text_report(Diagnosis((), Checked())).endswith("nothing found\n")


@pytest.mark.parametrize("parse", [parse_openmetrics, parse_prometheus])
def test_the_metrics_parse_as_openmetrics_and_prometheus_text(parse: object) -> None:
    text = doctor.openmetrics_text(_report(fixed=True), now=1700000000.5)
    families = {f.name: f for f in parse(text)}  # type: ignore[operator]
    found = families["cnilib_doctor_findings"]
    assert found.type == "gauge"
    assert {(s.labels["kind"], s.labels["network"], s.value) for s in found.samples} == {
        ("stale_attachment", "net", 1.0),
        ("unsafe_permissions", "", 1.0),
    }
    fixed = {(s.labels["kind"], s.value) for s in families["cnilib_doctor_fixed"].samples}
    assert fixed == {("stale_attachment", 1.0), ("unsafe_permissions", 0.0)}
    assert families["cnilib_doctor_ok"].samples[0].value == 0
    assert families["cnilib_doctor_attachments_checked"].samples[0].value == 2
    assert families["cnilib_doctor_duration_seconds"].samples[0].value == 0.25
    assert families["cnilib_doctor_last_run_timestamp_seconds"].samples[0].value == 1700000000.5


def test_the_metrics_file_is_replaced_atomically(tmp_path: Path) -> None:
    target = tmp_path / "cnilib.prom"
    target.write_text("old\n")
    os.chmod(target, 0o600)
    doctor.write_openmetrics(target, _report())
    assert target.read_text().endswith("# EOF\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # node_exporter may run as another user
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cnilib.prom"]
    with pytest.raises(doctor.DoctorError, match="cannot write the metrics file"):
        doctor.write_openmetrics(tmp_path / "missing" / "cnilib.prom", _report())
