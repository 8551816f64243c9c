"""The entry point's work: parse one command's arguments, run its handler, turn errors into exit statuses."""

from __future__ import annotations

import importlib
import os
import sys

from ._output import _one_line
from ._plain import _PROG, plain_namespace
from ._settings import EXIT_FAILURE, EXIT_USAGE, _Failure, _timeout, _Usage

TYPE_CHECKING = False  # (not typing's: see ._plain)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

#: Every command's handler as (module in this package, function): a run imports only its own.
_COMMANDS: dict[str, tuple[str, str]] = {
    "add": ("._cnitool", "_cmd_add"),
    "check": ("._cnitool", "_cmd_check"),
    "del": ("._cnitool", "_cmd_del"),
    "gc": ("._cnitool", "_cmd_gc"),
    "status": ("._cnitool", "_cmd_status"),
    "validate": ("._commands", "_cmd_validate"),
    "explain": ("._commands", "_cmd_explain"),
    "version": ("._commands", "_cmd_version"),
    "cache": ("._commands", "_cmd_cache"),
    "docker": ("._commands", "_cmd_docker"),
    "doctor": ("._doctor", "cmd_doctor"),
    "try": ("cnilib._cli_try", "cmd_try"),
    "conformance": ("cnilib._cli_try", "cmd_conformance"),
}


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, name = _COMMANDS[command]
    handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module, __package__), name)
    return handler


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


def _parse(args: list[str]) -> argparse.Namespace | int:
    """The parsed arguments, or the exit status of ``--help``/``--version``/a usage error."""
    from ._parser import _command_word, build_parser

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
    return ns


def run(args: list[str]) -> int:
    """Run ``cnilib ARGS``; returns the exit status."""
    ns = plain_namespace(args)
    if ns is None:
        parsed = _parse(args)
        if isinstance(parsed, int):
            return parsed
        ns = parsed
    handler = _handler(ns.command)
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
        from .._errors import CNIError

        if isinstance(exc, (CNIError, OSError)):
            return _fail(f"{_context(ns)}: {_error_text(exc)}")
        raise
