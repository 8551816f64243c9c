"""The ``cnilib`` command line: a drop-in for cnitool, plus validate, explain, version, cache and
docker commands.

``cnilib add|check|del|gc|status NETWORK NETNS`` reads the same environment as cnitool
(NETCONFPATH, CNI_PATH, CNI_IFNAME, CNI_ARGS, CAP_ARGS), derives the container id from the netns
path the same way, prints ADD's result byte for byte as cnitool does, and reports errors as one
line on stderr with exit status 1, so scripts written for cnitool run unchanged. The other
commands are cnilib's own.

The commands work through the public API (``cnilib``, ``cnilib.docker``, ``cnilib.sandbox``,
``cnilib.doctor``); the start-up and the fast path reach below it (the defaults, the plain values,
the engine's plans) to stay cheap. Only what a command needs is imported: ``--help`` loads
argparse and nothing of the engine, a bare ``--version`` not even that.

The package: ``_parser`` (help texts, shared options, one spec per command: ``_SPECS``),
``_settings`` (options and environment, cnitool's rules), ``_output`` (JSON, tables, ``--debug``),
``_argtypes`` (argument types both use), ``_plain`` (the fast path's reading of argv),
``_cnitool`` (add, check, del, gc, status), ``_commands`` (explain, version, cache, docker),
``_validate``, ``_doctor``, ``_watch`` (docker watch), ``_try``/``_try_options``/``_conformance``
(``try`` and ``conformance``), ``_progress`` (their step lines and live status line), ``_fast``
(the fast path's glue), ``_main`` (``_COMMANDS``, parsing, error handling); handlers are
imported per run.
"""

from __future__ import annotations

import sys

from .._base._lazy import lazy_getattr

# typing is not imported for this alone: ``cnilib --version`` needs nothing else (see main).
TYPE_CHECKING: bool = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._main import _COMMANDS as _COMMANDS
    from ._parser import _SPECS as _SPECS
    from ._parser import build_parser
    from ._settings import (
        EXIT_FAILURE,
        EXIT_OK,
        EXIT_USAGE,
        container_id_for,
        go_abs,
        parse_cap_args,
        parse_cni_args,
    )
    from ._settings import _Failure as _Failure
    from ._settings import _Usage as _Usage

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

# Names loaded on first access (PEP 562): the parser, the settings and the handlers.
_LAZY: dict[str, str] = {
    "_COMMANDS": "._main",
    "_SPECS": "._parser",
    "build_parser": "._parser",
    "EXIT_FAILURE": "._settings",
    "EXIT_OK": "._settings",
    "EXIT_USAGE": "._settings",
    "_Failure": "._settings",
    "_Usage": "._settings",
    "container_id_for": "._settings",
    "go_abs": "._settings",
    "parse_cap_args": "._settings",
    "parse_cni_args": "._settings",
}


__getattr__ = lazy_getattr(globals(), _LAZY)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``cnilib --help``)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        # All a bare --version needs (argparse's version action prints exactly this): no parser.
        from .._base._defaults import __version__

        sys.stdout.write(f"cnilib {__version__}\n")
        sys.stdout.flush()
        return 0
    from ._main import run

    return run(args)
