"""The ``cnilib`` command line, run as the real executable (a subprocess, never in-process).

Plugins here are fake ones written into ``tmp_path`` (recording shell scripts from
``cnilib.testing.plugins``), so nothing needs root: they touch no namespace, and a "netns" is just
a file that exists. ``test_cli_real.py`` runs the real plugins in sandbox namespaces and
``test_cli_go.py`` compares the output with Go's cnitool behaviour (cnigo).

The module-level helpers (``CLI``, ``Run``, ``cnitool_id``) are shared with those two modules.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from engine_support import netns_link

import cnilib
from cnilib.testing.plugins import (
    PluginRecord,
    crashing_plugin,
    exiting_plugin,
    hanging_plugin,
    recording_plugin,
)

# -- helpers shared with test_cli_real.py and test_cli_go.py ------------------------------------

_SCRIPT = Path(sys.executable).with_name("cnilib")
#: The installed console script (next to the interpreter), else ``python -m cnilib``.
CNILIB: tuple[str, ...] = (str(_SCRIPT),) if _SCRIPT.is_file() else (sys.executable, "-m", "cnilib")

#: Variables the CLI (or cnitool) reads; scrubbed from the inherited environment of every run.
CLI_VARS = (
    "NETCONFPATH",
    "CNI_PATH",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CAP_ARGS",
    "CNI_CONTAINERID",
    "CNI_CACHE_DIR",
    "CNI_TIMEOUT",
    "DOCKER_HOST",
    "CNI_COMMAND",
    "CNI_NETNS",
)


def cnitool_id(netns: str) -> str:
    """cnitool's container id for an absolute netns path."""
    return "cnitool-" + hashlib.sha512(netns.encode()).digest()[:10].hex()


class Run:
    """A finished run: exit status, raw stdout bytes, and both streams as text."""

    def __init__(self, proc: subprocess.CompletedProcess[bytes]) -> None:
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.out = proc.stdout.decode()
        self.err = proc.stderr.decode()

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __repr__(self) -> str:
        return f"<Run rc={self.rc} out={self.out[:300]!r} err={self.err[:600]!r}>"


class CLI:
    """A sandbox of files for the CLI: configuration, plugin and cache directories under ``root``.

    ``plugin_dirs`` default to ``root/bin``; ``prefix`` (e.g. ``nsenter --net=... --``) runs the
    command inside another network namespace, as the real tests do.
    """

    def __init__(
        self,
        root: Path,
        *,
        plugin_dirs: Sequence[str | os.PathLike[str]] | None = None,
        prefix: Sequence[str] = (),
        program: Sequence[str] = CNILIB,
    ) -> None:
        self.root = root
        self.conf = root / "conf"
        self.bin = root / "bin"
        self.cache = root / "cache"
        self.log = root / "calls.log"
        for d in (self.conf, self.bin):
            d.mkdir(parents=True, exist_ok=True)
        dirs = plugin_dirs if plugin_dirs is not None else [self.bin]
        self.cni_path = ":".join(os.fspath(d) for d in dirs)
        self.prefix = tuple(prefix)
        self.program = tuple(program)

    def env(self, extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in CLI_VARS}
        env.update(NETCONFPATH=str(self.conf), CNI_PATH=self.cni_path, CNI_CACHE_DIR=str(self.cache))
        for key, value in (extra or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    def run(
        self,
        *args: str,
        env: Mapping[str, str | None] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        timeout: float = 120.0,
        program: Sequence[str] | None = None,
    ) -> Run:
        argv = [*self.prefix, *(program or self.program), *args]
        proc = subprocess.run(
            argv, env=self.env(env), cwd=cwd, capture_output=True, timeout=timeout, check=False
        )
        return Run(proc)

    def write_conf(self, filename: str, obj: Mapping[str, Any] | str) -> Path:
        path = self.conf / filename
        path.write_text(obj if isinstance(obj, str) else json.dumps(obj, indent=2))
        return path

    def plugin(self, name: str, **kw: Any) -> None:
        """A recording plugin in ``bin`` logging to the shared log."""
        recording_plugin(self.bin, name, log=self.log, **kw)

    def records(self) -> list[PluginRecord]:
        """Every recorded call of every recording plugin, in order."""
        return recording_plugin(self.bin, "_reader", log=self.log).records()

    def calls(self) -> list[tuple[str, str]]:
        """(plugin, verb) of every recorded call."""
        return [(Path(r.argv0).name, r.verb) for r in self.records()]

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)

    def cache_files(self) -> list[str]:
        d = self.cache / "results"
        return sorted(p.name for p in d.iterdir() if not p.name.startswith(".")) if d.is_dir() else []


def result_100(address: str = "10.1.0.2/24", *, name: str = "eth0") -> dict[str, Any]:
    gw = address.rsplit(".", 1)[0] + ".1"
    return {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": name, "mac": "0a:58:0a:01:00:02", "sandbox": "/run/netns/x"}],
        "ips": [{"interface": 0, "address": address, "gateway": gw}],
        "routes": [{"dst": "0.0.0.0/0", "gw": gw}],
        "dns": {"nameservers": ["10.1.0.53"]},
    }


# -- fixtures -----------------------------------------------------------------------------------


# ``cli`` and ``ns_file`` are in conftest.py (test_lean.py uses them too).


@pytest.fixture
def three(cli: CLI) -> CLI:
    """A 1.0.0 list ``three``: plugins a, b (portMappings capability), c, all recording."""
    for name in ("pa", "pb", "pc"):
        cli.plugin(name, stdout={"ADD": result_100()})
    cli.write_conf(
        "10-three.conflist",
        {
            "cniVersion": "1.0.0",
            "name": "three",
            "plugins": [
                {"type": "pa", "opaque": {"keep": ["me", 1]}},
                {"type": "pb", "capabilities": {"portMappings": True, "bandwidth": False}},
                {"type": "pc"},
            ],
        },
    )
    return cli


def one_line_error(run: Run) -> str:
    """The run failed with status 1 and exactly one line on stderr; return it."""
    assert run.rc == 1, run
    assert len(run.err_lines) == 1, run
    assert run.out == ""
    line = run.err_lines[0]
    assert line.startswith("cnilib: ")
    return line


# -- help, version, usage ---------------------------------------------------------------------


def test_help_lists_every_command_environment_variable_and_exit_status(cli: CLI) -> None:
    run = cli.run("--help")
    assert run.rc == 0
    for word in (
        "add",
        "check",
        "del",
        "gc",
        "status",
        "validate",
        "explain",
        "version",
        "cache list|show",
        "docker attach|detach",
        "NETCONFPATH",
        "CNI_PATH",
        "CNI_IFNAME",
        "CNI_ARGS",
        "CAP_ARGS",
        "CNI_CONTAINERID",
        "CNI_CACHE_DIR",
        "CNI_TIMEOUT",
        "DOCKER_HOST",
        "--ifname",
        "--debug",
        "--json",
        "--timeout",
        "--cache-dir",
    ):
        assert word in run.out, word
    assert "exit status:" in run.out
    for code in ("0  success", "1  failure", "2  usage error"):
        assert code in run.out


