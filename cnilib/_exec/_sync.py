"""The sync executor: one plugin's pipes and exit watched with poll(2) in the calling thread."""

from __future__ import annotations

import attrs

from ._options import _Base
from ._proc import SyncRunner
from ._protocol import ExecOutcome


@attrs.define
class SubprocessExecutor(_Base, SyncRunner[ExecOutcome]):
    """Runs plugins with :mod:`subprocess` in the calling thread.

    ``env``: ``"inherit"`` passes the whole parent environment (libcni's behaviour, so PATH
    reaches plugins that call iptables); ``"clean"`` passes only ``env_allow``. ``extra_env`` is
    added either way, and the CNI variables override both. ``argv_prefix`` runs plugins through a
    wrapper, e.g. ``cnilib.netns.enter_argv(path)`` to run them in another network namespace.
    ``output_limit`` caps what is kept of stdout and of stderr (the rest is read and dropped).
    On a timeout the plugin's process group gets SIGTERM, ``kill_grace`` seconds, then SIGKILL.
    ``linger``: how long to wait for the pipes to close after the plugin exited (a left-behind
    child holding them is then killed with the group; the plugin's exit status is reported).
    A plugin run for an operation of :class:`~cnilib.CNI` inherits the descriptors of the locks the
    operation holds, so that it keeps them if the runtime dies before it ends.
    """
