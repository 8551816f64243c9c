"""The sans-IO core of the plugin protocol.

``build_*`` turn (verb, plugin config, runtime config, prevResult) into an :class:`ExecRequest`: the CNI
environment variables and the stdin bytes. :func:`decode_outcome` turns an :class:`ExecOutcome` (exit status
or signal, stdout, stderr) into a result, a :class:`~cnilib.VersionInfo`, ``None``, or the right error.
Nothing here starts a process or reads ``os.environ``: executors (``_exec``) do the I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._base._errors import ConfigError, ExecError, ResultError
from .._model._models import GCAttachment, PluginConfig, RuntimeConfig, VersionInfo
from .._model._results import AnyResult, Result, parse_result
from .._spec._jsontext import decode_json
from .._spec._version import LATEST_VERSION, Verb
from .._spec._wire import (
    add_output,
    cni_env,
    dumps,
    excerpt,
    failure_of,
    outcome_context,
    request_fields,
    stdin_object,
)

if TYPE_CHECKING:
    from .._spec._seam import Outcome, Request

__all__ = [
    "ExecOutcome",
    "ExecRequest",
    "build_gc_request",
    "build_request",
    "build_status_request",
    "build_version_request",
    "cni_env",
    "decode_outcome",
    "plugin_stdin",
]


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    # A typed converter: mypy cannot infer the element type of a bare ``converter=tuple``.
    return tuple(value)


@attrs.frozen
class ExecRequest:
    """Everything needed to run one plugin once; ``env`` holds only the CNI variables."""

    verb: Verb
    plugin: str
    search_path: tuple[str, ...] = attrs.field(converter=_str_tuple)
    env: Mapping[str, str]
    stdin: bytes
    container_id: str | None = None
    #: The configuration's version: a result without ``cniVersion`` is read as this version.
    cni_version: str = ""
    #: Arguments after the program's path. Plugins get none (the CNI protocol has none); cnilib's
    #: own helper, which removes what plugins leave when a sandbox is gone, runs with some.
    args: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)


@attrs.frozen
class ExecOutcome:
    """What running a plugin produced. ``exit_status`` is None when a signal ended it."""

    exit_status: int | None
    stdout: bytes = b""
    stderr: bytes = b""
    signal: int | None = None
    plugin_path: str | None = None
    timed_out: bool = False
    timeout: float | None = None
    duration: float = 0.0
    stdout_truncated: bool = False
    start_error: str | None = None


def plugin_stdin(
    plugin: PluginConfig,
    *,
    network_name: str,
    cni_version: str,
    prev_result: Result | Mapping[str, Any] | None = None,
    capability_args: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The object a plugin reads on stdin: its config as written, with the list's name and version,
    ``prevResult`` when given, and ``runtimeConfig`` holding the capability args it enables.

    Like libcni, ``runtimeConfig`` is replaced only when at least one enabled capability has an arg.
    """
    prev = prev_result.to_dict() if isinstance(prev_result, Result) else prev_result
    return stdin_object(
        plugin.raw,
        plugin.capabilities,
        network_name=network_name,
        cni_version=cni_version,
        prev_result=prev,
        capability_args=capability_args,
        extra=extra,
    )


def build_request(
    verb: Verb,
    plugin: PluginConfig,
    runtime: RuntimeConfig,
    *,
    network_name: str,
    cni_version: str,
    search_path: Sequence[str],
    prev_result: Result | Mapping[str, Any] | None = None,
) -> ExecRequest:
    """An ADD, DEL or CHECK request for one plugin of a list."""
    prev = prev_result.to_dict() if isinstance(prev_result, Result) else prev_result
    fields = request_fields(
        verb,
        plugin,
        runtime,
        network_name=network_name,
        cni_version=cni_version,
        search_path=search_path,
        prev_result=prev,
    )
    return ExecRequest(**fields)


def build_status_request(
    plugin: PluginConfig, *, network_name: str, cni_version: str, search_path: Sequence[str]
) -> ExecRequest:
    """A STATUS request: the plugin config with the list's name and version, no container."""
    stdin = plugin_stdin(plugin, network_name=network_name, cni_version=cni_version)
    # Every CNI variable, empty where not applicable (as libcni): never the caller's inherited values.
    env = cni_env(Verb.STATUS, search_path=search_path)
    return ExecRequest(
        verb=Verb.STATUS,
        plugin=plugin.type,
        search_path=tuple(search_path),
        env=env,
        stdin=dumps(stdin),
        cni_version=cni_version,
    )