@pytest.mark.parametrize(
    "command", ["add", "check", "del", "gc", "status", "validate", "explain", "version", "cache", "docker"]
)
def test_every_command_has_help(cli: CLI, command: str) -> None:
    run = cli.run(command, "--help")
    assert run.rc == 0, run
    assert run.out.startswith(f"usage: cnilib {command}")


def test_version_flag_and_python_m(cli: CLI) -> None:
    expected = f"cnilib {cnilib.__version__}\n"
    assert cli.run("--version").out == expected
    assert cli.run("--version", program=[sys.executable, "-m", "cnilib"]).out == expected
    assert cli.run("add", "--version").out == expected


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "required: COMMAND"),
        (("frobnicate", "net", "ns"), {}, "invalid choice: 'frobnicate'"),
        (("add", "net"), {}, "required: NETNS"),
        (("add",), {}, "required: NETWORK, NETNS"),
        (("check", "net", "ns", "extra"), {}, "unrecognized arguments: extra"),
        (("--timeout", "0", "add", "net", "ns"), {}, "must be a positive number"),
        (("add", "net", "ns", "--timeout", "soon"), {}, "not a number"),
        (("add", "net", "ns"), {"CNI_TIMEOUT": "-1"}, "CNI_TIMEOUT"),
        (("explain", "add", "net"), {}, "explain add needs NETNS"),
        (("explain", "nuke", "net", "ns"), {}, "invalid choice: 'NUKE'"),
        (("gc", "net", "--keep", "nocolon"), {}, "CONTAINER_ID:IFNAME"),
        (("cache",), {}, "required: list|show"),
        (("cache", "show", "net"), {}, "NETNS argument or --container-id"),
        (("docker", "attach", "ctr"), {}, "required: NETWORK"),
    ],
)
def test_usage_errors_exit_2(cli: CLI, args: tuple[str, ...], env: dict[str, str], message: str) -> None:
    cli.plugin("pa")
    cli.write_conf("10-net.conflist", {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "pa"}]})
    run = cli.run(*args, env=env, cwd=cli.root)
    assert run.rc == 2, run
    assert message in run.err
    assert run.out == ""
    assert cli.records() == []  # nothing ran


_MODULES_AFTER = (
    "import json, sys\n"
    "from cnilib._cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "finally:\n"
    "    sys.stdout.flush()\n"
    "    sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')\n"
)


def modules_loaded_by(cli: CLI, *args: str) -> set[str]:
    """Every module loaded once ``cnilib ARGS`` has finished (run in a fresh interpreter).

    ``-X importtime`` would miss the engine: the package loads it with importlib.import_module.
    """
    proc = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, *args],
        capture_output=True,
        env=cli.env({"COVERAGE_PROCESS_CONFIG": None}),  # the test run's coverage imports its own
        check=False,
    )
    marker = proc.stderr.decode().rsplit("\nMODULES ", 1)[1]
    return set(json.loads(marker))


def test_help_and_version_load_nothing_heavy(cli: CLI) -> None:
    # The CLI's own startup: argparse and the package, never the engine, asyncio or httpx.
    for args in (("--help",), ("--version",), ("add", "--help"), ("bogus",)):
        loaded = modules_loaded_by(cli, *args)
        assert "cnilib._cli" in loaded
        for heavy in (
            "cnilib._engine",
            "cnilib._exec",
            "cnilib._cache",
            "cnilib._model._config",
            "asyncio",
            "httpx",
            "concurrent.futures",
            "shutil",
            "cnilib.docker",
        ):
            assert heavy not in loaded, (args, heavy)


def test_add_of_unknown_network_loads_neither_engine_nor_docker(cli: CLI) -> None:
    loaded = modules_loaded_by(cli, "add", "nope", "/ns")
    assert "cnilib._model._config" in loaded
    # The engine's package holds the plain values the fast loader builds (``_plain``): nothing else
    # of it (plans, drivers, the front) loads.
    engine = {m for m in loaded if m.startswith("cnilib._engine")}
    assert engine <= {"cnilib._engine", "cnilib._engine._plain"}, engine
    assert not {"httpx", "cnilib.docker"} & loaded


def test_help_imports_logged_by_importtime(cli: CLI) -> None:
    # The measurement the issue asks for: `python -X importtime -m cnilib --help`.
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cnilib", "--help"],
        capture_output=True,
        env=cli.env({"COVERAGE_PROCESS_CONFIG": None}),
        check=False,
    )
    assert proc.returncode == 0
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.decode().splitlines()}
    assert {"cnilib", "cnilib._cli", "argparse"} <= imported
    assert not {"asyncio", "httpx", "shutil", "concurrent.futures", "ssl"} & imported


# -- add: output, container id, environment -----------------------------------------------------


def test_add_prints_the_result_exactly_like_cnitool(cli: CLI, ns_file: str) -> None:
    result = result_100()
    result["interfaces"][0]["sandbox"] = "/run/netns/a<b>&c\u2028é"
    result["extra"] = "dropped, as Go's typed result drops it"
    cli.plugin("pa", stdout={"ADD": result})
    cli.write_conf("10-net.conflist", {"cniVersion": "1.0.0", "name": "net", "plugins": [{"type": "pa"}]})
    run = cli.run("add", "net", ns_file)
    assert run.rc == 0, run
    assert run.err == ""
    # json.MarshalIndent(result, "", "    "): Go's field order, HTML-safe escapes, no newline.
    expected = (
        "{\n"
        '    "cniVersion": "1.0.0",\n'
        '    "interfaces": [\n'
        "        {\n"
        '            "name": "eth0",\n'
        '            "mac": "0a:58:0a:01:00:02",\n'
        '            "sandbox": "/run/netns/a\\u003cb\\u003e\\u0026c\\u2028é"\n'
        "        }\n"
        "    ],\n"
        '    "ips": [\n'
        "        {\n"
        '            "interface": 0,\n'
        '            "address": "10.1.0.2/24",\n'
        '            "gateway": "10.1.0.1"\n'
        "        }\n"
        "    ],\n"
        '    "routes": [\n'
        "        {\n"
        '            "dst": "0.0.0.0/0",\n'
        '            "gw": "10.1.0.1"\n'
        "        }\n"
        "    ],\n"
        '    "dns": {\n'
        '        "nameservers": [\n'
        '            "10.1.0.53"\n'
        "        ]\n"
        "    }\n"
        "}"
    )
    assert run.out == expected


