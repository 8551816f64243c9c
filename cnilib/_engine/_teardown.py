"""The parts of DEL that deal with a node in trouble: a sandbox that is gone, a cache that cannot
be written. Plans (generators of effects), like the rest of ``_plans``; no I/O here.

- **The sandbox.** A netns path that is missing, or holds something that is not a network
  namespace (the empty file a reboot leaves where a namespace was bind-mounted), is gone: the
  plugins get ``CNI_NETNS=""``, as the spec allows for DEL and as containerd passes for a closed
  namespace, instead of a path they fail on ("unknown FS magic") for ever. What the plugins cannot
  clean without the namespace (``cnilib._spec._leftovers``) is then removed by cnilib's sweep program,
  run through the executor like a plugin.
- **The cache.** A read-only or full cache never stops the plugins: a cache write that fails is
  collected, and reported once every plugin's DEL has run (the entry stays for a later DEL).
- **A guarded DEL** (:class:`Guard`, ``cnilib doctor``'s repair): a caller that decided from the
  cache's records that an attachment is stale DELs it only while, under the attachment's lock,
  they are still what it read; a runtime's DEL and re-ADD in between is never DELeted.
"""

from __future__ import annotations

import os
import time

from .._base._errors import CacheError, CNIError
from .._base._nsprobe import GONE
from ._effects import (
    Cancelled,
    DeleteEntry,
    DropIntent,
    ProbeLeftovers,
    ProbeNetns,
    Run,
    Simulated,
    SweepTemp,
)
from ._notes import _cnilib_logger

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any, Protocol

    from .._spec._leftover_items import Leftover
    from .._spec._seam import ConfList, Entry, Runtime
    from ._effects import CacheWrite, Plan
    from ._values import Values

    class _Planner(Protocol):
        """What the sweep reads of the planner (``_plans`` imports this module, not the reverse)."""

        values: Values[Any]
        plugin_dirs: tuple[str, ...]
        local_netns: bool


__all__ = [
    "DROP_ENTRY",
    "LEFTOVERS",
    "cache_failure",
    "cache_step",
    "forget",
    "remove",
    "sandbox",
    "sweep",
]

Key = tuple[str, str, str]

#: The key of the sweep's failure among DEL's failures.
LEFTOVERS = "leftovers of the gone sandbox"


#: nsenter's long options that leave the mount namespace (what paths mean) as it is.
_SAME_MOUNTS = ("--net", "--user", "--target", "--no-fork", "--preserve-credentials")
#: Its short ones: "F" takes no argument; "n", "U" and "t" take the rest of their cluster.
_SHORT_FLAGS, _SHORT_WITH_ARGUMENT = "F", "nUt"


def _stays(word: str, previous: str) -> bool:
    """Whether one nsenter argument keeps the plugin where paths mean what they mean here."""
    if previous in ("-t", "--target"):
        return True  # the PID
    if word.startswith("--"):
        return word.split("=", 1)[0] in _SAME_MOUNTS
    for letter in word[1:]:
        if letter in _SHORT_WITH_ARGUMENT:
            return True  # the rest of the cluster is its argument
        if letter not in _SHORT_FLAGS:
            return False
    return len(word) > 1


def sees_plugin_paths(argv_prefix: tuple[str, ...]) -> bool:
    """Whether a path means to this process what it means to plugins run under ``argv_prefix``:
    none, or ``nsenter`` entering only network (and user) namespaces (``cnilib.netns.enter_argv``),
    its options ended by ``--``. Anything else (``--mount``, as a rootless sandbox's, or a wrapper
    unknown) may resolve paths elsewhere: what is (or is not) at a netns path here is then no
    evidence, neither for pre-flight ADD nor for a gone sandbox."""
    if not argv_prefix:
        return True
    if os.path.basename(argv_prefix[0]) != "nsenter" or argv_prefix[-1] != "--":
        return False
    words = argv_prefix[1:-1]
    return all(_stays(w, words[i - 1] if i else "") for i, w in enumerate(words))


def sandbox(
    values: Values[Any], rt: Runtime, recorded: Entry | None, *, cached: bool, local: bool
) -> Plan[tuple[Runtime, bool]]:
    """The runtime configuration the plugins' DEL gets, and whether the sandbox is gone.

    ``cached``: ``rt`` comes from the cache (GC, ``recover()``), where an entry that libcni 1.1.2
    wrote records the netns only as its result's interface ``sandbox``: that path stands in.
    Only evidence makes a sandbox gone: a path that cannot be examined is used as it is, and so is
    every path when the plugins do not see paths as this process does (``local`` False, see
    :func:`sees_plugin_paths`). An empty netns is the caller's (or the cache's) word that it is gone.
    """
    path = rt.netns
    if not path and cached and local and recorded is not None:
        from .._spec._leftovers import sandbox_of

        path = sandbox_of(recorded.result, rt.ifname)
    if not path:
        return rt, True
    if not local:
        return rt, False
    state = yield ProbeNetns(path)
    if state in GONE:
        logger = _cnilib_logger()
        if logger is not None:
            logger.debug("DEL %s/%s: the sandbox %s is gone (%s)", rt.container_id, rt.ifname, path, state)
        return (values.with_netns(rt, "") if rt.netns else rt), True
    return (rt if rt.netns == path else values.with_netns(rt, path)), False


