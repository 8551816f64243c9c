"""A conformance kit for CNI plugins: one plugin binary through the spec's lifecycle, in a sandbox.

:func:`run_conformance` asks the plugin for VERSION, then, at every version it claims (and cnilib
knows), runs ADD, CHECK, DEL, DEL again, DEL without ADD, DEL after the container namespace is
gone, ADD with a ``prevResult``, and compares the sandbox's state before and after (see
:class:`cnilib.sandbox.Sandbox`). Bad configurations and an unsupported version must give the
spec's error object. Every check ends ``pass``, ``fail`` or ``skip`` with its evidence::

    from cnilib.conformance import run_conformance

    report = run_conformance("/usr/lib/cni/loopback")
    assert report.ok, report.summary()

Plugins are run directly with the spec's environment and stdin (not through the engine), so what
is checked is exactly what the plugin printed. The Debian plugins get a suitable default
configuration (:data:`DEFAULT_SPECS`); any other plugin is run with ``config`` (without
``cniVersion`` and ``name``, which each run sets) as a main plugin unless ``kind`` says otherwise.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import attrs

from cnilib._errors import CNIError
from cnilib.sandbox import Container, Inventory, Sandbox

__all__ = [
    "CHECKS",
    "DEFAULT_SPECS",
    "CheckResult",
    "ConformanceError",
    "ConformanceReport",
    "PluginSpec",
    "run_conformance",
    "spec_for",
]

Status = Literal["pass", "fail", "skip"]
Kind = Literal["main", "ipam", "meta"]

#: Every check: its id and what it asserts.
CHECKS: dict[str, str] = {
    "version-reply": "VERSION prints {cniVersion, supportedVersions} and exits 0",
    "stdout-json-only": "stdout carries only the JSON document (logs go to stderr)",
    "add-result-valid": "ADD's result is valid for the version (indexes, address families, routes, dns)",
    "result-version": "the result's cniVersion is the version asked for",
    "check-after-add": "CHECK after ADD succeeds (0.4.0 and newer)",
    "del": "DEL after ADD succeeds",
    "del-twice": "a second DEL succeeds",
    "del-without-add": "DEL of an attachment never added succeeds",
    "del-netns-gone": "DEL succeeds when the container's network namespace is gone",
    "chained-prevresult": "ADD with a prevResult (chained use) succeeds (0.3.0 and newer)",
    "no-leaks": "nothing is left in the sandbox after DEL",
    "error-bad-config": "a configuration that is not JSON gives an error object {code, msg}, exit != 0",
    "error-unsupported-version": "an unsupported cniVersion gives error code 1, exit != 0",
    "status": "STATUS succeeds (1.1.0)",
    "gc": "GC succeeds (1.1.0)",
}

_KNOWN_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
_PREV_NET = "10.98"


class ConformanceError(CNIError):
    """The conformance run itself could not be done (no such plugin, a bad ``config``)."""


def _vt(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


@attrs.frozen
class PluginSpec:
    """How to run one plugin: ``config`` (without ``cniVersion``/``name``), its ``kind``, host
    commands to run once (``setup``) and before every ADD (``prepare``, idempotent), and, for a
    plugin that cannot run here, ``unsupported`` (the reason)."""

    config: Mapping[str, Any]
    kind: Kind = "main"
    setup: tuple[tuple[str, ...], ...] = ()
    prepare: tuple[tuple[str, ...], ...] = ()
    unsupported: str = ""


def _hl(subnet: str) -> dict[str, Any]:
    return {"type": "host-local", "subnet": subnet}


#: Default configurations of the Debian plugins (containernetworking-plugins).
DEFAULT_SPECS: dict[str, PluginSpec] = {
    "bridge": PluginSpec(
        {"type": "bridge", "bridge": "cnitest0", "isGateway": True, "ipam": _hl("10.99.1.0/24")}
    ),
    "ptp": PluginSpec({"type": "ptp", "ipam": _hl("10.99.2.0/24")}),
    "macvlan": PluginSpec(
        {"type": "macvlan", "master": "ctmaster0", "ipam": _hl("10.99.3.0/24")},
        setup=(("ip", "link", "add", "ctmaster0", "type", "veth", "peer", "name", "ctmaster1"),),
    ),
    "ipvlan": PluginSpec(
        {"type": "ipvlan", "master": "ctmaster0", "ipam": _hl("10.99.4.0/24")},
        unsupported="kernel without ipvlan",
    ),
    "vlan": PluginSpec(
        {"type": "vlan", "master": "ctmaster0", "vlanId": 5, "ipam": _hl("10.99.5.0/24")},
        unsupported="kernel without 8021q (vlan links)",
    ),
    "host-device": PluginSpec(
        {"type": "host-device", "device": "cthdev0"},
        prepare=(("sh", "-c", "ip link show cthdev0 || ip link add cthdev0 type veth peer name cthdev1"),),
    ),
    "loopback": PluginSpec({"type": "loopback"}),
    "host-local": PluginSpec({"type": "host-local", "ipam": _hl("10.99.6.0/24")}, kind="ipam"),
    "static": PluginSpec(
        {"type": "static", "ipam": {"type": "static", "addresses": [{"address": "10.99.7.2/24"}]}},
        kind="ipam",
    ),
    "dhcp": PluginSpec({"type": "dhcp"}, kind="ipam", unsupported="needs its daemon and a DHCP server"),
    "portmap": PluginSpec(
        {
            "type": "portmap",
            "capabilities": {"portMappings": True},
            "runtimeConfig": {"portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]},
        },
        kind="meta",
    ),
    "tuning": PluginSpec({"type": "tuning", "mtu": 1400}, kind="meta"),
    "bandwidth": PluginSpec(
        {
            "type": "bandwidth",
            "ingressRate": 1000000,
            "ingressBurst": 100000,
            "egressRate": 1000000,
            "egressBurst": 100000,
        },
        kind="meta",
    ),
    "firewall": PluginSpec({"type": "firewall", "backend": "iptables"}, kind="meta"),
    "sbr": PluginSpec({"type": "sbr"}, kind="meta"),
    "vrf": PluginSpec({"type": "vrf", "vrfname": "ctvrf0"}, kind="meta", unsupported="kernel without vrf"),
}


@attrs.frozen
class CheckResult:
    """One check's outcome; ``version`` is None for checks made once per plugin."""

    check: str
    status: Status
    evidence: str = ""
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping."""
        return {
            "check": self.check,
            "version": self.version,
            "status": self.status,
            "evidence": self.evidence,
        }


@attrs.frozen
class ConformanceReport:
    """Every :class:`CheckResult` of one plugin."""

    plugin: str
    kind: Kind
    versions: tuple[str, ...]
    results: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failed()

    def failed(self) -> list[CheckResult]:
        """The failed checks."""
        return [r for r in self.results if r.status == "fail"]

    def failed_checks(self) -> set[str]:
        """The ids of the checks that failed at least once."""
        return {r.check for r in self.failed()}

    def status_of(self, check: str) -> Status:
        """``fail`` if the check failed at any version, else ``pass`` if it passed once, else ``skip``."""
        statuses = {r.status for r in self.results if r.check == check}
        return "fail" if "fail" in statuses else "pass" if "pass" in statuses else "skip"

    def summary(self) -> str:
        """One line per check and version."""
        lines = [f"{self.plugin} ({self.kind}), versions {', '.join(self.versions) or '-'}:"]
        for r in self.results:
            at = f" @{r.version}" if r.version else ""
            lines.append(f"  {r.status.upper():4} {r.check}{at}" + (f": {r.evidence}" if r.evidence else ""))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (what ``cnilib conformance --json`` prints)."""
        return {
            "plugin": self.plugin,
            "kind": self.kind,
            "versions": list(self.versions),
            "ok": self.ok,
            "results": [r.to_dict() for r in self.results],
        }

    def to_junit(self) -> str:
        """A JUnit XML document: one testcase per check and version."""
        suite = ET.Element("testsuite", name=f"cni-conformance.{self.plugin}")
        counts = {"tests": 0, "failures": 0, "skipped": 0}
        for r in self.results:
            name = r.check + (f"[{r.version}]" if r.version else "")
            case = ET.SubElement(suite, "testcase", classname=self.plugin, name=name)
            counts["tests"] += 1
            if r.status == "fail":
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=r.evidence[:200]).text = r.evidence
            elif r.status == "skip":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=r.evidence)
        for key, value in counts.items():
            suite.set(key, str(value))
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


