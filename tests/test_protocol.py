"""The sans-IO protocol core: what a plugin gets (env, stdin) and how its outcome is decoded.

Nothing here starts a process.
"""

from __future__ import annotations

import contextlib
import json
import signal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import cnilib
from cnilib import (
    ExecError,
    GCAttachment,
    PluginConfig,
    PluginError,
    PluginTimeoutError,
    Result040,
    Result100,
    RuntimeConfig,
    Verb,
    VersionInfo,
    parse_result,
)
from cnilib._exec._protocol import (
    ExecOutcome,
    ExecRequest,
    build_gc_request,
    build_request,
    build_status_request,
    build_version_request,
    cni_env,
    decode_outcome,
    plugin_stdin,
)

CNI_VARS = {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"}
RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "mac": "aa:bb:cc:dd:ee:ff", "sandbox": "/run/netns/c"}],
    "ips": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "dns": {},
}


def plugin(**extra: Any) -> PluginConfig:
    return PluginConfig.from_dict({"type": "bridge", **extra})


def rt(**kw: Any) -> RuntimeConfig:
    kw.setdefault("container_id", "ctr1")
    kw.setdefault("netns", "/run/netns/c")
    return RuntimeConfig(**kw)


def request(
    verb: Verb = Verb.ADD, conf: PluginConfig | None = None, version: str = "1.0.0", **kw: Any
) -> ExecRequest:
    return build_request(
        verb,
        conf or plugin(),
        kw.pop("runtime", None) or rt(),
        network_name="net1",
        cni_version=version,
        search_path=["/opt/cni/bin", "/usr/lib/cni"],
        **kw,
    )


def stdin_of(req: ExecRequest) -> dict[str, Any]:
    obj = json.loads(req.stdin)
    assert isinstance(obj, dict)
    return obj


# -- environment --------------------------------------------------------------------------------


def test_env_has_all_six_vars_even_when_empty() -> None:
    env = cni_env(Verb.DEL)
    assert set(env) == CNI_VARS
    assert env["CNI_COMMAND"] == "DEL"
    assert all(env[k] == "" for k in CNI_VARS - {"CNI_COMMAND"})


def test_env_of_a_request() -> None:
    runtime = rt(ifname="net0", args=[("K", "V"), ("K2", "V2")])
    env = request(Verb.CHECK, runtime=runtime).env
    assert dict(env) == {
        "CNI_COMMAND": "CHECK",
        "CNI_CONTAINERID": "ctr1",
        "CNI_NETNS": "/run/netns/c",
        "CNI_IFNAME": "net0",
        "CNI_ARGS": "K=V;K2=V2",
        "CNI_PATH": "/opt/cni/bin:/usr/lib/cni",
    }


def test_env_args_from_a_mapping_keep_their_order() -> None:
    env = request(runtime=rt(args={"IgnoreUnknown": "1", "K8S_POD_NAME": "web"})).env
    assert env["CNI_ARGS"] == "IgnoreUnknown=1;K8S_POD_NAME=web"


def test_request_carries_what_decoding_needs() -> None:
    req = request(Verb.ADD, version="0.4.0")
    assert req.plugin == "bridge"
    assert req.verb is Verb.ADD
    assert req.container_id == "ctr1"
    assert req.cni_version == "0.4.0"
    assert req.search_path == ("/opt/cni/bin", "/usr/lib/cni")


def test_gc_env_has_only_command_and_path() -> None:
    req = build_gc_request(
        plugin(),
        network_name="net1",
        cni_version="1.1.0",
        search_path=["/a", "/b"],
        valid_attachments=[GCAttachment("c1", "eth0")],
    )
    assert dict(req.env) == {
        "CNI_COMMAND": "GC",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "",
        "CNI_ARGS": "",
        "CNI_IFNAME": "",
        "CNI_PATH": "/a:/b",
    }
    valid = [{"containerID": "c1", "ifname": "eth0"}]
    conf = stdin_of(req)
    assert conf["cni.dev/valid-attachments"] == valid
    assert conf["cni.dev/attachments"] == valid  # libcni sends the pre-release key too
    assert conf["name"] == "net1"
    assert conf["cniVersion"] == "1.1.0"


