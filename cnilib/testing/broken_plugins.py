"""Small main plugins written as real ``#!/bin/sh`` executables: one that conforms, and four
that each break one rule of the spec, for exercising :mod:`cnilib.conformance`.

The conforming plugin gives the container a veth whose host end is ``fk`` + 8 hex digits of the
container id (so two containers never clash); CHECK looks for it; DEL removes it and succeeds when
there is nothing to remove. It claims 0.3.0 to 1.1.0 (STATUS and GC succeed) and answers errors
with the spec's object. Each broken variant differs in one place (see :data:`BROKEN`)::

    from cnilib.conformance import run_conformance
    from cnilib.testing.broken_plugins import BROKEN, write_broken

    path = write_broken(tmp_path, "leaky")
    report = run_conformance(str(path))
    assert report.failed_checks() == BROKEN["leaky"].fails

The plugins call ``ip``, ``nsenter`` and ``md5sum``; run them in a :class:`cnilib.sandbox.Sandbox`.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from cnilib.testing.plugins import write_plugin

__all__ = ["BROKEN", "Broken", "write_broken", "write_conforming"]

_TEMPLATE = r"""conf=$(cat)
log() { :; }
@LOG@
err() {
  log
  printf '{"cniVersion":"%s","code":%s,"msg":"%s"}\n' "${ver:-1.0.0}" "$1" "$2"
  exit 1
}
if [ "$CNI_COMMAND" = VERSION ]; then
  log
  printf '{"cniVersion":"1.0.0","supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]}\n'
  exit 0
fi
ver=$(printf '%s' "$conf" | sed -n 's/^{ *"cniVersion": *"\([^"]*\)".*/\1/p')
[ -n "$ver" ] || err 6 "cannot decode the network configuration"
case "$ver" in 0.3.0|0.3.1|0.4.0|1.0.0|1.1.0) ;; *) err 1 "incompatible CNI version $ver" ;; esac
host="fk$(printf '%s' "$CNI_CONTAINERID" | md5sum | cut -c1-8)"
case "$CNI_COMMAND" in
ADD)
  ip link add "$host" type veth peer name "${host}p" 2>/dev/null || err 11 "cannot create $host"
  ip link set "${host}p" netns "$CNI_NETNS" || err 11 "cannot move ${host}p"
  nsenter --net="$CNI_NETNS" ip link set "${host}p" name "$CNI_IFNAME" || err 11 "cannot rename"
  rver=$ver
  @RVER@
  log
  printf '{"cniVersion":"%s","interfaces":[{"name":"%s"},{"name":"%s","sandbox":"%s"}],"ips":[],"dns":{}}\n' \
    "$rver" "$host" "$CNI_IFNAME" "$CNI_NETNS"
  ;;
DEL)
  log
  @DEL@
  ;;
CHECK)
  ip link show "$host" >/dev/null 2>&1 || err 11 "$host is missing"
  log
  ;;
STATUS|GC) log ;;
*) err 4 "unknown CNI_COMMAND $CNI_COMMAND" ;;
esac
exit 0
"""

_DEFAULTS = {
    "@LOG@": "",
    "@RVER@": "",
    "@DEL@": 'ip link del "$host" 2>/dev/null || true',
}


@attrs.frozen
class Broken:
    """A broken variant: what it does wrong, the checks it must fail, and its replacements."""

    description: str
    fails: frozenset[str]
    patch: tuple[tuple[str, str], ...]


#: The four broken variants by name.
BROKEN: dict[str, Broken] = {
    "leaky": Broken(
        "leaves its host interface after DEL",
        frozenset({"no-leaks"}),
        (("@DEL@", ":"),),
    ),
    "strict-del": Broken(
        "fails DEL when there is nothing to delete",
        frozenset({"del-twice", "del-without-add", "del-netns-gone"}),
        (("@DEL@", 'ip link del "$host" 2>/dev/null || err 11 "no such interface $host"'),),
    ),
    "wrong-version": Broken(
        "answers ADD with a cniVersion other than the one asked for",
        frozenset({"result-version"}),
        (("@RVER@", '[ "$ver" = 1.0.0 ] && rver=0.4.0 || rver=1.0.0'),),
    ),
    "chatty": Broken(
        "prints a log line on stdout before its JSON",
        frozenset({"stdout-json-only"}),
        (("@LOG@", 'log() { echo "fake: $CNI_COMMAND for ${CNI_CONTAINERID:-?}"; }'),),
    ),
}


def _render(patch: tuple[tuple[str, str], ...] = ()) -> str:
    body = _TEMPLATE
    replacements = {**_DEFAULTS, **dict(patch)}
    for marker, text in replacements.items():
        body = body.replace(marker, text)
    return body


def write_conforming(directory: str | os.PathLike[str], name: str = "conforming") -> Path:
    """Write the conforming plugin as ``directory/name``; return its path."""
    return write_plugin(directory, name, _render())


def write_broken(directory: str | os.PathLike[str], variant: str, name: str | None = None) -> Path:
    """Write the broken ``variant`` (a key of :data:`BROKEN`) as ``directory/name`` (default: the
    variant's name); return its path."""
    try:
        broken = BROKEN[variant]
    except KeyError:
        from cnilib.conformance import ConformanceError

        raise ConformanceError(f"no broken plugin {variant!r}; choose from {', '.join(BROKEN)}") from None
    return write_plugin(directory, name or variant, _render(broken.patch))
