"""Optional OpenTelemetry spans and standard logging for plugin calls and operations.

Tracing is on when ``opentelemetry-api`` is installed (the ``otel`` extra) and the application has
set a tracer provider (``opentelemetry.trace.set_tracer_provider``), with no cnilib-specific call,
as OpenTelemetry instrumentations of libraries behave. ``CNILIB_TRACING=0`` switches it off.

* every operation (``add``, ``delete``, ``check``, ``status``, ``gc`` of the engine; ``setup``,
  ``remove``, ``check`` of :class:`~cnilib.Networks`) is one span ``cnilib <operation>``;
* every plugin call is one span ``cni <VERB> <plugin>`` inside it, with the plugin, verb, network,
  container, interface and outcome as attributes; the plugin gets the W3C trace context as
  ``TRACEPARENT`` (and ``TRACESTATE`` when there is one) in its environment.

Logging does not depend on tracing: logger ``cnilib.plugin`` records every plugin call at DEBUG and
every failed one at WARNING.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs

from ._protocol import ExecOutcome, ExecRequest

if TYPE_CHECKING:
    import logging

    from ._exec import AsyncExecutor, Executor

__all__ = [
    "AsyncTracingExecutor",
    "TracingExecutor",
    "operation_span",
    "tracer",
]

_plugin_log: logging.Logger | None = None
_OFF = ("0", "false", "no", "off")
_UNSET: Any = object()
_otel: Any = _UNSET  # the opentelemetry.trace module, None when not installed


def _trace_module() -> Any:
    global _otel
    if _otel is _UNSET:
        try:
            from opentelemetry import trace as module
        except ImportError:
            module = None  # type: ignore[assignment]
        _otel = module
    return _otel


def tracer() -> Any:
    """The tracer to use now, or None: tracing off, the extra missing, or no provider configured."""
    if os.environ.get("CNILIB_TRACING", "").lower() in _OFF:
        return None
    trace = _trace_module()
    if trace is None:
        return None
    provider = trace.get_tracer_provider()
    # Until the application sets one, the API hands out a proxy (and a no-op one may be set).
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return None
    from . import __version__

    return provider.get_tracer("cnilib", __version__)


def _network_of(request: ExecRequest) -> str | None:
    try:
        name = json.loads(request.stdin).get("name")
    except (ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def _attributes(request: ExecRequest) -> dict[str, Any]:
    attributes: dict[str, Any] = {"cni.plugin": request.plugin, "cni.verb": request.verb.value}
    network = _network_of(request)
    if network is not None:
        attributes["cni.network"] = network
    if request.container_id:
        attributes["cni.container_id"] = request.container_id
    ifname = request.env.get("CNI_IFNAME")
    if ifname:
        attributes["cni.ifname"] = ifname
    return attributes


def _outcome_name(outcome: ExecOutcome) -> str:
    if outcome.start_error is not None:
        return "not_started"
    if outcome.timed_out:
        return "timeout"
    if outcome.signal is not None:
        return "signal"
    return "ok" if outcome.exit_status == 0 else "error"


def library_logger(name: str) -> logging.Logger:
    """Logger ``name`` (under ``cnilib``); the ``cnilib`` logger gets a NullHandler, as libraries do,
    so that an application without logging configured does not see records on stderr."""
    import logging

    root = logging.getLogger("cnilib")
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())
    return logging.getLogger(name)


def _plugin_logger() -> logging.Logger | None:
    global _plugin_log
    if _plugin_log is None:
        # A process that never imported logging has configured no handler: nothing could receive
        # a record, and the command line does not pay logging's import time.
        if "logging" not in sys.modules:
            return None
        _plugin_log = library_logger("cnilib.plugin")
    return _plugin_log


def _log_outcome(request: ExecRequest, outcome: ExecOutcome) -> None:
    log = _plugin_logger()
    if log is None:
        return
    name = _outcome_name(outcome)
    if name == "ok":
        if log.isEnabledFor(10):  # logging.DEBUG
            log.debug(
                "%s %s container=%s took %.3fs",
                request.verb.value,
                request.plugin,
                request.container_id,
                outcome.duration,
            )
        return
    stderr = outcome.stderr[-512:].decode(errors="replace").strip()
    log.warning(
        "%s %s container=%s failed (%s, exit status %s): %s",
        request.verb.value,
        request.plugin,
        request.container_id,
        name,
        outcome.exit_status,
        " | ".join(line.strip() for line in stderr.splitlines() if line.strip()),
    )


def _with_context(request: ExecRequest) -> ExecRequest:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    extra = {k.upper(): v for k, v in carrier.items() if k in ("traceparent", "tracestate")}
    if not extra:
        return request
    return attrs.evolve(request, env={**request.env, **extra})


def _finish(span: Any, outcome: ExecOutcome) -> None:
    name = _outcome_name(outcome)
    span.set_attribute("cni.outcome", name)
    if outcome.exit_status is not None:
        span.set_attribute("cni.exit_status", outcome.exit_status)
    if name != "ok":
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, f"plugin {name}"))


def _span_name(request: ExecRequest) -> str:
    return f"cni {request.verb.value} {request.plugin}"


class TracingExecutor:
    """Wraps an :class:`~cnilib._exec.Executor`: a span and log records per plugin call.

    Attribute access falls through to the wrapped executor (a fake's ``calls`` stay reachable).
    """

    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run ``request`` through the wrapped executor inside a span."""
        t = tracer()
        if t is None:
            outcome = self.inner.run(request, timeout=timeout)
        else:
            with t.start_as_current_span(_span_name(request), attributes=_attributes(request)) as span:
                outcome = self.inner.run(_with_context(request), timeout=timeout)
                _finish(span, outcome)
        _log_outcome(request, outcome)
        return outcome


class AsyncTracingExecutor:
    """The asyncio counterpart of :class:`TracingExecutor`."""

    def __init__(self, inner: AsyncExecutor) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        """Run ``request`` through the wrapped executor inside a span."""
        t = tracer()
        if t is None:
            outcome = await self.inner.run(request, timeout=timeout)
        else:
            with t.start_as_current_span(_span_name(request), attributes=_attributes(request)) as span:
                outcome = await self.inner.run(_with_context(request), timeout=timeout)
                _finish(span, outcome)
        _log_outcome(request, outcome)
        return outcome


@contextlib.contextmanager
def _span(t: Any, operation: str, network: str | None, container_id: str | None) -> Iterator[None]:
    attributes: dict[str, Any] = {"cni.operation": operation}
    if network is not None:
        attributes["cni.network"] = network
    if container_id is not None:
        attributes["cni.container_id"] = container_id
    with t.start_as_current_span(f"cnilib {operation}", attributes=attributes) as span:
        try:
            yield
        except BaseException:
            span.set_attribute("cni.outcome", "error")
            raise  # the SDK records the exception and sets the error status
        span.set_attribute("cni.outcome", "ok")


_NULL = contextlib.nullcontext()


def operation_span(
    operation: str, *, network: str | None = None, container_id: str | None = None
) -> contextlib.AbstractContextManager[None]:
    """A span around one operation (a no-op when tracing is off)."""
    t = tracer()
    if t is None:
        return _NULL
    return _span(t, operation, network, container_id)