def test_status_env_and_stdin() -> None:
    req = build_status_request(plugin(mtu=1400), network_name="net1", cni_version="1.1.0", search_path=["/a"])
    assert dict(req.env) == {
        "CNI_COMMAND": "STATUS",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "",
        "CNI_ARGS": "",
        "CNI_IFNAME": "",
        "CNI_PATH": "/a",
    }
    assert stdin_of(req) == {"type": "bridge", "mtu": 1400, "name": "net1", "cniVersion": "1.1.0"}


def test_version_request() -> None:
    req = build_version_request("loopback", search_path=["/usr/lib/cni"])
    assert json.loads(req.stdin) == {"cniVersion": cnilib.LATEST_VERSION}
    assert set(req.env) == CNI_VARS
    assert req.env["CNI_COMMAND"] == "VERSION"
    assert req.env["CNI_PATH"] == "/usr/lib/cni"


# -- stdin --------------------------------------------------------------------------------------


def test_stdin_gets_the_lists_name_and_version() -> None:
    conf = plugin(name="own-name", cniVersion="0.3.1")
    assert stdin_of(request(conf=conf, version="1.0.0")) | {} == {
        "type": "bridge",
        "name": "net1",
        "cniVersion": "1.0.0",
    }


def test_stdin_keeps_plugin_specific_keys_unchanged() -> None:
    extra = {
        "bridge": "cni0",
        "isGateway": True,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.0.0.0/24"}]], "x": None},
        "weird key": {"ünïcode": ["☃", 1.5, -0, 10**20]},
        "args": {"cni": {"labels": [{"key": "a", "value": "b"}]}},
    }
    conf = stdin_of(request(conf=plugin(**extra)))
    for key, value in extra.items():
        assert conf[key] == value
    # Key order as written, the injected keys updated in place or appended.
    assert list(conf)[:6] == ["type", *extra]


@given(
    st.dictionaries(
        st.text(min_size=1).filter(lambda k: k not in ("type", "name", "cniVersion")),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
            max_leaves=8,
        ),
        max_size=5,
    )
)
def test_stdin_round_trips_any_plugin_keys(extra: dict[str, Any]) -> None:
    conf = {"type": "x", **extra}
    out = json.loads(
        json.dumps(plugin_stdin(PluginConfig(type="x", raw=conf), network_name="n", cni_version="1.0.0"))
    )
    assert out == {**conf, "name": "n", "cniVersion": "1.0.0"}


def test_stdin_prev_result_from_a_result_or_a_mapping() -> None:
    res = parse_result(RESULT)
    assert stdin_of(request(prev_result=res))["prevResult"] == RESULT
    assert stdin_of(request(prev_result=RESULT))["prevResult"] == RESULT
    assert "prevResult" not in stdin_of(request())


def test_runtime_config_only_for_enabled_capabilities_with_args() -> None:
    conf = plugin(capabilities={"portMappings": True, "bandwidth": False, "ips": True, "mac": True})
    runtime = rt(
        capability_args={
            "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
            "bandwidth": {"ingressRate": 1},  # capability disabled
            "dns": {"servers": ["10.0.0.1"]},  # capability not declared
            "ips": ["10.0.0.9/24"],
            # "mac" is enabled but has no arg
        }
    )
    got = stdin_of(request(conf=conf, runtime=runtime))["runtimeConfig"]
    assert got == {
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "ips": ["10.0.0.9/24"],
    }


def test_runtime_config_replaced_when_a_capability_matches() -> None:
    conf = plugin(capabilities={"ips": True}, runtimeConfig={"old": 1})
    got = stdin_of(request(conf=conf, runtime=rt(capability_args={"ips": ["10.0.0.2/24"]})))
    assert got["runtimeConfig"] == {"ips": ["10.0.0.2/24"]}