@pytest.mark.parametrize(
    ("version", "result", "expected"),
    [
        (
            "0.2.0",
            {"cniVersion": "0.2.0", "ip4": {"ip": "10.2.0.5/16"}},
            '{\n    "cniVersion": "0.2.0",\n    "ip4": {\n        "ip": "10.2.0.5/16"\n    },\n'
            '    "dns": {}\n}',
        ),
        (
            "0.4.0",
            {"cniVersion": "0.4.0", "ips": [{"version": "4", "address": "10.2.0.5/16"}]},
            '{\n    "cniVersion": "0.4.0",\n    "ips": [\n        {\n            "version": "4",\n'
            '            "address": "10.2.0.5/16"\n        }\n    ],\n    "dns": {}\n}',
        ),
    ],
)
def test_add_output_of_older_result_shapes(
    cli: CLI, ns_file: str, version: str, result: dict[str, Any], expected: str
) -> None:
    cli.plugin("pa", stdout={"ADD": result})
    cli.write_conf("n.conf", {"cniVersion": version, "name": "old", "type": "pa"})
    run = cli.run("add", "old", ns_file)
    assert run.rc == 0, run
    assert run.out == expected


def test_add_with_a_null_result_prints_nothing(cli: CLI, ns_file: str) -> None:
    cli.plugin("pa", stdout={"ADD": "null"})
    cli.write_conf("n.conf", {"cniVersion": "1.0.0", "name": "n", "type": "pa"})
    run = cli.run("add", "n", ns_file)
    assert (run.rc, run.out, run.err) == (0, "", "")


def test_container_id_is_derived_from_the_absolute_netns_path(cli: CLI, ns_file: str, tmp_path: Path) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.write_conf("n.conf", {"cniVersion": "1.0.0", "name": "n", "type": "pa"})
    # relative to the working directory, with ./, .. and a doubled slash: Go's filepath.Abs
    for arg in ("netns/ctr1", "./netns/../netns/ctr1", f"/{ns_file}", f"{tmp_path}/netns//ctr1"):
        cli.clear()
        assert cli.run("add", "n", arg, cwd=tmp_path).rc == 0
        [rec] = cli.records()
        assert rec.env["CNI_NETNS"] == ns_file
        assert rec.env["CNI_CONTAINERID"] == cnitool_id(ns_file)
        assert cli.cache_files() == [f"n-{cnitool_id(ns_file)}-eth0"]
        assert cli.run("del", "n", arg, cwd=tmp_path).rc == 0  # (a second ADD would be refused)


def test_container_id_of_a_netns_path_that_is_not_utf8() -> None:
    # cnitool hashes the path's bytes; Python holds undecodable bytes as surrogate escapes.
    from cnilib._cli import container_id_for

    raw = b"/run/netns/ctr-\xff\xfe"
    expected = "cnitool-" + hashlib.sha512(raw).digest()[:10].hex()
    assert container_id_for(os.fsdecode(raw)) == expected


def test_environment_reaches_the_plugins_like_cnitool(three: CLI, ns_file: str) -> None:
    cap = {
        "portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}],
        "bandwidth": {"ingressRate": 1},
    }
    run = three.run(
        "add",
        "three",
        ns_file,
        env={
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web",
            "CAP_ARGS": json.dumps(cap),
            "CNI_IFNAME": "net7",
        },
    )
    assert run.rc == 0, run
    recs = three.records()
    assert [Path(r.argv0).name for r in recs] == ["pa", "pb", "pc"]
    for rec in recs:
        assert rec.env == {
            "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": cnitool_id(ns_file),
            "CNI_NETNS": ns_file,
            "CNI_IFNAME": "net7",
            "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=web",
            "CNI_PATH": str(three.bin),
        }
    # only the enabled capability reaches the plugin that enables it; opaque keys survive
    assert recs[0].config["opaque"] == {"keep": ["me", 1]}
    assert "runtimeConfig" not in recs[0].config
    assert recs[1].config["runtimeConfig"] == {"portMappings": cap["portMappings"]}
    assert "runtimeConfig" not in recs[2].config
    entry = json.loads((three.cache / "results" / f"three-{cnitool_id(ns_file)}-net7").read_bytes())
    assert entry["cniArgs"] == [["IgnoreUnknown", "1"], ["K8S_POD_NAME", "web"]]
    assert entry["capabilityArgs"] == cap  # the cache keeps them all, unfiltered (libcni)


def test_options_win_over_the_environment(three: CLI, ns_file: str, tmp_path: Path) -> None:
    other_cache = tmp_path / "other-cache"
    run = three.run(
        "--ifname",
        "opt0",
        "add",
        "three",
        ns_file,
        "--container-id",
        "ctr-from-option",
        "--cache-dir",
        str(other_cache),
        "--conf-dir",
        str(three.conf),
        "--cni-path",
        str(three.bin),
        env={
            "CNI_IFNAME": "env0",
            "CNI_CONTAINERID": "ctr-from-env",
            "NETCONFPATH": "/nonexistent",
            "CNI_PATH": "/nonexistent",
            "CNI_CACHE_DIR": "/nonexistent",
        },
    )
    assert run.rc == 0, run
    rec = three.records()[0]
    assert rec.env["CNI_IFNAME"] == "opt0"
    assert rec.env["CNI_CONTAINERID"] == "ctr-from-option"
    assert (other_cache / "results" / "three-ctr-from-option-opt0").is_file()
    three.clear()
    assert three.run("add", "three", ns_file, "-i", "short1", env={"CNI_CONTAINERID": "ctr-from-env"}).rc == 0
    rec = three.records()[0]
    assert (rec.env["CNI_IFNAME"], rec.env["CNI_CONTAINERID"]) == ("short1", "ctr-from-env")


def test_default_ifname_is_eth0_and_set_but_empty_is_an_error(three: CLI, ns_file: str) -> None:
    assert three.run("add", "three", ns_file, env={"CNI_IFNAME": None}).rc == 0
    assert three.records()[0].env["CNI_IFNAME"] == "eth0"
    three.clear()
    line = one_line_error(three.run("add", "three", ns_file, env={"CNI_IFNAME": ""}))
    assert "CNI_IFNAME is set but empty" in line
    assert three.records() == []


# -- bad input: one line, exit 1, nothing run ---------------------------------------------------


@pytest.mark.parametrize("value", ["A", "A=", "=B", "A=B=C", "A=1;", ";", "A=1;;B=2", "A=1;B"])
def test_malformed_cni_args(three: CLI, ns_file: str, value: str) -> None:
    line = one_line_error(three.run("add", "three", ns_file, env={"CNI_ARGS": value}))
    assert "invalid CNI_ARGS pair" in line
    assert line.startswith("cnilib: add three: ")
    assert three.records() == []


@pytest.mark.parametrize("value", ["[1]", "{", '"text"', "1", "{'a': 1}"])
def test_malformed_cap_args(three: CLI, ns_file: str, value: str) -> None:
    line = one_line_error(three.run("add", "three", ns_file, env={"CAP_ARGS": value}))
    assert "invalid CAP_ARGS" in line
    assert three.records() == []


def test_cap_args_null_is_no_capability_args(three: CLI, ns_file: str) -> None:
    assert three.run("add", "three", ns_file, env={"CAP_ARGS": "null"}).rc == 0
    assert "runtimeConfig" not in three.records()[1].config


def test_unknown_network_names_it_and_the_directory(three: CLI, ns_file: str) -> None:
    line = one_line_error(three.run("add", "nope", ns_file))
    assert f"no network named 'nope' in {three.conf}" in line


