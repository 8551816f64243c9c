"""The ``cnilib`` command line: a drop-in for cnitool, plus validate, explain, version, cache and
docker commands.

``cnilib add|check|del|gc|status NETWORK NETNS`` reads the same environment as cnitool
(NETCONFPATH, CNI_PATH, CNI_IFNAME, CNI_ARGS, CAP_ARGS), derives the container id from the netns
path the same way, prints ADD's result byte for byte as cnitool does, and reports errors as one
line on stderr with exit status 1, so scripts written for cnitool run unchanged. The other
commands are cnilib's own.

Only the public API (``cnilib``, ``cnilib.docker``) is used, and only what a command needs is
imported: ``--help`` and ``--version`` load argparse and nothing of the engine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

# Free: this module lives in the package, so ``cnilib/__init__`` has run already. The engine, the
# cache and the config loader are attributes loaded on first use: only commands that need them
# pay for them.
import cnilib

from ._defaults import DEFAULT_CACHE_DIR, DEFAULT_CONF_DIR, DEFAULT_IFNAME, DEFAULT_PLUGIN_DIRS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["EXIT_FAILURE", "EXIT_OK", "EXIT_USAGE", "build_parser", "container_id_for", "main"]

#: Exit status: success.
EXIT_OK = 0
#: Exit status: the operation failed (bad input, a plugin failed, ...); one line on stderr says why.
EXIT_FAILURE = 1
#: Exit status: the command line itself is wrong (unknown command, missing argument, bad option).
EXIT_USAGE = 2


_PROG = "cnilib"

_DESCRIPTION = """\
Run CNI plugins from the command line. The cnitool commands (add, check, del, gc, status) take the
same arguments and environment as cnitool and print the same output; validate, explain, version,
cache and docker are cnilib's own."""

_EPILOG = f"""\
cnitool-compatible commands:
  add NETWORK NETNS         ADD; prints the result as cnitool does (4-space JSON, no newline)
  check NETWORK NETNS       CHECK (configurations of version 0.4.0 or newer)
  del NETWORK NETNS         DEL, also after a failed or partial ADD
  gc NETWORK [NETNS]        DEL every cached attachment of NETWORK not kept with --keep, then GC
  status NETWORK [NETNS]    STATUS (configurations of version 1.1.0; nothing to ask before)

cnilib's own commands:
  validate NETWORK          probe every plugin's VERSION and report every problem
  explain VERB NETWORK [NETNS]
                            dry run: the environment and stdin each plugin would get
  version PLUGIN            a plugin's VERSION answer
  cache list|show           attachments in the result cache (libcni's format)
  docker attach|detach CONTAINER NETWORK
                            ADD/DEL a Docker container started with --net=none

environment (a command-line option wins over its variable):
  NETCONFPATH     configuration directory (--conf-dir), default {DEFAULT_CONF_DIR}
  CNI_PATH        plugin directories separated by ':' (--cni-path),
                  default {":".join(DEFAULT_PLUGIN_DIRS)}
  CNI_IFNAME      interface name (--ifname/-i), default {DEFAULT_IFNAME} (set but empty is an error)
  CNI_ARGS        plugin arguments K=V;K2=V2 (a pair with an empty key or value is an error)
  CAP_ARGS        capability arguments, a JSON object ({{"portMappings": [...]}})
  CNI_CONTAINERID container id (--container-id); default "cnitool-" + the first 10 bytes
                  of sha512(absolute NETNS path) in hex, as cnitool derives it
  CNI_CACHE_DIR   result cache directory (--cache-dir), default {DEFAULT_CACHE_DIR}
  CNI_TIMEOUT     seconds an operation may take (--timeout), default unlimited
  DOCKER_HOST     Docker engine for the docker commands (--docker-host),
                  default unix:///var/run/docker.sock

exit status:
  0  success
  1  failure: bad input, unknown network, a plugin failed or timed out (one line on stderr)
  2  usage error: unknown command, missing argument, invalid option value
"""


class _Failure(Exception):
    """A failure the CLI detects itself (bad CNI_ARGS, missing netns, ...): exit status 1."""


class _Usage(Exception):
    """A command-line error found after parsing (bad CNI_TIMEOUT, ...): exit status 2."""


