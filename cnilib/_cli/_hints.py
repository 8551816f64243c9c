"""What the command line adds to an error so that it names the fix, and the check of a DEL whose
NETNS is a bare name. Imported only then (an error, a NETNS without a ``/``): never on the way of
a command that succeeds with a path.

The library's errors say what failed; the command line knows more: which option or variable chose
the directory, that ``cnilib try`` runs a configuration without root, which command was typed.
"""

from __future__ import annotations

import errno
import os
import shlex
import sys

from .._base._defaults import DEFAULT_CACHE_DIR
from .._base._errors import CacheError, CNIError, ExecError, MultiError, NetnsPathError, PluginError
from .._base._nsprobe import LIVE, RUN_NETNS, netns_state
from ._settings import _cache_dir, container_id_for

TYPE_CHECKING = False  # (not typing's: see ._plain)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from typing import Any

__all__ = ["check_del_netns", "error_text"]

#: The commands whose plugins need privileges (the cnitool ones, which run a list's plugins).
_PLUGIN_COMMANDS = ("add", "check", "del", "gc", "status")
_CAP_NET_ADMIN = 12
#: What plugins (Go's errors from the kernel) say when the process lacks a privilege.
_DENIED = ("permission denied", "operation not permitted")


def error_text(exc: CNIError, ns: argparse.Namespace, text: str) -> str:
    """``text`` (the error's one line) with the fix named, where cnilib knows it."""
    if isinstance(exc, CacheError) and exc.errno in (errno.EACCES, errno.EPERM):
        return _cache_text(ns, text)
    config = sys.modules.get("cnilib._model._config")  # (loaded if it raised)
    if config is not None and isinstance(exc, config.NetworkNotFoundError):
        return f"{text} (another directory: --conf-dir DIR or NETCONFPATH)"
    lacking = _lacking()
    if lacking and ns.command in _PLUGIN_COMMANDS and any(_denied(e) for e in _leaves(exc)):
        return f"{text} ({_root_hint(ns, lacking)})"
    return text


def _cache_text(ns: argparse.Namespace, text: str) -> str:
    origin = ""  # (the default)
    if getattr(ns, "cache_dir", None):  # (every command that uses the cache has the option)
        origin = " (from --cache-dir)"
    elif os.environ.get("CNI_CACHE_DIR"):
        origin = " (from CNI_CACHE_DIR)"
    directory = getattr(ns, "cache_dir", None) or os.environ.get("CNI_CACHE_DIR") or DEFAULT_CACHE_DIR
    fixes = ["use another cache directory: --cache-dir DIR or CNI_CACHE_DIR"]
    lacking = _lacking()
    if lacking and ns.command in _PLUGIN_COMMANDS:
        fixes.insert(0, _root_hint(ns, lacking))
    how = "readable" if "cannot read" in text or "cannot list" in text else "writable"
    head = f"the cache directory {directory}{origin} is not {how} by uid {os.geteuid()}"
    return f"{head} ({text}): {'; or '.join(fixes)}"


def _root_hint(ns: argparse.Namespace, lacking: str) -> str:
    source = getattr(ns, "config_source", None) or ns.network
    return (
        f"`cnilib {ns.command}` {lacking}: run it as root, or try the configuration without root "
        f"with `cnilib try {shlex.quote(source)}`"
    )


def _lacking() -> str:
    """What this process lacks to run the plugins ("" when nothing): root, or, as root, the
    capability (a container that dropped it)."""
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN)"
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            effective = next((line for line in status if line.startswith("CapEff:")), "")
        if effective and not int(effective.split()[1], 16) & (1 << _CAP_NET_ADMIN):
            return "needs CAP_NET_ADMIN, which this process lacks"
    except (OSError, ValueError, IndexError):
        pass  # no evidence: root is taken as enough
    return ""


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, MultiError):
        for sub in exc.errors.values():
            yield from _leaves(sub)
    else:
        yield exc


def _denied(exc: BaseException) -> bool:
    """A plugin that ran and said it was not allowed (its CNI error, or its stderr and exit status)."""
    if isinstance(exc, PluginError):
        said = f"{exc.msg} {exc.details} {exc.stderr_text}"
    elif isinstance(exc, ExecError) and exc.exit_status is not None:
        said = f"{exc.message} {exc.stderr_text}"
    else:
        return False
    said = said.lower()
    return any(words in said for words in _DENIED)


# -- DEL with a NETNS that is a bare name --------------------------------------------------------


def check_del_netns(ns: argparse.Namespace, network: str, rt: Any) -> None:
    """Refuse ``cnilib del NETWORK NAME`` when NAME meant ``/run/netns/NAME``.

    NETNS names the attachment (cnitool derives the container id from its path), and DEL runs
    whatever is at the path, so a DEL by the name of ``/run/netns/NAME`` would DEL another,
    unknown, attachment and succeed, leaving the one meant as it was. Refused when that namespace
    exists, or (it is gone) when the cache holds its attachment and not this path's; anything
    else goes on (DEL must work after the namespace has gone).
    """
    if os.path.lexists(rt.netns):
        return
    candidate = f"{RUN_NETNS}/{os.path.basename(rt.netns)}"
    explicit = bool(ns.container_id or os.environ.get("CNI_CONTAINERID"))
    theirs = container_id_for(candidate)
    refused = "DEL refused before any plugin ran"
    why = ": the container id comes from the NETNS path"
    if netns_state(candidate) == LIVE:
        tail = refused if explicit else f"{refused}{why} ({candidate} gives {theirs})"
        raise NetnsPathError(
            f"network namespace {rt.netns} does not exist (did you mean {candidate}?): {tail}",
            path=rt.netns,
            state="missing",
        )
    if explicit or _cached(ns, network, rt.container_id, rt.ifname):
        return
    if _cached(ns, network, theirs, rt.ifname):
        raise NetnsPathError(
            f"network namespace {rt.netns} does not exist (did you mean {candidate}? the cache holds "
            f"its attachment {theirs}:{rt.ifname}): {refused}{why}",
            path=rt.netns,
            state="missing",
        )


def _cached(ns: argparse.Namespace, network: str, container_id: str, ifname: str) -> bool:
    """The cache holds an entry or an intent record of the attachment."""
    from .._cache import ResultCache

    cache = ResultCache(_cache_dir(ns))
    paths = (
        cache.path_for(network, container_id, ifname),
        cache.intent_path_for(network, container_id, ifname),
    )
    return any(os.path.lexists(path) for path in paths)