@pytest.mark.parametrize(
    ("caps", "args"),
    [
        ({}, {"ips": ["10.0.0.2/24"]}),  # no capabilities declared
        ({"ips": False}, {"ips": ["10.0.0.2/24"]}),  # declared but disabled
        ({"ips": True}, {}),  # enabled but no args
        ({"ips": True}, {"mac": "aa:bb:cc:dd:ee:ff"}),  # args for another capability
    ],
)
def test_runtime_config_untouched_when_none_match(caps: dict[str, bool], args: dict[str, Any]) -> None:
    extra: dict[str, Any] = {"capabilities": caps} if caps else {}
    written = stdin_of(request(conf=plugin(**extra), runtime=rt(capability_args=args)))
    assert "runtimeConfig" not in written
    mine = stdin_of(
        request(conf=plugin(runtimeConfig={"own": True}, **extra), runtime=rt(capability_args=args))
    )
    assert mine["runtimeConfig"] == {"own": True}


# -- decoding: success --------------------------------------------------------------------------


def ok(stdout: bytes | str | dict[str, Any], **kw: Any) -> ExecOutcome:
    if isinstance(stdout, dict):
        stdout = json.dumps(stdout)
    if isinstance(stdout, str):
        stdout = stdout.encode()
    return ExecOutcome(exit_status=0, stdout=stdout, **kw)


def fail(stdout: bytes | str | dict[str, Any] = b"", status: int = 1, **kw: Any) -> ExecOutcome:
    if isinstance(stdout, dict):
        stdout = json.dumps(stdout)
    if isinstance(stdout, str):
        stdout = stdout.encode()
    return ExecOutcome(exit_status=status, stdout=stdout, **kw)


def test_add_result() -> None:
    res = decode_outcome(request(), ok(RESULT))
    assert isinstance(res, Result100)
    assert res.all_addresses == ("10.1.0.5/24",)


def test_add_result_without_version_takes_the_configs() -> None:
    body = {k: v for k, v in RESULT.items() if k != "cniVersion"}
    res = decode_outcome(request(version="0.4.0"), ok(body))
    assert isinstance(res, Result040)
    assert res.cni_version == "0.4.0"
    res = decode_outcome(request(version="1.0.0"), ok(body))
    assert isinstance(res, Result100)
    assert res.cni_version == "1.0.0"


def test_add_result_keeps_its_own_version() -> None:
    res = decode_outcome(request(version="1.0.0"), ok({**RESULT, "cniVersion": "0.4.0"}))
    assert isinstance(res, Result040)


@pytest.mark.parametrize("stdout", [b"", b"  \n", b"\n"])
def test_add_with_empty_stdout_is_an_error(stdout: bytes) -> None:
    with pytest.raises(ExecError, match="printed no result") as info:
        decode_outcome(request(), ok(stdout))
    assert not isinstance(info.value, PluginError)


def test_add_null_is_tolerated() -> None:
    assert decode_outcome(request(), ok(b"null\n")) is None


def test_add_invalid_result_is_an_exec_error() -> None:
    with pytest.raises(ExecError, match="invalid result") as info:
        decode_outcome(request(), ok({"cniVersion": "1.0.0", "ips": [{"address": "nope"}]}))
    assert info.value.exit_status == 0


def test_add_unparseable_result_quotes_it() -> None:
    with pytest.raises(ExecError, match="invalid result"):
        decode_outcome(request(), ok(b"this is not json"))


@pytest.mark.parametrize("verb", [Verb.DEL, Verb.CHECK, Verb.GC, Verb.STATUS])
@pytest.mark.parametrize("stdout", [b"", b"garbage \xff", b'{"cniVersion":"1.0.0"}'])
def test_other_verbs_ignore_stdout_on_success(verb: Verb, stdout: bytes) -> None:
    assert decode_outcome(request(verb), ok(stdout)) is None


def test_truncated_stdout_is_an_error() -> None:
    with pytest.raises(ExecError, match="more than the output limit"):
        decode_outcome(request(), ok(b'{"cniVersion":"1.0.', stdout_truncated=True))


# -- decoding: failures -------------------------------------------------------------------------


def test_error_object_becomes_plugin_error() -> None:
    err_obj = {
        "cniVersion": "1.0.0",
        "code": 7,
        "msg": "invalid network config",
        "details": "no subnet",
    }
    with pytest.raises(PluginError) as info:
        decode_outcome(request(), fail(err_obj, stderr=b"some log line"))
    err = info.value
    assert (err.code, err.msg, err.details) == (7, "invalid network config", "no subnet")
    assert err.code_name == "7 INVALID_NETWORK_CONFIG"
    assert err.extra == {}
    assert err.stderr == b"some log line"
    assert err.exit_status == 1


