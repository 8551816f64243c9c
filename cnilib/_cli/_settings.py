"""Settings of one run from options and environment, the way cnitool reads them."""

from __future__ import annotations

import os

import cnilib

from .._base._defaults import DEFAULT_CACHE_DIR, DEFAULT_CONF_DIR, DEFAULT_IFNAME
from ._output import _debug_hook

TYPE_CHECKING = False  # (not typing's: see ._plain)
if TYPE_CHECKING:
    import argparse
    from typing import Any


#: Exit status: success.
EXIT_OK = 0
#: Exit status: the operation failed (bad input, a plugin failed, ...); one line on stderr says why.
EXIT_FAILURE = 1
#: Exit status: the command line itself is wrong (unknown command, missing argument, bad option).
EXIT_USAGE = 2


class _Failure(Exception):
    """A failure the CLI detects itself (bad CNI_ARGS, missing netns, ...): exit status 1."""


class _Usage(Exception):
    """A command-line error found after parsing (bad CNI_TIMEOUT, ...): exit status 2."""


def _conf_dir(ns: argparse.Namespace) -> str:
    return str(ns.conf_dir or os.environ.get("NETCONFPATH") or DEFAULT_CONF_DIR)


def _plugin_dirs(ns: argparse.Namespace) -> list[str] | None:
    value = ns.cni_path if ns.cni_path is not None else os.environ.get("CNI_PATH", "")
    dirs = [d for d in value.split(os.pathsep) if d]
    return dirs or None  # None: the library's defaults


def _cache_dir(ns: argparse.Namespace) -> str:
    return str(ns.cache_dir or os.environ.get("CNI_CACHE_DIR") or DEFAULT_CACHE_DIR)


def _timeout(ns: argparse.Namespace) -> float | None:
    if ns.timeout is not None:
        return float(ns.timeout)
    text = os.environ.get("CNI_TIMEOUT", "")
    if not text:
        return None
    import argparse  # (only with CNI_TIMEOUT set)

    from ._argtypes import _positive_float

    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError as exc:
        raise _Usage(f"CNI_TIMEOUT: {exc}") from None


def _ifname(ns: argparse.Namespace) -> str:
    if ns.ifname is not None:
        return str(ns.ifname)
    # cnitool: unset means eth0; set but empty stays empty, which no verb accepts.
    value = os.environ.get("CNI_IFNAME", DEFAULT_IFNAME)
    if not value:
        raise _Failure("CNI_IFNAME is set but empty: no interface name (unset it for eth0)")
    return value


def parse_cni_args(text: str) -> list[tuple[str, str]]:
    """``CNI_ARGS`` the way cnitool splits it: ``K=V`` pairs separated by ``;``, each exactly one
    ``=`` with a non-empty key and value (so ``A=1;`` and ``A=`` are errors, as in cnitool)."""
    pairs: list[tuple[str, str]] = []
    for pair in text.split(";"):
        kv = pair.split("=")
        if len(kv) != 2 or not kv[0] or not kv[1]:
            raise _Failure(f"invalid CNI_ARGS pair {pair!r} in {text!r}: expected KEY=VALUE;...")
        pairs.append((kv[0], kv[1]))
    # NUL and other control characters: a ValidationError naming the entry, before anything runs.
    cnilib.validate_cni_args(pairs)
    return pairs


def _cni_args() -> list[tuple[str, str]]:
    text = os.environ.get("CNI_ARGS", "")
    return parse_cni_args(text) if text else []


def _cap_args() -> dict[str, Any]:
    text = os.environ.get("CAP_ARGS", "")
    return parse_cap_args(text) if text else {}


def parse_cap_args(text: str) -> dict[str, Any]:
    """``CAP_ARGS`` the way cnitool reads it: a JSON object (``null``: none), decoded as Go would;
    the values must be able to reach a plugin as JSON (see :func:`cnilib.validate_capability_args`)."""
    from .._spec._jsontext import decode_json, json_type  # only the commands that take CAP_ARGS pay for it

    try:
        # The codec refuses what Go refuses: NaN/Infinity, 1e999, absurd nesting, a BOM.
        value = decode_json(text, what="CAP_ARGS", error=cnilib.ConfigError)
    except cnilib.ConfigError as exc:
        raise cnilib.ConfigError(f"invalid CAP_ARGS: {exc.message}") from None
    if value is None:
        return {}  # Go decodes null into a nil map
    if not isinstance(value, dict):
        raise cnilib.ConfigError(f"invalid CAP_ARGS: must be a JSON object, not {json_type(value)}")
    cnilib.validate_capability_args(value)
    return value


