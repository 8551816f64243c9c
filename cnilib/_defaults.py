"""Defaults shared by the engine, the cache and the CLI, defined once."""

from __future__ import annotations

__all__ = ["DEFAULT_CACHE_DIR", "DEFAULT_CONF_DIR", "DEFAULT_IFNAME", "DEFAULT_PLUGIN_DIRS"]

#: libcni's default cache directory (``results/`` inside it is libcni's format).
DEFAULT_CACHE_DIR = "/var/lib/cni"
#: Where plugins are looked for when neither ``plugin_dirs`` nor ``$CNI_PATH`` is given.
DEFAULT_PLUGIN_DIRS: tuple[str, ...] = ("/opt/cni/bin", "/usr/libexec/cni", "/usr/lib/cni")
#: cnitool's default configuration directory (``$NETCONFPATH`` overrides it).
DEFAULT_CONF_DIR = "/etc/cni/net.d"
#: The interface name cnitool uses when ``$CNI_IFNAME`` is not set.
DEFAULT_IFNAME = "eth0"