# -- argument parsing ------------------------------------------------------------------------------


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter without importing shutil (and bz2, lzma, zlib with it) at startup:
    argparse makes a formatter for every argument it adds, only to check the metavar."""

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ) -> None:
        if width is None:
            width = _terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def _terminal_columns() -> int:
    # What shutil.get_terminal_size() answers: $COLUMNS, else the terminal, else 80.
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def _add_options(
    parser: argparse.ArgumentParser,
    *,
    sub: bool,
    runtime: bool,
    json_out: bool,
    docker: bool = False,
    keep: bool = False,
) -> None:
    """Add the shared options. On subcommands their default is SUPPRESS, so an option given before
    the command (``cnilib --debug add ...``) is not overwritten by the subcommand's default."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if sub else value

    g = parser.add_argument_group("options shared by the commands")
    g.add_argument(
        "--conf-dir",
        metavar="DIR",
        default=default(None),
        help=f"network configuration directory (env NETCONFPATH; default {DEFAULT_CONF_DIR})",
    )
    g.add_argument(
        "--cni-path",
        metavar="DIRS",
        default=default(None),
        help="plugin directories separated by ':' (env CNI_PATH)",
    )
    g.add_argument(
        "--cache-dir",
        metavar="DIR",
        default=default(None),
        help=f"result cache directory (env CNI_CACHE_DIR; default {DEFAULT_CACHE_DIR})",
    )
    g.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_float,
        default=default(None),
        help="limit for the whole operation; a plugin still running then is killed "
        "with its process group (env CNI_TIMEOUT; default none)",
    )
    g.add_argument(
        "--debug",
        action="store_true",
        default=default(False),
        help="show every plugin's environment, stdin, stdout, stderr and timing on stderr",
    )
    if runtime:
        g.add_argument(
            "-i",
            "--ifname",
            metavar="NAME",
            default=default(None),
            help="interface name inside the container (env CNI_IFNAME; default eth0)",
        )
        g.add_argument(
            "--container-id",
            metavar="ID",
            default=default(None),
            help="container id (env CNI_CONTAINERID; default derived from NETNS like cnitool)",
        )
    if json_out:
        g.add_argument(
            "--json",
            action="store_true",
            default=default(False),
            help="machine-readable JSON instead of a table",
        )
    if docker:
        g.add_argument(
            "--docker-host",
            metavar="URL",
            default=default(None),
            help="Docker engine address, unix:///path (env DOCKER_HOST)",
        )
    if keep:
        g.add_argument(
            "--keep",
            metavar="ID:IFNAME",
            action="append",
            default=default(None),
            help="an attachment GC must keep (repeatable); cnitool keeps none",
        )


def _fill_cnitool(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=True, json_out=False)
    p.add_argument("network", metavar="NETWORK", help="network name in the configuration directory")
    p.add_argument("netns", metavar="NETNS", help="path of the network namespace")


def _fill_gc(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=False, json_out=False, keep=True)
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("netns", metavar="NETNS", nargs="?", help="accepted for cnitool compatibility; unused")


def _fill_status(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=False, json_out=False)
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("netns", metavar="NETNS", nargs="?", help="accepted for cnitool compatibility; unused")


def _fill_validate(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=False, json_out=True)
    p.add_argument("network", metavar="NETWORK")


def _fill_explain(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=True, json_out=True, keep=True)
    p.add_argument(
        "verb",
        metavar="VERB",
        type=str.upper,
        choices=("ADD", "CHECK", "DEL", "GC", "STATUS"),
        help="add, check, del, gc or status",
    )
    p.add_argument("network", metavar="NETWORK")
    p.add_argument("netns", metavar="NETNS", nargs="?", help="required for add, check and del")


def _fill_version(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=False, json_out=True)
    p.add_argument("plugin", metavar="PLUGIN", help="plugin type, looked up in CNI_PATH")


def _fill_cache(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=True, json_out=True)
    cmds = p.add_subparsers(dest="cache_command", metavar="list|show", required=True)
    q = cmds.add_parser(
        "list",
        help="every cached attachment",
        formatter_class=_Formatter,
        description="every cached attachment, and the cache files that cannot be used",
    )
    _add_options(q, sub=True, runtime=True, json_out=True)
    q.add_argument("--network", metavar="NETWORK", default=None, help="only this network")
    q = cmds.add_parser(
        "show",
        help="one cached attachment",
        formatter_class=_Formatter,
        description="one cached attachment, by NETWORK and NETNS (cnitool's container id) or --container-id",
    )
    _add_options(q, sub=True, runtime=True, json_out=True)
    q.add_argument("network", metavar="NETWORK")
    q.add_argument("netns", metavar="NETNS", nargs="?")


