"""The plugin protocol without the typed models: the CNI variables, stdin, and what a run's outcome
means (a timeout, a failure to start, a signal, a CNI error object) before any result is typed.

Free of attrs, so that the command line's fast path (``cnilib._cli._fast``) and the typed path
(:mod:`cnilib._exec._protocol`) build requests and judge outcomes with the same code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from .._base._errors import ConfigError, ExecError, PluginError, PluginTimeoutError
from ._jsontext import decode_json, json_type
from ._version import Verb

TYPE_CHECKING = False  # (not typing's: the command line's fast path never imports typing)
if TYPE_CHECKING:
    from typing import Any

    from ._seam import Outcome, Plugin, Request, Runtime

__all__ = [
    "add_output",
    "cni_env",
    "dumps",
    "excerpt",
    "failure_of",
    "outcome_context",
    "request_fields",
    "stdin_object",
]

_EXCERPT = 512
_LEGACY_VERSION_ERROR = b"unknown CNI_COMMAND: VERSION"


def cni_env(
    verb: Verb,
    *,
    container_id: str = "",
    netns: str = "",
    ifname: str = "",
    args: str = "",
    search_path: Sequence[str] = (),
) -> dict[str, str]:
    """The CNI_* variables, always all six, as libcni sets them (empty when not applicable)."""
    return {
        "CNI_COMMAND": verb.value,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_ARGS": args,
        "CNI_IFNAME": ifname,
        "CNI_PATH": ":".join(search_path),
    }


def stdin_object(
    raw: Mapping[str, Any],
    capabilities: Mapping[str, bool],
    *,
    network_name: str,
    cni_version: str,
    prev_result: Mapping[str, Any] | None = None,
    capability_args: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A plugin's stdin object from its configuration as written (``raw``); see
    :func:`cnilib.plugin_stdin`."""
    conf = dict(raw)
    conf["name"] = network_name
    conf["cniVersion"] = cni_version
    if prev_result is not None:
        conf["prevResult"] = dict(prev_result)
    if capability_args and capabilities:
        runtime = {
            cap: capability_args[cap] for cap, on in capabilities.items() if on and cap in capability_args
        }
        if runtime:
            conf["runtimeConfig"] = runtime
    if extra:
        conf.update(extra)
    return conf


def request_fields(
    verb: Verb,
    plugin: Plugin,
    runtime: Runtime,
    *,
    network_name: str,
    cni_version: str,
    search_path: Sequence[str],
    prev_result: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The fields of an ADD, DEL or CHECK request (:class:`~cnilib.ExecRequest`'s) for ``plugin``
    of a list with ``runtime``: anything with the attributes of the plugin configuration and of the
    runtime configuration (the typed models, or the command line's fast-path values)."""
    stdin = stdin_object(
        plugin.raw,
        plugin.capabilities,
        network_name=network_name,
        cni_version=cni_version,
        prev_result=prev_result,
        capability_args=runtime.capability_args,
    )
    env = cni_env(
        verb,
        container_id=runtime.container_id,
        netns=runtime.netns,
        ifname=runtime.ifname,
        args=runtime.cni_args,
        search_path=search_path,
    )
    return {
        "verb": verb,
        "plugin": plugin.type,
        "search_path": tuple(search_path),
        "env": env,
        "stdin": dumps(stdin),
        "container_id": runtime.container_id,
        "cni_version": cni_version,
    }


def dumps(obj: Mapping[str, Any]) -> bytes:
    """Compact JSON bytes (stdin), non-ASCII kept as UTF-8."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def outcome_context(request: Request, outcome: Outcome) -> dict[str, Any]:
    """The fields every plugin error carries (the request's and the outcome's)."""
    return {
        "plugin": request.plugin,
        "plugin_path": outcome.plugin_path,
        "verb": request.verb.value,
        "container_id": request.container_id,
        "exit_status": outcome.exit_status,
        "signal": outcome.signal,
        "stderr": outcome.stderr,
        "stdout": outcome.stdout,
        "duration": outcome.duration,
    }


def excerpt(data: bytes) -> str:
    """The start of a plugin's output, quoted, for error messages."""
    text = data[:_EXCERPT].decode("utf-8", "replace")
    return repr(text) + (f" ... ({len(data)} bytes)" if len(data) > _EXCERPT else "")


def failure_of(request: Request, outcome: Outcome, ctx: dict[str, Any]) -> bool:
    """Raise what a failed run means (:class:`~cnilib.PluginTimeoutError`, :class:`~cnilib.PluginError`
    for a CNI error object, :class:`~cnilib.ExecError`); True for a plugin older than VERSION
    answering it with an error (it speaks only 0.1.0); False for a successful run."""
    if outcome.timed_out:
        raise PluginTimeoutError(outcome.timeout or 0.0, **ctx)
    if outcome.start_error is not None:
        raise ExecError(f"could not be started: {outcome.start_error}", **ctx)
    if outcome.signal is not None:
        raise ExecError("was killed by a signal", **ctx)
    if outcome.exit_status != 0:
        if request.verb is Verb.VERSION and _LEGACY_VERSION_ERROR in outcome.stdout:
            return True
        raise _plugin_failure(outcome, ctx)
    if outcome.stdout_truncated:
        raise ExecError(f"printed more than the output limit ({len(outcome.stdout)} bytes kept)", **ctx)
    return False


def add_output(outcome: Outcome, ctx: dict[str, Any]) -> bytes | None:
    """A successful ADD's output, stripped; None for ``null`` (libcni tolerates it)."""
    out: bytes = outcome.stdout.strip()
    if not out:
        raise ExecError("succeeded but printed no result", **ctx)
    return None if out == b"null" else out


def _plugin_failure(outcome: Outcome, ctx: dict[str, Any]) -> PluginError | ExecError:
    out = outcome.stdout.strip()
    if not out:
        if outcome.stderr.strip():
            return ExecError("failed", **ctx)
        return ExecError("failed with no error message", **ctx)
    try:
        obj = decode_json(out, what="error reply", error=ConfigError)
    except ConfigError as exc:
        return ExecError(f"failed and printed something that is not JSON ({exc}): {excerpt(out)}", **ctx)
    if not isinstance(obj, dict):
        return ExecError(f"failed and printed a {json_type(obj)}, not an error object: {excerpt(out)}", **ctx)
    # libcni decodes any object into its Error type: a message without a code is code 0 (unknown).
    code = obj.get("code", 0 if isinstance(obj.get("msg"), str) else None)
    msg = obj.get("msg")
    # Go's Error.Code is a uint: a negative or wider code does not decode there either.
    if type(code) is not int or not 0 <= code < 2**64 or (msg is not None and not isinstance(msg, str)):
        return ExecError(f"failed and printed a malformed error object: {excerpt(out)}", **ctx)
    details = obj.get("details", "")
    extra = {k: v for k, v in obj.items() if k not in ("code", "msg", "details", "cniVersion")}
    return PluginError(
        code,
        msg or "",
        details if isinstance(details, str) else json.dumps(details),
        extra=extra,
        **ctx,
    )
