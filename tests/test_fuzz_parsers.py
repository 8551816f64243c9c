"""Property-based fuzzing of every parser with one oracle: a value or a ``CNIError``, nothing else.

Inputs start from valid documents (the ``cnilib.testing.strategies`` generators) and get one hostile
change (``hostile_json_bytes``), or are arbitrary bytes and text. A value that comes back must be
usable: it encodes again (``to_bytes``, Go-style JSON) without an error.
"""

from __future__ import annotations

import contextlib
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnilib
from cnilib import CNIError, NetworkConfigList, PluginConfig, Result, go_dumps, parse_result
from cnilib._cli import _Failure, parse_cap_args, parse_cni_args
from cnilib._exec._protocol import ExecOutcome, ExecRequest, decode_outcome
from cnilib._model._codec import structure
from cnilib.testing import strategies as cst

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _usable(value: Any) -> None:
    """A returned value can be written again (no lone surrogate, NaN or unbounded nesting)."""
    if isinstance(value, list) and value and not isinstance(value[0], (str, tuple)):
        for item in value:
            _usable(item)
        return
    if isinstance(value, Result):
        value.to_bytes()
    doc = value.to_dict() if hasattr(value, "to_dict") else value
    if doc is not None:
        json.dumps(doc, ensure_ascii=False, allow_nan=False).encode()
        go_dumps(doc, sort_keys=True, float64=True)


def value_or_cni_error(fn: Callable[[], Any]) -> None:
    """The oracle: ``fn`` returns a usable value or raises a CNIError; anything else fails the test."""
    try:
        value = fn()
    except CNIError:
        return
    _usable(value)


def _request(verb: cnilib.Verb, version: str = "1.0.0") -> ExecRequest:
    return ExecRequest(verb=verb, plugin="p", search_path=(), env={}, stdin=b"{}", cni_version=version)


_RESULT_DICTS = st.builds(lambda r: r.to_dict(), cst.results())
_DOCS = st.one_of(
    _RESULT_DICTS,
    cst.network_config_dicts(),
    cst.plugin_config_dicts(),
    cst.json_values(),
    st.builds(
        lambda v, s: {"cniVersion": v, "supportedVersions": s}, cst.versions(), st.lists(cst.versions())
    ),
    st.builds(
        lambda c, m, d: {"cniVersion": "1.0.0", "code": c, "msg": m, "details": d},
        st.integers(-5, 2**65),
        st.text(max_size=10),
        st.text(max_size=10),
    ),
)
HOSTILE = cst.hostile_json_bytes(_DOCS)
BYTES = st.one_of(HOSTILE, st.binary(max_size=64), _DOCS.map(lambda d: json.dumps(d).encode()))


@pytest.mark.parametrize("version", [None, "0.2.0", "0.4.0", "1.0.0", "1.1.0"])
@FUZZ
@given(data=BYTES)
def test_fuzz_parse_result(version: str | None, data: bytes) -> None:
    value_or_cni_error(lambda: parse_result(data, version=version))


@FUZZ
@given(data=BYTES)
def test_fuzz_configuration_lists_and_plugin_configs(data: bytes) -> None:
    value_or_cni_error(lambda: NetworkConfigList.from_bytes(data))
    value_or_cni_error(lambda: PluginConfig.from_bytes(data))


@FUZZ
@given(data=BYTES)
def test_fuzz_configuration_files(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    directory = tmp_path_factory.mktemp("conf")
    (directory / "10-n.conflist").write_bytes(data)
    (directory / "20-n.conf").write_bytes(data)
    with warnings.catch_warnings():
        # Both files may well define one network "n": the warning says so, and it is no error.
        warnings.simplefilter("ignore", cnilib.DuplicateNetworkWarning)
        value_or_cni_error(lambda: cnilib.load_network(directory, "n"))
    value_or_cni_error(lambda: cnilib.load_networks(directory, skip_invalid=True))
    value_or_cni_error(lambda: cnilib.load_conf_file(Path(directory) / "10-n.conflist"))


@FUZZ
@given(doc=_DOCS)
def test_fuzz_structured_documents(doc: Any) -> None:
    for cls in (cnilib.VersionInfo, cnilib.ErrorInfo, cnilib.GCAttachment):
        value_or_cni_error(lambda cls=cls: structure(doc, cls))


_VERBS = st.sampled_from(list(cnilib.Verb))
_OUTCOMES = st.builds(
    ExecOutcome,
    exit_status=st.one_of(st.just(0), st.just(1), st.integers(-1, 255), st.none()),
    stdout=BYTES,
    stderr=st.one_of(st.binary(max_size=64), HOSTILE),
    signal=st.one_of(st.none(), st.none(), st.integers(1, 64)),
    timed_out=st.booleans() | st.just(False),
    stdout_truncated=st.booleans() | st.just(False),
)


@FUZZ
@given(verb=_VERBS, version=cst.versions(), outcome=_OUTCOMES)
def test_fuzz_decode_outcome(verb: cnilib.Verb, version: str, outcome: ExecOutcome) -> None:
    value_or_cni_error(lambda: decode_outcome(_request(verb, version), outcome))


@FUZZ
@given(
    text=st.text(max_size=40) | st.builds(lambda p: ";".join(f"{k}={v}" for k, v in p), cst.cni_arg_pairs())
)
def test_fuzz_cni_args(text: str) -> None:
    def run() -> Any:
        pairs = parse_cni_args(text) if text else []
        cnilib.validate_cni_args(pairs)
        return pairs

    # The CLI's own usage error (a malformed K=V list) is the other allowed answer.
    with contextlib.suppress(_Failure):
        value_or_cni_error(run)


@FUZZ
@given(data=BYTES)
def test_fuzz_cap_args(data: bytes) -> None:
    text = data.decode("utf-8", "surrogateescape")
    if not text:
        return
    value_or_cni_error(lambda: parse_cap_args(text))


@FUZZ
@given(value=cst.json_values(allow_nan=True, max_leaves=20) | st.text() | st.binary())
def test_fuzz_capability_args_and_runtime_values(value: Any) -> None:
    # (refused at construction since issue 24: a CNIError either way)
    value_or_cni_error(
        lambda: cnilib.RuntimeConfig(
            container_id="c1", netns="/run/netns/x", capability_args={"x": value}
        ).validate()
    )


@FUZZ
@given(netns=st.text(max_size=20), ifname=st.text(max_size=20), cid=st.text(max_size=20))
def test_fuzz_runtime_identifiers(netns: str, ifname: str, cid: str) -> None:
    value_or_cni_error(lambda: cnilib.RuntimeConfig(container_id=cid, netns=netns, ifname=ifname).validate())


def test_the_hostile_strategy_is_hostile() -> None:
    from hypothesis import find

    # It does produce the classes the table covers (a smoke test that the strategy is not tame).
    find(cst.hostile_json_bytes(), lambda b: b"NaN" in b)
    find(cst.hostile_json_bytes(), lambda b: b.startswith(b"\xef\xbb\xbf"))
    find(cst.hostile_json_bytes(), lambda b: b.count(b"[") > 1000)
