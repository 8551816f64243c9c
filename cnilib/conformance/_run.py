"""One conformance run's machinery: :class:`_Run` (the sandbox, the plugin, the results found),
one plugin call and what it printed (:class:`_Call`), and the result validation."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from cnilib._base._errors import _signal_name
from cnilib._exec._protocol import ExecOutcome
from cnilib.sandbox import Container, Sandbox

from ._report import CheckResult, ConformanceReport, Kind, PluginSpec, Status, _vt

#: Called after every check with the report so far (its last result is the new check).
OnCheck = Callable[[ConformanceReport], None]
#: Called before every plugin call with what it is (``"ADD @1.0.0"``).
OnCall = Callable[[str], None]

_KNOWN_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
_PREV_NET = "10.98"


@attrs.frozen
class _Call:
    verb: str
    outcome: ExecOutcome
    doc: Any  # the JSON document found on stdout, or None
    pure: bool  # stdout was exactly that document (or empty)

    @property
    def ok(self) -> bool:
        return self.outcome.exit_status == 0

    @property
    def stdout(self) -> bytes:
        return self.outcome.stdout

    @property
    def stderr(self) -> bytes:
        return self.outcome.stderr

    def how(self) -> str:
        """How the plugin ended, in the words of cnilib's errors."""
        o = self.outcome
        if o.timed_out:
            return f"timed out after {o.timeout or 0:g}s and was killed with its process group"
        if o.start_error is not None:
            return f"could not be started: {o.start_error}"
        if o.signal is not None:
            return f"killed by {_signal_name(o.signal)}"
        return f"exit {o.exit_status}"

    def evidence(self) -> str:
        status = self.how()
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


@attrs.frozen
class _Hooks:
    """What a run passes on to the plugin and reports as it goes (see :func:`run_conformance`)."""

    args: Sequence[tuple[str, str]] = ()
    capability_args: Mapping[str, Any] = attrs.field(factory=dict)
    on_check: OnCheck | None = None
    on_call: OnCall | None = None


class _Run:
    """One conformance run: the sandbox, the plugin and what was found."""

    def __init__(
        self,
        sb: Sandbox,
        plugin: str,
        spec: PluginSpec,
        plugin_dirs: Sequence[str],
        timeout: float,
        hooks: _Hooks | None = None,
    ):
        from cnilib import SubprocessExecutor

        self.sb = sb
        self.spec = spec
        self.timeout = timeout
        self.hooks = hooks or _Hooks()
        self.cni_args = ";".join(f"{k}={v}" for k, v in self.hooks.args)
        #: The versions run, known once the plugin has answered VERSION.
        self.versions: tuple[str, ...] = ()
        self._mark = time.monotonic()
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
        now = time.monotonic()
        self.results.append(CheckResult(check, status, evidence, version, now - self._mark))
        self._mark = now
        if self.hooks.on_check is not None:
            self.hooks.on_check(self.report())

    def report(self) -> ConformanceReport:
        """The report so far."""
        return ConformanceReport(self.name, self.spec.kind, self.versions, tuple(self.results))

    def call(self, verb: str, stdin: bytes | Mapping[str, Any], ctr: Container | None, cid: str) -> _Call:
        from cnilib import ExecRequest, Verb

        data = stdin if isinstance(stdin, bytes) else json.dumps(stdin).encode()
        env = {
            "CNI_COMMAND": verb,
            "CNI_CONTAINERID": cid,
            "CNI_NETNS": ctr.path if ctr is not None else "",
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": self.cni_args,
            "CNI_PATH": os.pathsep.join(self.search),
        }
        if verb in ("VERSION", "STATUS", "GC"):
            env = {k: v for k, v in env.items() if k in ("CNI_COMMAND", "CNI_PATH")}
        if self.hooks.on_call is not None:
            version = stdin.get("cniVersion") if isinstance(stdin, Mapping) and verb != "VERSION" else None
            self.hooks.on_call(f"{self.name}: {verb}" + (f" @{version}" if version else ""))
        request = ExecRequest(Verb(verb), self.name, self.search, env, data, container_id=cid)
        outcome = self.executor.run(request, timeout=self.timeout)
        text = outcome.stdout.decode(errors="replace")
        doc, pure = _find_json(text)
        if not pure:
            self.impure.append(f"{verb} printed {text.strip()[:120]!r}")
        return _Call(verb, outcome, doc, pure)

    def new_container(self, tag: str) -> Container:
        self.counter += 1
        return self.sb.container(f"{tag}{self.counter}")

    def conf(self, version: str, prev: Mapping[str, Any] | None = None) -> dict[str, Any]:
        conf: dict[str, Any] = {"cniVersion": version, "name": "conformance", **self.spec.config}
        # Capability args go to the capabilities the configuration enables, as a runtime sends them.
        enabled = conf.get("capabilities")
        enabled = enabled if isinstance(enabled, Mapping) else {}
        offered = {k: v for k, v in self.hooks.capability_args.items() if enabled.get(k)}
        if offered:
            conf["runtimeConfig"] = {**(conf.get("runtimeConfig") or {}), **offered}
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