def sweep(
    p: _Planner,
    conflist: ConfList,
    rt: Runtime,
    recorded: Entry,
    deadline: float | None,
    failures: dict[str, BaseException],
) -> Plan[None]:
    """Remove what the list's plugins leave when the sandbox is gone (the owned items of
    ``cnilib._spec._leftovers``), through the executor, under the DEL's deadline; a failure joins
    ``failures`` (key :data:`LEFTOVERS`)."""
    try:
        yield from _sweep(p, conflist, rt, recorded, deadline)
    except Cancelled:
        raise  # a cancelled DEL stops: its entry stays for a later DEL
    except CNIError as exc:
        logger = _cnilib_logger()
        if logger is not None:
            logger.warning("DEL %s/%s: removing the leftovers failed: %s", rt.container_id, rt.ifname, exc)
        failures[LEFTOVERS] = exc


def _sweep(
    p: _Planner, conflist: ConfList, rt: Runtime, recorded: Entry, deadline: float | None
) -> Plan[None]:
    from .._spec._leftovers import list_leftovers

    items = list_leftovers(
        [plugin.raw for plugin in conflist.plugins],
        conflist.name,
        rt.container_id,
        rt.ifname,
        recorded.result,
    )
    yield from remove(p, items, (conflist.name, rt.container_id, rt.ifname), deadline)


def remove(p: _Planner, items: Iterable[Leftover], key: Key, deadline: float | None) -> Plan[None]:
    """Run the sweep program on the owned ``items`` of the attachment ``key`` (nothing when none
    is owned), through the executor, under ``deadline``; its failure raises."""
    from .._spec._leftovers import sweep_request_fields

    network, container_id, ifname = key
    owned: list[Leftover] = [item for item in items if item.owned]
    if owned and p.local_netns:
        # The files are seen here as the plugins see them: what is provably gone (the plugins'
        # own DEL mostly removed it) needs no sweep process; chains and links may be there.
        owned = yield ProbeLeftovers(owned)
    fields = sweep_request_fields(
        owned, network=network, container_id=container_id, ifname=ifname, search_path=p.plugin_dirs
    )
    if fields is None:
        return
    req = p.values.request_of(fields)
    started = time.monotonic()
    if deadline is not None and deadline <= started:
        outcome: Any = p.values.expired()  # the plugins used the time up: a timeout, reported
    else:
        answer = yield Run(req, None if deadline is None else deadline - started, -1)
        if isinstance(answer, Simulated):
            return  # a dry run
        outcome = answer
    p.values.decode(req, outcome)


def cache_step(effect: CacheWrite, what: str, errors: dict[str, BaseException]) -> Plan[None]:
    """Yield ``effect``; a :class:`~cnilib.CacheError` is recorded in ``errors`` under ``what``."""
    try:
        yield effect
    except CacheError as exc:
        errors[what] = exc


#: What :func:`cache_step` calls the steps whose failure keeps the entry.
DROP_ENTRY = "dropping the unusable cache entry"
DELETE_ENTRY = "removing the cache entry"
TEMP = "removing temporary files"
INTENT = "removing the intent record"


def forget(
    conflist: ConfList,
    rt: Runtime,
    *,
    temp: bool,
    entry: bool,
    errors: dict[str, BaseException],
) -> Plan[None]:
    """The cache's part of a DEL whose plugins all succeeded: the attachment's temporary files
    (``temp``), its entry (``entry``: not another attachment's file), its intent record. Every
    step is tried; ``errors`` (with those of earlier steps) become one :class:`~cnilib.CacheError`."""
    key = (conflist.name, rt.container_id, rt.ifname)
    if temp:
        yield from cache_step(SweepTemp(conflist.name, (rt.container_id, rt.ifname)), TEMP, errors)
    if entry and DROP_ENTRY not in errors:  # (the same file: it failed already)
        yield from cache_step(DeleteEntry(key, owner_checked=True), DELETE_ENTRY, errors)
    yield from cache_step(DropIntent(key), INTENT, errors)
    if errors:
        raise cache_failure(conflist, rt, errors)


def cache_failure(conflist: ConfList, rt: Runtime, errors: dict[str, BaseException]) -> CacheError:
    """The one error of a DEL whose plugins all succeeded while the cache could not be updated."""
    text = "; ".join(f"{what}: {exc}" for what, exc in errors.items())
    kept = DROP_ENTRY in errors or DELETE_ENTRY in errors
    return CacheError(
        f"DEL of {rt.container_id}/{rt.ifname} from network {conflist.name!r}: every plugin's DEL "
        f"succeeded, but the cache could not be updated: {text}"
        + (" (the entry stays for a later DEL)" if kept else "")
    )
