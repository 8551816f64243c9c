"""The configuration's health: files that cannot be loaded or are shadowed, plugins missing or too
old for their list, and paths whose permissions let another user decide what the runtime runs."""

from __future__ import annotations

import json
import os
import warnings

from .._base._errors import CNIError, CNISecurityWarning, ConfigError, PluginNotFoundError
from .._base._security import writable_by_others
from .._engine import CNI
from .._exec import find_plugin
from .._model._config import scan_networks
from .._model._models import NetworkConfigList, VersionInfo
from .._spec._confdir import conf_files
from .._spec._version import normalize_version
from ._model import Finding, Kind

__all__ = ["examine_config"]

_REPORT_ONLY = "report only: change the configuration or the installation"


def _network_name(path: str) -> str:
    try:
        with open(path, "rb") as f:
            name = json.loads(f.read(1 << 20)).get("name")
    except (OSError, ValueError, AttributeError):
        return ""
    return name if isinstance(name, str) else ""


def _unsafe(path: str, what: str) -> Finding:
    mode = os.stat(path).st_mode & 0o7777
    return Finding(
        Kind.UNSAFE_PERMISSIONS,
        "",
        f"{what} {path} is writable by its group or other users (mode {mode:04o})",
        evidence=(f"mode {mode:04o}",),
        action="report only: whoever can write it controls what the runtime runs (chmod go-w)",
    )


class _Plugins:
    """Plugin lookups and VERSION answers, once per plugin type."""

    def __init__(self, cni: CNI) -> None:
        self.cni = cni
        self.paths: dict[str, str | CNIError] = {}
        self.versions: dict[str, VersionInfo | CNIError] = {}

    def path(self, plugin: str) -> str | CNIError:
        if plugin not in self.paths:
            try:
                self.paths[plugin] = find_plugin(plugin, self.cni.plugin_dirs)
            except CNIError as exc:
                self.paths[plugin] = exc
        return self.paths[plugin]

    def version(self, plugin: str) -> VersionInfo | CNIError:
        if plugin not in self.versions:
            try:
                self.versions[plugin] = self.cni.version_info(plugin)
            except CNIError as exc:
                self.versions[plugin] = exc
        return self.versions[plugin]


def _missing(conflist: NetworkConfigList, index: int, plugin: str, dirs: tuple[str, ...]) -> Finding:
    # find_plugin skips files that are not executable: say so when that is why.
    present = [os.path.join(d, plugin) for d in dirs if os.path.isfile(os.path.join(d, plugin))]
    why = f"{present[0]} is not executable" if present else f"not found in {':'.join(dirs) or '(none)'}"
    return Finding(
        Kind.MISSING_PLUGIN,
        conflist.name,
        f"plugins[{index}] ({plugin}) of {conflist.source or conflist.name} cannot run: {why}",
        evidence=(why,),
        action=_REPORT_ONLY,
    )


def _plugin_findings(conflist: NetworkConfigList, plugins: _Plugins) -> list[Finding]:
    out: list[Finding] = []
    try:
        version = normalize_version(conflist.cni_version)
    except CNIError as exc:
        return [Finding(Kind.INVALID_CONFIG, conflist.name, str(exc), action=_REPORT_ONLY)]
    for i, plugin in enumerate(conflist.plugins):
        found = plugins.path(plugin.type)
        if isinstance(found, PluginNotFoundError):
            out.append(_missing(conflist, i, plugin.type, plugins.cni.plugin_dirs))
            continue
        if isinstance(found, CNIError):
            out.append(Finding(Kind.MISSING_PLUGIN, conflist.name, str(found), action=_REPORT_ONLY))
            continue
        info = plugins.version(plugin.type)
        if isinstance(info, CNIError):
            text = f"plugins[{i}] ({plugin.type}) does not answer VERSION: {info}"
            out.append(Finding(Kind.UNSUPPORTED_VERSION, conflist.name, text, action=_REPORT_ONLY))
        elif not info.supports(version):
            supported = ", ".join(info.supported_versions)
            out.append(
                Finding(
                    Kind.UNSUPPORTED_VERSION,
                    conflist.name,
                    f"plugins[{i}] ({plugin.type}, {found}) does not support cniVersion {version}",
                    evidence=(f"{plugin.type} VERSION: supports {supported}",),
                    action=_REPORT_ONLY,
                )
            )
    return out


def _permission_findings(conf_dir: str, plugins: _Plugins, cache_dir: str, files: list[str]) -> list[Finding]:
    checks: list[tuple[str, str]] = [(conf_dir, "configuration directory")]
    checks += [(path, "configuration file") for path in files]
    for plugin, path in sorted(plugins.paths.items()):
        if isinstance(path, str):
            checks.append((path, f"plugin {plugin}"))
    checks += [(d, "plugin directory") for d in plugins.cni.plugin_dirs if os.path.isdir(d)]
    # Whoever can write the cache can make the doctor (and GC) DEL what they like.
    checks += [(os.path.join(cache_dir, d), "cache directory") for d in ("", "results", "intents")]
    seen: set[str] = set()
    out = []
    for given, what in checks:
        path = os.path.normpath(given)
        if path not in seen and writable_by_others(path):
            seen.add(path)
            out.append(_unsafe(path, what))
    return out


def examine_config(
    conf_dir: str, cni: CNI, cache_dir: str
) -> tuple[dict[str, NetworkConfigList], list[Finding]]:
    """Every network of ``conf_dir`` by name, and what is wrong with the configuration."""
    with warnings.catch_warnings():
        # Unsafe permissions become findings of their own, not warnings.
        warnings.simplefilter("ignore", CNISecurityWarning)
        scan = scan_networks(conf_dir)
        files = conf_files(conf_dir) if os.path.isdir(conf_dir) else []
        findings: list[Finding] = []
        for problem in scan.problems:
            where = problem.source if isinstance(problem, ConfigError) and problem.source else conf_dir
            findings.append(
                Finding(Kind.INVALID_CONFIG, "", f"{where} cannot be loaded: {problem}", action=_REPORT_ONLY)
            )
        networks = {n.name: n for n in scan.networks}
        for path in scan.shadowed:
            name = _network_name(path)
            used = networks[name].source if name in networks else "an earlier file"
            findings.append(
                Finding(
                    Kind.DUPLICATE_NETWORK,
                    name,
                    f"{path} names network {name!r} too and is never used ({used} is)",
                    evidence=(f"{used} comes first in libcni's order",),
                    action=_REPORT_ONLY,
                )
            )
        plugins = _Plugins(cni)
        for conflist in scan.networks:
            findings += _plugin_findings(conflist, plugins)
    findings += _permission_findings(conf_dir, plugins, cache_dir, list(files))
    return networks, findings
