"""Defaults shared by the engine, the cache and the CLI, defined once."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: ``cnilib --version`` loads this module and nothing else of cnilib's,
# and importing typing would be a sixth of its start-up (mypy knows this spelling too).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_CONCURRENCY",
    "DEFAULT_CONF_DIR",
    "DEFAULT_IFNAME",
    "DEFAULT_PLUGIN_DIRS",
    "__version__",
    "plugin_dirs_from",
]

#: cnilib's version, defined here only (``pyproject.toml`` reads it, ``cnilib.__version__`` re-exports it).
__version__ = "0.3.0"

#: libcni's default cache directory (``results/`` inside it is libcni's format).
DEFAULT_CACHE_DIR = "/var/lib/cni"
#: Where plugins are looked for when neither ``plugin_dirs`` nor ``$CNI_PATH`` is given.
DEFAULT_PLUGIN_DIRS: tuple[str, ...] = ("/opt/cni/bin", "/usr/libexec/cni", "/usr/lib/cni")
#: How many operations run at once by default (200 attaches on 2 cores: 127 s unbounded, 47 s at 16).
DEFAULT_CONCURRENCY = 16
#: cnitool's default configuration directory (``$NETCONFPATH`` overrides it).
DEFAULT_CONF_DIR = "/etc/cni/net.d"
#: The interface name cnitool uses when ``$CNI_IFNAME`` is not set.
DEFAULT_IFNAME = "eth0"


def plugin_dirs_from(dirs: Iterable[str | os.PathLike[str]] | str | None) -> tuple[str, ...]:
    """The engine's plugin directories: ``dirs`` (an iterable of paths, or a ``:``-separated
    string), else ``$CNI_PATH``, else :data:`DEFAULT_PLUGIN_DIRS`."""
    import os

    if dirs is None:
        env = os.environ.get("CNI_PATH")
        return tuple(d for d in env.split(os.pathsep) if d) if env else DEFAULT_PLUGIN_DIRS
    if isinstance(dirs, str):
        return tuple(d for d in dirs.split(os.pathsep) if d)
    return tuple(os.fspath(d) for d in dirs)
