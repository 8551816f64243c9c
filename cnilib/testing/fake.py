"""Test doubles for the executor seam: no process is started, every request is recorded.

:class:`FakeExecutor` (sync) and :class:`AsyncFakeExecutor` (asyncio) stand where a
:class:`~cnilib._exec.SubprocessExecutor` would. Each call is recorded as a :class:`FakeCall`; the
outcome comes from what was scripted for ``(plugin, verb)``::

    fake = FakeExecutor()
    fake.script("bridge", Verb.ADD, result_outcome({"cniVersion": "1.0.0", "ips": [...]}))
    fake.script("bridge", Verb.DEL, error_outcome(11, "busy"), exit_outcome(0))  # then succeeds
    fake.script("portmap", "*", crash_outcome(signal.SIGSEGV))
    ...
    assert [c.verb for c in fake.calls] == [Verb.ADD, Verb.DEL, Verb.DEL]

Several outcomes for one key are used in order, the last one repeating. An entry may be a callable
taking the :class:`~cnilib._exec._protocol.ExecRequest` (for the async fake it may be a coroutine
function). Lookup order: ``(plugin, verb)``, ``(plugin, "*")``, ``("*", verb)``, then ``default``;
without any, a plugin "succeeds" (see :func:`default_outcome`), or with ``strict=True`` the call
fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import signal as _signal
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeAlias

import attrs

from cnilib import (
    LATEST_VERSION,
    SUPPORTED_VERSIONS,
    ExecOutcome,
    ExecRequest,
    PluginNotFoundError,
    Result,
    Verb,
    find_plugin,
)

__all__ = [
    "AsyncFakeExecutor",
    "AsyncResponder",
    "FakeCall",
    "FakeExecutor",
    "Responder",
    "crash_outcome",
    "default_outcome",
    "error_outcome",
    "exit_outcome",
    "not_started_outcome",
    "result_outcome",
    "timeout_outcome",
    "version_outcome",
]

#: Computes an outcome from the request.
Responder: TypeAlias = Callable[[ExecRequest], ExecOutcome]
#: The async fake also accepts coroutine functions.
AsyncResponder: TypeAlias = Callable[[ExecRequest], "ExecOutcome | Awaitable[ExecOutcome]"]
_Entry: TypeAlias = "ExecOutcome | Callable[[ExecRequest], Any]"
_Key: TypeAlias = tuple[str, str]


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def result_outcome(
    result: Result | Mapping[str, Any] | str | bytes | None, *, stderr: bytes = b""
) -> ExecOutcome:
    """Exit 0 printing ``result`` (a :class:`~cnilib.Result`, a mapping, or raw JSON text)."""
    if isinstance(result, Result):
        stdout = result.to_bytes()
    elif isinstance(result, str):
        stdout = result.encode()
    elif isinstance(result, bytes):
        stdout = result
    else:
        stdout = _dumps(result)
    return ExecOutcome(exit_status=0, stdout=stdout, stderr=stderr)


def error_outcome(
    code: int,
    msg: str,
    details: str = "",
    *,
    exit_status: int = 1,
    stderr: bytes = b"",
    cni_version: str = LATEST_VERSION,
    **extra: Any,
) -> ExecOutcome:
    """A failure printing the spec's error object ``{cniVersion, code, msg, details, **extra}``."""
    obj: dict[str, Any] = {"cniVersion": cni_version, "code": code, "msg": msg}
    if details:
        obj["details"] = details
    obj.update(extra)
    return ExecOutcome(exit_status=exit_status, stdout=_dumps(obj), stderr=stderr)


def exit_outcome(exit_status: int = 0, *, stdout: bytes = b"", stderr: bytes = b"") -> ExecOutcome:
    """Exit with ``exit_status`` having printed exactly ``stdout`` and ``stderr``."""
    return ExecOutcome(exit_status=exit_status, stdout=stdout, stderr=stderr)


def crash_outcome(sig: int = _signal.SIGSEGV, *, stdout: bytes = b"", stderr: bytes = b"") -> ExecOutcome:
    """The plugin died by signal ``sig``."""
    return ExecOutcome(exit_status=None, signal=int(sig), stdout=stdout, stderr=stderr)


def timeout_outcome(timeout: float = 1.0, *, stderr: bytes = b"") -> ExecOutcome:
    """The plugin overran ``timeout`` and was killed with its group, as the executors report it."""
    return ExecOutcome(
        exit_status=None,
        signal=int(_signal.SIGTERM),
        stderr=stderr,
        timed_out=True,
        timeout=timeout,
        duration=timeout,
    )


def not_started_outcome(reason: str = "Permission denied") -> ExecOutcome:
    """The plugin could not be started (exec failed)."""
    return ExecOutcome(exit_status=None, start_error=reason)


def version_outcome(*versions: str, cni_version: str | None = None) -> ExecOutcome:
    """Exit 0 printing VERSION info; no ``versions`` means every version cnilib knows."""
    supported = list(versions or SUPPORTED_VERSIONS)
    info = {"cniVersion": cni_version or supported[-1], "supportedVersions": supported}
    return ExecOutcome(exit_status=0, stdout=_dumps(info))


def default_outcome(request: ExecRequest) -> ExecOutcome:
    """What an unscripted plugin does: succeed.

    ADD prints the ``prevResult`` it was given (as a pass-through plugin would) or an empty result
    of the configuration's version; VERSION lists every version cnilib knows; other verbs print
    nothing.
    """
    if request.verb is Verb.VERSION:
        return version_outcome()
    if request.verb is Verb.ADD:
        version = request.cni_version or LATEST_VERSION
        try:
            conf = json.loads(request.stdin)
        except ValueError:
            conf = None
        prev = conf.get("prevResult") if isinstance(conf, dict) else None
        if isinstance(prev, dict):
            return result_outcome({**prev, "cniVersion": version})
        return result_outcome({"cniVersion": version})
    return exit_outcome(0)


