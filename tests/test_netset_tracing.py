"""OpenTelemetry spans and the W3C trace context plugins see, with an in-memory exporter."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_support import LIVE_NETNS
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

import cnilib
from cnilib.testing.plugins import recording_plugin

RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "sandbox": "/run/netns/x"}],
    "ips": [{"address": "10.1.0.2/24", "interface": 0}],
}


def _reset_global_provider() -> None:
    # The API lets a process set its provider once; tests restore the unset state (the API's own
    # tests do the same) so that other tests run untraced.
    trace._TRACER_PROVIDER_SET_ONCE = Once()  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = None  # type: ignore[attr-defined]


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _reset_global_provider()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()
        _reset_global_provider()


def test_spans_and_traceparent(exporter: InMemorySpanExporter, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    rec = recording_plugin(bindir, "one", stdout={"ADD": RESULT}, record_vars=("TRACEPARENT", "TRACESTATE"))
    conflist = cnilib.NetworkConfigList.from_dict(
        {"cniVersion": "1.0.0", "name": "net-one", "plugins": [{"type": "one"}]}
    )
    nets = cnilib.Networks([conflist], plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    nets.setup("ctr1", LIVE_NETNS)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"cnilib setup", "cnilib add", "cni ADD one"}
    setup, add, plugin = spans["cnilib setup"], spans["cnilib add"], spans["cni ADD one"]
    assert add.parent is not None
    assert add.parent.span_id == setup.context.span_id
    assert plugin.parent is not None
    assert plugin.parent.span_id == add.context.span_id
    assert dict(plugin.attributes or {}) == {
        "cni.plugin": "one",
        "cni.verb": "ADD",
        "cni.network": "net-one",
        "cni.container_id": "ctr1",
        "cni.ifname": "eth0",
        "cni.outcome": "ok",
        "cni.exit_status": 0,
    }
    assert (add.attributes or {})["cni.outcome"] == "ok"
    [record] = rec.records()
    # The plugin ran inside its own span: TRACEPARENT names that span (version 00, sampled).
    ctx = plugin.context
    assert ctx.trace_flags.sampled
    assert record.env["TRACEPARENT"] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    assert "TRACESTATE" not in record.env


def test_failed_plugin_span_is_an_error(
    exporter: InMemorySpanExporter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bindir = tmp_path / "bin"
    recording_plugin(bindir, "bad", stdout={"ADD": {"code": 7, "msg": "nope"}}, exit_status={"ADD": 1})
    conflist = cnilib.NetworkConfigList.from_dict(
        {"cniVersion": "1.0.0", "name": "net-bad", "plugins": [{"type": "bad"}]}
    )
    nets = cnilib.Networks([conflist], plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.DEBUG, logger="cnilib"), pytest.raises(cnilib.MultiError):
        nets.setup("ctr1", LIVE_NETNS)
    spans = {s.name: s for s in exporter.get_finished_spans()}
    add_span = spans["cni ADD bad"]
    assert (add_span.attributes or {})["cni.outcome"] == "error"
    assert not add_span.status.is_ok
    assert (spans["cnilib setup"].attributes or {})["cni.outcome"] == "error"
    # Logging works without tracing too: the failed ADD is a WARNING, the rollback DEL a DEBUG.
    levels = [(r.levelname, r.getMessage().split()[0]) for r in caplog.records if r.name == "cnilib"]
    assert ("WARNING", "ADD") in levels
    assert ("DEBUG", "DEL") in levels


def test_async_spans_nest(exporter: InMemorySpanExporter, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    rec = recording_plugin(bindir, "one", stdout={"ADD": RESULT}, record_vars=("TRACEPARENT",))
    conflist = cnilib.NetworkConfigList.from_dict(
        {"cniVersion": "1.0.0", "name": "net-one", "plugins": [{"type": "one"}]}
    )

    async def main() -> None:
        nets = cnilib.AsyncNetworks([conflist], plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
        await nets.setup("ctr1", LIVE_NETNS)
        await nets.remove("ctr1", LIVE_NETNS)

    asyncio.run(main())
    spans = exporter.get_finished_spans()
    names = sorted(s.name for s in spans)
    assert names == sorted(
        ["cnilib setup", "cnilib add", "cni ADD one", "cnilib remove", "cnilib delete", "cni DEL one"]
    )
    by_name = {s.name: s for s in spans}
    assert by_name["cni DEL one"].parent is not None
    assert by_name["cni DEL one"].parent.span_id == by_name["cnilib delete"].context.span_id
    assert [r.env["TRACEPARENT"].split("-")[1] for r in rec.records()] == [
        f"{by_name['cni ADD one'].context.trace_id:032x}",
        f"{by_name['cni DEL one'].context.trace_id:032x}",
    ]


def test_switched_off(
    exporter: InMemorySpanExporter, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNILIB_TRACING", "0")
    bindir = tmp_path / "bin"
    rec = recording_plugin(bindir, "one", stdout={"ADD": RESULT}, record_vars=("TRACEPARENT",))
    cni = cnilib.CNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    conflist = cnilib.NetworkConfigList.from_dict(
        {"cniVersion": "1.0.0", "name": "net-one", "plugins": [{"type": "one"}]}
    )
    cni.add(conflist, cnilib.RuntimeConfig(container_id="c", netns=LIVE_NETNS))
    assert exporter.get_finished_spans() == ()
    assert "TRACEPARENT" not in rec.records()[0].env


def test_untraced_without_a_provider(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    rec = recording_plugin(bindir, "one", stdout={"ADD": RESULT}, record_vars=("TRACEPARENT",))
    cni = cnilib.CNI(plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    conflist = cnilib.NetworkConfigList.from_dict(
        {"cniVersion": "1.0.0", "name": "net-one", "plugins": [{"type": "one"}]}
    )
    cni.add(conflist, cnilib.RuntimeConfig(container_id="c", netns=LIVE_NETNS))
    assert "TRACEPARENT" not in rec.records()[0].env


def test_parallel_setup_spans_nest_across_threads(exporter: InMemorySpanExporter, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    lists = []
    for name in ("one", "two", "three"):
        recording_plugin(bindir, name, stdout={"ADD": RESULT})
        lists.append(
            cnilib.NetworkConfigList.from_dict(
                {"cniVersion": "1.0.0", "name": f"net-{name}", "plugins": [{"type": name}]}
            )
        )
    nets = cnilib.Networks(lists, plugin_dirs=[str(bindir)], cache_dir=tmp_path / "cache")
    nets.setup("ctr1", LIVE_NETNS)
    spans = exporter.get_finished_spans()
    [setup] = [s for s in spans if s.name == "cnilib setup"]
    adds = [s for s in spans if s.name == "cnilib add"]
    assert sorted((s.attributes or {})["cni.network"] for s in adds) == ["net-one", "net-three", "net-two"]
    for add in adds:
        assert add.parent is not None
        assert add.parent.span_id == setup.context.span_id
    plugins = [s for s in spans if s.name.startswith("cni ADD ")]
    assert {s.parent.span_id for s in plugins if s.parent} == {a.context.span_id for a in adds}
    assert {s.context.trace_id for s in spans} == {setup.context.trace_id}