def go_abs(path: str) -> str:
    """Go's ``filepath.Abs``: joined to the working directory if relative, then ``Clean``-ed."""
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    path = os.path.normpath(path)
    # POSIX normpath keeps exactly two leading slashes; Go's Clean does not.
    if path.startswith("//"):
        path = "/" + path.lstrip("/")
    return path


def container_id_for(netns: str) -> str:
    """cnitool's container id for a netns path: ``cnitool-`` + hex of sha512(abs path)[:10]."""
    from .._base._digest import sha512_digest  # only the commands that derive an id need it

    return "cnitool-" + sha512_digest(os.fsencode(go_abs(netns)))[:10].hex()


def _container_id(ns: argparse.Namespace, netns_abs: str | None) -> str:
    explicit = ns.container_id or os.environ.get("CNI_CONTAINERID")
    if explicit:
        return str(explicit)
    if netns_abs is None:
        raise _Usage("a NETNS argument or --container-id is required")
    return container_id_for(netns_abs)


def runtime_fields(ns: argparse.Namespace, netns: str | None, *, must_exist: bool = False) -> dict[str, Any]:
    """The runtime configuration's fields from the options and the environment (or the error).

    ``must_exist``: the netns must be a network namespace (CHECK; ADD's pre-flight checks it
    itself, with the same check and message, on every front end)."""
    cap_args = _cap_args()
    args = _cni_args()
    netns_abs = go_abs(netns) if netns is not None else None
    if must_exist and netns_abs is not None:
        from .._engine._preflight import check_netns

        check_netns(netns_abs)
    return {
        "container_id": _container_id(ns, netns_abs),
        "netns": netns_abs or "",
        "ifname": _ifname(ns),
        "args": tuple(args),
        "capability_args": cap_args,
    }


def _runtime(ns: argparse.Namespace, netns: str | None, *, must_exist: bool) -> cnilib.RuntimeConfig:
    return cnilib.RuntimeConfig(**runtime_fields(ns, netns, must_exist=must_exist))


def _valid_attachments(ns: argparse.Namespace) -> list[cnilib.GCAttachment]:
    out = []
    for item in ns.keep or ():
        cid, sep, ifname = item.partition(":")
        if not sep or not cid or not ifname:
            raise _Usage(f"--keep {item!r}: expected CONTAINER_ID:IFNAME")
        out.append(cnilib.GCAttachment(container_id=cid, ifname=ifname))
    return out


#: What a configuration file given as NETWORK ends with (a name may too: a name is looked up first).
_CONF_FILE_EXTENSIONS = (".conflist", ".conf", ".json")


def _load(ns: argparse.Namespace) -> cnilib.NetworkConfigList:
    """NETWORK's configuration: a name looked up in the configuration directory, or (cnilib's own
    extension of cnitool) a configuration file: an argument with a ``/`` (no name has one), or
    an existing ``.conflist``/``.conf``/``.json`` file when no network has its name."""
    target: str = ns.network
    if "/" in target:
        conflist = _load_file(ns, target)
    else:
        try:
            conflist = cnilib.load_network(_conf_dir(ns), target)
        except cnilib.NetworkNotFoundError:
            if not (target.endswith(_CONF_FILE_EXTENSIONS) and os.path.isfile(target)):
                raise
            conflist = _load_file(ns, target)
    ns.config_source = conflist.source  # (named by the errors' hints: cnilib try FILE)
    return conflist


def _load_file(ns: argparse.Namespace, path: str) -> cnilib.NetworkConfigList:
    if not os.path.lexists(path):
        raise cnilib.ConfigError(
            f"configuration file {path} does not exist (NETWORK is a network name in {_conf_dir(ns)}, "
            "or the path of a configuration file)"
        )
    return cnilib.load_conf_file(path)


def _engine(ns: argparse.Namespace) -> cnilib.CNI:
    return cnilib.CNI(
        plugin_dirs=_plugin_dirs(ns),
        cache_dir=_cache_dir(ns),
        timeout=_timeout(ns),
        on_plugin=_debug_hook if ns.debug else None,
    )