def test_missing_configuration_directory(three: CLI, ns_file: str, tmp_path: Path) -> None:
    line = one_line_error(three.run("add", "three", ns_file, env={"NETCONFPATH": str(tmp_path / "absent")}))
    assert "the directory does not exist" in line
    assert str(tmp_path / "absent") in line


def test_unreadable_configuration_directory(three: CLI, ns_file: str, tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    line = one_line_error(three.run("del", "three", ns_file, env={"NETCONFPATH": str(not_a_dir)}))
    assert f"{not_a_dir}: cannot read configuration directory" in line


def test_invalid_configuration_names_the_file_and_the_field(cli: CLI, ns_file: str) -> None:
    path = cli.write_conf(
        "10-bad.conflist", {"cniVersion": "1.0.0", "name": "bad", "plugins": [{"type": "pa"}, {"notype": 1}]}
    )
    line = one_line_error(cli.run("add", "bad", ns_file))
    assert str(path) in line
    assert "$.plugins[1]" in line


def test_missing_netns_fails_add_and_check_but_not_del(three: CLI, tmp_path: Path) -> None:
    gone = str(tmp_path / "no-such-netns")
    for verb in ("add", "check"):
        line = one_line_error(three.run(verb, "three", gone))
        assert f"network namespace {gone} does not exist" in line
    assert three.records() == []
    # DEL must still clean up after the namespace has gone (IPAM, host side): it runs.
    run = three.run("del", "three", gone)
    assert run.rc == 0, run
    assert three.calls() == [("pc", "DEL"), ("pb", "DEL"), ("pa", "DEL")]


def test_plugin_failure_is_one_line_naming_plugin_verb_code_message_and_stderr(
    cli: CLI, ns_file: str
) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.plugin(
        "pb",
        stdout={"ADD": {"cniVersion": "1.0.0", "code": 7, "msg": "bad subnet", "details": "10.0.0.0/33"}},
        stderr={"ADD": "first line\nsecond line\n"},
        exit_status={"ADD": 1},
    )
    cli.write_conf(
        "10-f.conflist", {"cniVersion": "1.0.0", "name": "f", "plugins": [{"type": "pa"}, {"type": "pb"}]}
    )
    line = one_line_error(cli.run("add", "f", ns_file))
    for part in (
        "add f:",
        "plugin 'pb'",
        "ADD",
        "CNI error 7",
        "INVALID_NETWORK_CONFIG",
        "bad subnet",
        "10.0.0.0/33",
        "exit status 1",
        "first line",
        "second line",
    ):
        assert part in line, part
    assert cli.cache_files() == []  # a failed ADD writes no cache entry


def test_plugin_not_found_names_plugin_and_directories(three: CLI, ns_file: str, tmp_path: Path) -> None:
    line = one_line_error(three.run("add", "three", ns_file, env={"CNI_PATH": f"{tmp_path}/x:{tmp_path}/y"}))
    assert f"failed to find plugin 'pa' in path [{tmp_path}/x, {tmp_path}/y]" in line


def test_plugin_killed_by_a_signal(cli: CLI, ns_file: str) -> None:
    crashing_plugin(cli.bin, "boom", stderr="dying\n")
    cli.write_conf("b.conf", {"cniVersion": "1.0.0", "name": "b", "type": "boom"})
    line = one_line_error(cli.run("add", "b", ns_file))
    assert "plugin 'boom'" in line
    assert "SIGSEGV" in line
    assert "dying" in line


def test_plugin_printing_garbage(cli: CLI, ns_file: str) -> None:
    exiting_plugin(cli.bin, "junk", stdout=b"\xffnot json", exit_status=0)
    cli.write_conf("j.conf", {"cniVersion": "1.0.0", "name": "j", "type": "junk"})
    line = one_line_error(cli.run("add", "j", ns_file))
    assert "plugin 'junk' (ADD" in line
    assert "invalid result" in line


@pytest.mark.parametrize("how", ["option", "env"])
def test_timeout_kills_a_hung_plugin(cli: CLI, ns_file: str, tmp_path: Path, how: str) -> None:
    hanging_plugin(cli.bin, "hang", tmp_path / "pids")
    cli.write_conf("h.conf", {"cniVersion": "1.0.0", "name": "h", "type": "hang"})
    args = ("--timeout", "0.5") if how == "option" else ()
    started = time.monotonic()
    run = cli.run("add", "h", ns_file, *args, env={"CNI_TIMEOUT": "0.5"} if how == "env" else {})
    assert time.monotonic() - started < 20
    line = one_line_error(run)
    assert "plugin 'hang'" in line
    # The limit the user set, not the time that was left for this plugin (0.5 s less a little).
    assert "plugin 'hang' (ADD, container " in line
    assert "timed out after 0.5s and was killed with its process group" in line
    for name in ("pid", "child.pid"):
        pid = int((tmp_path / "pids" / name).read_text())
        assert not _alive(pid), name


def test_del_names_the_limit_and_the_plugins_it_left_no_time(cli: CLI, ns_file: str, tmp_path: Path) -> None:
    # DEL runs every plugin's DEL: the first hangs until the limit, the second then never starts.
    hanging_plugin(cli.bin, "hang", tmp_path / "pids")
    cli.plugin("pa")
    plugins = [{"type": "pa"}, {"type": "hang"}]
    cli.write_conf("h.conflist", {"cniVersion": "1.0.0", "name": "h", "plugins": plugins})
    line = one_line_error(cli.run("del", "h", ns_file, "--timeout", "0.5"))
    assert "plugins[1] (hang): plugin 'hang' (DEL, container " in line
    assert "timed out after 0.5s and was killed with its process group" in line
    assert "plugins[0] (pa): plugin 'pa' (DEL, container " in line
    assert "was not started: the time limit of 0.5s had run out" in line
    assert "timed out after 0s" not in line


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:  # gone before the open, or between the open and the read (ESRCH)
        return False


# -- add, check, del, the cache -------------------------------------------------------------------


def test_add_check_del_with_the_cache(three: CLI, ns_file: str) -> None:
    cid = cnitool_id(ns_file)
    run = three.run("add", "three", ns_file, env={"CNI_ARGS": "A=1"})
    assert run.rc == 0, run
    assert three.cache_files() == [f"three-{cid}-eth0"]
    path = three.cache / "results" / f"three-{cid}-eth0"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert oct((three.cache / "results").stat().st_mode & 0o777) == "0o700"
    entry = json.loads(path.read_bytes())
    assert list(entry) == [
        "kind",
        "containerId",
        "config",
        "ifName",
        "networkName",
        "netns",
        "cniArgs",
        "result",
    ]
    assert entry["kind"] == "cniCacheV1"
    assert entry["result"] == json.loads(json.dumps(result_100()))
    assert json.loads(base64.b64decode(entry["config"]))["name"] == "three"

    three.clear()
    assert three.run("check", "three", ns_file, env={"CNI_ARGS": "A=1"}).rc == 0
    recs = three.records()
    assert [(Path(r.argv0).name, r.verb) for r in recs] == [("pa", "CHECK"), ("pb", "CHECK"), ("pc", "CHECK")]
    assert all(r.config["prevResult"] == entry["result"] for r in recs)

    three.clear()
    assert three.run("del", "three", ns_file).rc == 0
    recs = three.records()
    assert [(Path(r.argv0).name, r.verb) for r in recs] == [("pc", "DEL"), ("pb", "DEL"), ("pa", "DEL")]
    assert all(r.config["prevResult"] == entry["result"] for r in recs)
    assert three.cache_files() == []
    run = three.run("del", "three", ns_file)  # DEL twice succeeds
    assert (run.rc, run.out, run.err) == (0, "", "")


def test_failed_add_midway_leaves_no_cache_and_del_runs_every_plugin(cli: CLI, ns_file: str) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.plugin(
        "pb", stdout={"ADD": {"cniVersion": "1.0.0", "code": 11, "msg": "busy"}}, exit_status={"ADD": 1}
    )
    cli.plugin("pc", stdout={"ADD": result_100()})
    cli.write_conf(
        "10-m.conflist",
        {"cniVersion": "1.0.0", "name": "m", "plugins": [{"type": "pa"}, {"type": "pb"}, {"type": "pc"}]},
    )
    line = one_line_error(cli.run("add", "m", ns_file))
    assert "CNI error 11 TRY_AGAIN_LATER: busy" in line
    assert cli.calls() == [("pa", "ADD"), ("pb", "ADD")]
    assert cli.cache_files() == []
    cli.clear()
    run = cli.run("del", "m", ns_file)
    assert (run.rc, run.out, run.err) == (0, "", "")
    # like cnitool: DEL for every plugin, in reverse, without a prevResult (nothing was cached)
    assert cli.calls() == [("pc", "DEL"), ("pb", "DEL"), ("pa", "DEL")]
    assert all("prevResult" not in r.config for r in cli.records())


def test_check_needs_version_0_4_0(cli: CLI, ns_file: str) -> None:
    cli.plugin("pa", stdout={"ADD": {"cniVersion": "0.3.1", "ips": []}})
    cli.write_conf("o.conf", {"cniVersion": "0.3.1", "name": "o", "type": "pa"})
    assert cli.run("add", "o", ns_file).rc == 0
    line = one_line_error(cli.run("check", "o", ns_file))
    assert "does not support CHECK" in line


def test_check_disabled_runs_nothing(cli: CLI, ns_file: str) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.write_conf(
        "d.conflist", {"cniVersion": "1.0.0", "name": "d", "disableCheck": True, "plugins": [{"type": "pa"}]}
    )
    assert cli.run("add", "d", ns_file).rc == 0
    cli.clear()
    assert cli.run("check", "d", ns_file).rc == 0
    assert cli.records() == []


# -- status and gc --------------------------------------------------------------------------------


def test_status(cli: CLI, tmp_path: Path) -> None:
    cli.plugin("pa")
    cli.plugin(
        "pb",
        stdout={"STATUS": {"cniVersion": "1.1.0", "code": 50, "msg": "no IPs left"}},
        exit_status={"STATUS": 1},
    )
    cli.write_conf(
        "10-s.conflist", {"cniVersion": "1.1.0", "name": "s", "plugins": [{"type": "pa"}, {"type": "pa"}]}
    )
    cli.write_conf(
        "20-t.conflist",
        {"cniVersion": "1.1.0", "name": "t", "plugins": [{"type": "pa"}, {"type": "pb"}, {"type": "pa"}]},
    )
    cli.write_conf("30-old.conflist", {"cniVersion": "1.0.0", "name": "old", "plugins": [{"type": "pb"}]})
    run = cli.run("status", "s", "/ignored/netns")
    assert (run.rc, run.out, run.err) == (0, "", "")
    recs = cli.records()
    assert [r.verb for r in recs] == ["STATUS", "STATUS"]
    assert recs[0].env == {
        "CNI_COMMAND": "STATUS",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "",
        "CNI_ARGS": "",
        "CNI_IFNAME": "",
        "CNI_PATH": str(cli.bin),
    }
    assert recs[0].config == {"type": "pa", "name": "s", "cniVersion": "1.1.0"}
    cli.clear()
    line = one_line_error(cli.run("status", "t"))
    assert "CNI error 50 PLUGIN_NOT_AVAILABLE: no IPs left" in line
    assert cli.calls() == [("pa", "STATUS"), ("pb", "STATUS")]  # stops at the first error
    cli.clear()
    assert cli.run("status", "old").rc == 0  # STATUS does not exist before 1.1.0: nothing runs
    assert cli.records() == []


def _netns_files(tmp_path: Path, *names: str) -> list[str]:
    return [netns_link(tmp_path / "ns" / n) for n in names]


def test_gc_1_1_0_deletes_unkept_attachments_then_sends_gc(cli: CLI, tmp_path: Path) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.write_conf("g.conflist", {"cniVersion": "1.1.0", "name": "g", "plugins": [{"type": "pa"}]})
    cli.write_conf("h.conflist", {"cniVersion": "1.1.0", "name": "h", "plugins": [{"type": "pa"}]})
    a, b, c = _netns_files(tmp_path, "a", "b", "c")
    for ns in (a, b, c):
        assert cli.run("add", "g", ns).rc == 0
    assert cli.run("add", "h", a).rc == 0  # another network: GC of g leaves it alone
    cli.clear()
    run = cli.run("gc", "g", a, "--keep", f"{cnitool_id(a)}:eth0", "--keep", "other:eth9")
    assert (run.rc, run.out) == (0, "")
    # On stderr: what it removed (in the cache's order), and the --keep that matches nothing here.
    removed, unmatched = run.err_lines
    prefix = "cnilib: gc g: removed 2 cached attachment(s) not kept: "
    assert removed.startswith(prefix)
    assert sorted(removed[len(prefix) :].split(", ")) == sorted(
        [f"{cnitool_id(b)}:eth0 (netns {b})", f"{cnitool_id(c)}:eth0 (netns {c})"]
    )
    assert unmatched == (
        "cnilib: gc g: warning: --keep other:eth9 matches no attachment of network 'g' "
        f"(kept: {cnitool_id(a)}:eth0)"
    )
    recs = cli.records()
    dels = sorted(r.env["CNI_CONTAINERID"] for r in recs if r.verb == "DEL")
    assert dels == sorted([cnitool_id(b), cnitool_id(c)])
    [gc] = [r for r in recs if r.verb == "GC"]
    assert recs[-1].verb == "GC"  # after the DELs
    assert gc.env == {
        "CNI_COMMAND": "GC",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "",
        "CNI_ARGS": "",
        "CNI_IFNAME": "",
        "CNI_PATH": str(cli.bin),
    }
    assert gc.config["cni.dev/valid-attachments"] == [
        {"containerID": cnitool_id(a), "ifname": "eth0"},
        {"containerID": "other", "ifname": "eth9"},
    ]
    assert cli.cache_files() == sorted([f"g-{cnitool_id(a)}-eth0", f"h-{cnitool_id(a)}-eth0"])
    # cnitool's gc keeps nothing
    cli.clear()
    assert cli.run("gc", "g", a).rc == 0
    assert cli.calls() == [("pa", "DEL"), ("pa", "GC")]
    assert cli.cache_files() == [f"h-{cnitool_id(a)}-eth0"]


def test_gc_before_1_1_0_deletes_like_libcni_and_sends_no_gc(cli: CLI, tmp_path: Path) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.write_conf(
        "g.conflist", {"cniVersion": "1.0.0", "name": "g", "plugins": [{"type": "pa"}, {"type": "pa"}]}
    )
    a, b = _netns_files(tmp_path, "a", "b")
    for ns in (a, b):
        assert cli.run("add", "g", ns, env={"CNI_ARGS": "K=V"}).rc == 0
    cli.clear()
    run = cli.run("gc", "g", a, "--keep", f"{cnitool_id(b)}:eth0")
    assert run.rc == 0, run
    recs = cli.records()
    assert [r.verb for r in recs] == ["DEL", "DEL"]
    assert {r.env["CNI_CONTAINERID"] for r in recs} == {cnitool_id(a)}
    assert recs[0].env["CNI_ARGS"] == "K=V"  # the cached args are used
    assert recs[0].env["CNI_NETNS"] == a
    assert cli.cache_files() == [f"g-{cnitool_id(b)}-eth0"]


def test_gc_disabled_runs_nothing(cli: CLI, tmp_path: Path) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    for version in ("1.0.0", "1.1.0"):
        name = f"d{version.replace('.', '')}"
        cli.write_conf(
            f"{name}.conflist",
            {"cniVersion": version, "name": name, "disableGC": True, "plugins": [{"type": "pa"}]},
        )
        [a] = _netns_files(tmp_path, name)
        assert cli.run("add", name, a).rc == 0
        cli.clear()
        assert cli.run("gc", name).rc == 0
        assert cli.records() == []


# -- --debug ----------------------------------------------------------------------------------------


def test_debug_shows_each_plugin_run_on_stderr(three: CLI, ns_file: str) -> None:
    plain = three.run("add", "three", ns_file, "--container-id", "plain")
    run = three.run("--debug", "add", "three", ns_file, "--container-id", "dbg", env={"CNI_ARGS": "A=1"})
    assert run.rc == 0, run
    assert run.out == plain.out  # stdout stays what cnitool prints
    err = run.err
    for i, name in enumerate(("pa", "pb", "pc")):
        assert f"cnilib: --- ADD plugins[{i}] {name} (network three): exit status 0, " in err
        assert f"  path: {three.bin / name}" in err
    assert err.count("    CNI_COMMAND=ADD") == 3
    assert "    CNI_CONTAINERID=dbg" in err
    assert "    CNI_ARGS=A=1" in err
    assert '        "opaque": {' in err  # stdin, indented
    assert '        "prevResult": {' in err
    assert '"nameservers": ["10.1.0.53"]' in err  # the plugin's stdout as printed
    assert err.count("  stderr:\n    (empty)") == 3
    assert " ms\n" in err


def test_debug_on_failure_shows_the_failing_run(cli: CLI, ns_file: str) -> None:
    cli.plugin("pa", stdout={"ADD": '{"code": 4, "msg": "nope"}'}, stderr="why: because\n", exit_status=1)
    cli.write_conf("f.conf", {"cniVersion": "1.0.0", "name": "f", "type": "pa"})
    run = cli.run("add", "f", ns_file, "--debug")
    assert run.rc == 1
    assert "cnilib: --- ADD plugins[0] pa (network f): exit status 1" in run.err
    assert "    why: because" in run.err
    assert "  error: plugin 'pa' (ADD" in run.err
    assert run.err_lines[-1].startswith("cnilib: add f: plugin 'pa'")


# -- validate ---------------------------------------------------------------------------------------


def _versions(*supported: str) -> dict[str, Any]:
    return {"VERSION": {"cniVersion": supported[-1], "supportedVersions": list(supported)}}


def test_validate_reports_every_problem(cli: CLI) -> None:
    cli.plugin("good", stdout=_versions("0.4.0", "1.0.0"))
    cli.plugin("old", stdout=_versions("0.1.0", "0.2.0"))
    cli.write_conf(
        "10-v.conflist",
        {
            "cniVersion": "1.0.0",
            "name": "v",
            "plugins": [
                {"type": "good", "capabilities": {"portMappings": True, "ips": False}},
                {"type": "old"},
                {"type": "missing"},
            ],
        },
    )
    run = cli.run("validate", "v")
    assert run.rc == 1, run
    assert run.err == ""
    lines = run.out.splitlines()
    assert lines[0] == f"network v (cniVersion 1.0.0) from {cli.conf / '10-v.conflist'}"
    assert lines[1].split() == [
        "#",
        "PLUGIN",
        "PATH",
        "SUPPORTS",
        "1.0.0",
        "CAPABILITIES",
        "SUPPORTED",
        "VERSIONS",
    ]
    assert lines[2].split() == ["0", "good", str(cli.bin / "good"), "yes", "portMappings", "0.4.0", "1.0.0"]
    assert lines[3].split() == ["1", "old", str(cli.bin / "old"), "NO", "-", "0.1.0", "0.2.0"]
    assert lines[4].split() == ["2", "missing", "(not", "found)", "NO", "-", "?"]
    assert "capabilities: portMappings" in run.out
    assert "2 problem(s):" in run.out
    assert "plugins[1] (old): plugin 'old' does not support config version '1.0.0'" in run.out
    assert "plugins[2] (missing): failed to find plugin 'missing'" in run.out

    doc = cli.run("validate", "v", "--json")
    assert doc.rc == 1
    data = doc.json()
    assert data["network"] == "v"
    assert data["ok"] is False
    assert data["capabilities"] == ["portMappings"]
    assert [p["type"] for p in data["plugins"]] == ["good", "old", "missing"]
    assert data["plugins"][0] == {
        "index": 0,
        "type": "good",
        "path": str(cli.bin / "good"),
        "cniVersion": "1.0.0",
        "supportedVersions": ["0.4.0", "1.0.0"],
        "supportsListVersion": True,
        "capabilities": ["portMappings"],
        "schemas": [],
        "problems": [],
    }
    assert data["plugins"][2]["path"] is None
    assert len(data["problems"]) == 2
    assert all(r.verb == "VERSION" for r in cli.records())


def test_validate_ok(cli: CLI) -> None:
    cli.plugin("good", stdout=_versions("0.3.1", "0.4.0", "1.0.0"))
    cli.write_conf("v.conf", {"cniVersion": "0.4.0", "name": "ok", "type": "good"})
    run = cli.run("validate", "ok")
    assert run.rc == 0, run
    assert run.out.endswith("capabilities: none\nfields not checked (no schema): good\nno problems found\n")
    assert cli.run("validate", "ok", "--json").json()["ok"] is True


def test_validate_unknown_network(cli: CLI) -> None:
    assert "no network named 'zzz'" in one_line_error(cli.run("validate", "zzz"))


# -- explain ----------------------------------------------------------------------------------------


def _explained(cli: CLI, *args: str, env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    run = cli.run("explain", *args, "--json", env=env)
    assert run.rc == 0, run
    calls: list[dict[str, Any]] = run.json()
    return calls


def _compare_with_actual(explained: list[dict[str, Any]], recs: list[PluginRecord]) -> None:
    assert len(explained) == len(recs)
    for call, rec in zip(explained, recs, strict=True):
        assert call["plugin"] == Path(rec.argv0).name
        assert call["pluginPath"] == rec.argv0
        assert call["env"] == dict(rec.env)
        expected = dict(call["stdin"])
        actual = dict(rec.config)
        if isinstance(expected.get("prevResult"), str):
            # ADD: the previous plugin's result does not exist yet in a dry run
            assert expected.pop("prevResult") == (
                f"<result of plugins[{call['index'] - 1}] ({explained[call['index'] - 1]['plugin']})>"
            )
            assert "prevResult" in actual
            actual.pop("prevResult")
        assert expected == actual


def test_explain_three_plugins_matches_what_they_receive(three: CLI, ns_file: str) -> None:
    env = {
        "CNI_ARGS": "IgnoreUnknown=1;POD=web",
        "CAP_ARGS": json.dumps({"portMappings": [{"hostPort": 1, "containerPort": 2}]}),
    }
    for verb in ("add", "check", "del"):
        explained = _explained(three, verb, "three", ns_file, "-i", "eth5", env=env)
        assert three.records() == []  # a dry run runs nothing
        assert [c["verb"] for c in explained] == [verb.upper()] * 3
        assert run_ok(three.run(verb, "three", ns_file, "-i", "eth5", env=env))
        recs = three.records()
        _compare_with_actual(explained, recs)
        if verb == "add":
            assert explained[0]["stdin"].get("prevResult") is None
            assert explained[1]["stdin"]["prevResult"] == "<result of plugins[0] (pa)>"
        else:  # CHECK and DEL show the real cached result
            assert explained[0]["stdin"]["prevResult"] == recs[0].config["prevResult"]
        three.clear()


def run_ok(run: Run) -> bool:
    assert run.rc == 0, run
    return True


#: The founding configuration (host-local's dataDir is not needed by a dry run).
FOUNDING: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "examples" / "net.d" / "10-mybridge.conf").read_text()
)


