"""``cnilib try`` and ``cnilib conformance``: real plugins in a :class:`~cnilib.sandbox.Sandbox`.

``try CONFIG`` runs ADD, CHECK (where the version has it) and DEL of a configuration in a sandbox
(with cnitool's ``CAP_ARGS`` as capability args, if set) and says what the plugins created and
what DEL left behind. What remains after the last DEL is split by the rule the ``cnilib_sandbox``
fixture uses (:func:`cnilib.sandbox.split_leftovers`: a bridge, host-local's last-reserved file,
shared chains are kept by the plugins on purpose; anything of one attachment was left behind);
and, as more evidence, a second container is attached and detached while the first is still
attached: whatever that second ADD+DEL adds to the sandbox was left behind, whatever it looks like.

``conformance PLUGIN`` runs :func:`cnilib.conformance.run_conformance`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import cnilib

from ._cli._settings import _cap_args, _conf_dir
from ._cli._settings import _plugin_dirs as _given_plugin_dirs
from ._confdir import read_config
from ._defaults import DEFAULT_PLUGIN_DIRS
from ._sandbox_leftovers import KEPT_TITLE, LEFT_TITLE, format_section, split_leftovers
from ._version import VERB_MIN_VERSION, Verb, version_at_least

if TYPE_CHECKING:
    from cnilib.sandbox import Inventory, Sandbox, StateItem

__all__ = ["cmd_conformance", "cmd_try", "fill_conformance", "fill_try"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cni-path", metavar="DIRS", help="plugin directories separated by ':' (env CNI_PATH)")
    p.add_argument("--timeout", metavar="SECONDS", type=float, help="limit for each plugin run (default 60)")
    p.add_argument("--json", action="store_true", help="machine-readable JSON")


def fill_try(p: argparse.ArgumentParser) -> None:
    """The arguments of ``cnilib try``."""
    p.add_argument(
        "config", metavar="CONFIG", help="a .conf/.conflist file, or a network name in NETCONFPATH"
    )
    # This command's --version is a CNI version: it replaces the parser's program --version.
    p.conflict_handler = "resolve"
    g = p.add_argument_group("try options")
    g.add_argument(
        "--version", metavar="V", dest="cni_version", help="run the configuration as CNI version V"
    )
    p.add_argument(
        "--conf-dir", metavar="DIR", help="configuration directory for a network name (NETCONFPATH)"
    )
    _common(p)


def fill_conformance(p: argparse.ArgumentParser) -> None:
    """The arguments of ``cnilib conformance``."""
    p.add_argument("plugin", metavar="PLUGIN", help="plugin name (looked up in CNI_PATH) or path")
    p.add_argument(
        "--config", metavar="FILE", help="the plugin's configuration (JSON; cniVersion and name are set)"
    )
    p.add_argument("--kind", choices=("main", "ipam", "meta"), help="how to run it (default: by plugin)")
    p.add_argument("--cni-version", metavar="V", action="append", help="only this version (repeatable)")
    p.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report to FILE")
    _common(p)


def _plugin_dirs(ns: argparse.Namespace) -> list[str]:
    # The sandbox needs real directories: without --cni-path/CNI_PATH, the defaults that exist here.
    return _given_plugin_dirs(ns) or [d for d in DEFAULT_PLUGIN_DIRS if os.path.isdir(d)]


def _load(ns: argparse.Namespace) -> cnilib.NetworkConfigList:
    if os.path.sep in ns.config or os.path.isfile(ns.config):
        conflist = cnilib.NetworkConfigList.from_file(ns.config)
    else:
        conflist = cnilib.load_network(_conf_dir(ns), ns.config)
    if ns.cni_version:
        raw = conflist.to_dict()
        raw["cniVersion"] = ns.cni_version
        for plugin in raw.get("plugins", []):
            if "cniVersion" in plugin:
                plugin["cniVersion"] = ns.cni_version
        conflist = cnilib.NetworkConfigList.from_dict(raw)
    return conflist


def _has_check(conflist: cnilib.NetworkConfigList) -> bool:
    version = conflist.cni_version or "0.1.0"
    return version_at_least(version, VERB_MIN_VERSION[Verb.CHECK]) and not conflist.disable_check


class _Try:
    def __init__(
        self,
        sb: Sandbox,
        conflist: cnilib.NetworkConfigList,
        ns: argparse.Namespace,
        capability_args: dict[str, Any] | None = None,
    ) -> None:
        self.sb = sb
        self.conflist = conflist
        self.cni = sb.cni(plugin_dirs=_plugin_dirs(ns), timeout=ns.timeout)
        self.capability_args = capability_args or {}
        self.steps: list[dict[str, Any]] = []
        #: The evidence: what the second attachment left, what remained, the inventory at the end.
        self.grew: set[StateItem] = set()
        self.remaining: list[StateItem] = []
        self.after: Inventory | None = None

    def step(self, verb: str, ctr: str, fn: Any, *args: Any) -> Any:
        try:
            value = fn(self.conflist, *args)
        except cnilib.CNIError as exc:
            self.steps.append({"verb": verb, "container": ctr, "ok": False, "error": str(exc)})
            return None
        self.steps.append({"verb": verb, "container": ctr, "ok": True, "error": None})
        return value

    def runtime(self, n: int, path: str) -> cnilib.RuntimeConfig:
        return cnilib.RuntimeConfig(
            container_id=f"cnilib-try-{n}", netns=path, capability_args=self.capability_args
        )

    def run(self) -> dict[str, Any]:
        sb = self.sb
        first, second = sb.container("try-1"), sb.container("try-2")
        rt1, rt2 = self.runtime(1, first.path), self.runtime(2, second.path)
        base = sb.baseline()
        result = self.step("ADD", first.name, self.cni.add, rt1)
        created = sb.inventory() - base
        if result is not None and _has_check(self.conflist):
            self.step("CHECK", first.name, self.cni.check, rt1)
        attached = sb.inventory()
        if result is not None:
            # The second attachment: what its ADD+DEL adds was left behind by DEL.
            self.step("ADD", second.name, self.cni.add, rt2)
            self.step("DEL", second.name, self.cni.delete, rt2)
        self.grew = set(sb.inventory() - attached)
        self.step("DEL", first.name, self.cni.delete, rt1)
        self.after = sb.inventory()
        self.remaining = self.after - base
        # The rule the cnilib_sandbox fixture uses, with this second attachment as more evidence.
        found = split_leftovers(self.remaining, now=self.after, grew=self.grew)
        ok = all(s["ok"] for s in self.steps) and not found.left
        return {
            "network": self.conflist.name,
            "cniVersion": self.conflist.to_dict().get("cniVersion"),
            "rootless": sb.rootless,
            "ok": ok,
            "steps": self.steps,
            "result": None if result is None else result.to_dict(),
            "created": [str(i) for i in created],
            "left": [str(i) for i in found.left],
            "kept": [str(i) for i in found.kept],
        }


def _print_try(report: dict[str, Any]) -> None:
    out = sys.stdout
    who = "as an unprivileged user (user namespace)" if report["rootless"] else "as root"
    out.write(f"network {report['network']} (cniVersion {report['cniVersion']}) in a sandbox, {who}\n")
    for step in report["steps"]:
        status = "ok" if step["ok"] else f"FAILED: {step['error']}"
        out.write(f"{step['verb']:5} {step['container']}: {status}\n")
    if report["result"] is not None:
        out.write("result of ADD try-1:\n" + json.dumps(report["result"], indent=2) + "\n")
    sections = (
        ("created by ADD", report["created"]),
        (LEFT_TITLE, report["left"]),
        (KEPT_TITLE, report["kept"]),
    )
    for title, items in sections:
        out.write(format_section(title, items))
    out.write("OK\n" if report["ok"] else "FAILED\n")


def cmd_try(ns: argparse.Namespace) -> int:
    """Run ``cnilib try``; 0 when every step succeeded and nothing was left behind."""
    from cnilib.sandbox import Sandbox

    conflist = _load(ns)
    capability_args = _cap_args()
    with Sandbox() as sb:
        report = _Try(sb, conflist, ns, capability_args).run()
    if ns.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        _print_try(report)
    return 0 if report["ok"] else 1


def cmd_conformance(ns: argparse.Namespace) -> int:
    """Run ``cnilib conformance``; 0 when no check failed."""
    from cnilib.conformance import ConformanceError, run_conformance

    config = None
    if ns.config:
        data = read_config(ns.config, "plugin configuration", permissions=False)
        try:
            config = json.loads(data)
        except ValueError as exc:
            raise ConformanceError(f"{ns.config} is not JSON: {exc}") from None
    report = run_conformance(
        ns.plugin,
        config=config,
        kind=ns.kind,
        plugin_dirs=_plugin_dirs(ns),
        versions=ns.cni_version,
        timeout=ns.timeout or 60.0,
    )
    if ns.junit:
        with open(ns.junit, "w", encoding="utf-8") as fh:
            fh.write(report.to_junit() + "\n")
    if ns.json:
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        sys.stdout.write(report.summary() + "\n" + ("OK\n" if report.ok else "FAILED\n"))
    return 0 if report.ok else 1