@attrs.frozen
class _Call:
    verb: str
    exit_status: int | None
    stdout: bytes
    stderr: bytes
    doc: Any  # the JSON document found on stdout, or None
    pure: bool  # stdout was exactly that document (or empty)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def evidence(self) -> str:
        status = "killed by a signal" if self.exit_status is None else f"exit {self.exit_status}"
        # Whitespace collapsed: evidence is one line in tables and JUnit messages.
        out = " ".join(self.stdout.decode(errors="replace").split())[:300]
        err = " ".join(self.stderr.decode(errors="replace").split())[:300]
        return (
            f"{self.verb}: {status}"
            + (f", stdout {out!r}" if out else "")
            + (f", stderr {err!r}" if err else "")
        )


def _find_json(text: str) -> tuple[Any, bool]:
    stripped = text.strip()
    if not stripped:
        return None, True
    with contextlib.suppress(ValueError):
        return json.loads(stripped), True
    decoder = json.JSONDecoder()
    for i, ch in enumerate(text):
        if ch == "{" and (i == 0 or text[i - 1] == "\n"):
            with contextlib.suppress(ValueError):
                return decoder.raw_decode(text, i)[0], False
    return None, False


def _validate_result(doc: Any, version: str, kind: Kind, netns: str) -> list[str]:
    """What is wrong with an ADD result (empty: valid)."""
    from cnilib import CNIError as _Err
    from cnilib import parse_result

    if not isinstance(doc, dict):
        return ["stdout holds no JSON object"]
    try:
        parse_result(doc, version=version)
    except _Err as exc:
        return [f"not a valid result: {exc}"]
    declared = doc.get("cniVersion") or version
    if _vt(declared) < (0, 3, 0):
        return []
    problems: list[str] = []
    interfaces = doc.get("interfaces") or []
    for n, ip in enumerate(doc.get("ips") or []):
        problems += _check_ip(ip, n, len(interfaces), declared)
    for n, route in enumerate(doc.get("routes") or []):
        with contextlib.suppress(ValueError, TypeError):
            dst = ipaddress.ip_network(route.get("dst"), strict=False)
            if route.get("gw") and ipaddress.ip_address(route["gw"]).version != dst.version:
                problems.append(f"routes[{n}]: gw {route['gw']} is not of dst {dst}'s family")
    if kind == "main" and not any(i.get("sandbox") == netns for i in interfaces):
        problems.append(f"no interface in the container (sandbox {netns!r})")
    return problems


