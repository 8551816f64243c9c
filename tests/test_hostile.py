"""Hostile input, every class typed: whatever a plugin prints or a file holds, cnilib answers with a
value or a :class:`cnilib.CNIError` subclass whose message is one line, never with a RecursionError,
ValueError, OverflowError, UnicodeError or a hang.

The table below is run through the API (every parser, ``decode_outcome``, the runtime-value checks,
the path checks) and, for the inputs a process can carry, through ``python -m cnilib`` with fake
plugins that are real executables (exit 1, exactly one line on stderr, no traceback).
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_cli import CLI, Run, result_100

import cnilib
from cnilib import (
    CNIError,
    CNISecurityWarning,
    ConfigError,
    ExecError,
    NetworkConfigList,
    PluginConfig,
    ResultError,
    RuntimeConfig,
    UnsafePermissionsError,
    ValidationError,
    find_plugin,
    go_dumps,
    parse_result,
)
from cnilib._cli import parse_cap_args, parse_cni_args
from cnilib._exec._protocol import ExecOutcome, ExecRequest, decode_outcome
from cnilib._model._codec import MAX_DEPTH
from cnilib._model._models import cached_runtime
from cnilib.testing.plugins import exiting_plugin, flooding_plugin

# -- the hostile payloads -------------------------------------------------------------------------


def _deep(depth: int, open_: bytes = b"[", close: bytes = b"]") -> bytes:
    return open_ * depth + close * depth


def _deep_obj(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


#: JSON *values* (to splice into a document) that Go refuses or that cnilib bounds.
BAD_VALUES: dict[str, bytes] = {
    "nan": b"NaN",
    "infinity": b"Infinity",
    "-infinity": b"-Infinity",
    "1e999": b"1e999",
    "-1e999": b"-1e999",
    "1e400": b"1E400",
    "huge-int": b"1" + b"0" * 400,
    "too-many-digits": b"9" * 5000,
    "deep-arrays-300": _deep(MAX_DEPTH + 44),
    "deep-arrays-900": _deep(900),
    "deep-arrays-100k": _deep(100_000),
    "deep-objects-300": _deep_obj(MAX_DEPTH + 44),
    "deep-objects-100k": _deep_obj(100_000),
    "raw-control-in-string": b'"a\x01b"',
    "raw-newline-in-string": b'"a\nb"',
    "raw-nul-in-string": b'"a\x00b"',
    "invalid-utf8-outside-string": b"\xff",
    "truncated": b'{"a": [1, 2',
}

#: Whole documents (replacing the document) that are not JSON text Go would read.
BAD_DOCUMENTS: dict[str, bytes] = {
    "empty": b"",
    "whitespace": b" \n\t ",
    "utf8-bom": b"\xef\xbb\xbf{}",
    "utf16le-bom": "\ufeff{}".encode("utf-16-le"),
    "utf16be-bom": "\ufeff{}".encode("utf-16-be"),
    "utf32le-bom": "\ufeff{}".encode("utf-32-le"),
    "utf32be-bom": "\ufeff{}".encode("utf-32-be"),
    "utf16le": b'{\x00"\x00a\x00"\x00:\x001\x00}\x00',
    "utf16be": b'\x00{\x00"\x00a\x00"\x00:\x001\x00}',
    "utf32le": "{}".encode("utf-32-le"),
    "latin1-garbage": b"\xe9t\xe9",
    "trailing-garbage": b"{} x",
    "two-documents": b"{}{}",
    "nul-document": b"\x00",
    "array": b"[]",
    "null": b"null",
    "string": b'"x"',
    "number": b"7",
}


def _splice(template: bytes, value: bytes) -> bytes:
    return template.replace(b"@", value)


# Where a bad value goes in each kind of document (``@``), so the rest of the document is valid.
RESULT_100 = b'{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.2/24"}],"x":@}'
RESULT_100_FIELD = b'{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","mtu":@}]}'
RESULT_040 = b'{"cniVersion":"0.4.0","ips":[{"version":"4","address":"10.0.0.2/24"}],"routes":@}'
RESULT_020 = b'{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24","routes":[{"dst":"0.0.0.0/0","x":@}]}}'
CONFLIST = b'{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge","opaque":@}]}'
CONF = b'{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"type":"host-local","r":@}}'
PLUGIN = b'{"type":"bridge","args":{"k":@}}'
VERSION_REPLY = b'{"cniVersion":"1.0.0","supportedVersions":["1.0.0"],"x":@}'
ERROR_REPLY = b'{"cniVersion":"1.0.0","code":7,"msg":"m","details":@}'


def _request(verb: cnilib.Verb) -> ExecRequest:
    return ExecRequest(
        verb=verb, plugin="p", search_path=("/nowhere",), env={}, stdin=b"{}", cni_version="1.0.0"
    )


def _add_stdout(data: bytes) -> Any:
    return decode_outcome(_request(cnilib.Verb.ADD), ExecOutcome(exit_status=0, stdout=data))


def _version_stdout(data: bytes) -> Any:
    return decode_outcome(_request(cnilib.Verb.VERSION), ExecOutcome(exit_status=0, stdout=data))


def _error_stdout(data: bytes) -> Any:
    return decode_outcome(_request(cnilib.Verb.DEL), ExecOutcome(exit_status=1, stdout=data))


def _cap_args(data: bytes) -> Any:
    return parse_cap_args(data.decode("utf-8", "surrogateescape"))


#: kind -> (template, parser, the CNIError subclass expected)
KINDS: dict[str, tuple[bytes, Callable[[bytes], Any], type[CNIError]]] = {
    "result-1.0.0": (RESULT_100, parse_result, ResultError),
    "result-1.0.0-field": (RESULT_100_FIELD, parse_result, ResultError),
    "result-0.4.0": (RESULT_040, parse_result, ResultError),
    "result-0.2.0": (RESULT_020, parse_result, ResultError),
    "conflist": (CONFLIST, NetworkConfigList.from_bytes, ConfigError),
    "conf": (CONF, NetworkConfigList.from_bytes, ConfigError),
    "plugin": (PLUGIN, PluginConfig.from_bytes, ConfigError),
    "add-stdout": (RESULT_100, _add_stdout, ExecError),
    "version-reply": (VERSION_REPLY, _version_stdout, ExecError),
    "error-reply": (ERROR_REPLY, _error_stdout, ExecError),
    "cap-args": (b'{"portMappings":@}', _cap_args, CNIError),
}

API_CASES: list[tuple[str, str, bytes]] = [
    *(
        (kind, f"value:{name}", _splice(KINDS[kind][0], v))
        for kind in KINDS
        for name, v in BAD_VALUES.items()
    ),
    *((kind, f"document:{name}", doc) for kind in KINDS for name, doc in BAD_DOCUMENTS.items()),
]


def _one_line(err: BaseException) -> None:
    text = str(err)
    assert text
    assert "\n" not in text, repr(text)
    assert "\r" not in text, repr(text)
    assert "Traceback" not in text


@pytest.mark.parametrize(("kind", "case", "data"), API_CASES, ids=[f"{k}:{c}" for k, c, _ in API_CASES])
def test_hostile_document_is_a_typed_error(kind: str, case: str, data: bytes) -> None:
    _, parse, expected = KINDS[kind]
    if kind == "error-reply" and case.startswith("value:"):
        # A bad "details" makes the whole reply undecodable: still an ExecError, never PluginError.
        expected = ExecError
    if case == "document:null" and kind in ("cap-args", "add-stdout"):
        # The two places where null is a value: Go decodes it into a nil map; libcni takes a
        # plugin's "null" result as no result.
        assert parse(data) == ({} if kind == "cap-args" else None)
        return
    with pytest.raises(CNIError) as info:
        parse(data)
    assert isinstance(info.value, expected), f"{type(info.value).__name__}: {info.value}"
    _one_line(info.value)


def test_the_table_is_large() -> None:
    assert len(API_CASES) >= 150


# -- what Go replaces instead of refusing: a value that can always be written again ----------------

REPLACED: dict[str, bytes] = {
    "invalid-utf8-in-string": b'"\xff\xfe"',
    "truncated-utf8-in-string": b'"\xe2\x82"',
    "overlong-utf8-in-string": b'"\xc0\xaf"',
    "utf8-encoded-surrogate": b'"\xed\xa0\x80"',
    "lone-high-surrogate-escape": b'"\\ud800"',
    "lone-low-surrogate-escape": b'"\\uDC00x"',
    "reversed-surrogate-pair": b'"\\udc00\\ud800"',
    "nul-escape": b'"a\\u0000b"',
}


@pytest.mark.parametrize("kind", ["result-1.0.0", "conflist", "plugin", "add-stdout", "cap-args"])
@pytest.mark.parametrize("name", sorted(REPLACED))
def test_invalid_text_inside_strings_is_replaced_as_go_does(kind: str, name: str) -> None:
    template, parse, _ = KINDS[kind]
    value = parse(_splice(template, REPLACED[name]))
    decoded = {
        "result-1.0.0": lambda v: v,
        "conflist": lambda v: v.raw,
        "plugin": lambda v: v.raw,
        "add-stdout": lambda v: v,
        "cap-args": lambda v: v,
    }[kind](value)
    if isinstance(decoded, cnilib.Result):
        decoded.to_bytes()
    else:
        text = json.dumps(decoded, ensure_ascii=False)
        assert "\ufffd" in text or "\\u0000" in text
        text.encode("utf-8")  # no lone surrogate survives
        go_dumps(decoded)


def test_a_lone_surrogate_escape_decodes_to_the_replacement_character() -> None:
    conf = PluginConfig.from_bytes(b'{"type":"a","k":"x\\ud800y"}')
    assert conf.raw["k"] == "x\ufffdy"
    conf = PluginConfig.from_bytes(b'{"type":"a","k":"x\xffy"}')
    assert conf.raw["k"] == "x\ufffdy"


def test_nesting_up_to_the_bound_is_accepted() -> None:
    conf = PluginConfig.from_bytes(b'{"type":"a","k":' + _deep(MAX_DEPTH - 1) + b"}")
    go_dumps(conf.raw)
    with pytest.raises(ConfigError, match="nested more than"):
        PluginConfig.from_bytes(b'{"type":"a","k":' + _deep(MAX_DEPTH) + b"}")


def test_huge_integers_in_typed_fields_are_refused() -> None:
    for value in (2**63, -(2**63) - 1, 10**300):
        doc = {"cniVersion": "1.1.0", "routes": [{"dst": "0.0.0.0/0", "table": value}]}
        with pytest.raises(ResultError) as info:
            parse_result(json.dumps(doc))
        assert info.value.path == "$.routes[0].table"


@pytest.mark.parametrize("code", ['"7"', "7.5", "-1", "18446744073709551616", "true", "null", "[7]"])
def test_an_error_code_that_is_not_a_uint_is_an_exec_error(code: str) -> None:
    with pytest.raises(ExecError, match="malformed error object"):
        _error_stdout(b'{"code":' + code.encode() + b',"msg":"m"}')


@pytest.mark.parametrize("reply", [b"[]", b'"no"', b"42", b"true"])
def test_a_non_object_error_reply_is_an_exec_error(reply: bytes) -> None:
    with pytest.raises(ExecError, match="not an error object"):
        _error_stdout(reply)


# -- runtime values, capability args, paths ------------------------------------------------------

CONTROL = ["\x00", "\x01", "\n", "\r", "\x1b", "\x7f"]
RUNTIME_CASES: list[tuple[str, dict[str, Any]]] = [
    *((f"container-id:{c!r}", {"container_id": f"ctr{c}1"}) for c in CONTROL),
    *((f"netns:{c!r}", {"netns": f"/run/netns/x{c}y"}) for c in CONTROL),
    *((f"ifname:{c!r}", {"ifname": f"eth{c}"}) for c in CONTROL),
    *((f"args-key:{c!r}", {"args": [(f"K{c}", "v")]}) for c in CONTROL),
    *((f"args-value:{c!r}", {"args": [("K", f"v{c}")]}) for c in CONTROL),
    ("cap:nan", {"capability_args": {"x": float("nan")}}),
    ("cap:inf", {"capability_args": {"x": [float("inf")]}}),
    ("cap:-inf", {"capability_args": {"x": {"y": float("-inf")}}}),
    ("cap:huge-int", {"capability_args": {"x": 10**400}}),
    ("cap:lone-surrogate", {"capability_args": {"x": "a\udcffb"}}),
    ("cap:lone-surrogate-key", {"capability_args": {"x": {"\ud800": 1}}}),
    ("cap:non-string-key", {"capability_args": {"x": {1: 2}}}),
    ("cap:set", {"capability_args": {"x": {1, 2}}}),
    ("cap:bytes", {"capability_args": {"x": b"raw"}}),
    ("cap:object", {"capability_args": {"x": object()}}),
]


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


RUNTIME_CASES.append(("cap:deep", {"capability_args": {"x": _nested(MAX_DEPTH + 5)}}))
RUNTIME_CASES.append(("cap:very-deep", {"capability_args": {"x": _nested(5000)}}))


@pytest.mark.parametrize(("case", "fields"), RUNTIME_CASES, ids=[c for c, _ in RUNTIME_CASES])
def test_hostile_runtime_value_is_a_validation_error(case: str, fields: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        RuntimeConfig(**{"container_id": "ctr1", "netns": "/run/netns/x", **fields})  # at construction
    _one_line(info.value)
    made_otherwise = cached_runtime(RuntimeConfig("ctr1", "/run/netns/x"), **fields)
    with pytest.raises(ValidationError) as info:
        made_otherwise.validate()  # what every verb checks
    _one_line(info.value)


@pytest.mark.parametrize("c", CONTROL)
def test_control_characters_in_paths_are_validation_errors(c: str, tmp_path: Path) -> None:
    bad = str(tmp_path / f"d{c}x")
    for call in (
        lambda: find_plugin("bridge", [bad]),
        lambda: cnilib.load_network(bad, "n"),
        lambda: cnilib.load_networks(bad),
        lambda: cnilib.load_conf_file(bad + ".conflist"),
        lambda: NetworkConfigList.from_file(bad),
    ):
        with pytest.raises(ValidationError) as info:
            call()
        _one_line(info.value)


@pytest.mark.parametrize("text", ["A=\x01", "A\x7f=1", "A=1;B=x\ny", "K=\x1b[31m"])
def test_control_characters_in_cni_args_text(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_cni_args(text)


# -- through the command line, as a process ------------------------------------------------------


def one_line(run: Run) -> str:
    assert run.rc == 1, run
    assert len(run.err_lines) == 1, run
    assert "Traceback" not in run.err, run
    return run.err_lines[0]


# ``cli`` and ``ns_file`` (a file standing in for a network namespace) are in conftest.py.


CLI_CONF_CASES = [
    *((f"conflist:{n}", _splice(CONFLIST, v)) for n, v in BAD_VALUES.items() if "100k" not in n),
    *((f"conf:{n}", _splice(CONF, v)) for n, v in list(BAD_VALUES.items())[:8]),
    *(
        (f"document:{n}", d)
        for n, d in BAD_DOCUMENTS.items()
        if n not in ("array", "null", "string", "number")
    ),
]


@pytest.mark.parametrize(("case", "data"), CLI_CONF_CASES, ids=[c for c, _ in CLI_CONF_CASES])
def test_cli_hostile_configuration_file(cli: CLI, ns_file: str, case: str, data: bytes) -> None:
    exiting_plugin(cli.bin, "bridge", stdout=json.dumps(result_100()))
    (cli.conf / "10-n.conflist").write_bytes(data)
    line = one_line(cli.run("add", "n", ns_file))
    # a document that names no readable network is skipped: the error names the skipped file
    assert "10-n.conflist" in line or "not valid JSON" in line or "nested" in line, line


CLI_PLUGIN_CASES: list[tuple[str, dict[str, Any]]] = [
    *(
        (f"add-stdout:{n}", {"stdout": _splice(RESULT_100, v)})
        for n, v in BAD_VALUES.items()
        if "100k" not in n
    ),
    *((f"add-document:{n}", {"stdout": d}) for n, d in BAD_DOCUMENTS.items() if n != "null"),
    ("invalid-json-exit-0", {"stdout": b"this is not json"}),
    ("error-not-object", {"stdout": b"[1,2]", "exit_status": 1}),
    ("error-code-string", {"stdout": b'{"code":"7","msg":"m"}', "exit_status": 1}),
    ("error-code-huge", {"stdout": b'{"code":1' + b"0" * 400 + b',"msg":"m"}', "exit_status": 1}),
    ("error-code-float", {"stdout": b'{"code":7.5,"msg":"m"}', "exit_status": 1}),
    ("error-deep", {"stdout": b'{"code":7,"msg":"m","details":' + _deep(5000) + b"}", "exit_status": 1}),
    ("error-nan", {"stdout": b'{"code":7,"msg":"m","details":NaN}', "exit_status": 1}),
    ("error-multiline-msg", {"stdout": b'{"code":7,"msg":"line1\\nline2\\r\\nline3"}', "exit_status": 1}),
    ("stderr-deep", {"stdout": b"", "stderr": _deep(5000), "exit_status": 1}),
    ("stderr-invalid-utf8", {"stdout": b"", "stderr": b"\xff\xfe bad\nsecond line\n", "exit_status": 1}),
    ("stderr-control", {"stdout": b"", "stderr": b"\x1b[31mred\x00\x07", "exit_status": 1}),
    ("stderr-c1-control", {"stdout": b"", "stderr": "\x9b31m".encode(), "exit_status": 1}),
    (
        "error-msg-escapes",
        {"stdout": b'{"code":7,"msg":"\\u001b[2Jgone","details":"\\u0007"}', "exit_status": 1},
    ),
]


@pytest.mark.parametrize(("case", "kw"), CLI_PLUGIN_CASES, ids=[c for c, _ in CLI_PLUGIN_CASES])
def test_cli_hostile_plugin_output(cli: CLI, ns_file: str, case: str, kw: dict[str, Any]) -> None:
    if "add-" in case or case == "invalid-json-exit-0":
        # only ADD prints the hostile output; DEL (the rollback) succeeds quietly
        kw = {**kw, "stdout": {"ADD": kw["stdout"], "DEL": b""}}
    exiting_plugin(cli.bin, "p", **kw)
    cli.write_conf("10-n.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "p"}]})
    line = one_line(cli.run("add", "n", ns_file))
    assert "plugin 'p'" in line
    # nothing the plugin printed can drive the terminal: control characters arrive escaped
    assert not any(c in line for c in "\x00\x07\x1b\x9b"), repr(line)


CLI_VERSION_CASES = [
    *((f"version-value:{n}", _splice(VERSION_REPLY, v)) for n, v in BAD_VALUES.items() if "100k" not in n),
    *((f"version-document:{n}", d) for n, d in BAD_DOCUMENTS.items()),
    ("version-not-strings", b'{"cniVersion":"1.0.0","supportedVersions":[1,2]}'),
    ("version-no-cniversion", b'{"supportedVersions":["1.0.0"]}'),
]


@pytest.mark.parametrize(("case", "data"), CLI_VERSION_CASES, ids=[c for c, _ in CLI_VERSION_CASES])
def test_cli_hostile_version_reply(cli: CLI, case: str, data: bytes) -> None:
    exiting_plugin(cli.bin, "p", stdout=data)
    line = one_line(cli.run("version", "p"))
    assert "plugin 'p'" in line, line


def test_cli_plugin_printing_more_than_16_mib(cli: CLI, ns_file: str) -> None:
    flooding_plugin(cli.bin, "p", 16 * 1024 * 1024 + 4096)
    cli.write_conf("10-n.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "p"}]})
    line = one_line(cli.run("add", "n", ns_file))
    assert "output limit" in line


CLI_ENV_CASES: list[tuple[str, dict[str, str], str]] = [
    *((f"cni-args:{c!r}", {"CNI_ARGS": f"K=a{c}b"}, "control character") for c in CONTROL[1:]),
    *((f"ifname:{c!r}", {"CNI_IFNAME": f"eth{c}"}, "interface name") for c in CONTROL[1:]),
    ("cap-args:nan", {"CAP_ARGS": '{"portMappings":NaN}'}, "CAP_ARGS"),
    ("cap-args:infinity", {"CAP_ARGS": '{"portMappings":[Infinity]}'}, "CAP_ARGS"),
    ("cap-args:-infinity", {"CAP_ARGS": '{"portMappings":-Infinity}'}, "CAP_ARGS"),
    ("cap-args:1e999", {"CAP_ARGS": '{"portMappings":1e999}'}, "CAP_ARGS"),
    ("cap-args:huge-int", {"CAP_ARGS": '{"portMappings":1' + "0" * 400 + "}"}, "CAP_ARGS"),
    ("cap-args:digits", {"CAP_ARGS": '{"portMappings":' + "9" * 5000 + "}"}, "CAP_ARGS"),
    ("cap-args:deep", {"CAP_ARGS": '{"portMappings":' + "[" * 5000 + "]" * 5000 + "}"}, "CAP_ARGS"),
    ("cap-args:deep-300", {"CAP_ARGS": '{"portMappings":' + "[" * 300 + "]" * 300 + "}"}, "CAP_ARGS"),
    ("cap-args:bom", {"CAP_ARGS": '\ufeff{"portMappings":[]}'}, "CAP_ARGS"),
    ("cap-args:control", {"CAP_ARGS": '{"portMappings":"a\x01"}'}, "CAP_ARGS"),
    *(
        (f"netconfpath:{c!r}", {"NETCONFPATH": f"/etc/cni/net{c}d"}, "configuration directory")
        for c in CONTROL[1:]
    ),
    *((f"cni-path:{c!r}", {"CNI_PATH": f"/opt/cni/b{c}in"}, "plugin directory") for c in CONTROL[1:]),
]


@pytest.mark.parametrize(("case", "env", "says"), CLI_ENV_CASES, ids=[c for c, _, _ in CLI_ENV_CASES])
def test_cli_hostile_environment(cli: CLI, ns_file: str, case: str, env: dict[str, str], says: str) -> None:
    cli.plugin("p", stdout={"ADD": result_100()})
    cli.write_conf("10-n.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "p"}]})
    line = one_line(cli.run("add", "n", ns_file, env=env))
    assert says in line, line
    assert cli.records() == []  # refused before any plugin ran


@pytest.mark.parametrize("c", CONTROL[1:])
def test_cli_hostile_netns_argument(cli: CLI, tmp_path: Path, c: str) -> None:
    cli.plugin("p", stdout={"ADD": result_100()})
    cli.write_conf("10-n.conflist", {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "p"}]})
    path = tmp_path / f"ns{c}x"
    path.touch()
    line = one_line(cli.run("add", "n", str(path)))
    assert "netns" in line, line
    assert cli.records() == []


def test_the_cli_table_is_large() -> None:
    total = len(CLI_CONF_CASES) + len(CLI_PLUGIN_CASES) + len(CLI_ENV_CASES) + len(CONTROL[1:]) + 1
    total += len(CLI_VERSION_CASES)
    assert total >= 150


# -- permissions ---------------------------------------------------------------------------------


def _writable_plugin(tmp_path: Path, dir_mode: int, file_mode: int) -> Path:
    bindir = tmp_path / "bin"
    exiting_plugin(bindir, "p", stdout=b"{}")
    os.chmod(bindir / "p", file_mode)
    os.chmod(bindir, dir_mode)
    return bindir


@pytest.mark.parametrize(
    ("dir_mode", "file_mode", "what"),
    [
        (0o700, 0o777, "plugin"),
        (0o700, 0o775, "plugin"),
        (0o777, 0o755, "plugin directory"),
        (0o1777, 0o755, "plugin directory"),
        (0o770, 0o700, "plugin directory"),
    ],
)
def test_plugin_writable_by_others_warns_and_strict_refuses(
    tmp_path: Path, dir_mode: int, file_mode: int, what: str
) -> None:
    bindir = _writable_plugin(tmp_path, dir_mode, file_mode)
    with pytest.warns(CNISecurityWarning, match=f"^{what} .* is writable by"):
        assert find_plugin("p", [str(bindir)]) == str(bindir / "p")
    with pytest.raises(UnsafePermissionsError) as info:
        find_plugin("p", [str(bindir)], strict_permissions=True)
    assert isinstance(info.value, ValidationError)
    assert isinstance(info.value, PermissionError)


def test_a_writable_directory_searched_before_the_plugin_counts(tmp_path: Path) -> None:
    bindir = _writable_plugin(tmp_path, 0o755, 0o755)
    early = tmp_path / "early"
    early.mkdir()
    os.chmod(early, 0o777)  # anyone could plant "p" here, ahead of the real one
    with pytest.raises(UnsafePermissionsError, match="early"):
        find_plugin("p", [str(early), str(bindir)], strict_permissions=True)


def test_safe_plugin_is_silent(tmp_path: Path) -> None:
    bindir = _writable_plugin(tmp_path, 0o755, 0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert find_plugin("p", [str(bindir)], strict_permissions=True) == str(bindir / "p")


@pytest.mark.parametrize("target", ["directory", "file"])
def test_configuration_writable_by_others(tmp_path: Path, target: str) -> None:
    conf = tmp_path / "net.d"
    conf.mkdir()
    path = conf / "10-n.conflist"
    path.write_text(json.dumps({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "p"}]}))
    os.chmod(conf if target == "directory" else path, 0o777 if target == "directory" else 0o666)
    with pytest.warns(CNISecurityWarning):
        assert cnilib.load_network(conf, "n").name == "n"
    for call in (
        lambda: cnilib.load_network(conf, "n", strict_permissions=True),
        lambda: cnilib.load_networks(conf, strict_permissions=True),
        lambda: cnilib.load_conf_file(path, strict_permissions=True),
    ):
        with pytest.raises(UnsafePermissionsError):
            call()
    os.chmod(conf, 0o755)
    os.chmod(path, 0o644)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cnilib.load_network(conf, "n", strict_permissions=True).name == "n"


def test_the_warning_is_a_user_warning() -> None:
    assert issubclass(CNISecurityWarning, UserWarning)
    assert "CNISecurityWarning" in cnilib.__all__
    assert "UnsafePermissionsError" in cnilib.__all__
