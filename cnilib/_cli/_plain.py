"""The plain form of the cnitool commands, ``cnilib add|check|del NETWORK NETNS`` without any
option, read without argparse: building a parser (argparse, gettext and its locale lookups) is
about 5 ms of a command-line run that takes a few dozen. Anything else goes to the parser."""

from __future__ import annotations

from types import SimpleNamespace

TYPE_CHECKING = False  # (not typing's: the fast path does not import typing's module at all)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["PLAIN_COMMANDS", "plain_namespace"]

#: The program's name in messages.
_PROG = "cnilib"

#: The commands whose plain form is read here.
PLAIN_COMMANDS = ("add", "check", "del")

#: What ``build_parser(command).parse_args([NETWORK, NETNS])`` sets besides the two positionals
#: (``tests/test_cli.py`` compares both ways of reading for every command here).
_DEFAULTS = {
    "conf_dir": None,
    "cni_path": None,
    "cache_dir": None,
    "timeout": None,
    "debug": False,
    "ifname": None,
    "container_id": None,
}


def plain_namespace(args: Sequence[str]) -> Any:
    """The parsed arguments of ``COMMAND NETWORK NETNS``, or None for anything else."""
    if len(args) != 3 or args[0] not in PLAIN_COMMANDS or args[1].startswith("-") or args[2].startswith("-"):
        return None
    return SimpleNamespace(**_DEFAULTS, network=args[1], netns=args[2], command=args[0])