def _check_ip(ip: Mapping[str, Any], n: int, n_interfaces: int, version: str) -> list[str]:
    problems = []
    index = ip.get("interface")
    if index is not None and not (isinstance(index, int) and 0 <= index < n_interfaces):
        problems.append(f"ips[{n}].interface {index!r} is not an index of interfaces ({n_interfaces})")
    try:
        addr = ipaddress.ip_interface(str(ip.get("address")))
    except (ValueError, TypeError):
        return [*problems, f"ips[{n}].address {ip.get('address')!r} is not ADDRESS/PREFIX"]
    if ip.get("gateway"):
        with contextlib.suppress(ValueError):
            if ipaddress.ip_address(ip["gateway"]).version != addr.version:
                problems.append(f"ips[{n}].gateway {ip['gateway']} is not of {addr}'s family")
    if _vt(version) < (1, 0, 0) and ip.get("version") != str(addr.version):
        problems.append(f"ips[{n}].version {ip.get('version')!r} but the address is IPv{addr.version}")
    return problems


class _Run:
    """One conformance run: the sandbox, the plugin and what was found."""

    def __init__(
        self, sb: Sandbox, plugin: str, spec: PluginSpec, plugin_dirs: Sequence[str], timeout: float
    ):
        from cnilib import SubprocessExecutor

        self.sb = sb
        self.spec = spec
        self.timeout = timeout
        if os.sep in plugin:
            path = os.path.abspath(plugin)
            self.name = os.path.basename(path)
            self.search = (os.path.dirname(path), *plugin_dirs)
        else:
            self.name, self.search = plugin, tuple(plugin_dirs)
        self.executor = SubprocessExecutor(argv_prefix=sb.argv_prefix)
        self.results: list[CheckResult] = []
        self.impure: list[str] = []
        self.counter = 0

    def record(self, check: str, status: Status, evidence: str = "", version: str | None = None) -> None:
        self.results.append(CheckResult(check, status, evidence, version))

    def call(self, verb: str, stdin: bytes | Mapping[str, Any], ctr: Container | None, cid: str) -> _Call:
        from cnilib import ExecRequest, Verb

        data = stdin if isinstance(stdin, bytes) else json.dumps(stdin).encode()
        env = {
            "CNI_COMMAND": verb,
            "CNI_CONTAINERID": cid,
            "CNI_NETNS": ctr.path if ctr is not None else "",
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": "",
            "CNI_PATH": os.pathsep.join(self.search),
        }
        if verb in ("VERSION", "STATUS", "GC"):
            env = {k: v for k, v in env.items() if k in ("CNI_COMMAND", "CNI_PATH")}
        request = ExecRequest(Verb(verb), self.name, self.search, env, data, container_id=cid)
        outcome = self.executor.run(request, timeout=self.timeout)
        text = outcome.stdout.decode(errors="replace")
        doc, pure = _find_json(text)
        if not pure:
            self.impure.append(f"{verb} printed {text.strip()[:120]!r}")
        return _Call(verb, outcome.exit_status, outcome.stdout, outcome.stderr, doc, pure)

    def new_container(self, tag: str) -> Container:
        self.counter += 1
        return self.sb.container(f"{tag}{self.counter}")

    def conf(self, version: str, prev: Mapping[str, Any] | None = None) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": version, "name": "conformance", **self.spec.config}
        if prev is not None:
            conf["prevResult"] = prev
        return conf

    def prepare(self) -> None:
        for argv in self.spec.prepare:
            self.sb.run(list(argv), check=False)

    def harness_prev(self, ctr: Container, version: str) -> dict[str, Any]:
        """For chained plugins: a veth whose container end is eth0, and the result describing it."""
        n = self.counter
        host = f"ctprev{n}"
        sb = self.sb
        sb.run(["ip", "link", "add", host, "type", "veth", "peer", "name", f"ctpeer{n}"])
        sb.run(["ip", "link", "set", f"ctpeer{n}", "netns", ctr.path])
        sb.run(["ip", "link", "set", f"ctpeer{n}", "name", "eth0"], netns=ctr)
        sb.run(["ip", "addr", "add", f"{_PREV_NET}.{n % 250}.2/24", "dev", "eth0"], netns=ctr)
        sb.run(["ip", "link", "set", "eth0", "up"], netns=ctr)
        sb.run(["ip", "addr", "add", f"{_PREV_NET}.{n % 250}.1/24", "dev", host])
        sb.run(["ip", "link", "set", host, "up"])
        mac_h = json.loads(sb.run(["ip", "-j", "link", "show", host]).stdout)[0]["address"]
        mac_c = json.loads(sb.run(["ip", "-j", "link", "show", "eth0"], netns=ctr).stdout)[0]["address"]
        return _prev_result(version, host, mac_h, mac_c, ctr.path, n)

    def drop_harness(self, n: int) -> None:
        self.sb.run(["ip", "link", "del", f"ctprev{n}"], check=False)


