"""``cnilib try`` and ``cnilib conformance``: real plugins in a :class:`~cnilib.sandbox.Sandbox`.

``try CONFIG`` runs ADD, CHECK (where the version has it) and DEL of a configuration in a sandbox,
with the CNI_ARGS and capability args ``cnilib add`` would send (``_try_options``), and says
what the plugins created and what DEL left behind. What remains after the last DEL is split by the
rule the ``cnilib_sandbox`` fixture uses (:func:`cnilib.sandbox.split_leftovers`: a bridge,
host-local's last-reserved file, shared chains are kept by the plugins on purpose; anything of one
attachment was left behind); and, as more evidence, a second container is attached and detached
while the first is still attached: whatever that second ADD+DEL adds to the sandbox was left
behind, whatever it looks like.

Each step is printed as soon as it ends, with its duration; on a terminal a status line shows the
step in progress (``_progress``). The report ends with the counts and OK or FAILED.

``conformance PLUGIN`` runs :func:`cnilib.conformance.run_conformance` (``_conformance``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import cnilib

from .._spec._version import VERB_MIN_VERSION, Verb, version_at_least
from ..sandbox._leftovers import KEPT_TITLE, LEFT_TITLE, counts_line, format_section, split_leftovers
from ..sandbox._leftovers import duration_text as seconds
from ._conformance import cmd_conformance, fill_conformance
from ._progress import Progress
from ._settings import _conf_dir
from ._try_options import (
    add_run_options,
    not_exercised,
    not_exercised_line,
    plugin_dirs,
    runtime_args,
    timeout,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from cnilib import PluginRun
    from cnilib.sandbox import Inventory, Leftovers, Sandbox, StateItem

__all__ = ["cmd_conformance", "cmd_try", "fill_conformance", "fill_try"]


def fill_try(p: argparse.ArgumentParser) -> None:
    """The arguments of ``cnilib try``."""
    p.add_argument(
        "config", metavar="CONFIG", help="a .conf/.conflist file, or a network name in NETCONFPATH"
    )
    p.add_argument(
        "--conf-dir", metavar="DIR", help="configuration directory for a network name (NETCONFPATH)"
    )
    add_run_options(p, repeatable_version=False, limit_of="each ADD, CHECK or DEL of the list")


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


def _no_check(conflist: cnilib.NetworkConfigList) -> str | None:
    """Why CHECK is not run, or None."""
    version = conflist.cni_version or "0.1.0"
    if not version_at_least(version, VERB_MIN_VERSION[Verb.CHECK]):
        return f"cniVersion {version} has no CHECK"
    return "the list sets disableCheck" if conflist.disable_check else None


class _Try:
    """One run: the steps, each printed as it ends, and the evidence for the verdict."""

    def __init__(
        self,
        sb: Sandbox,
        conflist: cnilib.NetworkConfigList,
        ns: argparse.Namespace,
        progress: Progress,
        args: list[tuple[str, str]],
        capability_args: dict[str, Any],
    ) -> None:
        self.sb = sb
        self.conflist = conflist
        self.progress = progress
        self.cni = sb.cni(plugin_dirs=plugin_dirs(ns), timeout=timeout(ns), on_plugin=self.ran)
        self.args = args
        self.capability_args = capability_args
        self.idle = not_exercised(conflist, capability_args)
        self.steps: list[dict[str, Any]] = []
        self.skipped: list[dict[str, str]] = []
        self.current = ""  # the step in progress, for the status line

    def label(self, index: int) -> str:
        """The status line of a step while ``plugins[index]`` runs (which one hangs, if one does)."""
        return f"{self.current}: {self.conflist.plugins[index].type}"

    def ran(self, run: PluginRun) -> None:
        # on_plugin, after each plugin: the next one runs now (DEL goes through the list backwards).
        following = run.index + (-1 if run.verb.value == "DEL" else 1)
        if 0 <= following < len(self.conflist.plugins):
            self.progress.relabel(self.label(following))

    def step(self, verb: str, ctr: str, fn: Callable[..., Any], *args: Any) -> Any:
        error, value = None, None
        self.current = f"{verb} {ctr}"
        first = len(self.conflist.plugins) - 1 if verb == "DEL" else 0
        with self.progress.step(self.label(first)) as timer:
            try:
                value = fn(self.conflist, *args)
            except cnilib.CNIError as exc:
                error = str(exc)
        took = timer.elapsed
        self.steps.append(
            {"verb": verb, "container": ctr, "ok": error is None, "error": error, "duration": round(took, 3)}
        )
        status = f"ok {seconds(took)}" if error is None else f"FAILED {seconds(took)}: {error}"
        self.progress.line(f"{verb:5} {ctr}: {status}")
        return value

    def skip(self, verb: str, ctr: str, reason: str) -> None:
        self.skipped.append({"verb": verb, "container": ctr, "reason": reason})
        self.progress.line(f"{verb:5} {ctr}: skipped: {reason}")

    def inventory(self, label: str) -> tuple[Inventory, float]:
        with self.progress.step(label) as timer:
            inv = self.sb.inventory()
        return inv, timer.elapsed

    def runtime(self, n: int, path: str) -> cnilib.RuntimeConfig:
        return cnilib.RuntimeConfig(
            container_id=f"cnilib-try-{n}", netns=path, args=self.args, capability_args=self.capability_args
        )

    def run(self) -> dict[str, Any]:
        sb, cni = self.sb, self.cni
        who = "as an unprivileged user (user namespace)" if sb.rootless else "as root"
        version = self.conflist.to_dict().get("cniVersion")
        self.progress.line(f"network {self.conflist.name} (cniVersion {version}) in a sandbox, {who}")
        for item in self.idle:
            self.progress.line(not_exercised_line(item))
        first, second = sb.container("try-1"), sb.container("try-2")
        rt1, rt2 = self.runtime(1, first.path), self.runtime(2, second.path)
        base = sb.baseline()
        result = self.step("ADD", first.name, cni.add, rt1)
        now, took = self.inventory("inventory after ADD")
        created = now - base
        self.progress.line(f"DIFF  after ADD {first.name}: {len(created)} new item(s) {seconds(took)}")
        why_not = "ADD try-1 failed" if result is None else _no_check(self.conflist)
        if why_not:
            self.skip("CHECK", first.name, why_not)
        else:
            self.step("CHECK", first.name, cni.check, rt1)
        grew = self.second_attachment(second.name, rt2, first_ok=result is not None)
        self.step("DEL", first.name, cni.delete, rt1)
        found = self.leftovers(base, grew)
        failed = sum(not s["ok"] for s in self.steps) + bool(found.left)
        return {
            "network": self.conflist.name,
            "cniVersion": version,
            "rootless": sb.rootless,
            "ok": not failed,
            "steps": self.steps,
            "skipped": self.skipped,
            "notExercised": self.idle,
            "result": None if result is None else result.to_dict(),
            "created": [str(i) for i in created],
            "left": [str(i) for i in found.left],
            "kept": [str(i) for i in found.kept],
            "counts": {
                "passed": len(self.steps) + 1 - failed,  # the steps and the last DIFF
                "failed": failed,
                "skipped": len(self.skipped) + len(self.idle),
            },
        }

    def second_attachment(self, name: str, rt: cnilib.RuntimeConfig, *, first_ok: bool) -> set[StateItem]:
        """ADD and DEL of a second container while the first is attached: what they add and do not
        take away (left behind by DEL, whatever it looks like)."""
        attached, _ = self.inventory("inventory with try-1 attached")
        if not first_ok:
            self.skip("ADD", name, "ADD try-1 failed")
            self.skip("DEL", name, "ADD try-1 failed")
        else:
            self.step("ADD", name, self.cni.add, rt)
            self.step("DEL", name, self.cni.delete, rt)
        return set(self.inventory("inventory after try-2")[0] - attached)

    def leftovers(self, base: Inventory, grew: set[StateItem]) -> Leftovers:
        """What remains after the last DEL, judged by the rule the cnilib_sandbox fixture uses, with the
        second attachment as more evidence; the last step line (``DIFF after DEL``)."""
        after, took = self.inventory("inventory after DEL")
        found = split_leftovers(after - base, now=after, grew=grew)
        if found.left:
            text = f"FAILED {seconds(took)}: {len(found.left)} item(s) left behind"
        else:
            text = f"ok {seconds(took)}: nothing left behind, {len(found.kept)} item(s) kept by the plugins"
        self.progress.line(f"DIFF  after DEL: {text}")
        return found


def _finish(progress: Progress, report: dict[str, Any]) -> None:
    """The rest of the text report, once every step has been printed."""
    if report["result"] is not None:
        progress.line("result of ADD try-1:\n" + json.dumps(report["result"], indent=2))
    sections = (
        ("created by ADD", report["created"]),
        (LEFT_TITLE, report["left"]),
        (KEPT_TITLE, report["kept"]),
    )
    progress.line("".join(format_section(title, items) for title, items in sections).rstrip("\n"))
    progress.line(counts_line(**report["counts"]))
    progress.line("OK" if report["ok"] else "FAILED")


def cmd_try(ns: argparse.Namespace) -> int:
    """Run ``cnilib try``; 0 when every step succeeded and nothing was left behind."""
    from cnilib.sandbox import Sandbox

    conflist = _load(ns)
    args, capability_args = runtime_args(ns)  # bad values: one line, before a sandbox is made
    with Progress.for_command(ns.json) as progress:
        progress.begin("sandbox")
        with Sandbox() as sb:
            report = _Try(sb, conflist, ns, progress, args, capability_args).run()
        _finish(progress, report)
    if ns.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0 if report["ok"] else 1
