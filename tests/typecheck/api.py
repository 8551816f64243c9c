"""The public API as users type it: checked by ``mypy --strict`` in CI (scripts/test.sh), not run.

If a public signature changes in a way that breaks typed callers, this file stops type-checking.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from typing_extensions import assert_type

import cnilib
import cnilib.docker
import cnilib.netns
from cnilib.testing.fake import FakeExecutor, error_outcome, result_outcome


def sync_api(conflist: cnilib.NetworkConfigList) -> None:
    rt = cnilib.RuntimeConfig(
        container_id="abc",
        netns="/run/netns/x",
        ifname="eth0",
        args={"K8S_POD_NAME": "web"},
        capability_args={"portMappings": []},
    )
    cni = cnilib.CNI(plugin_dirs=["/usr/lib/cni"], cache_dir="/var/lib/cni", timeout=30.0)
    result = cni.add(conflist, rt)
    if result is not None:
        assert_type(result.convert_to("0.4.0"), cnilib.Result)
        assert_type(result.to_json(), str)
        assert_type(result.all_addresses, tuple[str, ...])
    cni.check(conflist, rt)
    cni.delete(conflist, rt)
    removed = cni.gc(conflist, valid_attachments=[cnilib.GCAttachment(container_id="abc", ifname="eth0")])
    assert_type(removed, list[cnilib.CacheEntry])
    cni.status(conflist)
    assert_type(cni.version_info("bridge"), cnilib.VersionInfo)
    report = cni.validate(conflist)
    assert_type(report.ok, bool)
    assert_type(report.capabilities, tuple[str, ...])
    assert_type(report.warnings, tuple[str, ...])
    finding: cnilib.FieldFinding = report.findings[0]
    assert_type(finding.path, str)
    assert_type(finding.plugin, int | None)
    assert_type(finding.suggestion, str | None)
    assert_type(report.plugins[0].schemas, tuple[str, ...])
    cni.validate(conflist, schemas="/etc/cni/schemas")
    cni.validate(conflist, schemas={"my-plugin": {"type": "object", "additionalProperties": False}})
    calls: list[cnilib.PlannedCall] = cni.explain("ADD", conflist, rt)
    assert_type(calls[0].env["CNI_COMMAND"], str)
    entries: list[cnilib.CacheEntry] = cni.cached_attachments(container_id="abc")
    assert_type(entries[0].runtime_config(), cnilib.RuntimeConfig)


def loading() -> cnilib.NetworkConfigList:
    conflist = cnilib.load_network("/etc/cni/net.d", "mybridge")
    assert_type(conflist.plugins, tuple[cnilib.PluginConfig, ...])
    assert_type(cnilib.NetworkConfigList.from_file("/etc/cni/net.d/10-x.conflist"), cnilib.NetworkConfigList)
    parsed = cnilib.parse_result(b'{"cniVersion": "1.0.0"}')
    assert_type(parsed.cni_version, str)
    return conflist


async def async_api(conflist: cnilib.NetworkConfigList, rt: cnilib.RuntimeConfig) -> None:
    async with cnilib.AsyncCNI(plugin_dirs=["/usr/lib/cni"], timeout=5.0) as acni:
        await acni.add(conflist, rt)
        await acni.delete(conflist, rt)
        assert_type(await acni.version_info("loopback"), cnilib.VersionInfo)
        assert_type(await acni.gc(conflist), list[cnilib.CacheEntry])


def errors(conflist: cnilib.NetworkConfigList, rt: cnilib.RuntimeConfig) -> None:
    fake = FakeExecutor()
    fake.script("bridge", "ADD", result_outcome({"cniVersion": "1.0.0"}), error_outcome(11, "busy"))
    cni = cnilib.CNI(executor=fake, retry=cnilib.RetryPolicy(attempts=3), rollback=True)
    try:
        cni.add(conflist, rt)
    except cnilib.PluginError as exc:
        assert_type(exc.code, int)
        assert_type(exc.stderr_text, str)
    except cnilib.PluginTimeoutError as exc:
        assert_type(exc.timeout, float)
    except cnilib.CNIError:
        pass


def namespaces_and_docker(cni: cnilib.CNI, conflist: cnilib.NetworkConfigList) -> None:
    with cnilib.netns.create() as ns:
        argv: list[str] = cnilib.netns.enter_argv(ns.path)
        del argv
    info = cnilib.docker.inspect("cnitest")
    assert_type(info.id, str)
    cnilib.docker.attach(cni, "cnitest", conflist)
    cnilib.docker.detach(cni, "cnitest", conflist)


def engine_recovery_and_bounds(conflist: cnilib.NetworkConfigList, rt: cnilib.RuntimeConfig) -> None:
    cni = cnilib.CNI(concurrency=8)
    result = cni.add(conflist, rt)  # never None
    assert_type(result.ips, tuple[cnilib.IPConfig, ...])  # whatever the list's version: no cast
    assert_type(result.all_addresses, tuple[str, ...])
    assert_type(cni.recover(), list[cnilib.CacheEntry])
    assert_type(cni.recover(conflist), list[cnilib.CacheEntry])
    assert_type(cni.recover(container_id="c1"), list[cnilib.CacheEntry])
    assert_type(cni.concurrency, int | None)
    with cni.cache.lock(conflist.name, exclusive=True, timeout=1.0):
        pass
    executor: cnilib.Executor = cnilib.SubprocessExecutor()
    aexecutor: cnilib.AsyncExecutor = cnilib.AsyncSubprocessExecutor()
    del executor, aexecutor
    unbounded = cnilib.AsyncCNI(concurrency=None)
    del unbounded


def reading_results(result: cnilib.Result, any_result: cnilib.Result020 | cnilib.Result100) -> None:
    # Version-independent accessors: no cast, no isinstance, whatever the shape.
    for res in (result, any_result, result.convert_to("0.2.0")):
        assert_type(res.ips, tuple[cnilib.IPConfig, ...])
        assert_type(res.routes, tuple[cnilib.Route, ...])
        assert_type(res.interfaces, tuple[cnilib.Interface, ...])
        assert_type(res.dns, cnilib.DNS)
        first = res.ips[0]
        assert_type(first.address, str)
        assert_type(first.gateway, str | None)
        assert_type(res.routes[0].dst, str)
        assert_type(res.interfaces[0].sandbox, str | None)
        assert_type(res.dns.nameservers, tuple[str, ...])


def hostile_input_and_permissions() -> None:
    import warnings

    warnings.simplefilter("error", cnilib.CNISecurityWarning)
    path: str = cnilib.find_plugin("bridge", ["/usr/lib/cni"], strict_permissions=True)
    del path
    cnilib.load_network("/etc/cni/net.d", "mybridge", strict_permissions=True)
    cnilib.load_networks("/etc/cni/net.d", strict_permissions=True)
    cnilib.load_conf_file("/etc/cni/net.d/10-x.conflist", strict_permissions=True)
    cnilib.validate_capability_args({"portMappings": [{"hostPort": 8080}]})
    try:
        cnilib.parse_result(b"NaN")
    except cnilib.UnsafePermissionsError as exc:
        assert_type(exc.path, str)
    except cnilib.ResultError as exc:
        assert_type(exc.path, str | None)


def networks_api(conflist: cnilib.NetworkConfigList) -> None:
    caps = cnilib.Capabilities(
        port_mappings=[cnilib.PortMapping(host_port=8080, container_port=80, protocol="tcp")],
        bandwidth=cnilib.Bandwidth(ingress_rate=1_000_000, ingress_burst=10_000),
        ip_ranges=[cnilib.IPRange(subnet="10.0.0.0/24")],
        dns=cnilib.DNSCapability(servers=["10.0.0.53"]),
        extra={"io.example/x": 1},
    )
    rt = cnilib.RuntimeConfig(container_id="abc", capability_args=caps)
    assert_type(rt.capability_args["portMappings"], Any)
    nets = cnilib.Networks.from_dir("/etc/cni/net.d", plugin_dirs=["/usr/lib/cni"], loopback=True)
    nets = cnilib.Networks([conflist], cache_dir="/var/lib/cni", min_networks=1)
    att = nets.setup("ctr1", "/run/netns/ctr1", labels={"K8S_POD_NAME": "web"}, capabilities=caps)
    assert_type(att, cnilib.Attachment)
    eth0 = att.interfaces["eth0"]
    for ip in eth0.ips:
        assert_type(ip.ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
        assert_type(ip.network.prefixlen, int)
    assert_type(eth0.gateways[0].is_private, bool)
    assert_type(eth0.mac, str | None)
    assert_type(eth0.sandbox, str | None)
    assert_type(eth0.pci_id, str | None)
    assert_type(eth0.socket_path, str | None)
    assert_type(att.routes[0].destination.prefixlen, int)
    assert_type(att.dns.nameservers, tuple[str, ...])
    assert_type(att.results["mynet"].ips[0].address, str)
    assert_type(att.default, cnilib.AttachedInterface | None)
    nets.check("ctr1", "/run/netns/ctr1")
    nets.remove("ctr1", "/run/netns/ctr1", capabilities=caps)
    nets.status()
    assert_type(nets.reload(), bool)
    for cfg in nets.watch():
        assert_type(cfg, cnilib.NetworksConfig)
        assert_type(cfg.networks[0].ifname, str)
    # The engine's own add: the result's addresses without branching on the result's version.
    result = cnilib.CNI().add(conflist, rt)
    if result is not None:
        assert_type(result.all_addresses, tuple[str, ...])
    try:
        nets.status()
    except cnilib.NetworksNotReadyError as exc:
        assert_type(exc.errors, dict[str, BaseException])


async def async_networks_api() -> None:
    async with cnilib.AsyncNetworks.from_dir("/etc/cni/net.d", loopback=True) as nets:
        att = await nets.setup("ctr1", "/run/netns/ctr1")
        assert_type(att.interfaces["eth0"].ips, tuple[ipaddress.IPv4Interface | ipaddress.IPv6Interface, ...])
        await nets.check("ctr1", "/run/netns/ctr1")
        await nets.remove("ctr1", "/run/netns/ctr1")
        await nets.status()
        assert_type(await nets.reload(), bool)
        async for cfg in nets.watch():
            assert_type(cfg, cnilib.NetworksConfig)


def sandbox_and_conformance(conflist: cnilib.NetworkConfigList) -> None:
    from cnilib.conformance import CheckResult, ConformanceReport, run_conformance
    from cnilib.sandbox import Container, Inventory, Leftovers, Sandbox, StateItem, split_leftovers

    with Sandbox() as sb:
        ctr = sb.container("c1")
        assert_type(ctr, Container)
        cni = sb.cni(plugin_dirs=["/usr/lib/cni"])
        assert_type(cni, cnilib.CNI)
        cni.add(conflist, cnilib.RuntimeConfig(container_id="c1", netns=ctr.path))
        assert_type(sb.run(["ip", "addr"], netns=ctr).stdout, str)
        assert_type(sb.inventory(), Inventory)
        assert_type(sb.leaks(), list[StateItem])
        assert_type(sb.leaks(strict=True), list[StateItem])
        found = sb.leftovers()
        assert_type(found, Leftovers)
        assert_type(found.left, tuple[StateItem, ...])
        assert_type(found.describe(), str)
        assert_type(split_leftovers(found.kept, now=sb.inventory(), grew=()), Leftovers)
        assert_type(sb.mark_baseline(), Inventory)
    report = run_conformance("bridge", versions=["1.0.0"])
    assert_type(report, ConformanceReport)
    assert_type(report.failed(), list[CheckResult])
    assert_type(report.failed_checks(), set[str])
    assert_type(report.to_junit(), str)
    # Following a run as it goes, with the arguments a runtime would pass.
    lines: list[str] = []
    report = run_conformance(
        "portmap",
        args=[("K8S_POD_NAME", "web")],
        capability_args={"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]},
        on_check=lambda so_far: lines.append(so_far.results[-1].line()),
        on_call=lines.append,
    )
    assert_type(report.counts(), dict[str, int])
    assert_type(report.heading(), str)
    assert_type(report.results[0].duration, float | None)


def docker_watch_api() -> None:
    # The watcher as `cnilib docker watch` runs it, and one synchronous pass.
    from cnilib import docker

    status = docker.watch(conf_dir="/etc/cni/net.d", plugin_dirs=["/usr/lib/cni"], resync_interval=30.0)
    assert_type(status, int)
    report = docker.reconcile(conf_dir="/etc/cni/net.d")
    assert_type(report.attached, tuple[str, ...])
    assert_type(report.failed["id"], str)
    assert_type(report.ok, bool)
    spec = docker.parse_labels(docker.inspect("web"))
    if spec is not None:
        assert_type(spec.networks, tuple[str, ...])


async def async_docker_watch_api() -> None:
    from cnilib import docker

    async with docker.Watcher(conf_dir="/etc/cni/net.d", cache_dir="/var/lib/cni") as watcher:
        report = await watcher.reconcile()
        assert_type(report, docker.ReconcileReport)
        watcher.stop()
        await watcher.run(on_ready=lambda: None)


def doctor_api(cni: cnilib.CNI) -> None:
    # The node doctor as `cnilib doctor --fix --source docker --valid F --openmetrics F` uses it.
    from cnilib import doctor

    sources: list[doctor.Source] = [
        doctor.DockerSource(),
        doctor.PodmanSource(["nsenter", "--net=/run/netns/x", "podman"], env={"CONTAINERS_CONF": "/x"}),
        doctor.ValidSource.from_file("/run/valid.json"),
        doctor.ValidSource(["abc", ("def", "eth0")]),
    ]
    assert_type(sources[0].state("abc", "eth0"), doctor.Liveness)
    diagnosis = doctor.diagnose(conf_dir="/etc/cni/net.d", cni=cni, sources=sources, grace=60.0)
    assert_type(diagnosis.ok, bool)
    for finding in diagnosis.findings:
        assert_type(finding.kind, doctor.Kind)
        assert_type(finding.evidence, tuple[str, ...])
        assert_type(finding.fixed, bool | None)
    assert_type(diagnosis.checked.attachments, int)
    report = doctor.repair(diagnosis, concurrency=4, timeout=30.0)
    assert_type(report.unfixed, tuple[doctor.Finding, ...])
    assert_type(report.to_dict()["ok"], Any)
    assert_type(doctor.text_report(report), str)
    assert_type(doctor.openmetrics_text(diagnosis), str)
    doctor.write_openmetrics("/var/lib/node_exporter/cnilib.prom", report)