def _prev_result(version: str, host: str, mac_h: str, mac_c: str, netns: str, n: int) -> dict[str, Any]:
    net = f"{_PREV_NET}.{n % 250}"  # a /24 per harness veth; 250 are never in use at once
    ip: dict[str, Any] = {"address": f"{net}.2/24", "gateway": f"{net}.1", "interface": 1}
    if _vt(version) < (1, 0, 0):
        ip["version"] = "4"
    return {
        "cniVersion": version,
        "interfaces": [{"name": host, "mac": mac_h}, {"name": "eth0", "mac": mac_c, "sandbox": netns}],
        "ips": [ip],
        "routes": [],
        "dns": {},
    }


def _version_reply(run: _Run) -> list[str]:
    call = run.call("VERSION", {"cniVersion": "0.1.0"}, None, "conformance")
    doc = call.doc
    ok = (
        call.ok
        and isinstance(doc, dict)
        and isinstance(doc.get("cniVersion"), str)
        and isinstance(doc.get("supportedVersions"), list)
        and all(isinstance(v, str) for v in doc["supportedVersions"])
    )
    run.record("version-reply", "pass" if ok else "fail", call.evidence())
    if not isinstance(doc, dict) or not isinstance(doc.get("supportedVersions"), list):
        return []
    return [v for v in _KNOWN_VERSIONS if v in doc["supportedVersions"]]