def test_explain_founding_configuration(cli: CLI, ns_file: str) -> None:
    # A recording stand-in named "bridge" receives what the real bridge would.
    cli.plugin("bridge", stdout={"ADD": {"cniVersion": "0.2.0", "ip4": {"ip": "10.15.30.100/24"}}})
    cli.write_conf("10-mybridge.conf", FOUNDING)
    run = cli.run("explain", "add", "mybridge", ns_file)
    assert run.rc == 0, run
    assert cli.records() == []
    text = run.out
    assert text.startswith(
        f"ADD of network mybridge (cniVersion 0.2.0) from "
        f"{cli.conf / '10-mybridge.conf'}: 1 plugin call(s); nothing is run\n"
    )
    assert f"ADD plugins[0] bridge: {cli.bin / 'bridge'}\n" in text
    for var in (
        "CNI_COMMAND=ADD",
        f"CNI_CONTAINERID={cnitool_id(ns_file)}",
        f"CNI_NETNS={ns_file}",
        "CNI_IFNAME=eth0",
        "CNI_ARGS=",
        f"CNI_PATH={cli.bin}",
    ):
        assert f"\n    {var}\n" in text
    assert '            "rangeStart": "10.15.30.100",\n' in text
    explained = _explained(cli, "add", "mybridge", ns_file)
    assert explained[0]["stdin"] == FOUNDING  # the file as written, name and version included
    assert run_ok(cli.run("add", "mybridge", ns_file))
    _compare_with_actual(explained, cli.records())
    assert cli.records()[0].config == FOUNDING


