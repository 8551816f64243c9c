"""Optional OpenTelemetry spans and standard logging for plugin calls and operations.

Tracing is on when ``opentelemetry-api`` is installed (the ``otel`` extra) and the application has
set a tracer provider (``opentelemetry.trace.set_tracer_provider``), with no cnilib-specific call,
as OpenTelemetry instrumentations of libraries behave. ``CNILIB_TRACING=0`` switches it off.

* every operation (``add``, ``delete``, ``check``, ``status``, ``gc`` of the engine; ``setup``,
  ``remove``, ``check`` of :class:`~cnilib.Networks`) is one span ``cnilib <operation>``;
* every plugin call is one span ``cni <VERB> <plugin>`` inside it, with the plugin, verb, network,
  container, interface and outcome as attributes; the plugin gets the W3C trace context as
  ``TRACEPARENT`` (and ``TRACESTATE`` when there is one) in its environment.

Logging does not depend on tracing: the engine's report logs every plugin call to the ``cnilib``
logger (DEBUG, and WARNING for failures).
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

    from . import AsyncExecutor, Executor

__all__ = [
    "AsyncTracingExecutor",
    "TracingExecutor",
    "operation_span",
    "tracer",
]

_OFF = ("0", "false", "no", "off")


def _trace_module() -> Any:
    # An application that configured a tracer provider has imported opentelemetry.trace already;
    # when it has not, there is nothing to report to, and cnilib never pays for importing it.
    return sys.modules.get("opentelemetry.trace")


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
    from .._base._defaults import __version__

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
    """Wraps an :class:`~cnilib.Executor`: a span per plugin call, the trace context in its environment.

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
