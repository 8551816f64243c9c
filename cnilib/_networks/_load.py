"""What :class:`~cnilib.Networks` loads: go-cni's loopback list, :class:`NetworksConfig` (the
immutable snapshot) and its :class:`ConfiguredNetwork` entries, the directory reader, and how labels
become ``CNI_ARGS``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import attrs

from .._base._errors import ConfigError, MultiError
from .._exec._tracing import library_logger
from .._model._models import NetworkConfigList

_log = library_logger("cnilib.networks")

#: go-cni's loopback network, byte for byte (its cache entries then match containerd's).
LOOPBACK_CONFIG = b"""{
"cniVersion": "0.3.1",
"name": "cni-loopback",
"plugins": [{
  "type": "loopback"
}]
}"""


class NetworksNotReadyError(MultiError):
    """:meth:`Networks.status`: fewer networks than ``min_networks`` are loaded, or a STATUS failed.

    ``errors`` maps ``"<network>/<ifname>"`` to each failed STATUS (empty when too few networks).
    """


@attrs.frozen
class ConfiguredNetwork:
    """One loaded network and the interface name it is attached as."""

    ifname: str
    config: NetworkConfigList

    @property
    def name(self) -> str:
        """The network's name."""
        return self.config.name

    @property
    def source(self) -> str | None:
        """The file it was read from (None for an explicit list or loopback)."""
        return self.config.source


@attrs.frozen
class NetworksConfig:
    """What is loaded (go-cni's ``GetConfig``): the networks in order, loopback first if enabled."""

    networks: tuple[ConfiguredNetwork, ...]
    confdir: str | None
    plugin_dirs: tuple[str, ...]
    max_networks: int | None
    min_networks: int
    interface_prefix: str

    @property
    def default(self) -> ConfiguredNetwork | None:
        """The default network: the first that is not loopback."""
        return next((n for n in self.networks if n.ifname != "lo"), None)


def _fingerprint(config: NetworksConfig) -> tuple[tuple[str, str | None, bytes], ...]:
    return tuple((n.ifname, n.source, n.config.bytes) for n in config.networks)


def _loopback() -> NetworkConfigList:
    return NetworkConfigList.from_bytes(LOOPBACK_CONFIG)


def _dir_networks(confdir: str, max_networks: int | None) -> list[NetworkConfigList]:
    # go-cni's loadFromConfDir: every file sorted by name, whatever its extension; any invalid
    # file fails the load (reported together). A file naming a network already found is
    # shadowed, as in libcni's lookup by name: skipped, with a warning (one network per name).
    from .._model._config import ConfigDirectoryError, conf_files, load_conf_file

    found: dict[str, NetworkConfigList] = {}
    problems: list[ConfigError] = []
    for path in conf_files(confdir):
        if max_networks is not None and len(found) >= max_networks:
            break
        try:
            conf = load_conf_file(path)
        except ConfigError as exc:
            problems.append(exc)
            continue
        first = found.setdefault(conf.name, conf)
        if first is not conf:
            _log.warning("%s: network %r is shadowed by %s (same name)", path, conf.name, first.source)
    if problems:
        raise ConfigDirectoryError(confdir, problems)
    return list(found.values())


def _labels_to_args(
    labels: Mapping[str, str] | None, args: Mapping[str, str] | Iterable[tuple[str, str]] | None
) -> tuple[tuple[str, str], ...]:
    pairs = list((labels or {}).items())
    pairs += list(args.items() if isinstance(args, Mapping) else (args or ()))
    if not pairs:
        return ()  # nothing given: DEL/CHECK may reuse the cached arguments
    if not any(k == "IgnoreUnknown" for k, _ in pairs):
        # Plugins refuse CNI_ARGS keys they do not know (K8S_POD_NAME, ...) unless told to ignore them.
        pairs.insert(0, ("IgnoreUnknown", "1"))
    return tuple(pairs)
