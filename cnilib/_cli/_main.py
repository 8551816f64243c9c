"""The entry point's work: parse one command's arguments, run its handler, turn errors into exit statuses."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys

from .._base._operation import OPERATION
from ._output import _one_line
from ._plain import _PROG, plain_namespace
from ._settings import EXIT_FAILURE, EXIT_USAGE, _Failure, _timeout, _Usage

TYPE_CHECKING = False  # (not typing's: see ._plain)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Sequence
    from types import FrameType
    from typing import TextIO

#: Every command's handler as (module in this package, function): a run imports only its own.
_COMMANDS: dict[str, tuple[str, str]] = {
    "add": ("._cnitool", "_cmd_add"),
    "check": ("._cnitool", "_cmd_check"),
    "del": ("._cnitool", "_cmd_del"),
    "gc": ("._cnitool", "_cmd_gc"),
    "status": ("._cnitool", "_cmd_status"),
    "validate": ("._validate", "_cmd_validate"),
    "explain": ("._commands", "_cmd_explain"),
    "version": ("._commands", "_cmd_version"),
    "cache": ("._commands", "_cmd_cache"),
    "docker": ("._commands", "_cmd_docker"),
    "doctor": ("._doctor", "cmd_doctor"),
    "try": ("cnilib._cli._try", "cmd_try"),
    "conformance": ("cnilib._cli._try", "cmd_conformance"),
}


def _handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, name = _COMMANDS[command]
    handler: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module, __package__), name)
    return handler


# -- signals --------------------------------------------------------------------------------------

#: Each stops the command the same way: a plugin that runs finishes (a second signal kills its
#: group), then the operation stops, its locks released, an unfinished ADD's intent record kept.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _Stopped(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived while a command ran."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class _StopHandler:
    """The handler of the stop signals while a command runs.

    The first signal raises :class:`_Stopped` at once, unless a plugin runs: a plugin killed
    half-way may leave what its DEL cannot undo (bridge deletes the veth, then the masquerade
    rules it finds through the veth's addresses), so it finishes (its timeout still applies) and
    the driver raises once it has ended. A second signal while it runs raises at once: the
    executor kills the plugin's group. Any other signal is ignored: the cleanup must finish
    (SIGKILL still ends everything; the plugin then keeps the locks until it ends).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.forced = False

    def __call__(self, signum: int, _frame: FrameType | None) -> None:
        op = OPERATION.get()  # (the main thread's: the handler runs where it interrupted)
        running = op is not None and op.pending > 0
        if self.signum is None:
            self.signum = signum
            if running:
                assert op is not None
                op.stop = _Stopped(signum)
                return
            raise _Stopped(signum)
        if running and not self.forced:
            self.forced = True
            raise _Stopped(self.signum)


@contextlib.contextmanager
def _stop_signals() -> Iterator[None]:
    """Stop signals handled by :class:`_StopHandler` in the block; the previous handlers come back
    afterwards (``main`` may be called in a process that has its own)."""
    handler = _StopHandler()
    previous = {}
    try:
        for sig in _STOP_SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: the caller's business
                previous[sig] = signal.signal(sig, handler)
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _warning_lines() -> Iterator[None]:
    """cnilib's own warnings (a network defined twice, a file writable by others) as one line on
    stderr each, like its errors, instead of Python's two lines with a source location."""
    import warnings  # (the interpreter has it loaded by the time a command runs)

    previous = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if not category.__module__.startswith("cnilib"):
            previous(message, category, filename, lineno, file, line)
            return
        sys.stderr.write(f"{_PROG}: warning: {_one_line(str(message))}\n")
        sys.stderr.flush()

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


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
        with _stop_signals(), _warning_lines():
            return handler(ns)
    except _Usage as exc:
        sys.stderr.write(f"{_PROG} {ns.command}: error: {exc} (see {_PROG} --help)\n")
        return EXIT_USAGE
    except _Failure as exc:
        return _fail(f"{_context(ns)}: {_error_text(exc)}")
    except KeyboardInterrupt as exc:
        signum = exc.signum if isinstance(exc, _Stopped) else signal.SIGINT
        _fail("interrupted" if signum == signal.SIGINT else f"stopped by {signal.Signals(signum).name}")
        return 128 + signum  # the shell's status for a death by that signal (130 for SIGINT)
    except BrokenPipeError:
        # The reader went away (``| head``): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:
        # Every cnilib error (and an OS error such as an unreadable file) is one line, exit 1;
        # anything else is a bug and keeps its traceback.
        from .._base._errors import CNIError

        if isinstance(exc, CNIError):
            from ._hints import error_text

            return _fail(f"{_context(ns)}: {error_text(exc, ns, _error_text(exc))}")
        if isinstance(exc, OSError):
            return _fail(f"{_context(ns)}: {_error_text(exc)}")
        raise