def _errors(run: _Run, newest: str) -> None:
    ctr = run.new_container("e")
    call = run.call("ADD", b"{this is not json", ctr, "conformance-bad")
    doc = call.doc
    good = isinstance(doc, dict) and isinstance(doc.get("code"), int) and isinstance(doc.get("msg"), str)
    run.record("error-bad-config", "pass" if good and not call.ok else "fail", call.evidence())
    run.prepare()
    conf = run.conf("99.0.0")
    call = run.call("ADD", conf, ctr, "conformance-ver")
    doc = call.doc
    good = isinstance(doc, dict) and doc.get("code") == 1 and isinstance(doc.get("msg"), str)
    run.record("error-unsupported-version", "pass" if good and not call.ok else "fail", call.evidence())
    if call.ok:  # it added something after all: take it away again
        run.call("DEL", run.conf(newest), ctr, "conformance-ver")
    run.sb.remove_container(ctr)


def _lifecycle(run: _Run, v: str) -> None:
    """ADD, CHECK, DEL, DEL at version ``v``, and what it left."""
    meta = run.spec.kind == "meta"
    if meta and _vt(v) < (0, 3, 0):
        for check in (
            "add-result-valid",
            "result-version",
            "check-after-add",
            "del",
            "del-twice",
            "no-leaks",
        ):
            run.record(check, "skip", "a chained plugin needs 0.3.0 or newer (prevResult)", v)
        return
    ctr = run.new_container("c")
    n = run.counter
    prev = run.harness_prev(ctr, v) if meta else None
    run.prepare()
    before = run.sb.inventory()
    cid = f"conformance-{n}"
    add = run.call("ADD", run.conf(v, prev), ctr, cid)
    _judge_add(run, add, v, ctr)
    with_result = run.conf(v, add.doc if _vt(v) >= (0, 4, 0) and isinstance(add.doc, dict) else prev)
    if _vt(v) < (0, 4, 0):
        run.record("check-after-add", "skip", "CHECK needs 0.4.0", v)
    elif not add.ok:
        run.record("check-after-add", "skip", "ADD failed", v)
    else:
        checked = run.call("CHECK", with_result, ctr, cid)
        run.record("check-after-add", "pass" if checked.ok else "fail", checked.evidence(), v)
    first = run.call("DEL", with_result, ctr, cid)
    run.record("del", "pass" if first.ok else "fail", first.evidence(), v)
    second = run.call("DEL", with_result, ctr, cid)
    run.record("del-twice", "pass" if second.ok else "fail", second.evidence(), v)
    if meta:
        run.drop_harness(n)
        run.sb.run(["ip", "link", "del", "eth0"], netns=ctr, check=False)
    _judge_leaks(run, before, v)
    run.sb.remove_container(ctr)


