"""The cnitool commands: add, check, del, gc and status, with cnitool's output.

``add`` and ``del`` take the fast path (:mod:`cnilib._cli._fast`: the same plans on plain values,
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


def _setup(ns: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The engine, the network's configuration and the runtime configuration of add and del: the
    fast path's when its loader can judge the configuration (and no ``--debug``), else the typed
    ones. Either way the configuration's errors come before the runtime's."""
    if not ns.debug:
        from ._fast._load import lean_network

        plain = lean_network(_conf_dir(ns), ns.network)
        if plain is not None:
            from .._engine._plain import LeanRuntime
            from ._fast._run import LeanEngine

            engine = LeanEngine(_plugin_dirs(ns), _cache_dir(ns), ns.timeout)
            return engine, plain, LeanRuntime(**runtime_fields(ns, ns.netns))
    conflist = _load(ns)
    rt = _runtime(ns, ns.netns, must_exist=False)
    return _engine(ns), conflist, rt


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
    _engine(ns).gc(_load(ns), _valid_attachments(ns))
    return EXIT_OK


def _cmd_status(ns: argparse.Namespace) -> int:
    _engine(ns).status(_load(ns))
    return EXIT_OK