def build_gc_request(
    plugin: PluginConfig,
    *,
    network_name: str,
    cni_version: str,
    search_path: Sequence[str],
    valid_attachments: Iterable[GCAttachment],
) -> ExecRequest:
    """A GC request: CNI_COMMAND and CNI_PATH, the other CNI variables empty (never the caller's
    inherited values); stdin lists the attachments to keep.

    libcni also sends the pre-release key ``cni.dev/attachments``; so do we, for the same plugins.
    """
    valid = [a.to_dict() for a in valid_attachments]
    stdin = plugin_stdin(
        plugin,
        network_name=network_name,
        cni_version=cni_version,
        extra={"cni.dev/valid-attachments": valid, "cni.dev/attachments": valid},
    )
    env = cni_env(Verb.GC, search_path=search_path)
    return ExecRequest(
        verb=Verb.GC,
        plugin=plugin.type,
        search_path=tuple(search_path),
        env=env,
        stdin=dumps(stdin),
        cni_version=cni_version,
    )


def build_version_request(plugin: str, *, search_path: Sequence[str]) -> ExecRequest:
    """A VERSION request: stdin names the newest version cnilib speaks."""
    return ExecRequest(
        verb=Verb.VERSION,
        plugin=plugin,
        search_path=tuple(search_path),
        env=cni_env(Verb.VERSION, search_path=search_path),
        stdin=dumps({"cniVersion": LATEST_VERSION}),
    )


def decode_outcome(request: Request, outcome: Outcome) -> AnyResult | VersionInfo | None:
    """Interpret a finished run: the ADD result, the VERSION info, ``None`` for other verbs, or raise.

    Raises :class:`~cnilib.PluginTimeoutError`, :class:`~cnilib.PluginError` (the plugin printed a CNI
    error object) or :class:`~cnilib.ExecError` (did not start, killed, unparseable or missing output).
    """
    ctx = outcome_context(request, outcome)
    if failure_of(request, outcome, ctx):
        # Plugins older than VERSION answer with an error: they speak only 0.1.0.
        return VersionInfo(cni_version="0.1.0", supported_versions=("0.1.0",))
    if request.verb is Verb.ADD:
        return decode_add(request, outcome, ctx)
    if request.verb is Verb.VERSION:
        return _decode_version(outcome, ctx)
    return None


def decode_add(request: Request, outcome: Outcome, ctx: dict[str, Any]) -> AnyResult | None:
    """A successful ADD's result (None for ``null``), or :class:`~cnilib.ExecError` for an invalid one."""
    out = add_output(outcome, ctx)
    if out is None:
        return None
    try:
        return parse_result(out, version=request.cni_version or None)
    except ResultError as exc:
        raise ExecError(f"printed an invalid result: {exc}", **ctx) from None


def _decode_version(outcome: Outcome, ctx: dict[str, Any]) -> VersionInfo:
    try:
        obj = decode_json(outcome.stdout, what="version info", error=ConfigError)
    except ConfigError as exc:
        raise ExecError(
            f"printed version info that is not JSON ({exc}): {excerpt(outcome.stdout)}", **ctx
        ) from None
    if not isinstance(obj, dict):
        raise ExecError(f"printed version info that is not an object: {excerpt(outcome.stdout)}", **ctx)
    version = obj.get("cniVersion")
    supported = obj.get("supportedVersions")
    if not isinstance(version, str) or not version:
        raise ExecError("printed version info without cniVersion", **ctx)
    if not supported:
        if version == "0.2.0":
            return VersionInfo(cni_version=version, supported_versions=("0.1.0", "0.2.0"))
        raise ExecError("printed version info without supportedVersions", **ctx)
    if not isinstance(supported, list) or not all(isinstance(v, str) for v in supported):
        raise ExecError("printed supportedVersions that is not a list of strings", **ctx)
    return VersionInfo(cni_version=version, supported_versions=tuple(supported))