def _fill_docker(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=True, json_out=False, docker=True)
    cmds = p.add_subparsers(dest="docker_command", metavar="attach|detach", required=True)
    for name, help_ in (
        ("attach", "ADD NETWORK to the container's namespace; prints the result like add"),
        ("detach", "DEL NETWORK from the container (also when it has stopped)"),
    ):
        q = cmds.add_parser(name, help=help_, description=help_, formatter_class=_Formatter)
        _add_options(q, sub=True, runtime=True, json_out=False, docker=True)
        q.add_argument("container", metavar="CONTAINER", help="container name or id")
        q.add_argument("network", metavar="NETWORK")


#: Every command: its description and the function that adds its arguments.
_SPECS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "add": ("ADD: attach NETNS to NETWORK and print the result (like cnitool)", _fill_cnitool),
    "check": ("CHECK an attachment (like cnitool)", _fill_cnitool),
    "del": ("DEL: detach NETNS from NETWORK (like cnitool)", _fill_cnitool),
    "gc": (
        "GC: DEL every cached attachment of NETWORK that is not kept, then send GC to the "
        "plugins (cniVersion 1.1.0)",
        _fill_gc,
    ),
    "status": ("STATUS of every plugin of NETWORK (cniVersion 1.1.0; a no-op before)", _fill_status),
    "validate": ("probe every plugin's VERSION and report every problem (exit 1 if any)", _fill_validate),
    "explain": (
        "dry run: show the environment and stdin every plugin would get; nothing is executed",
        _fill_explain,
    ),
    "version": ("ask a plugin which CNI versions it supports", _fill_version),
    "cache": (
        "inspect the result cache (libcni's format, shared with cnitool, containerd and CRI-O)",
        _fill_cache,
    ),
    "docker": ("attach a Docker container (started with --net=none) to a CNI network", _fill_docker),
}

#: Options that take a value, to find the command word in argv.
_VALUE_OPTIONS = frozenset(
    (
        "--conf-dir",
        "--cni-path",
        "--cache-dir",
        "--timeout",
        "-i",
        "--ifname",
        "--container-id",
        "--docker-host",
        "--keep",
    )
)