def test_unknown_code_and_extra_fields_kept() -> None:
    err_obj = {"code": 142, "msg": "quota", "details": "", "retryAfter": 5, "nested": {"a": [1]}}
    with pytest.raises(PluginError) as info:
        decode_outcome(request(), fail(err_obj))
    err = info.value
    assert err.code == 142
    assert err.code_name == "142"
    assert err.extra == {"retryAfter": 5, "nested": {"a": [1]}}
    assert not err.temporary


def test_try_again_later_is_temporary() -> None:
    with pytest.raises(PluginError) as info:
        decode_outcome(request(), fail({"code": 11, "msg": "busy"}))
    assert info.value.temporary


def test_error_without_code_is_code_zero() -> None:
    with pytest.raises(PluginError) as info:
        decode_outcome(request(), fail({"msg": "something broke"}))
    assert info.value.code == 0


def test_non_string_details_are_kept_as_json() -> None:
    with pytest.raises(PluginError) as info:
        decode_outcome(request(), fail({"code": 5, "msg": "io", "details": {"path": "/x"}}))
    assert json.loads(info.value.details) == {"path": "/x"}


def test_non_json_stdout_is_quoted() -> None:
    with pytest.raises(ExecError) as info:
        decode_outcome(request(), fail(b"panic: runtime error \xff\xfe"))
    err = info.value
    assert not isinstance(err, PluginError)
    assert "not JSON" in str(err)
    assert "panic: runtime error" in str(err)


def test_long_garbage_is_excerpted() -> None:
    with pytest.raises(ExecError) as info:
        decode_outcome(request(), fail(b"x" * 100_000))
    assert "(100000 bytes)" in str(info.value)
    assert len(str(info.value)) < 2000
    assert info.value.stdout == b"x" * 100_000  # the whole output stays on the error


@pytest.mark.parametrize("stdout", [b"[1, 2]", b'"text"', b'{"code": "seven", "msg": "x"}'])
def test_json_that_is_not_an_error_object(stdout: bytes) -> None:
    with pytest.raises(ExecError) as info:
        decode_outcome(request(), fail(stdout))
    assert not isinstance(info.value, PluginError)


def test_empty_stdout_reports_stderr() -> None:
    with pytest.raises(ExecError) as info:
        decode_outcome(request(), fail(b"", status=2, stderr=b"fatal: cannot open /dev/net/tun\n"))
    err = info.value
    assert "fatal: cannot open /dev/net/tun" in str(err)
    assert "exit status 2" in str(err)
    assert err.stderr_text == "fatal: cannot open /dev/net/tun"


def test_both_empty_says_no_error_message() -> None:
    with pytest.raises(ExecError, match="no error message") as info:
        decode_outcome(request(), fail(b"", status=3))
    assert "exit status 3" in str(info.value)


@pytest.mark.parametrize(
    ("sig", "name"), [(signal.SIGSEGV, "SIGSEGV"), (signal.SIGKILL, "SIGKILL"), (40, "signal 40")]
)
def test_signal_is_named(sig: int, name: str) -> None:
    outcome = ExecOutcome(exit_status=None, signal=sig, stderr=b"goroutine 1 [running]")
    with pytest.raises(ExecError) as info:
        decode_outcome(request(), outcome)
    err = info.value
    assert name in str(err)
    assert err.signal == sig
    assert err.exit_status is None
    assert "goroutine 1 [running]" in str(err)


def test_signal_wins_over_output() -> None:
    outcome = ExecOutcome(exit_status=None, signal=signal.SIGKILL, stdout=json.dumps(RESULT).encode())
    with pytest.raises(ExecError, match="SIGKILL"):
        decode_outcome(request(), outcome)


def test_timeout() -> None:
    outcome = ExecOutcome(
        exit_status=None, signal=signal.SIGTERM, timed_out=True, timeout=2.5, stderr=b"stuck"
    )
    with pytest.raises(PluginTimeoutError) as info:
        decode_outcome(request(), outcome)
    err = info.value
    assert isinstance(err, ExecError)
    assert isinstance(err, TimeoutError)
    assert err.timeout == 2.5
    assert "timed out after 2.5s" in str(err)
    assert "stuck" in str(err)


