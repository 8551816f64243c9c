"""cnilib's own commands: explain, version, cache and docker (validate: ``_validate``)."""

from __future__ import annotations

import argparse
import json
from typing import Any

import cnilib

from ._output import _bytes_text, _human_json, _indented, _one_line, _print_json, _table, _write
from ._settings import (
    EXIT_FAILURE,
    EXIT_OK,
    _cache_dir,
    _cap_args,
    _cni_args,
    _container_id,
    _engine,
    _Failure,
    _ifname,
    _load,
    _runtime,
    _Usage,
    _valid_attachments,
    go_abs,
)


def _explain_calls(
    ns: argparse.Namespace, cni: cnilib.CNI, conflist: cnilib.NetworkConfigList
) -> list[cnilib.PlannedCall]:
    verb = ns.verb
    if verb in ("ADD", "CHECK", "DEL"):
        if ns.netns is None:
            raise _Usage(f"explain {verb.lower()} needs NETNS")
        rt = _runtime(ns, ns.netns, must_exist=False)
        return cni.explain(verb, conflist, rt)
    return cni.explain(verb, conflist, valid_attachments=_valid_attachments(ns))


def _cmd_explain(ns: argparse.Namespace) -> int:
    conflist = _load(ns)
    cni = _engine(ns)
    calls = _explain_calls(ns, cni, conflist)
    failing = any(c.problem for c in calls)
    if ns.json:
        _print_json(
            [
                {
                    "index": c.index,
                    "plugin": c.plugin,
                    "verb": c.verb.value,
                    "pluginPath": c.plugin_path,
                    "env": dict(c.env),
                    "stdin": c.stdin,
                    "problem": c.problem,
                }
                for c in calls
            ]
        )
        return EXIT_FAILURE if failing else EXIT_OK
    version = conflist.cni_version or "0.1.0"
    out = [
        f"{ns.verb} of network {conflist.name} (cniVersion {version}) from "
        f"{conflist.source or '?'}: {len(calls)} plugin call(s); nothing is run\n"
    ]
    if not calls:
        out.append("(no plugin would be called)\n")
    for c in calls:
        where = c.plugin_path or "NOT FOUND"
        out.append(f"\n{c.verb.value} plugins[{c.index}] {c.plugin}: {where}\n")
        if c.problem:
            out.append(f"  problem: {_one_line(c.problem)}\n")
        out.append("  env:\n")
        out.extend(f"    {k}={v}\n" for k, v in c.env.items())
        out.append("  stdin:\n" + _indented(_human_json(dict(c.stdin))) + "\n")
    _write("".join(out))
    return EXIT_FAILURE if failing else EXIT_OK


def _cmd_version(ns: argparse.Namespace) -> int:
    cni = _engine(ns)
    info = cni.version_info(ns.plugin)
    path = cnilib.find_plugin(ns.plugin, cni.plugin_dirs)
    if ns.json:
        _print_json(
            {
                "plugin": ns.plugin,
                "path": path,
                "cniVersion": info.cni_version,
                "supportedVersions": list(info.supported_versions),
            }
        )
        return EXIT_OK
    _write(
        _table(
            [
                ["PLUGIN", "PATH", "CNIVERSION", "SUPPORTED VERSIONS"],
                [ns.plugin, path, info.cni_version, " ".join(info.supported_versions)],
            ]
        )
    )
    return EXIT_OK


def _entry_json(entry: cnilib.CacheEntry) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(entry.to_json_bytes())
    return doc


def _addresses(entry: cnilib.CacheEntry) -> str:
    if entry.result is None:
        return "-"
    try:
        return ",".join(entry.parsed_result().all_addresses) or "-"
    except cnilib.CNIError:
        return "(unparsable result)"