def _command_word(argv: Sequence[str]) -> int | None:
    """The index of the command word in ``argv`` (options may come before it), or None."""
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _VALUE_OPTIONS
        else:
            return i if arg in _SPECS else None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``cnilib COMMAND ...`` for one command, or with ``None`` the top-level parser
    (``cnilib --help``, ``--version``, usage errors).

    A command's parser holds only that command's arguments: one parser is all a run needs, and
    building every command's (about 100 options) would cost milliseconds of startup.
    """
    version = f"{_PROG} {cnilib.__version__}"
    if command is not None:
        description, fill = _SPECS[command]
        p = argparse.ArgumentParser(
            prog=f"{_PROG} {command}", description=description, formatter_class=_Formatter
        )
        p.add_argument("--version", action="version", version=version)
        fill(p)
        return p
    parser = argparse.ArgumentParser(
        prog=_PROG,
        usage=f"{_PROG} [-h] [--version] [options] COMMAND [ARGS...]",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=version)
    _add_options(parser, sub=False, runtime=True, json_out=True, docker=True, keep=True)
    # Only parsed when argv names no known command: for --help and the usage errors.
    parser.add_argument(
        "command",
        metavar="COMMAND",
        choices=tuple(_SPECS),
        help="one of the commands listed below (cnilib COMMAND --help)",
    )
    return parser


# -- settings from options and environment ------------------------------------------------------


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
    return pairs


def _cni_args() -> list[tuple[str, str]]:
    text = os.environ.get("CNI_ARGS", "")
    return parse_cni_args(text) if text else []


def _cap_args() -> dict[str, Any]:
    text = os.environ.get("CAP_ARGS", "")
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _Failure(f"invalid CAP_ARGS: not JSON ({exc})") from None
    if value is None:
        return {}  # Go decodes null into a nil map
    if not isinstance(value, dict):
        raise _Failure(f"invalid CAP_ARGS: must be a JSON object, not {type(value).__name__}")
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
    import hashlib  # only the commands that derive an id need it

    return "cnitool-" + hashlib.sha512(go_abs(netns).encode()).digest()[:10].hex()


def _container_id(ns: argparse.Namespace, netns_abs: str | None) -> str:
    explicit = ns.container_id or os.environ.get("CNI_CONTAINERID")
    if explicit:
        return str(explicit)
    if netns_abs is None:
        raise _Usage("a NETNS argument or --container-id is required")
    return container_id_for(netns_abs)


def _runtime(ns: argparse.Namespace, netns: str | None, *, must_exist: bool) -> cnilib.RuntimeConfig:
    cap_args = _cap_args()
    args = _cni_args()
    netns_abs = go_abs(netns) if netns is not None else None
    if must_exist and netns_abs is not None and not os.path.exists(netns_abs):
        raise _Failure(f"network namespace {netns_abs} does not exist")
    return cnilib.RuntimeConfig(
        container_id=_container_id(ns, netns_abs),
        netns=netns_abs or "",
        ifname=_ifname(ns),
        args=args,
        capability_args=cap_args,
    )


def _valid_attachments(ns: argparse.Namespace) -> list[cnilib.GCAttachment]:
    out = []
    for item in ns.keep or ():
        cid, sep, ifname = item.partition(":")
        if not sep or not cid or not ifname:
            raise _Usage(f"--keep {item!r}: expected CONTAINER_ID:IFNAME")
        out.append(cnilib.GCAttachment(container_id=cid, ifname=ifname))
    return out


def _load(ns: argparse.Namespace) -> cnilib.NetworkConfigList:
    return cnilib.load_network(_conf_dir(ns), ns.network)


def _engine(ns: argparse.Namespace) -> cnilib.CNI:
    return cnilib.CNI(
        plugin_dirs=_plugin_dirs(ns),
        cache_dir=_cache_dir(ns),
        timeout=_timeout(ns),
        on_plugin=_debug_hook if ns.debug else None,
    )


# -- output helpers -------------------------------------------------------------------------------


def _human_json(value: Any) -> str:
    """Indented JSON for people (``<`` stays ``<``)."""
    return cnilib.go_dumps(value, indent="    ", escape_html=False)


def _write(text: str) -> None:
    out = sys.stdout.buffer
    view = memoryview(text.encode("utf-8", "surrogateescape"))
    # With PYTHONUNBUFFERED (python -u) this is the raw file, whose write() may be partial.
    while view:
        written = out.write(view)
        view = view[written or 0 :]
    out.flush()


def _print_json(value: Any) -> None:
    _write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"


def _indented(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


def _one_line(text: str) -> str:
    parts = [p.strip() for p in text.splitlines()]
    return "; ".join(p for p in parts if p)


def _bytes_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _how_it_ended(run: cnilib.PluginRun) -> str:
    o = run.outcome
    if o is None:
        return "not run" if run.error is not None else "no outcome"
    if o.timed_out:
        return f"timed out after {o.timeout:g}s"
    if o.start_error:
        return f"could not start: {o.start_error}"
    if o.signal is not None:
        return f"killed by signal {o.signal}"
    return f"exit status {o.exit_status}"


def _debug_hook(run: cnilib.PluginRun) -> None:
    """``--debug``: one block per plugin run on stderr (env, stdin, stdout, stderr, time)."""
    o = run.outcome
    how = _how_it_ended(run)
    who = run.plugin if run.verb.value == "VERSION" else f"plugins[{run.index}] {run.plugin}"
    if run.network:
        who += f" (network {run.network})"
    if run.attempt > 1:
        who += f" attempt {run.attempt}"
    lines = [f"cnilib: --- {run.verb.value} {who}: {how}, {run.duration * 1000:.1f} ms"]
    if o is not None and o.plugin_path:
        lines.append(f"  path: {o.plugin_path}")
    lines.append("  env:")
    lines.extend(f"    {k}={v}" for k, v in run.request.env.items())
    try:
        stdin = _human_json(json.loads(run.request.stdin))
    except ValueError:
        stdin = _bytes_text(run.request.stdin)
    lines += ["  stdin:", _indented(stdin)]
    if o is not None:
        for label, data in (("stdout", o.stdout), ("stderr", o.stderr)):
            text = _indented(_bytes_text(data)) if data.strip() else "    (empty)"
            lines += [f"  {label}:", text]
    if run.error is not None:
        lines.append(f"  error: {_one_line(str(run.error))}")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


# -- commands -------------------------------------------------------------------------------------


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


def _report_dict(report: cnilib.ValidationReport, conflist: cnilib.NetworkConfigList) -> dict[str, Any]:
    return {
        "network": report.network,
        "cniVersion": report.cni_version,
        "source": conflist.source,
        "ok": report.ok,
        "capabilities": list(report.capabilities),
        "plugins": [
            {
                "index": p.index,
                "type": p.plugin,
                "path": p.path,
                "cniVersion": p.version_info.cni_version if p.version_info else None,
                "supportedVersions": (list(p.version_info.supported_versions) if p.version_info else None),
                "supportsListVersion": p.supports_list_version,
                "capabilities": list(p.capabilities),
                "problems": list(p.problems),
            }
            for p in report.plugins
        ],
        "problems": list(report.problems),
    }


def _cmd_validate(ns: argparse.Namespace) -> int:
    conflist = _load(ns)
    report = _engine(ns).validate(conflist)
    if ns.json:
        _print_json(_report_dict(report, conflist))
        return EXIT_OK if report.ok else EXIT_FAILURE
    version = report.cni_version or "0.1.0"
    out = [f"network {report.network} (cniVersion {version}) from {conflist.source or '?'}\n"]
    rows = [["#", "PLUGIN", "PATH", f"SUPPORTS {version}", "CAPABILITIES", "SUPPORTED VERSIONS"]]
    for p in report.plugins:
        info = p.version_info
        rows.append(
            [
                str(p.index),
                p.plugin,
                p.path or "(not found)",
                "yes" if p.supports_list_version else "NO",
                ",".join(p.capabilities) or "-",
                " ".join(info.supported_versions) if info else "?",
            ]
        )
    out.append(_table(rows))
    out.append(f"capabilities: {', '.join(report.capabilities) or 'none'}\n")
    if report.ok:
        out.append("no problems found\n")
    else:
        out.append(f"{len(report.problems)} problem(s):\n")
        out.extend(f"  - {_one_line(p)}\n" for p in report.problems)
    _write("".join(out))
    return EXIT_OK if report.ok else EXIT_FAILURE


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
        if result is not None:
            _write(cnilib.go_dumps(result.to_dict(), indent="    "))
    else:
        docker.detach(cni, ns.container, conflist, **kwargs)
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "add": _cmd_add,
    "check": _cmd_check,
    "del": _cmd_del,
    "gc": _cmd_gc,
    "status": _cmd_status,
    "validate": _cmd_validate,
    "explain": _cmd_explain,
    "version": _cmd_version,
    "cache": _cmd_cache,
    "docker": _cmd_docker,
}


# -- entry point ----------------------------------------------------------------------------------


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    notes: Sequence[str] = getattr(exc, "__notes__", ())
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return _one_line(text)


def _context(ns: argparse.Namespace) -> str:
    words = [ns.command]
    for attr in ("cache_command", "docker_command", "verb"):
        value = getattr(ns, attr, None)
        if value:
            words.append(str(value).lower() if attr == "verb" else str(value))
    if getattr(ns, "container", None):
        words.append(ns.container)
    for attr in ("network", "plugin"):
        value = getattr(ns, attr, None)
        if value:
            words.append(value)
    return " ".join(words)


def _fail(message: str) -> int:
    sys.stderr.write(f"{_PROG}: {message}\n")
    sys.stderr.flush()
    return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``cnilib --help``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    index = _command_word(args)
    try:
        if index is None:
            # No command word: --help, --version, nothing, or an unknown command.
            parser = build_parser()
            parser.parse_args(args)
            parser.error("options must come before or after the command, not its arguments")
        command = args[index]
        parser = build_parser(command)
        ns = parser.parse_args(args[:index] + args[index + 1 :])
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    ns.command = command
    handler = _COMMANDS[ns.command]
    try:
        ns.timeout = _timeout(ns)  # a bad CNI_TIMEOUT is a usage error before anything runs
        return handler(ns)
    except _Usage as exc:
        sys.stderr.write(f"{_PROG} {ns.command}: error: {exc} (see {_PROG} --help)\n")
        return EXIT_USAGE
    except _Failure as exc:
        return _fail(f"{_context(ns)}: {_error_text(exc)}")
    except KeyboardInterrupt:
        _fail("interrupted")
        return 130  # the shell's status for SIGINT
    except BrokenPipeError:
        # The reader went away (``| head``): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        # Every cnilib error (and an OS error such as an unreadable file) is one line, exit 1;
        # anything else is a bug and keeps its traceback.
        if isinstance(exc, (cnilib.CNIError, OSError)):
            return _fail(f"{_context(ns)}: {_error_text(exc)}")
        raise
