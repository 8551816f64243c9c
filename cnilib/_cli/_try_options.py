"""The options ``cnilib try`` and ``cnilib conformance`` share, and what they mean.

CNI_ARGS and capability args are read as ``cnilib add`` reads them (the same functions of
``_cli._settings``: cnitool's rules), from the environment (``CNI_ARGS``, ``CAP_ARGS``) or from an
option, which wins. ``--port-mappings`` and ``--bandwidth`` write the two capabilities without
which portmap and bandwidth do nothing; :func:`not_exercised` names the plugins left idle.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import TYPE_CHECKING, Any

from .._base._defaults import DEFAULT_PLUGIN_DIRS
from ._argtypes import _positive_float
from ._settings import _cap_args, _cni_args, _Failure, parse_cap_args, parse_cni_args
from ._settings import _plugin_dirs as _given_plugin_dirs

if TYPE_CHECKING:
    import cnilib

__all__ = ["add_run_options", "not_exercised", "plugin_dirs", "runtime_args"]

#: The limit of each step when neither --timeout nor CNI_TIMEOUT is given.
DEFAULT_TIMEOUT = 60.0

#: Capabilities a plugin does nothing without: the option that gives them, and the plugin
#: configuration keys with which it has work of its own anyway (bandwidth's static rates).
EXERCISED_BY: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "portMappings": ("--port-mappings", "HOST:CONTAINER[/PROTO],...", ()),
    "bandwidth": ("--bandwidth", "RATE/BURST", ("ingressRate", "egressRate")),
}

_PORT_MAPPING = re.compile(r"(\d+):(\d+)(?:/(tcp|udp|sctp))?")
_BITS = re.compile(r"(\d+)([kKmMgG]?)")
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def add_run_options(p: argparse.ArgumentParser, *, repeatable_version: bool, limit_of: str) -> None:
    """The options of a run in a sandbox: CNI version, plugin path, limit (``limit_of`` says of
    what), output, and the arguments for the plugins."""
    g = p.add_argument_group("run options")
    g.add_argument(
        "--cni-version",
        metavar="V",
        action="append" if repeatable_version else "store",
        help="only this CNI version (repeatable)" if repeatable_version else "run as CNI version V",
    )
    g.add_argument("--cni-path", metavar="DIRS", help="plugin directories separated by ':' (env CNI_PATH)")
    g.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        help=f"limit of {limit_of} (env CNI_TIMEOUT; default {DEFAULT_TIMEOUT:g})",
    )
    g.add_argument("--json", action="store_true", help="machine-readable JSON only, at the end")
    a = p.add_argument_group("arguments for the plugins (an option wins over its variable)")
    a.add_argument("--cni-args", metavar="K=V;...", help="CNI_ARGS, cnitool's syntax (env CNI_ARGS)")
    a.add_argument("--cap-args", metavar="JSON", help="capability args, a JSON object (env CAP_ARGS)")
    a.add_argument(
        "--port-mappings",
        metavar="HOST:CONTAINER[/PROTO],...",
        action="append",
        help="the portMappings capability (protocol tcp, udp or sctp; default tcp); repeatable",
    )
    a.add_argument(
        "--bandwidth",
        metavar="RATE/BURST",
        help="the bandwidth capability, both ways: bits per second / bits, suffix k, M or G (1M/100k)",
    )


def timeout(ns: argparse.Namespace) -> float:
    """The limit of each step: --timeout, CNI_TIMEOUT (read by the entry point), else the default."""
    return float(ns.timeout) if ns.timeout is not None else DEFAULT_TIMEOUT


def plugin_dirs(ns: argparse.Namespace) -> list[str]:
    """Absolute plugin directories: the sandbox runs plugins from its own working directory.
    Without --cni-path/CNI_PATH, the default directories that exist here."""
    given = _given_plugin_dirs(ns) or [d for d in DEFAULT_PLUGIN_DIRS if os.path.isdir(d)]
    return [os.path.abspath(d) for d in given]


def runtime_args(ns: argparse.Namespace) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """CNI_ARGS pairs and capability args from the options and the environment, as ``add`` reads
    them; --port-mappings and --bandwidth replace those capabilities of CAP_ARGS/--cap-args."""
    args = parse_cni_args(ns.cni_args) if ns.cni_args else _cni_args()
    caps = parse_cap_args(ns.cap_args) if ns.cap_args else _cap_args()
    if ns.port_mappings:
        caps["portMappings"] = [m for text in ns.port_mappings for m in _port_mappings(text)]
    if ns.bandwidth:
        caps["bandwidth"] = _bandwidth(ns.bandwidth)
    return args, caps


def _port_mappings(text: str) -> list[dict[str, Any]]:
    out = []
    for item in text.split(","):
        match = _PORT_MAPPING.fullmatch(item.strip())
        if match is None:
            raise _Failure(f"--port-mappings {item!r}: expected HOST:CONTAINER[/PROTO], e.g. 8080:80/tcp")
        host, container = int(match[1]), int(match[2])
        if not (0 < host < 65536 and 0 < container < 65536):
            raise _Failure(f"--port-mappings {item!r}: a port is 1 to 65535")
        out.append({"hostPort": host, "containerPort": container, "protocol": match[3] or "tcp"})
    return out


def _bandwidth(text: str) -> dict[str, int]:
    rate, sep, burst = text.partition("/")
    values = [_BITS.fullmatch(part) for part in (rate, burst)]
    if not sep or None in values:
        raise _Failure(
            f"--bandwidth {text!r}: expected RATE/BURST, bits per second and bits with an optional "
            "suffix k, M or G (e.g. 1M/100k)"
        )
    r, b = (int(m[1]) * _UNITS[m[2].lower()] for m in values if m is not None)
    if not (r and b):
        raise _Failure(f"--bandwidth {text!r}: the rate and the burst must be more than 0")
    return {"ingressRate": r, "ingressBurst": b, "egressRate": r, "egressBurst": b}


def not_exercised(
    conflist: cnilib.NetworkConfigList, capability_args: dict[str, Any]
) -> list[dict[str, Any]]:
    """The plugins of ``conflist`` that do nothing without a capability arg that was not given:
    ``{plugin, index, capability, option}`` each."""
    out = []
    for index, plugin in enumerate(conflist.plugins):
        for cap in plugin.enabled_capabilities:
            if cap not in EXERCISED_BY or capability_args.get(cap):
                continue
            option, _syntax, own_work = EXERCISED_BY[cap]
            if any(plugin.raw.get(key) for key in own_work):
                continue
            out.append({"plugin": plugin.type, "index": index, "capability": cap, "option": option})
    return out


def not_exercised_line(item: dict[str, Any]) -> str:
    """How ``try`` says that a plugin was not exercised (a skipped step)."""
    option, syntax, _own = EXERCISED_BY[item["capability"]]
    return (
        f"SKIP  {item['plugin']} (plugins[{item['index']}]): not exercised: it enables "
        f"{item['capability']} and none were given (use {option} {syntax} or CAP_ARGS)"
    )