def test_explain_gc_and_status(cli: CLI, tmp_path: Path) -> None:
    cli.plugin("pa", stdout={"ADD": result_100()})
    cli.write_conf("g.conflist", {"cniVersion": "1.1.0", "name": "g", "plugins": [{"type": "pa"}]})
    cli.write_conf("o.conflist", {"cniVersion": "1.0.0", "name": "o", "plugins": [{"type": "pa"}]})
    a, b = _netns_files(tmp_path, "a", "b")
    for net in ("g", "o"):
        for ns in (a, b):
            assert cli.run("add", net, ns).rc == 0
    cli.clear()
    calls = _explained(cli, "gc", "g", "--keep", f"{cnitool_id(a)}:eth0")
    assert [(c["verb"], c["env"].get("CNI_CONTAINERID")) for c in calls] == [
        ("DEL", cnitool_id(b)),
        ("GC", ""),
    ]  # GC gets every CNI variable, empty
    assert calls[1]["stdin"]["cni.dev/valid-attachments"] == [
        {"containerID": cnitool_id(a), "ifname": "eth0"}
    ]
    calls = _explained(cli, "gc", "o")  # before 1.1.0: the DELs libcni would run, no GC
    assert sorted((c["verb"], c["env"]["CNI_CONTAINERID"]) for c in calls) == sorted(
        [("DEL", cnitool_id(a)), ("DEL", cnitool_id(b))]
    )
    assert [c["verb"] for c in _explained(cli, "status", "g")] == ["STATUS"]
    assert _explained(cli, "status", "o") == []
    run = cli.run("explain", "status", "o")
    assert "(no plugin would be called)" in run.out
    assert cli.records() == []
    assert len(cli.cache_files()) == 4