@attrs.frozen
class FakeCall:
    """One recorded call: the request and the timeout it was run with."""

    request: ExecRequest
    timeout: float | None = None

    @property
    def plugin(self) -> str:
        """The plugin type."""
        return self.request.plugin

    @property
    def verb(self) -> Verb:
        """The verb."""
        return self.request.verb

    @property
    def env(self) -> Mapping[str, str]:
        """The CNI variables of the request."""
        return self.request.env

    @property
    def config(self) -> Any:
        """The stdin decoded as JSON."""
        return json.loads(self.request.stdin)


def _verb_key(verb: Verb | str) -> str:
    return verb.value if isinstance(verb, Verb) else str(verb)


def _check_plugin_name(plugin: str) -> None:
    # find_plugin checks the name first (ValidationError); with no directories it then finds nothing.
    with contextlib.suppress(PluginNotFoundError):
        find_plugin(plugin, ())


class _FakeBase:
    def __init__(
        self,
        script: Mapping[tuple[str, Verb | str], _Entry | Sequence[_Entry]] | None = None,
        *,
        default: _Entry | None = None,
        strict: bool = False,
        missing: Iterable[str] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._script: dict[_Key, list[_Entry]] = {}
        self.default = default
        self.strict = strict
        #: Plugin types that "are not installed": running them raises PluginNotFoundError.
        self.missing: set[str] = set(missing)
        #: Every call, in order.
        self.calls: list[FakeCall] = []
        for (plugin, verb), entries in (script or {}).items():
            if isinstance(entries, Sequence) and not isinstance(entries, (str, bytes)):
                self.script(plugin, verb, *entries)
            else:
                self.script(plugin, verb, entries)

    def script(self, plugin: str, verb: Verb | str, *outcomes: _Entry) -> None:
        """Script what ``plugin`` does for ``verb`` (``"*"``: any); outcomes are used in order, the
        last one repeating. Replaces what was scripted for that key before."""
        if not outcomes:
            raise ValueError("script() needs at least one outcome")
        with self._lock:
            self._script[(plugin, _verb_key(verb))] = list(outcomes)

    @property
    def requests(self) -> list[ExecRequest]:
        """The requests of every call, in order."""
        return [c.request for c in self.calls]

    def calls_for(self, plugin: str | None = None, verb: Verb | str | None = None) -> list[FakeCall]:
        """The calls of one plugin and/or verb."""
        want = None if verb is None else _verb_key(verb)
        return [
            c
            for c in self.calls
            if (plugin is None or c.plugin == plugin) and (want is None or c.verb.value == want)
        ]

    def reset(self) -> None:
        """Forget the recorded calls (the script stays)."""
        with self._lock:
            self.calls.clear()

    def _next(self, request: ExecRequest, timeout: float | None) -> _Entry:
        # Mirror the real executors: bad names and missing plugins raise before anything "runs".
        _check_plugin_name(request.plugin)
        if request.plugin in self.missing:
            raise PluginNotFoundError(request.plugin, request.search_path)
        verb = request.verb.value
        with self._lock:
            self.calls.append(FakeCall(request, timeout))
            for key in ((request.plugin, verb), (request.plugin, "*"), ("*", verb)):
                entries = self._script.get(key)
                if entries:
                    return entries.pop(0) if len(entries) > 1 else entries[0]
        if self.default is not None:
            return self.default
        if self.strict:
            raise AssertionError(f"FakeExecutor: nothing scripted for {request.plugin!r} {verb}")
        return default_outcome


class FakeExecutor(_FakeBase):
    """A synchronous executor that records requests and returns scripted outcomes.

    ``script`` maps ``(plugin, verb)`` to an outcome, a responder, or a sequence of them;
    ``default`` answers unscripted calls; ``strict`` makes an unscripted call fail the test; plugins
    named in ``missing`` raise :class:`~cnilib.PluginNotFoundError`.
    """

    def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Record the call and return its scripted outcome."""
        entry = self._next(request, timeout)
        if isinstance(entry, ExecOutcome):
            return entry
        outcome = entry(request)
        if not isinstance(outcome, ExecOutcome):
            raise TypeError(f"a FakeExecutor responder returned {type(outcome).__name__}")
        return outcome


class AsyncFakeExecutor(_FakeBase):
    """The asyncio flavour of :class:`FakeExecutor`; responders may be coroutine functions.

    ``delay`` (seconds) is awaited before every answer, to exercise timeouts and concurrency.
    """

    def __init__(
        self,
        script: Mapping[tuple[str, Verb | str], _Entry | Sequence[_Entry]] | None = None,
        *,
        default: _Entry | None = None,
        strict: bool = False,
        missing: Iterable[str] = (),
        delay: float = 0.0,
    ) -> None:
        super().__init__(script, default=default, strict=strict, missing=missing)
        self.delay = delay

    async def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Record the call and return its scripted outcome (awaiting an async responder)."""
        entry = self._next(request, timeout)
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(entry, ExecOutcome):
            return entry
        outcome = entry(request)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if not isinstance(outcome, ExecOutcome):
            raise TypeError(f"an AsyncFakeExecutor responder returned {type(outcome).__name__}")
        return outcome
