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
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from cnilib.sandbox import Sandbox

from ._checks import _chained, _del_cases, _errors, _lifecycle, _status_gc, _version_reply, _warm_up
from ._report import CheckResult, ConformanceError, ConformanceReport, Kind, PluginSpec
from ._run import _Hooks, _Run

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
    args: Sequence[tuple[str, str]] = (),
    capability_args: Mapping[str, Any] | None = None,
    on_check: Callable[[ConformanceReport], None] | None = None,
    on_call: Callable[[str], None] | None = None,
) -> ConformanceReport:
    """Run every check of :data:`CHECKS` against ``plugin`` (a name found in ``plugin_dirs``, or a
    path) and return the report. ``config``/``kind``: see :func:`spec_for`. ``versions`` limits
    the versions tried (default: every version the plugin claims). A fresh :class:`Sandbox` is
    made unless ``sandbox`` is given (it must be otherwise unused: every item it gains is judged).
    ``timeout``: the limit of each plugin call.

    ``args`` become ``CNI_ARGS`` of ADD, CHECK and DEL; ``capability_args`` go to ``runtimeConfig``
    for the capabilities the configuration enables (over its own ``runtimeConfig``). To follow
    the run: ``on_check`` is called after every check with the report so far (its last result is
    the new check; ``versions`` is known from the first), ``on_call`` before every plugin call
    with what it is (``"bridge: ADD @1.0.0"``).
    """
    spec = spec_for(plugin, config, kind)
    if spec.unsupported:
        raise ConformanceError(f"{os.path.basename(plugin)} cannot run here: {spec.unsupported}")
    from cnilib import validate_capability_args, validate_cni_args

    validate_cni_args(args)  # before anything is started, as the engine does
    validate_capability_args(capability_args or {})
    hooks = _Hooks(tuple(args), dict(capability_args or {}), on_check, on_call)
    with contextlib.ExitStack() as stack:
        sb = sandbox if sandbox is not None else stack.enter_context(Sandbox())
        run = _Run(sb, plugin, spec, plugin_dirs, timeout, hooks)
        for argv in spec.setup:
            sb.run(list(argv))
        chosen = _version_reply(run, versions)
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
        return run.report()
    raise AssertionError("unreachable")  # pragma: no cover