def _judge_add(run: _Run, add: _Call, v: str, ctr: Container) -> None:
    if not add.ok:
        run.record("add-result-valid", "fail", add.evidence(), v)
        run.record("result-version", "skip", "ADD failed", v)
        return
    problems = _validate_result(add.doc, v, run.spec.kind, ctr.path)
    evidence = "; ".join(problems) + " in " + add.evidence() if problems else add.evidence()
    run.record("add-result-valid", "fail" if problems else "pass", evidence, v)
    got = add.doc.get("cniVersion") if isinstance(add.doc, dict) else None
    status: Status = "pass" if got == v else "fail"
    run.record("result-version", status, f"asked for {v}, the result says {got!r}", v)


def _judge_leaks(run: _Run, before: Inventory, v: str) -> None:
    left = run.sb.inventory() - before
    if left:
        run.record("no-leaks", "fail", "left after DEL: " + "; ".join(str(i) for i in left), v)
    else:
        run.record("no-leaks", "pass", f"{len(before)} items before ADD, the same after DEL", v)


def _del_cases(run: _Run, v: str) -> None:
    meta = run.spec.kind == "meta"
    ctr = run.new_container("d")
    call = run.call("DEL", run.conf(v), ctr, f"conformance-never-{run.counter}")
    run.record("del-without-add", "pass" if call.ok else "fail", call.evidence(), v)
    run.sb.remove_container(ctr)
    if meta and _vt(v) < (0, 3, 0):
        run.record("del-netns-gone", "skip", "a chained plugin needs 0.3.0 or newer", v)
        return
    ctr = run.new_container("g")
    n = run.counter
    prev = run.harness_prev(ctr, v) if meta else None
    run.prepare()
    cid = f"conformance-gone-{n}"
    add = run.call("ADD", run.conf(v, prev), ctr, cid)
    run.sb.remove_container(ctr)
    if meta:
        run.drop_harness(n)
    if not add.ok:
        run.record("del-netns-gone", "skip", "ADD failed: " + add.evidence(), v)
        return
    conf = run.conf(v, add.doc if _vt(v) >= (0, 4, 0) and isinstance(add.doc, dict) else prev)
    call = run.call("DEL", conf, Container(ctr.name, ctr.path), cid)
    run.record("del-netns-gone", "pass" if call.ok else "fail", call.evidence(), v)


def _chained(run: _Run, v: str) -> None:
    kind = run.spec.kind
    if kind == "ipam":
        run.record("chained-prevresult", "skip", "an IPAM plugin is not chained", v)
        return
    if _vt(v) < (0, 3, 0):
        run.record("chained-prevresult", "skip", "prevResult needs 0.3.0", v)
        return
    if kind == "meta":
        run.record("chained-prevresult", "pass", "every ADD above carried a prevResult", v)
        return
    # A main plugin placed after another one: the earlier plugin's result arrives as prevResult.
    ctr = run.new_container("p")
    prev = {"cniVersion": v, "interfaces": [{"name": "earlier0"}], "ips": [], "routes": [], "dns": {}}
    run.prepare()
    cid = f"conformance-chain-{run.counter}"
    add = run.call("ADD", run.conf(v, prev), ctr, cid)
    run.record("chained-prevresult", "pass" if add.ok else "fail", add.evidence(), v)
    run.call("DEL", run.conf(v, add.doc if isinstance(add.doc, dict) else prev), ctr, cid)
    run.sb.remove_container(ctr)


def _status_gc(run: _Run, versions: Sequence[str]) -> None:
    if "1.1.0" not in versions:
        for check in ("status", "gc"):
            run.record(check, "skip", "the plugin does not claim 1.1.0")
        return
    call = run.call("STATUS", run.conf("1.1.0"), None, "conformance")
    run.record("status", "pass" if call.ok else "fail", call.evidence())
    conf = {**run.conf("1.1.0"), "cni.dev/valid-attachments": []}
    call = run.call("GC", conf, None, "conformance")
    run.record("gc", "pass" if call.ok else "fail", call.evidence())