def test_not_started() -> None:
    outcome = ExecOutcome(exit_status=None, start_error="Permission denied (/x/bridge)")
    with pytest.raises(ExecError, match="could not be started: Permission denied"):
        decode_outcome(request(), outcome)


FAILURES = [
    pytest.param(fail({"code": 7, "msg": "bad"}, status=1, stderr=b"E1"), "exit status 1", id="error"),
    pytest.param(fail(b"garbage", status=2, stderr=b"E2"), "exit status 2", id="garbage"),
    pytest.param(fail(b"", status=3, stderr=b"E3"), "exit status 3", id="stderr-only"),
    pytest.param(ExecOutcome(None, signal=11, stderr=b"E4"), "SIGSEGV", id="segv"),
    pytest.param(ok(b"", stderr=b"E5"), "exit status 0", id="empty-add"),
    pytest.param(ok(b"{", stderr=b"E6"), "exit status 0", id="bad-add"),
    pytest.param(ok(b"{}", stderr=b"E7", stdout_truncated=True), "exit status 0", id="truncated"),
]


@pytest.mark.parametrize(("outcome", "how"), FAILURES)
def test_every_error_names_plugin_verb_container_status_and_keeps_stderr(
    outcome: ExecOutcome, how: str
) -> None:
    req = request(Verb.ADD)
    with pytest.raises((ExecError, PluginError)) as info:
        decode_outcome(req, outcome)
    err = info.value
    assert isinstance(err, (ExecError, PluginError))
    text = str(err)
    assert "'bridge'" in text
    assert "ADD" in text
    assert "ctr1" in text
    assert how in text
    assert outcome.stderr.decode() in text
    assert (err.plugin, err.verb, err.container_id) == ("bridge", "ADD", "ctr1")
    assert err.stderr == outcome.stderr
    assert (err.exit_status, err.signal) == (outcome.exit_status, outcome.signal)


@given(st.binary(max_size=300), st.integers(0, 255), st.booleans())
def test_decode_never_raises_anything_but_cni_errors(stdout: bytes, status: int, add: bool) -> None:
    req = request(Verb.ADD if add else Verb.VERSION)
    with contextlib.suppress(cnilib.CNIError):
        decode_outcome(req, ExecOutcome(exit_status=status, stdout=stdout))


# -- VERSION ------------------------------------------------------------------------------------


def version_req() -> ExecRequest:
    return build_version_request("p", search_path=["/x"])


def test_version_info() -> None:
    info = decode_outcome(version_req(), ok({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}))
    assert info == VersionInfo(cni_version="1.0.0", supported_versions=("0.4.0", "1.0.0"))


def test_version_legacy_unknown_command_means_010() -> None:
    out = fail({"code": 0, "msg": "unknown CNI_COMMAND: VERSION"})
    info = decode_outcome(version_req(), out)
    assert info == VersionInfo(cni_version="0.1.0", supported_versions=("0.1.0",))


def test_version_020_without_supported_versions() -> None:
    info = decode_outcome(version_req(), ok({"cniVersion": "0.2.0"}))
    assert isinstance(info, VersionInfo)
    assert info.supported_versions == ("0.1.0", "0.2.0")


@pytest.mark.parametrize(
    ("stdout", "match"),
    [
        ({"cniVersion": "0.3.0"}, "without supportedVersions"),
        ({"supportedVersions": ["0.3.0"]}, "without cniVersion"),
        ({"cniVersion": "1.0.0", "supportedVersions": "1.0.0"}, "not a list"),
        (b"nope", "not JSON"),
        (b"[]", "not an object"),
    ],
)
def test_version_bad_answers(stdout: Any, match: str) -> None:
    with pytest.raises(ExecError, match=match):
        decode_outcome(version_req(), ok(stdout))


def test_version_other_failure_is_a_plugin_error() -> None:
    with pytest.raises(PluginError) as info:
        decode_outcome(version_req(), fail({"code": 4, "msg": "boom"}))
    assert info.value.verb == "VERSION"
