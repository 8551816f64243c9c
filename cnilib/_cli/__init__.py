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
import os
import sys
from typing import TYPE_CHECKING

# Free: this package lives in cnilib, so ``cnilib/__init__`` has run already. The engine, the
# cache and the config loader are attributes loaded on first use: only commands that need them
# pay for them.
import cnilib

from ._cnitool import _cmd_add, _cmd_check, _cmd_del, _cmd_gc, _cmd_status
from ._commands import _cmd_cache, _cmd_docker, _cmd_explain, _cmd_validate, _cmd_version
from ._output import _one_line
from ._parser import _PROG, _command_word, build_parser
from ._parser import _SPECS as _SPECS  # re-exported: the command table
from ._settings import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    _Failure,
    _timeout,
    _Usage,
    container_id_for,
    go_abs,
    parse_cap_args,
    parse_cni_args,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "container_id_for",
    "go_abs",
    "main",
    "parse_cap_args",
    "parse_cni_args",
]

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