def _cmd_cache(ns: argparse.Namespace) -> int:
    cache = cnilib.ResultCache(_cache_dir(ns))
    if ns.cache_command == "show":
        ifname = _ifname(ns)
        netns_abs = go_abs(ns.netns) if ns.netns is not None else None
        cid = _container_id(ns, netns_abs)
        entry = cache.read(ns.network, cid, ifname)
        if entry is None:
            raise _Failure(
                f"no cached attachment of network {ns.network!r} for container {cid!r} "
                f"and interface {ifname!r} in {cache.results_dir}"
            )
        if ns.json:
            _print_json({"path": entry.path, **_entry_json(entry)})
            return EXIT_OK
        out = [
            f"file:           {entry.path}\n",
            f"network:        {entry.network_name}\n",
            f"container:      {entry.container_id}\n",
            f"ifname:         {entry.ifname}\n",
            f"netns:          {entry.netns or '-'}\n",
            f"cniArgs:        {';'.join(f'{k}={v}' for k, v in entry.cni_args) or '-'}\n",
        ]
        out.append(
            "capabilityArgs: "
            + (
                _indented(_human_json(dict(entry.capability_args)), "  ").lstrip()
                if entry.capability_args
                else "-"
            )
            + "\n"
        )
        if entry.legacy:
            out.append("(legacy cache file: a bare result, no configuration)\n")
        else:
            out.append("config:\n" + _indented(_config_text(entry.config), "  ") + "\n")
        out.append(
            "result:\n"
            + (_indented(_human_json(dict(entry.result)), "  ") if entry.result is not None else "  -")
            + "\n"
        )
        _write("".join(out))
        return EXIT_OK
    return _cache_list(ns, cache)


def _cache_list(ns: argparse.Namespace, cache: cnilib.ResultCache) -> int:
    scan = cache.scan(network=ns.network, container_id=ns.container_id)
    # ADDs that started and did not finish (crashed, or failed without rollback): GC undoes them.
    intents = [
        e
        for e in cache.scan_intents(ns.network).entries
        if ns.container_id is None or e.container_id == ns.container_id
    ]
    if ns.json:
        _print_json(
            {
                "cacheDir": cache.cache_dir,
                "attachments": [{"path": e.path, **_entry_json(e)} for e in scan.entries],
                "problems": [{"path": p.path, "message": p.message} for p in scan.problems],
                "unfinishedAdds": [{"path": e.path, **_entry_json(e)} for e in intents],
            }
        )
        return EXIT_OK
    out = []
    if scan.entries:
        rows = [["NETWORK", "CONTAINER", "IFNAME", "NETNS", "ADDRESSES"]]
        rows += [
            [e.network_name, e.container_id, e.ifname, e.netns or "-", _addresses(e)] for e in scan.entries
        ]
        out.append(_table(rows))
    else:
        out.append(f"no cached attachments in {cache.results_dir}\n")
    if intents:
        out.append(f"{len(intents)} unfinished ADD(s) (`cnilib gc` undoes them):\n")
        out.extend(f"  - {e.network_name} {e.container_id} {e.ifname} {e.netns or '-'}\n" for e in intents)
    if scan.problems:
        out.append(f"{len(scan.problems)} unusable cache file(s):\n")
        out.extend(f"  - {p.path}: {_one_line(p.message)}\n" for p in scan.problems)
    _write("".join(out))
    return EXIT_OK


def _config_text(config: bytes) -> str:
    try:
        return _human_json(json.loads(config))
    except ValueError:
        return _bytes_text(config)


def _cmd_docker(ns: argparse.Namespace) -> int:
    from cnilib import docker  # httpx comes with it; only this command needs it

    if ns.docker_command == "watch":
        from ._watch import cmd_docker_watch

        return cmd_docker_watch(ns)
    conflist = _load(ns)
    cni = _engine(ns)
    host = ns.docker_host or None  # None: DOCKER_HOST, else the default socket
    kwargs: dict[str, Any] = {"ifname": _ifname(ns), "host": host}
    cap_args = _cap_args()
    args = _cni_args()
    if args:
        kwargs["args"] = args
    if cap_args:
        kwargs["capability_args"] = cap_args
    if ns.docker_command == "attach":
        result = docker.attach(cni, ns.container, conflist, **kwargs)
        _write(cnilib.go_dumps(result.to_dict(), indent="    "))
    else:
        docker.detach(cni, ns.container, conflist, **kwargs)
    return EXIT_OK
