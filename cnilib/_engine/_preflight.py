"""What pre-flight ADD checks (values, the netns, an existing attachment), and how DEL/CHECK fall
back on the arguments ADD was made with."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping

from .._base._errors import AlreadyAttachedError, NetnsPathError, ValidationError
from .._base._nsprobe import LIVE, MISSING, UNKNOWN, _nsfs_device, is_gone, missing_hint, netns_state

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

    from .._spec._seam import Entry, Runtime

__all__ = ["already_attached", "cached_args", "check_netns", "check_runtime_values"]


def _check_text(what: str, value: str) -> None:
    """Reject what cannot reach a plugin intact: NUL and control characters, lone surrogates."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValidationError(f"{what} {value!r} contains a control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{what} {value!r} is not valid Unicode text") from None


def _finite(value: object) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a JSON number")
    children = (
        value.values() if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) else ()
    )
    for child in children:
        _finite(child)


def check_runtime_values(rt: Any) -> None:
    """Everything ADD will serialize for a plugin is valid text and JSON, or ValidationError."""
    rt.validate()
    _check_text("network namespace path", rt.netns)
    for key, value in rt.args:
        _check_text("CNI_ARGS entry", f"{key}={value}")
    try:
        _finite(rt.capability_args)
        json.dumps(rt.capability_args, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise ValidationError(f"capability arguments cannot be sent to a plugin: {exc}") from None


def _what_is_at(path: str) -> str:
    """What is at ``path``, which :func:`netns_state` found is not a network namespace, in words."""
    import stat

    try:
        st = os.stat(path)
    except NotADirectoryError:
        return "is not a network namespace: a part of the path is not a directory"
    except OSError as exc:
        return f"is not a network namespace ({exc.strerror or exc})"
    if st.st_dev == _nsfs_device():
        return "is a namespace of another kind, not a network namespace"
    if stat.S_ISREG(st.st_mode):
        return (
            "is a regular file, not a network namespace (what a reboot leaves where a bind-mounted "
            "namespace was)"
        )
    if stat.S_ISDIR(st.st_mode):
        return "is a directory, not a network namespace"
    return "is not a network namespace"


def check_netns(path: str) -> None:
    """:class:`~cnilib.NetnsPathError` unless ``path`` is a live network namespace (or one that
    cannot be examined: that is no evidence). The one check of every front end."""
    if not path:
        raise NetnsPathError("no network namespace path given (ADD needs one)", path=path, state="")
    state = netns_state(path)
    if state in (LIVE, UNKNOWN):
        return
    if state == MISSING:
        text = f"network namespace {path} does not exist {missing_hint(path)}"
    else:
        text = f"network namespace path {path} {_what_is_at(path)}"
    raise NetnsPathError(text, path=path, state=state)


def already_attached(entry: Any, key: tuple[str, str, str], *, probe: bool) -> AlreadyAttachedError:
    """The refusal of an ADD whose attachment has a valid cache ``entry`` (or a legacy bare
    result): names it, its netns and whether that is gone (asked only with ``probe``: when the
    plugins see the same files as this process)."""
    netns = entry.netns or _sandbox_of(entry.result)
    return AlreadyAttachedError(
        network=key[0],
        container_id=key[1],
        ifname=key[2],
        path=entry.path or "",
        netns=netns,
        gone=probe and is_gone(netns),
    )


def _sandbox_of(result: Any) -> str:
    # Entries of libcni 1.1.2 (Podman, Go cnitool) and legacy files carry no netns: the sandbox
    # of an interface in the cached result names it.
    interfaces = result.get("interfaces") if isinstance(result, Mapping) else None
    for iface in interfaces if isinstance(interfaces, list) else ():
        sandbox = iface.get("sandbox") if isinstance(iface, Mapping) else None
        if isinstance(sandbox, str) and sandbox:
            return sandbox
    return ""


def cached_args(
    rt: Runtime, cached: Entry | None
) -> tuple[tuple[tuple[str, str], ...], Mapping[str, Any]] | None:
    """The (CNI_ARGS, capability args) a DEL or CHECK runs with when the ones ADD was made with
    (``cached``: its entry or intent record) fill in what ``rt`` lacks; None when ``rt``'s own serve
    (explicit ones win)."""
    if cached is None or (rt.args and rt.capability_args):
        return None
    return rt.args or cached.cni_args, rt.capability_args or cached.capability_args
