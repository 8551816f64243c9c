"""The command line's fast path (``cnilib._cli._fast``) against the typed path, piece by piece and whole.

The fast path runs ``cnilib add``/``del`` on plain values without importing attrs and cattrs. It is
only right if it answers what the typed path answers, or steps aside: each test here gives both
the same input and requires the same output (results, requests, cache bytes, the loaded list), or
None from the fast path where it hands a case to the typed model. The command-line tests at the
end run both paths as processes (``--debug`` takes the typed one) and compare what the plugins
received, what was printed and what was left on disk.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_cli import CLI, cnitool_id, result_100

from cnilib import CNIError, ExecOutcome, RuntimeConfig, SubprocessExecutor, load_network
from cnilib._cache import ResultCache
from cnilib._cli._fast._load import lean_network
from cnilib._cli._fast._run import LeanExecutor, LeanStore
from cnilib._cli._parser import build_parser
from cnilib._cli._plain import PLAIN_COMMANDS, plain_namespace
from cnilib._engine._plain import LeanConfList, LeanOutcome, LeanPlugin, LeanRuntime, LeanValues
from cnilib._engine._values import TypedValues
from cnilib._exec._protocol import ExecRequest
from cnilib._model._results import parse_result
from cnilib._spec._plain_results import lean_result, lean_result_of
from cnilib._spec._scalars import _plain_cidr, _plain_ipv4, _plain_ipv6
from cnilib._spec._version import Verb
from cnilib.testing import strategies as cst
from cnilib.testing._st_values import _PLUGIN_KEYS

_CURRENT = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
_FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _ordered(value: Any) -> str:
    # Key order matters (it is what the plugins and the cache get): compare the JSON text.
    return json.dumps(value, separators=(",", ":"))


def _typed_dict(obj: Any, version: str | None = None) -> str | None:
    try:
        return _ordered(parse_result(obj, version=version).to_dict())
    except CNIError:
        return None


# -- results -------------------------------------------------------------------------------------


@_FAST
@given(cst.results())
def test_every_valid_result_of_0_3_and_later_is_read_as_the_typed_model_writes_it(result: Any) -> None:
    obj = json.loads(json.dumps(result.to_dict()))
    lean = lean_result_of(obj, None)
    if result.cni_version in _CURRENT:
        assert lean is not None  # the fast path takes them all (or it would not be fast)
        assert _ordered(lean.to_dict()) == _typed_dict(obj)
    else:
        assert lean is None  # 0.1.0/0.2.0: the typed model's


_ELEMENT_KEYS = {
    "interfaces": ("name", "mac", "mtu", "sandbox", "socketPath", "pciID", "other"),
    "ips": ("address", "gateway", "interface", "version", "other"),
    "routes": ("dst", "gw", "mtu", "advmss", "priority", "table", "scope", "other"),
    "dns": ("nameservers", "domain", "search", "options", "other"),
}
_ODD_VALUES = st.one_of(
    cst.json_values(max_leaves=4),
    st.sampled_from(["", "10.0.0.1", "10.0.0.1/24", "::1/128", "1.2.3.4/08", "010.1.1.1/8", "1.0", 1.0, 1.5]),
    st.sampled_from([True, 0, -1, 2**63, 2**64, None, [], {}, ["a"], [1]]),
)

#: Values at the edges of the typed model's rules (zero, empty, null, absent), one field at a time.
_EDGES = [0, "", None, [], 1.0, "4", "6", "0.0.0.0/0", "::/0"]


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0", "1.1.0"])
@pytest.mark.parametrize("edge", _EDGES)
def test_edge_values_are_read_as_the_typed_model_reads_them(version: str, edge: Any) -> None:
    base = {
        "cniVersion": version,
        "interfaces": [
            {"name": "eth0", "mac": "m", "mtu": 1500, "sandbox": "/x", "socketPath": "/s", "pciID": "p"}
        ],
        "ips": [{"version": "4", "interface": 0, "address": "10.0.0.2/24", "gateway": "10.0.0.1"}],
        "routes": [
            {
                "dst": "0.0.0.0/0",
                "gw": "10.0.0.1",
                "mtu": 1,
                "advmss": 2,
                "priority": 3,
                "table": 4,
                "scope": 5,
            }
        ],
        "dns": {"nameservers": ["1.1.1.1"], "domain": "d", "search": ["s"], "options": ["o"]},
    }
    taken = 0
    for where in ("interfaces", "ips", "routes"):
        for key in base[where][0]:  # type: ignore[index]
            obj = json.loads(json.dumps(base))
            obj[where][0][key] = edge
            lean = lean_result_of(obj, None)
            if lean is not None:
                taken += 1
                assert _ordered(lean.to_dict()) == _typed_dict(obj), (where, key)
    for key in base["dns"]:  # type: ignore[union-attr]
        obj = json.loads(json.dumps(base))
        obj["dns"][key] = edge
        lean = lean_result_of(obj, None)
        if lean is not None:
            taken += 1
            assert _ordered(lean.to_dict()) == _typed_dict(obj), ("dns", key)
    assert taken  # (each edge is a valid value of some field)


@st.composite
def _mutated_results(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(json.dumps(draw(cst.results()).to_dict()))
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(["cniVersion", "top", *_ELEMENT_KEYS]))
        value = draw(_ODD_VALUES)
        if where == "cniVersion":
            obj["cniVersion"] = draw(st.one_of(st.sampled_from(["", "1.0.0", "0.4.0", "9.9.9"]), _ODD_VALUES))
        elif where == "top":
            obj[draw(st.sampled_from(["interfaces", "ips", "routes", "dns", "extra"]))] = value
        elif where == "dns":
            if isinstance(obj.get("dns"), dict):
                obj["dns"][draw(st.sampled_from(_ELEMENT_KEYS["dns"]))] = value
        elif isinstance(obj.get(where), list) and obj[where]:
            item = obj[where][draw(st.integers(0, len(obj[where]) - 1))]
            key = draw(st.sampled_from(_ELEMENT_KEYS[where]))
            if not isinstance(item, dict):  # (an earlier mutation replaced the array's items)
                continue
            if draw(st.booleans()) and key in item:
                del item[key]
            else:
                item[key] = value
    return obj


@_FAST
@given(_mutated_results(), st.sampled_from(["", "1.0.0", "0.4.0", "0.2.0"]))
def test_a_result_is_read_as_the_typed_model_reads_it_or_left_to_it(obj: dict[str, Any], conf: str) -> None:
    lean = lean_result_of(obj, conf or None)
    typed = _typed_dict(obj, conf or None)
    if lean is not None:
        assert typed is not None, "the fast path accepted what the typed model refuses"
        assert _ordered(lean.to_dict()) == typed


@_FAST
@given(cst.hostile_json_bytes(cst.results().map(lambda r: r.to_dict())))
def test_hostile_output_is_never_taken_by_the_fast_path_unless_the_typed_model_takes_it(data: bytes) -> None:
    lean = lean_result(data, "1.0.0")
    if lean is not None:
        assert _ordered(lean.to_dict()) == _typed_dict(data, "1.0.0")


def test_decoding_an_outcome_agrees_on_results_null_and_errors() -> None:
    lean, typed = LeanValues(), TypedValues()
    outputs = [
        json.dumps(result_100()).encode(),
        b'{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24"},"dns":{}}',  # handed to the typed model
        b"null",
        b"",
        b"[1]",
        b'{"cniVersion":"1.0.0","ips":[{"address":"bad"}]}',
    ]
    for stdout in outputs:
        for status in (0, 1):
            request = ExecRequest(Verb.ADD, "p", ("/x",), {}, b"{}", "c", "1.0.0")
            answers = []
            for values, outcome in (
                (lean, LeanOutcome(exit_status=status, stdout=stdout)),
                (typed, ExecOutcome(exit_status=status, stdout=stdout)),
            ):
                try:
                    value = values.decode(request, outcome)
                    answers.append(None if value is None else _ordered(value.to_dict()))
                except CNIError as exc:
                    answers.append(f"{type(exc).__name__}: {exc}")
            assert answers[0] == answers[1], (stdout, status)


# -- addresses -------------------------------------------------------------------------------------


def _accepted(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEF:./% ", max_size=45))
def test_the_quick_address_checks_accept_only_what_ipaddress_accepts(text: str) -> None:
    if _plain_ipv4(text) or _plain_ipv6(text):
        assert _accepted(ipaddress.ip_address, text)
    if _plain_cidr(text):
        assert _accepted(ipaddress.ip_interface, text)
        assert "/" in text


@settings(max_examples=500, deadline=None)
@given(st.ip_addresses(), st.integers(0, 128))
def test_the_quick_address_checks_take_the_usual_spellings(address: Any, prefix: int) -> None:
    text = str(address)
    if address.version == 4:
        assert _plain_ipv4(text)
        assert _plain_cidr(f"{text}/{prefix % 33}")
    elif "." not in text:  # (an embedded IPv4 part is left to ipaddress)
        assert _plain_ipv6(text)
        assert _plain_ipv6(address.exploded)
        assert _plain_cidr(f"{text}/{prefix}")


# -- requests and cache entries ----------------------------------------------------------------


def _lean_list(conflist: Any) -> LeanConfList:
    plugins = tuple(LeanPlugin(p.type, dict(p.raw), dict(p.capabilities)) for p in conflist.plugins)
    return LeanConfList(conflist.name, conflist.cni_version, plugins, conflist.bytes, "x")


def _lean_rt(rt: RuntimeConfig) -> LeanRuntime:
    return LeanRuntime(rt.container_id, rt.netns, rt.ifname, rt.args, rt.capability_args)


@_FAST
@given(cst.network_config_lists(), cst.runtime_configs(), st.one_of(st.none(), cst.results()), st.data())
def test_requests_and_entries_are_the_typed_ones(conflist: Any, rt: Any, prev: Any, data: Any) -> None:
    version = data.draw(st.sampled_from(_CURRENT))
    lean_prev = None if prev is None else lean_result_of(prev.to_dict(), None) or prev
    for index, plugin in enumerate(conflist.plugins):
        for verb in (Verb.ADD, Verb.DEL, Verb.CHECK):
            kw: dict[str, Any] = {"version": version, "search_path": ("/a", "/b")}
            typed = TypedValues().request(verb, conflist, plugin, rt, prev=prev, **kw)
            lean = LeanValues().request(
                verb,
                _lean_list(conflist),
                _lean_list(conflist).plugins[index],
                _lean_rt(rt),
                prev=lean_prev,
                **kw,
            )
            for field in attrs.fields(ExecRequest):
                assert getattr(lean, field.name) == getattr(typed, field.name), field.name
    for intent in (False, True):
        typed_entry = TypedValues().entry(conflist, rt, None if intent else prev, intent=intent)
        lean_entry = LeanValues().entry(
            _lean_list(conflist), _lean_rt(rt), None if intent else lean_prev, intent=intent
        )
        assert lean_entry.to_json_bytes() == typed_entry.to_json_bytes()


def test_the_store_reads_entries_as_the_typed_store(tmp_path: Path) -> None:
    conflist = load_network_from(tmp_path, {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "p"}]})
    rt = RuntimeConfig("c-1", "/run/netns/x", "eth0", args=[("A", "1")], capability_args={"k": [1]})
    typed_store, lean_store = ResultCache(tmp_path / "cache"), LeanStore(tmp_path / "cache")
    typed_store.write(TypedValues().entry(conflist, rt, parse_result(result_100())))
    typed, lean = typed_store.read_tolerant("n", "c-1", "eth0"), lean_store.read_tolerant("n", "c-1", "eth0")
    for name in (
        "network_name",
        "container_id",
        "ifname",
        "config",
        "netns",
        "cni_args",
        "result",
        "kind",
        "path",
    ):
        assert getattr(lean[0], name) == getattr(typed[0], name), name
    assert dict(lean[0].capability_args) == dict(typed[0].capability_args)
    # A corrupt file is a problem to both, with the same words.
    (tmp_path / "cache" / "results" / "n-c-1-eth0").write_bytes(b"{")
    typed, lean = typed_store.read_tolerant("n", "c-1", "eth0"), lean_store.read_tolerant("n", "c-1", "eth0")
    assert lean[0] is None
    assert typed[0] is None
    assert (str(lean[1]), lean[1].foreign) == (str(typed[1]), typed[1].foreign)  # type: ignore[union-attr]


def test_the_executor_has_the_subprocess_executors_defaults() -> None:
    typed = SubprocessExecutor()
    lean = LeanExecutor()
    for field in attrs.fields(SubprocessExecutor):
        assert getattr(lean, field.name) == getattr(typed, field.name), field.name


# -- loading -----------------------------------------------------------------------------------


def load_network_from(tmp_path: Path, obj: Any) -> Any:
    d = tmp_path / "conf"
    d.mkdir(exist_ok=True)
    (d / "10-n.conflist").write_text(json.dumps(obj))
    return load_network(d, obj["name"])


_LIST_KEYS = (
    "cniVersion",
    "cniVersions",
    "disableCheck",
    "disableGC",
    "loadOnlyInlinedPlugins",
    "plugins",
    "name",
)


@st.composite
def _config_texts(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = draw(cst.network_config_dicts())
    obj.setdefault("plugins", [{"type": "p"}])
    if draw(st.booleans()):
        value = draw(_ODD_VALUES)
        if draw(st.booleans()) and obj["plugins"]:
            plugin = obj["plugins"][draw(st.integers(0, len(obj["plugins"]) - 1))]
            plugin[draw(st.sampled_from(sorted(_PLUGIN_KEYS)))] = value
        else:
            obj[draw(st.sampled_from(_LIST_KEYS))] = value
    return obj


@_FAST
@given(_config_texts())
def test_a_list_is_loaded_as_the_typed_loader_loads_it_or_left_to_it(obj: dict[str, Any]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "10-x.conflist"
        path.write_text(json.dumps(obj))
        name = obj.get("name") if isinstance(obj.get("name"), str) else "x"
        lean = lean_network(tmp, name)
        try:
            typed = load_network(tmp, name)
        except CNIError:
            assert lean is None
            return
        if lean is None:
            return
        assert (lean.name, lean.cni_version, lean.bytes, lean.source) == (
            typed.name,
            typed.cni_version,
            typed.bytes,
            typed.source,
        )
        assert [(p.type, p.raw, dict(p.capabilities)) for p in lean.plugins] == [
            (p.type, dict(p.raw), dict(p.capabilities)) for p in typed.plugins
        ]


def test_the_loader_takes_ordinary_lists_and_leaves_the_rest(tmp_path: Path) -> None:
    ordinary = {
        "cniVersion": "1.0.0",
        "name": "n",
        "plugins": [{"type": "bridge", "ipam": {"type": "host-local"}}],
    }
    (tmp_path / "20-n.conflist").write_text(json.dumps(ordinary))
    assert lean_network(str(tmp_path), "n") is not None
    (tmp_path / "30-single.conf").write_text(
        json.dumps({"cniVersion": "1.0.0", "name": "s", "type": "bridge"})
    )
    assert lean_network(str(tmp_path), "s") is None  # a single .conf: wrapped by the typed loader
    assert lean_network(str(tmp_path), "missing") is None  # the typed loader's error
    (tmp_path / "n").mkdir()  # a drop-in directory
    assert lean_network(str(tmp_path), "n") is None
    (tmp_path / "n").rmdir()
    (tmp_path / "10-broken.conflist").write_text("{")  # logged as skipped by the typed loader
    assert lean_network(str(tmp_path), "n") is None
    (tmp_path / "10-broken.conflist").unlink()
    (tmp_path / "20-n.conflist").chmod(0o666)  # warned about by the typed loader
    assert lean_network(str(tmp_path), "n") is None


# -- the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize("command", PLAIN_COMMANDS)
def test_the_plain_form_reads_as_argparse_reads_it(command: str) -> None:
    for network, netns in (("net", "/run/netns/x"), ("", "rel/path"), ("a b", "é")):
        parsed = build_parser(command).parse_args([network, netns])
        parsed.command = command
        assert vars(plain_namespace([command, network, netns])) == vars(parsed)
    for args in ([command, "-i", "x"], [command, "n"], [command, "n", "ns", "extra"], ["gc", "n", "ns"]):
        assert plain_namespace(args) is None
    assert isinstance(build_parser(command), argparse.ArgumentParser)


def _state(cli: CLI) -> dict[str, Any]:
    files = {}
    for sub in ("results", "intents"):
        d = cli.cache / sub
        if d.is_dir():
            files.update({f"{sub}/{p.name}": p.read_bytes() for p in sorted(d.iterdir())})
    return files


def _both(cli: CLI, ns_file: str, script: list[tuple[str, dict[str, str]]]) -> list[Any]:
    """Run ``script`` (verb, extra env) on the fast path, then on the typed path (``--debug``),
    from the same empty cache; per step: exit status, stdout, the plugin calls, the cache files."""
    outcomes = []
    for typed in (False, True):
        steps = []
        for verb, env in script:
            cli.clear()
            args = (verb, "--debug", "net", ns_file) if typed else (verb, "net", ns_file)
            run = cli.run(*args, env=env)
            calls = [(Path(r.argv0).name, r.env, r.stdin) for r in cli.records()]
            error = run.err_lines[-1] if run.rc else ""
            steps.append((run.rc, run.stdout, error, calls, _state(cli)))
        outcomes.append(steps)
        for sub in ("results", "intents"):
            for p in (cli.cache / sub).glob("*") if (cli.cache / sub).is_dir() else ():
                p.unlink()
    return outcomes


_RESULT_020 = {"cniVersion": "0.2.0", "ip4": {"ip": "10.2.0.2/24", "gateway": "10.2.0.1"}, "dns": {}}
_RESULT_040 = {
    "cniVersion": "0.4.0",
    "interfaces": [{"name": "eth0", "sandbox": "/x"}],
    "ips": [{"version": "4", "interface": 0, "address": "10.4.0.2/24"}, {"address": "fd00::2/64"}],
    "dns": {"nameservers": ["10.4.0.1"], "search": ["a"]},
}
_ERROR = {"cniVersion": "1.0.0", "code": 7, "msg": "no", "details": "d"}


@pytest.mark.parametrize(
    ("version", "outputs"),
    [
        ("1.0.0", [result_100(), result_100("10.9.0.9/16"), result_100()]),
        ("1.1.0", [result_100(), None, _RESULT_040]),
        ("0.4.0", [_RESULT_040, _RESULT_040, result_100()]),
        ("0.3.1", [_RESULT_040, _RESULT_020, _RESULT_040]),
        ("1.0.0", [_RESULT_020, result_100(), _RESULT_020]),
        ("1.0.0", [result_100(), "not json", result_100()]),
        ("1.0.0", [result_100(), {"error": _ERROR}, result_100()]),
        ("0.2.0", [_RESULT_020, _RESULT_020, _RESULT_020]),
    ],
)
def test_add_and_del_on_the_fast_path_do_what_the_typed_path_does(
    cli: CLI, ns_file: str, version: str, outputs: list[Any]
) -> None:
    names = ("pa", "pb", "pc")
    for name, out in zip(names, outputs, strict=True):
        if isinstance(out, dict) and "error" in out:
            cli.plugin(name, stdout={"ADD": out["error"]}, exit_status={"ADD": 1})
        elif isinstance(out, str):
            cli.plugin(name, stdout={"ADD": out})
        else:
            cli.plugin(name, stdout={"ADD": out} if out is not None else {"ADD": "null"})
    conf = {
        "cniVersion": version,
        "name": "net",
        "plugins": [
            {"type": "pa", "opaque": {"keep": ["me", 1, 1.5, "é<&>"]}},
            {"type": "pb", "capabilities": {"portMappings": True, "bandwidth": False}, "ipam": {"type": "x"}},
            {"type": "pc", "dns": {"nameservers": ["1.1.1.1"]}},
        ],
    }
    cli.write_conf("10-net.conflist", conf)
    caps = json.dumps({"portMappings": [{"hostPort": 80, "containerPort": 8080}], "bandwidth": {"a": 1}})
    script = [
        ("add", {"CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=p", "CAP_ARGS": caps}),
        ("del", {}),  # with the ADD's arguments from the cache
        ("add", {"CNI_IFNAME": "net1"}),
        ("del", {"CNI_IFNAME": "net1", "CNI_ARGS": "X=1"}),
        ("del", {}),
    ]
    fast, typed = _both(cli, ns_file, script)
    assert fast == typed
    assert fast[0][3], "the plugins ran"


def test_add_takes_the_fast_path_only_for_what_it_can_judge(cli: CLI, ns_file: str) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.write_conf("10-net.conflist", {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "pa"}]})
    cli.write_conf("20-single.conf", {"cniVersion": "1.0.0", "name": "single", "type": "pa"})
    for network, fast in (("net", True), ("single", False)):
        proc = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "cnilib", "add", network, ns_file],
            env=cli.env({"COVERAGE_PROCESS_CONFIG": None}),  # coverage would import what is counted
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        loaded = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines()}
        heavy = {"attrs", "cattrs", "typing", "argparse", "hashlib", "cnilib._model._models"} & loaded
        assert (not heavy) if fast else {"attrs", "cattrs", "cnilib._model._models"} <= heavy, heavy
        assert json.loads(proc.stdout)["ips"][0]["address"] == "10.1.0.2/24"
    entry = json.loads((cli.cache / "results" / f"net-{cnitool_id(ns_file)}-eth0").read_bytes())
    assert entry["result"]["ips"] == [{"address": "10.1.0.2/24", "gateway": "10.1.0.1", "interface": 0}]


def test_the_fast_engine_in_process_does_what_cni_does(tmp_path: Path) -> None:
    from cnilib import CNI
    from cnilib._cli._fast._run import LeanEngine
    from cnilib.testing.plugins import recording_plugin

    log = tmp_path / "calls.log"
    recording_plugin(tmp_path / "bin", "pa", log=log, stdout={"ADD": result_100()})
    recording_plugin(tmp_path / "bin", "pb", log=log, stdout={"ADD": _RESULT_040})
    conf = {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "pa"}, {"type": "pb", "x": [1]}]}
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "10-net.conflist").write_text(json.dumps(conf))
    fields: dict[str, Any] = {"container_id": "c1", "netns": "/proc/self/ns/net", "args": (("A", "b"),)}
    seen = []
    for engine in ("fast", "typed"):
        cache = tmp_path / engine
        log.unlink(missing_ok=True)
        if engine == "fast":
            net: Any = lean_network(str(tmp_path / "conf"), "net")
            cni: Any = LeanEngine([str(tmp_path / "bin")], str(cache), None)
            rt: Any = LeanRuntime(**fields)
        else:
            net = load_network(tmp_path / "conf", "net")
            cni = CNI([str(tmp_path / "bin")], cache)
            rt = RuntimeConfig(**fields)
        printed = _ordered(cni.add(net, rt).to_dict())
        cached = _ordered(cni.cached_result(net, rt).to_dict())
        entry = (cache / "results" / "net-c1-eth0").read_bytes()
        cni.delete(net, rt)
        records = [(r.env, r.stdin) for r in recording_plugin(tmp_path / "r", "_reader", log=log).records()]
        seen.append((printed, cached, entry, records, sorted(p.name for p in (cache / "results").iterdir())))
    assert seen[0] == seen[1]
    assert len(seen[0][3]) == 4  # two ADDs, two DELs
