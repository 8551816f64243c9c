"""The cnitool commands: add, check, del, gc and status, with cnitool's output.

``add`` and ``del`` take the fast path (:mod:`cnilib._lean`: the same plans on plain values,
without importing attrs and cattrs) whenever its loader can judge the configuration; anything
else, and ``--debug`` (whose report is typed), takes the typed path.
"""

from __future__ import annotations

from ._output import _write
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

    from .._lean._run import LeanEngine


def _fast(ns: argparse.Namespace) -> tuple[LeanEngine, Any] | None:
    """The fast path's engine and the network's configuration, or None for the typed path."""
    if ns.debug:
        return None
    from .._lean._load import lean_network

    conflist = lean_network(_conf_dir(ns), ns.network)
    if conflist is None:
        return None
    from .._lean._run import LeanEngine

    return LeanEngine(_plugin_dirs(ns), _cache_dir(ns), ns.timeout), conflist


def _cmd_add(ns: argparse.Namespace) -> int:
    fast = _fast(ns)
    if fast is not None:
        from .._gojson import go_dumps
        from .._lean._values import LeanRuntime

        engine, net = fast
        lean_rt = LeanRuntime(**runtime_fields(ns, ns.netns, must_exist=True))
        result = engine.add(net, lean_rt)
        if engine.cached_result(net, lean_rt) is not None:
            _write(go_dumps(result.to_dict(), indent="    "))
        return EXIT_OK
    import cnilib

    conflist = _load(ns)
    rt = _runtime(ns, ns.netns, must_exist=True)
    cni = _engine(ns)
    result = cni.add(conflist, rt)
    # A last plugin that printed null leaves no cached result, and cnitool then prints nothing.
    if cni.cached_result(conflist, rt) is not None:
        _write(cnilib.go_dumps(result.to_dict(), indent="    "))  # cnitool: MarshalIndent, no newline
    return EXIT_OK


def _cmd_check(ns: argparse.Namespace) -> int:
    conflist = _load(ns)
    rt = _runtime(ns, ns.netns, must_exist=True)
    _engine(ns).check(conflist, rt)
    return EXIT_OK


def _cmd_del(ns: argparse.Namespace) -> int:
    fast = _fast(ns)
    if fast is not None:
        from .._lean._values import LeanRuntime

        engine, net = fast
        engine.delete(net, LeanRuntime(**runtime_fields(ns, ns.netns, must_exist=False)))
        return EXIT_OK
    conflist = _load(ns)
    # No existence check: DEL must still clean up (IPAM, host side) after the namespace is gone.
    rt = _runtime(ns, ns.netns, must_exist=False)
    _engine(ns).delete(conflist, rt)
    return EXIT_OK


def _cmd_gc(ns: argparse.Namespace) -> int:
    # The engine's GC for every version (libcni DELs stale attachments before 1.1.0 too), under
    # the network's exclusive lock, including unfinished ADDs.
    _engine(ns).gc(_load(ns), _valid_attachments(ns))
    return EXIT_OK


def _cmd_status(ns: argparse.Namespace) -> int:
    _engine(ns).status(_load(ns))
    return EXIT_OK