def test_explain_missing_plugin_exits_1(cli: CLI, ns_file: str) -> None:
    cli.write_conf("x.conf", {"cniVersion": "1.0.0", "name": "x", "type": "absent"})
    run = cli.run("explain", "add", "x", ns_file)
    assert run.rc == 1
    assert "ADD plugins[0] absent: NOT FOUND" in run.out
    assert "problem: failed to find plugin 'absent'" in run.out
    run = cli.run("explain", "add", "x", ns_file, "--json")
    assert run.rc == 1
    assert run.json()[0]["pluginPath"] is None


# -- version -------------------------------------------------------------------------------------


def test_version_command(cli: CLI) -> None:
    cli.plugin("pv", stdout=_versions("0.3.1", "0.4.0", "1.0.0"))
    run = cli.run("version", "pv")
    assert run.rc == 0, run
    lines = run.out.splitlines()
    assert lines[0].split() == ["PLUGIN", "PATH", "CNIVERSION", "SUPPORTED", "VERSIONS"]
    assert lines[1].split() == ["pv", str(cli.bin / "pv"), "1.0.0", "0.3.1", "0.4.0", "1.0.0"]
    assert cli.run("version", "pv", "--json").json() == {
        "plugin": "pv",
        "path": str(cli.bin / "pv"),
        "cniVersion": "1.0.0",
        "supportedVersions": ["0.3.1", "0.4.0", "1.0.0"],
    }
    [rec] = cli.records()[:1]
    assert rec.env["CNI_COMMAND"] == "VERSION"
    assert rec.config == {"cniVersion": cnilib.LATEST_VERSION}
    assert "failed to find plugin 'nope'" in one_line_error(cli.run("version", "nope"))


