"""Loading network configurations from files and directories, the way libcni does.

Lookup order (libcni's): file names sorted (byte order); every ``.conflist`` first, then every
``.conf`` and ``.json``; the first file whose ``name`` matches wins. Subdirectories are never
searched for lists; ``<confdir>/<name>/*.conf`` are a list's drop-in plugin files (spec 1.1),
appended in sorted order unless the list sets ``loadOnlyInlinedPlugins``.

Where cnilib differs: libcni stops at the first file it cannot parse, so one broken file in
``/etc/cni/net.d`` makes every network sorted after it unusable. cnilib skips a broken file whose
``name`` cannot be read (not JSON, not an object, no string ``name``) and keeps looking; if nothing
matches, the :class:`NetworkNotFoundError` names the skipped files since one of them may have been
meant. A file that does name the wanted network but is invalid is always an error. ``strict=True``
restores libcni's behaviour.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import attrs

from .._base._errors import ConfigError, ValidationError
from .._base._security import check_not_writable_by_others
from .._spec._confdir import (
    _DROP_IN_EXTENSIONS,
    CONF_EXTENSIONS,
    LIST_EXTENSIONS,
    _extension,
    conf_files,
    read_config,
)
from .._spec._validate import validate_network_name, validate_path
from ._models import NetworkConfigList, PluginConfig, load_json_object

__all__ = [
    "CONF_EXTENSIONS",
    "LIST_EXTENSIONS",
    "ConfigDirectoryError",
    "ConfigScan",
    "DuplicateNetworkWarning",
    "NetworkNotFoundError",
    "conf_files",
    "load_conf_file",
    "load_network",
    "load_networks",
    "load_plugin_drop_ins",
    "scan_networks",
]


class NetworkNotFoundError(ConfigError):
    """No configuration file in the directory defines the network.

    ``available`` holds the names of the networks the directory does define (sorted), and the
    message the one closest to ``name`` ("did you mean"); ``skipped`` the errors of files that were
    skipped because their network name could not be read: one of them may be the configuration
    that was meant. ``directory_missing``: the directory does not exist; ``directory_empty``: it
    holds no configuration file at all.
    """

    def __init__(
        self,
        name: str,
        confdir: str,
        skipped: Sequence[ConfigError] = (),
        *,
        directory_missing: bool = False,
        available: Sequence[str] = (),
        directory_empty: bool = False,
    ) -> None:
        self.name = name
        self.confdir = confdir
        self.skipped = tuple(skipped)
        self.directory_missing = directory_missing
        self.directory_empty = directory_empty
        self.available = tuple(sorted(set(available)))
        super().__init__(f"no network named {name!r} in {confdir}{self._details()}")

    def _details(self) -> str:
        if self.directory_missing:
            return " (the directory does not exist)"
        if self.directory_empty:
            *first, last = (*LIST_EXTENSIONS, *CONF_EXTENSIONS)
            return f" (the directory holds no {', '.join(first)} or {last} file)"
        text = ""
        close = _closest(self.name, self.available)
        if close is not None:
            text += f"; did you mean {close!r}?"
        parts = [f"networks there: {', '.join(self.available) or 'none'}"]
        if self.skipped:
            listed = "; ".join(str(err) for err in self.skipped)
            parts.append(f"skipped {len(self.skipped)} unreadable file(s): {listed}")
        return f"{text} ({'; '.join(parts)})"


def _closest(name: str, names: Sequence[str]) -> str | None:
    import difflib  # (only for an error)

    matches = difflib.get_close_matches(name, names, n=1)
    return matches[0] if matches else None


class DuplicateNetworkWarning(UserWarning):
    """More than one file of a configuration directory defines the network :func:`load_network`
    was asked for: the first (libcni's order) is used, the others are ignored, as libcni does.
    The message names every file (:class:`~cnilib.Networks` logs the files it skips instead)."""


class ConfigDirectoryError(ConfigError):
    """Some configuration files of a directory are invalid; ``errors`` holds one error per file."""

    def __init__(self, confdir: str, errors: Sequence[ConfigError]) -> None:
        self.confdir = confdir
        self.errors = tuple(errors)
        listed = "; ".join(str(err) for err in self.errors)
        super().__init__(f"{len(self.errors)} invalid configuration file(s) in {confdir}: {listed}")


@attrs.frozen
class ConfigScan:
    """Every network of a directory, in lookup order.

    ``networks`` holds the one configuration :func:`load_network` would return for each name;
    ``problems`` the errors of invalid files; ``shadowed`` the paths of valid or invalid files that
    are never used because an earlier file has the same network name.
    """

    networks: tuple[NetworkConfigList, ...]
    problems: tuple[ConfigError, ...]
    shadowed: tuple[str, ...]


def load_plugin_drop_ins(
    confdir: str | os.PathLike[str], network: str, *, strict_permissions: bool = False
) -> tuple[PluginConfig, ...]:
    """The drop-in plugin configurations ``<confdir>/<network>/*.conf`` in sorted order (spec 1.1).

    A network name that is not a valid name (it could point outside ``confdir``, e.g. ``..``) has
    no drop-ins. Raises :class:`~cnilib.ConfigError` naming the file for an invalid drop-in.
    """
    try:
        validate_network_name(network)
    except ValidationError:
        return ()
    plugins: list[PluginConfig] = []
    drop_in_dir = os.path.join(os.fspath(confdir), network)
    for path in conf_files(drop_in_dir, _DROP_IN_EXTENSIONS, strict_permissions=strict_permissions):
        data = read_config(path, "plugin configuration", strict_permissions)
        plugins.append(PluginConfig.from_bytes(data, source=path))
    return tuple(plugins)


@attrs.frozen
class _Candidate:
    path: str
    is_list: bool
    data: bytes | None = None
    obj: dict[str, Any] | None = None
    error: ConfigError | None = None

    @property
    def name(self) -> str | None:
        if self.obj is None:
            return None
        name = self.obj.get("name")
        return name if isinstance(name, str) else None


def _candidates(directory: str, strict_permissions: bool = False) -> list[_Candidate]:
    out: list[_Candidate] = []
    for is_list, exts in ((True, LIST_EXTENSIONS), (False, CONF_EXTENSIONS)):
        for path in conf_files(directory, exts, strict_permissions=strict_permissions):
            try:
                data = read_config(path, "network configuration", strict_permissions)
                obj = load_json_object(data, what="network configuration", source=path)
            except ConfigError as exc:
                out.append(_Candidate(path, is_list, error=exc))
            else:
                out.append(_Candidate(path, is_list, data=data, obj=obj))
    return out


def _build(
    cand: _Candidate, directory: str, drop_ins: bool, strict_permissions: bool = False
) -> NetworkConfigList:
    if cand.error is not None:
        raise cand.error
    assert cand.obj is not None
    assert cand.data is not None
    conflist = NetworkConfigList.from_dict(cand.obj, data=cand.data, source=cand.path, allow_empty=True)
    if cand.is_list and drop_ins and not conflist.load_only_inlined_plugins:
        extra = load_plugin_drop_ins(directory, conflist.name, strict_permissions=strict_permissions)
        if extra:
            conflist = conflist.with_plugins(extra)
    if not conflist.plugins:
        raise ConfigError(f"network {conflist.name!r} has no plugins", path="$.plugins", source=cand.path)
    return conflist


def load_network(
    confdir: str | os.PathLike[str],
    name: str,
    *,
    drop_ins: bool = True,
    strict: bool = False,
    strict_permissions: bool = False,
) -> NetworkConfigList:
    """The configuration of network ``name`` from ``confdir``, found the way libcni finds it.

    The first ``.conflist`` (sorted) whose ``name`` matches, with its drop-in plugins; else the
    first ``.conf``/``.json`` whose ``name`` matches, wrapped as a one-plugin list.

    A file whose network name cannot be read is skipped (see the module docstring); with
    ``strict=True`` any invalid file met before the match is raised, as libcni does. A matching
    file that is invalid raises its :class:`~cnilib.ConfigError` (with the file and JSON path).
    Nothing matching raises :class:`NetworkNotFoundError` (naming the networks there). More than
    one file defining ``name``: the first is used, as libcni does, with a
    :class:`DuplicateNetworkWarning` naming them all. ``strict_permissions`` refuses a directory
    or file writable by group or other users (by default: a :class:`~cnilib.CNISecurityWarning`).
    """
    directory = validate_path(confdir, "configuration directory")
    skipped: list[ConfigError] = []
    candidates = _candidates(directory, strict_permissions)
    for i, cand in enumerate(candidates):
        if strict and cand.name != name:
            _build(cand, directory, drop_ins=False)  # libcni parses every file it passes
            continue
        if cand.name is None:
            skipped.append(_error_of(cand, directory))
            continue
        if cand.name == name:
            found = _build(cand, directory, drop_ins, strict_permissions)
            _log_skipped(skipped)
            twins = [c.path for c in candidates[i + 1 :] if c.name == name]
            _warn_duplicates(name, directory, cand.path, twins)
            return found
    # Not found: the error names the skipped files (logging them too would say it twice).
    raise NetworkNotFoundError(
        name,
        directory,
        skipped,
        directory_missing=not os.path.isdir(directory),
        available=[c.name for c in candidates if c.name is not None],
        directory_empty=not candidates,
    )


def _warn_duplicates(name: str, directory: str, used: str, ignored: Sequence[str]) -> None:
    if not ignored:
        return
    import warnings

    verb = "is" if len(ignored) == 1 else "are"
    warnings.warn(
        f"network {name!r} is defined by more than one file of {directory}: {used} is used, "
        f"{', '.join(ignored)} {verb} ignored (libcni takes the first; rename or remove the others)",
        DuplicateNetworkWarning,
        stacklevel=3,
    )


def _log_skipped(skipped: Sequence[ConfigError]) -> None:
    if not skipped:
        return
    import logging  # rarely needed; not worth its import time on every start

    for error in skipped:
        logging.getLogger("cnilib.config").warning("skipping %s", error)


def _error_of(cand: _Candidate, directory: str) -> ConfigError:
    # A file without a readable name: undecodable, or an object whose "name" is missing or not a
    # string (building it reports that with its JSON path).
    if cand.error is not None:
        return cand.error
    try:
        _build(cand, directory, drop_ins=False)
    except ConfigError as exc:
        return exc
    return ConfigError("missing network name", path="$.name", source=cand.path)  # pragma: no cover


def scan_networks(
    confdir: str | os.PathLike[str], *, drop_ins: bool = True, strict_permissions: bool = False
) -> ConfigScan:
    """Every network in ``confdir`` in lookup order, with the invalid and shadowed files.

    A missing directory gives an empty scan. ``strict_permissions``: as in :func:`load_network`.
    """
    directory = validate_path(confdir, "configuration directory")
    networks: list[NetworkConfigList] = []
    problems: list[ConfigError] = []
    shadowed: list[str] = []
    seen: set[str] = set()
    for cand in _candidates(directory, strict_permissions):
        name = cand.name
        if name is not None and name in seen:
            shadowed.append(cand.path)
            continue
        if name is not None:
            seen.add(name)
        try:
            networks.append(_build(cand, directory, drop_ins, strict_permissions))
        except ConfigError as exc:
            problems.append(exc)
    return ConfigScan(tuple(networks), tuple(problems), tuple(shadowed))


def load_networks(
    confdir: str | os.PathLike[str],
    *,
    drop_ins: bool = True,
    skip_invalid: bool = False,
    strict_permissions: bool = False,
) -> list[NetworkConfigList]:
    """Every network in ``confdir``, in lookup order (lists first), one per name.

    Invalid files raise :class:`ConfigDirectoryError` listing all of them, unless
    ``skip_invalid`` (use :func:`scan_networks` to get the errors as well).
    """
    scan = scan_networks(confdir, drop_ins=drop_ins, strict_permissions=strict_permissions)
    if scan.problems and not skip_invalid:
        raise ConfigDirectoryError(os.fspath(confdir), scan.problems)
    return list(scan.networks)


def load_conf_file(
    path: str | os.PathLike[str], *, drop_ins: bool = True, strict_permissions: bool = False
) -> NetworkConfigList:
    """Read one ``.conflist``, ``.conf`` or ``.json`` file.

    Like libcni's ``NetworkConfFromFile``, a ``.conflist`` gets its drop-in plugins from
    ``<its directory>/<name>/*.conf`` (unless ``drop_ins=False`` or ``loadOnlyInlinedPlugins``).
    """
    fspath = validate_path(path, "configuration file")
    directory = os.path.dirname(fspath) or "."
    check_not_writable_by_others(directory, "configuration directory", strict=strict_permissions)
    is_list = _extension(fspath) in LIST_EXTENSIONS
    data = read_config(fspath, "network configuration", strict_permissions)
    if not (is_list and drop_ins):
        return NetworkConfigList.from_bytes(data, source=fspath)
    obj = load_json_object(data, what="network configuration", source=fspath)
    cand = _Candidate(fspath, is_list, data=data, obj=obj)
    return _build(cand, directory, drop_ins, strict_permissions)
