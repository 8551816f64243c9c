"""The cnitool commands: add, check, del, gc and status, with cnitool's output."""

from __future__ import annotations

import argparse

import cnilib

from ._output import _write
from ._settings import EXIT_OK, _engine, _load, _runtime, _valid_attachments


def _cmd_add(ns: argparse.Namespace) -> int:
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