@pytest.mark.skipif(not os.path.isfile("/usr/lib/cni/loopback"), reason="needs Debian's plugins")
def test_version_of_a_real_plugin(cli: CLI) -> None:
    # VERSION touches nothing: safe without root or namespaces.
    data = cli.run("version", "loopback", "--json", env={"CNI_PATH": "/usr/lib/cni"}).json()
    assert data["path"] == "/usr/lib/cni/loopback"
    assert {"0.1.0", "0.4.0", "1.0.0"} <= set(data["supportedVersions"])


# -- cache list / show ----------------------------------------------------------------------------

#: A cache file written by Go's libcni v1.1.2 (cnitool), byte for byte (no netns field yet).
GO_CACHE_FILE = (
    b'{"kind":"cniCacheV1","containerId":"cnitool-20e7ee002cbcb33d4f49","config":'
    b'"eyJjbmlWZXJzaW9uIjoiMS4wLjAiLCJuYW1lIjoibG8iLCJwbHVnaW5zIjpbeyJ0eXBlIjoibG9vcGJhY2sifV19Cg==",'
    b'"ifName":"eth0","networkName":"lo","result":{"cniVersion":"1.0.0","dns":{},"interfaces":'
    b'[{"mac":"00:00:00:00:00:00","name":"lo","sandbox":"/run/netns/clictr-t1"}],"ips":'
    b'[{"address":"127.0.0.1/8","interface":0},{"address":"::1/128","interface":0}]}}'
)


def test_cache_list_and_show(three: CLI, ns_file: str) -> None:
    assert three.run("cache", "list").out == f"no cached attachments in {three.cache}/results\n"
    assert run_ok(three.run("add", "three", ns_file, env={"CNI_ARGS": "A=1"}))
    results = three.cache / "results"
    (results / "lo-cnitool-20e7ee002cbcb33d4f49-eth0").write_bytes(GO_CACHE_FILE)
    (results / "broken-x-eth0").write_bytes(b"")
    cid = cnitool_id(ns_file)

    run = three.run("cache", "list")
    assert run.rc == 0, run
    lines = run.out.splitlines()
    assert lines[0].split() == ["NETWORK", "CONTAINER", "IFNAME", "NETNS", "ADDRESSES"]
    assert lines[1].split() == ["lo", "cnitool-20e7ee002cbcb33d4f49", "eth0", "-", "127.0.0.1/8,::1/128"]
    assert lines[2].split() == ["three", cid, "eth0", ns_file, "10.1.0.2/24"]
    assert lines[3] == "1 unusable cache file(s):"
    assert lines[4] == f"  - {results / 'broken-x-eth0'}: cache file is empty"

    data = three.run("cache", "list", "--json").json()
    assert data["cacheDir"] == str(three.cache)
    assert [a["networkName"] for a in data["attachments"]] == ["lo", "three"]
    assert data["attachments"][0] == {
        "path": str(results / "lo-cnitool-20e7ee002cbcb33d4f49-eth0"),
        **json.loads(GO_CACHE_FILE),
    }
    assert data["problems"] == [{"path": str(results / "broken-x-eth0"), "message": "cache file is empty"}]
    filtered = three.run("cache", "list", "--network", "three", "--json").json()
    assert [a["networkName"] for a in filtered["attachments"]] == ["three"]
    filtered = three.run("cache", "list", "--container-id", cid, "--json").json()
    assert [a["containerId"] for a in filtered["attachments"]] == [cid]

    shown = three.run("cache", "show", "three", ns_file, "--json")
    path = results / f"three-{cid}-eth0"
    assert shown.json() == {"path": str(path), **json.loads(path.read_bytes())}
    text = three.run("cache", "show", "three", ns_file).out
    assert f"file:           {path}\n" in text
    assert "cniArgs:        A=1\n" in text
    assert '          "type": "pa",\n' in text  # the configuration, decoded
    assert '      "address": "10.1.0.2/24",\n' in text
    by_id = three.run("cache", "show", "lo", "--container-id", "cnitool-20e7ee002cbcb33d4f49")
    assert by_id.rc == 0
    assert "netns:          -\n" in by_id.out

    line = one_line_error(three.run("cache", "show", "three", ns_file, "-i", "eth9"))
    assert f"no cached attachment of network 'three' for container '{cid}'" in line
    assert "'eth9'" in line


def test_del_reads_a_cache_file_written_by_go(cli: CLI, tmp_path: Path) -> None:
    cli.plugin("loopback")
    cli.write_conf("lo.conflist", '{"cniVersion":"1.0.0","name":"lo","plugins":[{"type":"loopback"}]}\n')
    results = cli.cache / "results"
    results.mkdir(parents=True)
    (results / "lo-cnitool-20e7ee002cbcb33d4f49-eth0").write_bytes(GO_CACHE_FILE)
    run = cli.run("del", "lo", "/ignored", "--container-id", "cnitool-20e7ee002cbcb33d4f49")
    assert run.rc == 0, run
    [rec] = cli.records()
    assert rec.config["prevResult"] == json.loads(GO_CACHE_FILE)["result"]
    assert cli.cache_files() == []


# -- docker (the engine itself is exercised in test_cli_real.py) --------------------------------


def test_docker_unreachable_engine(cli: CLI, tmp_path: Path) -> None:
    cli.plugin("pa")
    cli.write_conf("n.conf", {"cniVersion": "1.0.0", "name": "n", "type": "pa"})
    sock = tmp_path / "no.sock"
    line = one_line_error(cli.run("docker", "attach", "web", "n", env={"DOCKER_HOST": f"unix://{sock}"}))
    assert line.startswith("cnilib: docker attach web n: ")
    assert f"cannot reach the Docker engine at unix://{sock}" in line
    line = one_line_error(cli.run("docker", "detach", "web", "n", "--docker-host", "tcp://127.0.0.1:1"))
    assert "unsupported Docker host 'tcp://127.0.0.1:1'" in line
    assert cli.records() == []


def test_output_to_a_closed_pipe_is_quiet(cli: CLI) -> None:
    # More output than a pipe holds, and a reader that goes away (``cnilib cache list | head``).
    results = cli.cache / "results"
    results.mkdir(parents=True)
    for i in range(300):
        cid = f"ctr-{i:04d}"
        (results / f"lo-{cid}-eth0").write_bytes(
            GO_CACHE_FILE.replace(b"cnitool-20e7ee002cbcb33d4f49", cid.encode())
        )
    proc = subprocess.Popen(
        [*cli.program, "cache", "list", "--json"],
        env=cli.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1
    assert b"Traceback" not in err