def _warm_up(run: _Run, v: str) -> None:
    # Shared state a plugin keeps on purpose (the bridge, chains every attachment uses) is made
    # once here, so that "no-leaks" compares attachments, not the first one with an empty world.
    if run.spec.kind == "meta" and _vt(v) < (0, 3, 0):
        return
    ctr = run.new_container("w")
    n = run.counter
    prev = run.harness_prev(ctr, v) if run.spec.kind == "meta" else None
    run.prepare()
    add = run.call("ADD", run.conf(v, prev), ctr, f"conformance-warm-{n}")
    conf = run.conf(v, add.doc if _vt(v) >= (0, 4, 0) and isinstance(add.doc, dict) else prev)
    run.call("DEL", conf, ctr, f"conformance-warm-{n}")
    if prev is not None:
        run.drop_harness(n)
    run.sb.remove_container(ctr)


def _iter_versions(versions: Sequence[str], only: Sequence[str] | None) -> Iterator[str]:
    for v in versions:
        if only is None or v in only:
            yield v


def spec_for(plugin: str, config: Mapping[str, Any] | None = None, kind: Kind | None = None) -> PluginSpec:
    """The :class:`PluginSpec` :func:`run_conformance` uses for ``plugin`` (a name or a path)."""
    name = os.path.basename(plugin)
    default = DEFAULT_SPECS.get(name)
    if config is None:
        if default is None:
            return PluginSpec({"type": name}, kind=kind or "main")
        return default if kind is None else attrs.evolve(default, kind=kind)
    if not isinstance(config, Mapping):
        raise ConformanceError("the configuration must be a JSON object")
    config = {k: v for k, v in config.items() if k not in ("cniVersion", "name")}
    config.setdefault("type", name)
    chosen: Kind = kind or (default.kind if default is not None else "main")
    return PluginSpec(
        config,
        kind=chosen,
        setup=default.setup if default else (),
        prepare=default.prepare if default else (),
    )


def run_conformance(
    plugin: str,
    *,
    config: Mapping[str, Any] | None = None,
    kind: Kind | None = None,
    plugin_dirs: Sequence[str] = ("/usr/lib/cni",),
    versions: Sequence[str] | None = None,
    sandbox: Sandbox | None = None,
    timeout: float = 60.0,
) -> ConformanceReport:
    """Run every check of :data:`CHECKS` against ``plugin`` (a name found in ``plugin_dirs``, or a
    path) and return the report. ``config``/``kind``: see :func:`spec_for`. ``versions`` limits
    the versions tried (default: every version the plugin claims). A fresh :class:`Sandbox` is
    made unless ``sandbox`` is given (it must be otherwise unused: every item it gains is judged).
    """
    spec = spec_for(plugin, config, kind)
    if spec.unsupported:
        raise ConformanceError(f"{os.path.basename(plugin)} cannot run here: {spec.unsupported}")
    with contextlib.ExitStack() as stack:
        sb = sandbox if sandbox is not None else stack.enter_context(Sandbox())
        run = _Run(sb, plugin, spec, plugin_dirs, timeout)
        for argv in spec.setup:
            sb.run(list(argv))
        claimed = _version_reply(run)
        chosen = list(_iter_versions(claimed, versions))
        if chosen:
            _warm_up(run, chosen[-1])
            _errors(run, chosen[-1])
        for v in chosen:
            _lifecycle(run, v)
            _del_cases(run, v)
            _chained(run, v)
        _status_gc(run, chosen)
        if run.impure:
            run.record("stdout-json-only", "fail", "; ".join(run.impure[:5]))
        else:
            run.record("stdout-json-only", "pass", "every reply was one JSON document or nothing")
        return ConformanceReport(run.name, spec.kind, tuple(chosen), tuple(run.results))
    raise AssertionError("unreachable")  # pragma: no cover
