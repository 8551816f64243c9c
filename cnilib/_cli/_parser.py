"""The parser of ``cnilib COMMAND ...``: the shared options, one spec per command (the help texts
are in ``_help``)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from .._base._defaults import DEFAULT_CACHE_DIR, DEFAULT_CONF_DIR, __version__
from ._argtypes import _positive_float
from ._help import _DESCRIPTION, _EPILOG, _WATCH_EPILOG, _WATCH_HELP
from ._plain import _PROG

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

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
            help="an attachment GC must keep (repeatable; one matching none is flagged); cnitool keeps none",
        )


def _fill_cnitool(p: argparse.ArgumentParser) -> None:
    _add_options(p, sub=False, runtime=True, json_out=False)
    p.add_argument(
        "network",
        metavar="NETWORK",
        help="network name in the configuration directory, or a configuration file",
    )
    p.add_argument("netns", metavar="NETNS", help="path of the network namespace (/run/netns/NAME)")


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
    p.add_argument(
        "network",
        metavar="NETWORK|PATH",
        nargs="?",
        help="a network of the configuration directory, or a configuration file or directory "
        "(a path: it has a '/'); default: every configuration of the configuration directory",
    )
    p.add_argument(
        "--schema-dir",
        metavar="DIR",
        default=None,
        help="JSON Schemas of more plugins, DIR/TYPE.json (they replace the shipped ones of the same type)",
    )


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
    cmds = p.add_subparsers(dest="docker_command", metavar="attach|detach|watch", required=True)
    for name, help_ in (
        ("attach", "ADD NETWORK to the container's namespace; prints the result like add"),
        ("detach", "DEL NETWORK from the container (also when it has stopped)"),
    ):
        q = cmds.add_parser(name, help=help_, description=help_, formatter_class=_Formatter)
        _add_options(q, sub=True, runtime=True, json_out=False, docker=True)
        q.add_argument("container", metavar="CONTAINER", help="container name or id")
        q.add_argument("network", metavar="NETWORK")
    _fill_watch(cmds, _add_options, _Formatter, _positive_float)


def _fill_watch(cmds: Any, add_options: Any, formatter: type[argparse.HelpFormatter], seconds: Any) -> None:
    # ``cnilib docker watch`` (the command itself: _watch.cmd_docker_watch).
    q = cmds.add_parser(
        "watch", help=_WATCH_HELP, description=_WATCH_HELP, epilog=_WATCH_EPILOG, formatter_class=formatter
    )
    add_options(q, sub=True, runtime=False, json_out=False, docker=True)
    q.add_argument("--once", action="store_true", help="reconcile once and exit (1 if a container failed)")
    q.add_argument(
        "--resync",
        metavar="SECONDS",
        type=seconds,
        default=60.0,
        help="full reconciliation period (default 60)",
    )
    q.add_argument("--state-dir", metavar="DIR", default=None, help="default CACHE_DIR/docker-watch")
    q.add_argument(
        "--concurrency", metavar="N", type=int, default=8, help="containers handled at once (default 8)"
    )


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
    "validate": (
        "every plugin's VERSION, and its fields against its schema; every problem with its JSON "
        "path (exit 1 on an error, 0 with warnings only)",
        _fill_validate,
    ),
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
    "doctor": (
        "find and free what runtimes leaked on this node; report what is wrong with its CNI setup",
        lambda p: _module("cnilib._cli._doctor").fill_doctor(p, _add_options),
    ),
    "try": (
        "ADD, CHECK and DEL a configuration with the real plugins in a throwaway sandbox (any user); "
        "report what was created and what DEL left behind",
        lambda p: _module("cnilib._cli._try").fill_try(p),
    ),
    "conformance": (
        "run a plugin through the spec's lifecycle in a sandbox and report every check",
        lambda p: _module("cnilib._cli._try").fill_conformance(p),
    ),
}


def _module(name: str) -> Any:
    # try, conformance and doctor live in modules of their own, loaded only when one of them runs.
    import importlib

    return importlib.import_module(name)


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
        "--source",
        "--valid",
        "--openmetrics",
        "--grace",
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
    version = f"{_PROG} {__version__}"
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
