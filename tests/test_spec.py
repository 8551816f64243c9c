"""The element descriptions (``cnilib._spec._shapes``) are the one place a result's JSON is
described: every reader and writer follows them, so a key added there is read, checked and
written the same way by the typed models, the command line's fast path and the strategies."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings

from cnilib import (
    DNS,
    SUPPORTED_VERSIONS,
    ExecOutcome,
    Interface,
    IPConfig,
    IPConfig020,
    Result020,
    Result040,
    Result100,
    ResultError,
    Route,
    parse_result,
)
from cnilib._engine._plain import LeanOutcome
from cnilib._model._codec import structure
from cnilib._spec._plain_results import lean_result_of
from cnilib._spec._shapes import NONE, SHAPES, Field, optional_int, since_in
from cnilib._spec._version import carries_ip_version, family
from cnilib.testing import _st_results
from cnilib.testing import strategies as cst

_MODELS = (Route, DNS, Interface, IPConfig, IPConfig020, Result020, Result040, Result100)


def _ordered(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("model", _MODELS, ids=lambda m: m.__name__)
def test_every_typed_model_holds_exactly_the_fields_of_its_description(model: type) -> None:
    described = [f.name for f in SHAPES[model._SHAPE].fields]  # type: ignore[attr-defined]
    assert sorted(f.name for f in attrs.fields(model)) == sorted(described)


def test_the_versions_that_carry_ips_version_are_the_0_3_and_0_4_ones() -> None:
    assert [v for v in SUPPORTED_VERSIONS if carries_ip_version(v)] == ["0.3.0", "0.3.1", "0.4.0"]
    for version in SUPPORTED_VERSIONS:
        if family(version) == "0.2.0":
            continue
        obj = {"cniVersion": version, "ips": [{"address": "fd00::2/64"}]}
        typed = parse_result(obj).to_dict()["ips"][0]
        lean = lean_result_of(obj, None)
        assert lean is not None
        assert lean.to_dict()["ips"][0] == typed
        assert typed.get("version") == ("6" if carries_ip_version(version) else None)


def test_the_1_1_fields_are_drawn_only_for_1_1_results() -> None:
    route = SHAPES["route"]
    assert [f.key for f in since_in(route, "1.0.0")] == ["dst", "gw"]
    assert [f.key for f in since_in(route, "1.1.0")] == [
        "dst",
        "gw",
        "mtu",
        "advmss",
        "priority",
        "table",
        "scope",
    ]
    assert Route("10.0.0.0/8", "10.0.0.1", mtu=1400).basic() == Route("10.0.0.0/8", "10.0.0.1")
    assert Interface("eth0", "m", 1500, "/x", "/s", "p").basic() == Interface("eth0", "m", sandbox="/x")


def test_the_fast_paths_outcome_has_the_fields_and_defaults_of_exec_outcome() -> None:
    fields = {f.name: f.default for f in attrs.fields(ExecOutcome)}
    lean = LeanOutcome(exit_status=None)
    assert sorted(LeanOutcome.__slots__) == sorted(fields)
    assert {n: getattr(lean, n) for n, d in fields.items() if d is not attrs.NOTHING} == {
        n: d for n, d in fields.items() if d is not attrs.NOTHING
    }


# -- one edit: a key a later spec might add to interfaces ------------------------------------------

#: Read as ``mtu`` is (an optional integer, omitted when absent), written last.
_QUEUES = Field("vhost_queues", "vhostQueues", check=optional_int, omit=NONE, since="1.1.0")


@attrs.frozen
class _FutureInterface(Interface):
    """What the typed model holds once its attribute is declared (the description does the rest)."""

    vhost_queues: int | None = None


def _future_interfaces(value: Any) -> tuple[_FutureInterface, ...]:
    return tuple(value)


@attrs.frozen
class _FutureResult(Result100):
    interfaces: tuple[_FutureInterface, ...] = attrs.field(default=(), converter=_future_interfaces)


@contextlib.contextmanager
def _described_with_queues() -> Iterator[None]:
    """The interface description with the new key (and the typed model that holds it)."""
    saved = SHAPES["interface"]
    SHAPES["interface"] = saved.extended(_QUEUES)
    _st_results._CLASSES["interface"] = _FutureInterface
    _st_results._interfaces.cache_clear()
    try:
        yield
    finally:
        SHAPES["interface"] = saved
        _st_results._CLASSES["interface"] = Interface
        _st_results._interfaces.cache_clear()


def _typed(obj: dict[str, Any]) -> str:
    return _ordered(structure(obj, _FutureResult, error=ResultError).to_dict())


def test_a_key_added_to_a_description_is_read_and_written_alike_by_both_paths() -> None:
    obj = {
        "cniVersion": "1.1.0",
        "interfaces": [{"vhostQueues": 4, "name": "eth0", "mtu": 1500}, {"name": "lo", "vhostQueues": None}],
        "ips": [{"address": "10.0.0.2/24", "interface": 0}],
    }
    with _described_with_queues():
        lean = lean_result_of(obj, None)
        assert lean is not None
        assert _ordered(lean.to_dict()) == _typed(obj)
        assert lean.to_dict()["interfaces"] == [
            {"name": "eth0", "mtu": 1500, "vhostQueues": 4},
            {"name": "lo"},
        ]
        # Its check is the description's: a string is refused by both.
        obj["interfaces"][0]["vhostQueues"] = "4"
        assert lean_result_of(obj, None) is None
        with pytest.raises(ResultError, match="expected integer"):
            _typed(obj)
    # Without the key in the description, neither path knows it.
    assert "vhostQueues" not in _ordered(parse_result(obj).to_dict())
    assert lean_result_of(obj, None) is not None


def test_generated_results_with_the_added_key_are_written_byte_identically_by_both_paths() -> None:
    seen: list[bool] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(cst.results("1.1.0"))
    def check(result: Any) -> None:
        written = result.to_dict()  # the typed writer, on what the strategies drew
        obj = json.loads(json.dumps(written))
        lean = lean_result_of(obj, None)
        assert lean is not None
        assert _ordered(lean.to_dict()) == _typed(obj) == _ordered(written)
        seen.extend("vhostQueues" in iface for iface in written.get("interfaces", ()))

    with _described_with_queues():
        check()
    assert any(seen), "the strategies drew the new key"
