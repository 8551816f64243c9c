"""The cnitool commands: add, check, del, gc and status, with cnitool's output.

``add`` and ``del`` take the fast path (:mod:`cnilib._cli._fast`: the same plans on plain values,
without importing attrs and cattrs) whenever its loader can judge the configuration; anything
else, and ``--debug`` (whose report is typed), takes the typed path.
"""

from __future__ import annotations

import sys

from ._output import _write
from ._plain import _PROG
from ._settings import (
    EXIT_OK,
    _cache_dir,
    _conf_dir,
    _engine,
    _load,
    _plugin_dirs,
    _runtime,
    _valid_attachments,
    runtime_fields,
)

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    import argparse
    from typing import Any


def _setup(ns: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The engine, the network's configuration and the runtime configuration of add and del: the
    fast path's when its loader can judge the configuration (and no ``--debug``), else the typed
    ones. Either way the configuration's errors come before the runtime's."""
    if not ns.debug and "/" not in ns.network:  # (a configuration file: the typed loader's)
        from ._fast._load import lean_network

        plain = lean_network(_conf_dir(ns), ns.network)
        if plain is not None:
            from .._engine._plain import LeanRuntime
            from ._fast._run import LeanEngine

            ns.config_source = plain.source
            engine = LeanEngine(_plugin_dirs(ns), _cache_dir(ns), ns.timeout)
            return engine, plain, _checked(ns, plain, LeanRuntime(**runtime_fields(ns, ns.netns)))
    conflist = _load(ns)
    rt = _runtime(ns, ns.netns, must_exist=False)
    return _engine(ns), conflist, _checked(ns, conflist, rt)


def _checked(ns: argparse.Namespace, conflist: Any, rt: Any) -> Any:
    """``rt``, unless DEL's NETNS is a bare name that meant ``/run/netns/NAME`` (then the error)."""
    if ns.command == "del" and "/" not in ns.netns:
        from ._hints import check_del_netns

        check_del_netns(ns, conflist.name, rt)
    return rt


def _cmd_add(ns: argparse.Namespace) -> int:
    # The netns is checked by ADD's pre-flight (every front end: the same check and message).
    engine, conflist, rt = _setup(ns)
    result = engine.add(conflist, rt)
    # A last plugin that printed null leaves no cached result, and cnitool then prints nothing.
    if engine.cached_result(conflist, rt) is not None:
        from .._base._gojson import go_dumps

        _write(go_dumps(result.to_dict(), indent="    "))  # cnitool: MarshalIndent, no newline
    return EXIT_OK


def _cmd_check(ns: argparse.Namespace) -> int:
    conflist = _load(ns)
    rt = _runtime(ns, ns.netns, must_exist=True)
    _engine(ns).check(conflist, rt)
    return EXIT_OK


def _cmd_del(ns: argparse.Namespace) -> int:
    # No existence check: DEL must still clean up (IPAM, host side) after the namespace is gone.
    engine, conflist, rt = _setup(ns)
    engine.delete(conflist, rt)
    return EXIT_OK


def _cmd_gc(ns: argparse.Namespace) -> int:
    # The engine's GC for every version (libcni DELs stale attachments before 1.1.0 too), under
    # the network's exclusive lock, including unfinished ADDs.
    cni = _engine(ns)
    conflist = _load(ns)
    keep = _valid_attachments(ns)
    removed = cni.gc(conflist, keep)
    # On stderr: stdout stays as cnitool's (empty), and quiet when there is nothing to say.
    lines = []
    if removed:
        listed = ", ".join(_described(entry) for entry in removed)
        lines.append(f"removed {len(removed)} cached attachment(s) not kept: {listed}")
    if keep:
        lines.extend(_unmatched(cni, conflist.name, keep))
    for line in lines:
        sys.stderr.write(f"{_PROG}: gc {ns.network}: {line}\n")
    return EXIT_OK


def _described(entry: Any) -> str:
    notes = [f"netns {entry.netns}"] if entry.netns else []
    if entry.is_intent:
        notes.append("unfinished ADD")
    return f"{entry.container_id}:{entry.ifname}" + (f" ({', '.join(notes)})" if notes else "")


def _unmatched(cni: Any, network: str, keep: Any) -> list[str]:
    """A warning per ``--keep`` that matches nothing cached (a typo keeps nothing: the attachment
    meant was DELeted). Not an error: like the spec's valid attachments, a ``--keep`` list may
    name every attachment of a node, on any network."""
    cached = {
        f"{e.container_id}:{e.ifname}"
        for e in (*cni.cached_attachments(network=network), *cni.unfinished_adds(network))
    }
    kept = sorted(cached)
    shown = ", ".join(kept[:5]) + (f" and {len(kept) - 5} more" if len(kept) > 5 else "")
    where = f"kept: {shown}" if kept else "it has no cached attachment"
    return [
        f"warning: --keep {a.container_id}:{a.ifname} matches no attachment of network {network!r} ({where})"
        for a in keep
        if f"{a.container_id}:{a.ifname}" not in cached
    ]


def _cmd_status(ns: argparse.Namespace) -> int:
    _engine(ns).status(_load(ns))
    return EXIT_OK
