"""The executors against real executables: discovery, environment, and every way a plugin can fail.

Fault plugins are shell scripts written into ``tmp_path`` (``cnilib.testing.plugins``). Every fault
test runs through both the sync and the asyncio executor (the ``runner`` fixture).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cnilib import (
    ExecError,
    PluginConfig,
    PluginError,
    PluginNotFoundError,
    PluginTimeoutError,
    Result100,
    RuntimeConfig,
    ValidationError,
    Verb,
)
from cnilib._exec import (
    DEFAULT_ENV_ALLOW,
    AsyncSubprocessExecutor,
    SubprocessExecutor,
    check_plugin_name,
    find_plugin,
)
from cnilib._exec._protocol import ExecOutcome, ExecRequest, build_request, cni_env, decode_outcome
from cnilib.testing import plugins as fp
from cnilib.testing.fake import (
    FakeExecutor,
    crash_outcome,
    error_outcome,
    exit_outcome,
    result_outcome,
    timeout_outcome,
    version_outcome,
)

RESULT = {"cniVersion": "1.0.0", "ips": [{"address": "10.9.0.2/24", "gateway": "10.9.0.1"}]}
CONF = b'{"cniVersion":"1.0.0","name":"net","type":"p"}'

Run = Callable[..., ExecOutcome]


def req(
    plugin: str,
    dirs: list[Path] | list[str],
    verb: Verb = Verb.ADD,
    *,
    stdin: bytes = CONF,
    container_id: str = "ctr1",
) -> ExecRequest:
    search = [str(d) for d in dirs]
    return ExecRequest(
        verb=verb,
        plugin=plugin,
        search_path=search,
        env=cni_env(
            verb,
            container_id=container_id,
            netns="/run/netns/none",
            ifname="eth0",
            args="K=V;K2=V2",
            search_path=search,
        ),
        stdin=stdin,
        container_id=container_id,
        cni_version="1.0.0",
    )


@pytest.fixture(params=["sync", "async"])
def runner(request: pytest.FixtureRequest) -> Run:
    """Runs one request through a fresh executor of the parametrized flavour."""

    def run(r: ExecRequest, *, timeout: float | None = None, **kw: Any) -> ExecOutcome:
        if request.param == "sync":
            return SubprocessExecutor(**kw).run(r, timeout=timeout)
        return asyncio.run(AsyncSubprocessExecutor(**kw).run(r, timeout=timeout))

    run.flavour = request.param  # type: ignore[attr-defined]
    return run


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    return d


# -- discovery ----------------------------------------------------------------------------------


def test_search_dirs_in_order(tmp_path: Path, runner: Run) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    fp.exiting_plugin(a, "p", stdout="from a")
    fp.exiting_plugin(b, "p", stdout="from b")
    assert runner(req("p", [a, b], Verb.DEL)).stdout == b"from a"
    assert runner(req("p", [b, a], Verb.DEL)).stdout == b"from b"
    assert find_plugin("p", [str(tmp_path / "missing"), "", str(b)]) == str(b / "p")


def test_not_executable_and_directories_are_skipped(tmp_path: Path, runner: Run) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    fp.exiting_plugin(a, "p", stdout="from a")
    os.chmod(a / "p", 0o644)
    (b / "p").mkdir(parents=True)
    fp.exiting_plugin(c, "p", stdout="from c")
    out = runner(req("p", [a, b, c], Verb.DEL))
    assert out.stdout == b"from c"
    assert out.plugin_path == str(c / "p")


def test_symlinked_plugin_is_found(tmp_path: Path, runner: Run) -> None:
    target = fp.exiting_plugin(tmp_path / "real", "impl", stdout="linked")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "p").symlink_to(target)
    assert runner(req("p", [tmp_path / "bin"], Verb.DEL)).stdout == b"linked"


def test_not_found_names_every_directory(tmp_path: Path, runner: Run) -> None:
    dirs = [tmp_path / "one", tmp_path / "two", tmp_path / "three"]
    fp.exiting_plugin(dirs[1], "other")
    with pytest.raises(PluginNotFoundError) as info:
        runner(req("p", dirs))
    err = info.value
    assert err.plugin == "p"
    assert err.dirs == tuple(str(d) for d in dirs)
    for d in dirs:
        assert str(d) in str(err)


def test_not_found_without_directories(runner: Run) -> None:
    with pytest.raises(PluginNotFoundError, match="no directories given"):
        runner(req("p", []))


@pytest.mark.parametrize("name", ["", ".", "..", "../../bin/sh", "sub/p", "/bin/sh", "p\0x"])
def test_bad_plugin_names_rejected_and_nothing_runs(tmp_path: Path, runner: Run, name: str) -> None:
    search = tmp_path / "a" / "b"
    marker = tmp_path / "marker"
    body = f"touch {marker}\n"
    # Plant an executable wherever the name could lead if it were joined to the search dir.
    fp.write_plugin(tmp_path / "bin", "sh", body)  # ../../bin/sh from a/b
    fp.write_plugin(search / "sub", "p", body)  # sub/p
    fp.write_plugin(search, "p", body)
    with pytest.raises(ValidationError, match="invalid plugin name"):
        runner(req(name, [search]))
    with pytest.raises(ValidationError):
        check_plugin_name(name)
    assert not marker.exists()


# -- environment --------------------------------------------------------------------------------


def test_recording_plugin_sees_cni_vars_and_stdin(bindir: Path, runner: Run) -> None:
    rec = fp.recording_plugin(bindir, "rec", stdout={"ADD": RESULT})
    conf = PluginConfig.from_dict({"type": "rec", "opaque": {"k": ["v", 1]}})
    rt = RuntimeConfig(
        container_id="c-1", netns="/run/netns/x", ifname="net1", args=[("A", '"q"'), ("B", "\\")]
    )
    r = build_request(Verb.ADD, conf, rt, network_name="n", cni_version="1.0.0", search_path=[str(bindir)])
    res = decode_outcome(r, runner(r))
    assert isinstance(res, Result100)
    assert res.all_addresses == ("10.9.0.2/24",)
    [call] = rec.records()
    assert call.env == {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c-1",
        "CNI_NETNS": "/run/netns/x",
        "CNI_IFNAME": "net1",
        "CNI_ARGS": 'A="q";B=\\',
        "CNI_PATH": str(bindir),
    }
    assert call.stdin == r.stdin
    assert call.argv0 == str(bindir / "rec")


def test_inherit_passes_the_parent_env(bindir: Path, runner: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNILIB_TEST_PARENT", "from-parent")
    monkeypatch.setenv("CNI_NETNS", "/parent/value")  # CNI vars override parent vars
    monkeypatch.setenv("CNI_COMMAND", "BOGUS")
    fp.env_dump_plugin(bindir, "env")
    out = runner(req("env", [bindir], Verb.DEL), extra_env={"EXTRA": "1", "CNI_IFNAME": "no"})
    env = fp.parse_env_dump(out.stdout)
    assert env["PATH"] == os.environ["PATH"]
    assert env["CNILIB_TEST_PARENT"] == "from-parent"
    assert env["EXTRA"] == "1"
    assert env["CNI_NETNS"] == "/run/netns/none"
    assert env["CNI_COMMAND"] == "DEL"
    assert env["CNI_IFNAME"] == "eth0"


def test_clean_passes_only_the_allow_list_and_extras(
    bindir: Path, runner: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CNILIB_TEST_PARENT", "from-parent")
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("CNI_NETNS", "/parent/value")
    monkeypatch.delenv("TZ", raising=False)
    fp.env_dump_plugin(bindir, "env")
    out = runner(req("env", [bindir], Verb.DEL), env="clean", extra_env={"EXTRA": "x y"})
    env = fp.parse_env_dump(out.stdout)
    allowed = {k: os.environ[k] for k in DEFAULT_ENV_ALLOW if k in os.environ}
    assert "PATH" in allowed
    assert env == {**allowed, "EXTRA": "x y", **req("env", [bindir], Verb.DEL).env}


def test_clean_with_a_custom_allow_list(bindir: Path, runner: Run) -> None:
    fp.env_dump_plugin(bindir, "env")
    out = runner(req("env", [bindir], Verb.DEL), env="clean", env_allow=["HOME"])
    env = fp.parse_env_dump(out.stdout)
    assert set(env) == {"HOME", *req("env", [bindir]).env} - ({"HOME"} - set(os.environ))


def test_parent_env_callable(bindir: Path, runner: Run) -> None:
    fp.env_dump_plugin(bindir, "env")
    out = runner(req("env", [bindir], Verb.DEL), parent_env=lambda: {b"ONLY": b"this"})
    env = fp.parse_env_dump(out.stdout)
    assert env == {"ONLY": "this", **req("env", [bindir]).env} | {"CNI_COMMAND": "DEL"}


# -- faults -------------------------------------------------------------------------------------


def _decode_error(r: ExecRequest, out: ExecOutcome) -> BaseException:
    with pytest.raises((ExecError, PluginError)) as info:
        decode_outcome(r, out)
    return info.value


@pytest.mark.parametrize("ignore_term", [False, True], ids=["dies-on-term", "ignores-term"])
def test_hang_with_a_child_holding_stdout_times_out_and_leaves_nothing(
    bindir: Path, tmp_path: Path, runner: Run, ignore_term: bool
) -> None:
    pids = tmp_path / "pids"
    fp.hanging_plugin(bindir, "hang", pids, ignore_term=ignore_term, stdout="partial")
    r = req("hang", [bindir])
    t0 = time.monotonic()
    out = runner(r, timeout=1.0, kill_grace=0.3)
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed < 2.0
    assert out.timed_out
    assert out.timeout == 1.0
    assert out.signal == (signal.SIGKILL if ignore_term else signal.SIGTERM)
    assert out.stdout == b"partial"
    err = _decode_error(r, out)
    assert isinstance(err, PluginTimeoutError)
    assert "timed out after 1s" in str(err)
    plugin_pid, child_pid = fp.read_pids(pids)
    assert fp.wait_gone([plugin_pid, child_pid]) == []


@pytest.mark.parametrize(("sig", "name"), [(signal.SIGSEGV, "SIGSEGV"), (signal.SIGKILL, "SIGKILL")])
def test_death_by_signal_is_named(bindir: Path, runner: Run, sig: int, name: str) -> None:
    fp.crashing_plugin(bindir, "crash", sig, stdout="half a res", stderr="panic: boom")
    r = req("crash", [bindir])
    out = runner(r)
    assert out.signal == sig
    assert out.exit_status is None
    err = _decode_error(r, out)
    assert isinstance(err, ExecError)
    assert name in str(err)
    assert "'crash'" in str(err)
    assert "ADD" in str(err)
    assert "ctr1" in str(err)
    assert err.stderr == b"panic: boom"


def test_garbage_stdout(bindir: Path, runner: Run) -> None:
    fp.exiting_plugin(bindir, "junk", stdout=b"\xff\xfenot json at all", exit_status=1)
    r = req("junk", [bindir])
    err = _decode_error(r, runner(r))
    assert type(err) is ExecError
    assert "not JSON" in str(err)
    assert "not json at all" in str(err)
    assert "exit status 1" in str(err)


def test_empty_stdout_with_stderr(bindir: Path, runner: Run) -> None:
    fp.exiting_plugin(bindir, "p", stderr="cannot do it\n", exit_status=2)
    r = req("p", [bindir])
    err = _decode_error(r, runner(r))
    assert type(err) is ExecError
    assert "cannot do it" in str(err)
    assert "exit status 2" in str(err)
    assert err.stderr == b"cannot do it\n"  # type: ignore[attr-defined]


def test_exit_zero_with_empty_stdout_on_add(bindir: Path, runner: Run) -> None:
    fp.exiting_plugin(bindir, "p")
    r = req("p", [bindir])
    err = _decode_error(r, runner(r))
    assert "printed no result" in str(err)
    assert decode_outcome(req("p", [bindir], Verb.DEL), runner(req("p", [bindir], Verb.DEL))) is None


def test_error_object_with_unknown_code_and_extra_fields(bindir: Path, runner: Run) -> None:
    obj = {"cniVersion": "1.0.0", "code": 199, "msg": "no", "details": "d", "hint": {"x": 1}}
    fp.exiting_plugin(bindir, "p", stdout=json.dumps(obj), stderr="log", exit_status=1)
    r = req("p", [bindir])
    err = _decode_error(r, runner(r))
    assert isinstance(err, PluginError)
    assert (err.code, err.msg, err.details, dict(err.extra)) == (199, "no", "d", {"hint": {"x": 1}})
    assert err.stderr == b"log"
    assert err.exit_status == 1
    assert "199" in str(err)


def test_binary_output_survives_byte_for_byte(bindir: Path, runner: Run) -> None:
    data = bytes(range(256)) * 4
    fp.exiting_plugin(bindir, "p", stdout=data, stderr=data[::-1])
    out = runner(req("p", [bindir], Verb.DEL))
    assert out.stdout == data
    assert out.stderr == data[::-1]


_MEMORY_PROBE = textwrap.dedent(
    """
    import asyncio, json, sys
    from cnilib._exec import AsyncSubprocessExecutor, SubprocessExecutor
    from cnilib._exec._protocol import ExecRequest, cni_env
    from cnilib import Verb

    def hwm_kib():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])

    flavour, bindir, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = cni_env(Verb.ADD, container_id="c", search_path=[bindir])
    req = ExecRequest(verb=Verb.ADD, plugin="flood", search_path=[bindir], env=env, stdin=b"{}")
    before = hwm_kib()
    if flavour == "sync":
        out = SubprocessExecutor(output_limit=limit).run(req)
    else:
        # Not asyncio.run(): its Runner has a transient peak of its own around large return values.
        loop = asyncio.new_event_loop()
        out = loop.run_until_complete(AsyncSubprocessExecutor(output_limit=limit).run(req))
        loop.close()
    print(json.dumps({"grew_kib": hwm_kib() - before, "kept": len(out.stdout),
                      "truncated": out.stdout_truncated, "exit": out.exit_status,
                      "stderr": len(out.stderr)}))
    """
)


def test_100mb_of_output_keeps_memory_bounded(bindir: Path, runner: Run) -> None:
    size = 100 * 1024 * 1024
    limit = SubprocessExecutor().output_limit  # the default, 16 MiB
    fp.flooding_plugin(bindir, "flood", size, stderr_size=size // 4)
    flavour = runner.flavour  # type: ignore[attr-defined]
    # A child interpreter: its high-water mark says what this run alone cost.
    proc = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, flavour, str(bindir), str(limit)],
        capture_output=True,
        check=True,
        timeout=120,
    )
    got = json.loads(proc.stdout)
    assert got["exit"] == 0
    assert got["kept"] == limit
    assert got["stderr"] == limit
    assert got["truncated"]
    # The two capped buffers (stdout and stderr), nothing proportional to the 125 MB printed.
    assert got["grew_kib"] < (2 * limit + 8 * 1024 * 1024) // 1024, got


def test_truncated_output_on_add_is_an_error(bindir: Path, runner: Run) -> None:
    fp.flooding_plugin(bindir, "flood", 300_000)
    r = req("flood", [bindir])
    out = runner(r, output_limit=100_000)
    assert len(out.stdout) == 100_000
    assert out.stdout_truncated
    err = _decode_error(r, out)
    assert "more than the output limit" in str(err)


def test_stdout_and_stderr_are_drained_together(bindir: Path, runner: Run) -> None:
    # Each stream is far larger than a pipe buffer: reading one at a time would deadlock.
    fp.flooding_plugin(bindir, "flood", 3_000_000, stderr_size=3_000_000)
    out = runner(req("flood", [bindir], Verb.DEL), timeout=30)
    assert not out.timed_out
    assert (len(out.stdout), len(out.stderr)) == (3_000_000, 3_000_000)


def test_text_file_busy_is_retried(bindir: Path, runner: Run) -> None:
    path = fp.exiting_plugin(bindir, "busy", stdout="ran")
    opened = threading.Event()

    def hold_open_for_writing() -> None:
        with open(path, "r+b"):
            opened.set()
            time.sleep(0.05)

    holder = threading.Thread(target=hold_open_for_writing)
    holder.start()
    try:
        opened.wait(5)
        # The file really is busy right now: a direct exec fails.
        with pytest.raises(OSError, match="Text file busy"):
            subprocess.run([str(path)], check=False)
        out = runner(req("busy", [bindir], Verb.DEL))
    finally:
        holder.join()
    assert out.exit_status == 0
    assert out.stdout == b"ran"


def test_linger_kills_a_child_left_holding_stdout(bindir: Path, tmp_path: Path, runner: Run) -> None:
    pids = tmp_path / "pids"
    fp.lingering_plugin(bindir, "p", pids, stdout={"ADD": RESULT})
    r = req("p", [bindir])
    t0 = time.monotonic()
    out = runner(r, linger=0.3)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 1.3
    assert out.exit_status == 0
    assert not out.timed_out
    assert isinstance(decode_outcome(r, out), Result100)
    assert fp.wait_gone(fp.read_pids(pids)) == []


def test_deadline_during_linger_reports_the_exit_status(bindir: Path, tmp_path: Path, runner: Run) -> None:
    pids = tmp_path / "pids"
    fp.lingering_plugin(bindir, "p", pids, stdout={"ADD": RESULT})
    r = req("p", [bindir])
    t0 = time.monotonic()
    out = runner(r, timeout=0.4, linger=10)
    assert time.monotonic() - t0 < 1.4
    assert not out.timed_out  # the plugin finished; only its leftover child was cut short
    assert out.exit_status == 0
    assert isinstance(decode_outcome(r, out), Result100)
    assert fp.wait_gone(fp.read_pids(pids)) == []


def test_plugin_closing_its_pipes_early_is_waited_for(bindir: Path, runner: Run) -> None:
    fp.write_plugin(bindir, "p", "echo hi\nexec >&- 2>&-\nsleep 0.3\nexit 3\n")
    t0 = time.monotonic()
    out = runner(req("p", [bindir], Verb.DEL), timeout=10)
    assert time.monotonic() - t0 >= 0.3
    assert out.exit_status == 3
    assert out.stdout == b"hi\n"


def test_large_stdin_is_fully_delivered(bindir: Path, tmp_path: Path, runner: Run) -> None:
    saved = tmp_path / "stdin.json"
    fp.stdin_saving_plugin(bindir, "p", saved)
    routes = [{"dst": f"10.{i // 250}.{i % 250}.0/24", "gw": "10.0.0.1"} for i in range(26_000)]
    prev = {"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24"}], "routes": routes}
    r = build_request(
        Verb.DEL,
        PluginConfig.from_dict({"type": "p"}),
        RuntimeConfig(container_id="c"),
        network_name="n",
        cni_version="1.0.0",
        search_path=[str(bindir)],
        prev_result=prev,
    )
    assert len(r.stdin) > 1_000_000
    out = runner(r, timeout=30)
    assert out.exit_status == 0
    assert saved.read_bytes() == r.stdin


def test_plugin_that_does_not_read_a_large_stdin(bindir: Path, runner: Run) -> None:
    fp.exiting_plugin(bindir, "p", stdout="done")
    out = runner(req("p", [bindir], Verb.DEL, stdin=b"x" * 2_000_000), timeout=10)
    assert out.exit_status == 0
    assert out.stdout == b"done"


def test_exec_failure_is_reported_not_raised(bindir: Path, runner: Run) -> None:
    fp.write_plugin(bindir, "p", "exit 0\n", shebang="#!/nonexistent/interpreter")
    r = req("p", [bindir])
    out = runner(r)
    assert out.start_error is not None
    err = _decode_error(r, out)
    assert "could not be started" in str(err)
    assert "'p'" in str(err)


def test_missing_wrapper_is_named(bindir: Path, runner: Run) -> None:
    fp.exiting_plugin(bindir, "p")
    r = req("p", [bindir])
    out = runner(r, argv_prefix=["/nonexistent/nsenter", "--"])
    assert out.start_error is not None
    assert "/nonexistent/nsenter" in out.start_error


def test_argv_prefix_wraps_the_plugin(bindir: Path, runner: Run) -> None:
    fp.write_plugin(bindir, "p", 'printf "%s %s" "$X" "$#"\n')
    out = runner(req("p", [bindir], Verb.DEL), argv_prefix=["/usr/bin/env", "X=wrapped"])
    assert out.exit_status == 0
    assert out.stdout == b"wrapped 0"  # run through the wrapper, with no arguments of its own


def test_plugin_runs_in_its_own_process_group(bindir: Path, runner: Run) -> None:
    fp.write_plugin(bindir, "p", "ps -o pid=,pgid=,sid= -p $$\n")
    out = runner(req("p", [bindir], Verb.DEL))
    pid, pgid, sid = (int(x) for x in out.stdout.split())
    assert pid == pgid  # a group of its own: killing the group cannot hit the caller
    assert pgid != os.getpgid(0)
    # Same session as the caller on Python >= 3.11: a new session is a new scheduler autogroup.
    assert (sid == os.getsid(0)) == (sys.version_info >= (3, 11))


def test_without_pidfd_support(
    bindir: Path, tmp_path: Path, runner: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kernels before 5.3 have no pidfd: the executors then poll for the exit.
    import cnilib._exec._proc

    monkeypatch.setattr(cnilib._exec._proc, "open_pidfd", lambda pid: None)
    fp.exiting_plugin(bindir, "ok", stdout={"ADD": json.dumps(RESULT)})
    r = req("ok", [bindir])
    assert isinstance(decode_outcome(r, runner(r)), Result100)
    fp.hanging_plugin(bindir, "hang", tmp_path / "hang")
    out = runner(req("hang", [bindir]), timeout=0.5, kill_grace=0.2)
    assert out.timed_out
    fp.lingering_plugin(bindir, "linger", tmp_path / "linger", stdout={"ADD": RESULT})
    t0 = time.monotonic()
    out = runner(req("linger", [bindir]), linger=0.2)
    assert time.monotonic() - t0 < 1.0
    assert out.exit_status == 0
    assert fp.wait_gone([*fp.read_pids(tmp_path / "hang"), *fp.read_pids(tmp_path / "linger")]) == []


# -- the fake executor --------------------------------------------------------------------------


def test_fake_executor_records_and_scripts() -> None:
    fake = FakeExecutor()
    fake.script("p", Verb.ADD, result_outcome(RESULT))
    fake.script("p", Verb.DEL, error_outcome(11, "busy"), exit_outcome(0))
    fake.script("q", "*", crash_outcome(signal.SIGSEGV, stderr=b"segv"))
    add = req("p", ["/x"])
    res = decode_outcome(add, fake.run(add, timeout=3))
    assert isinstance(res, Result100)
    with pytest.raises(PluginError) as info:
        decode_outcome(req("p", ["/x"], Verb.DEL), fake.run(req("p", ["/x"], Verb.DEL)))
    assert info.value.temporary
    assert decode_outcome(req("p", ["/x"], Verb.DEL), fake.run(req("p", ["/x"], Verb.DEL))) is None
    assert decode_outcome(req("p", ["/x"], Verb.DEL), fake.run(req("p", ["/x"], Verb.DEL))) is None
    with pytest.raises(ExecError, match="SIGSEGV"):
        decode_outcome(req("q", ["/x"], Verb.CHECK), fake.run(req("q", ["/x"], Verb.CHECK)))
    assert [c.verb for c in fake.calls] == [Verb.ADD, Verb.DEL, Verb.DEL, Verb.DEL, Verb.CHECK]
    assert fake.calls[0].timeout == 3
    assert fake.calls[0].config == json.loads(CONF)
    assert len(fake.calls_for("p", Verb.DEL)) == 3
    assert fake.requests[0] is add


def test_fake_executor_defaults_and_callables() -> None:
    fake = FakeExecutor(
        {("v", Verb.VERSION): version_outcome("0.4.0", "1.0.0")},
        missing=["gone"],
    )
    info = decode_outcome(req("v", ["/x"], Verb.VERSION), fake.run(req("v", ["/x"], Verb.VERSION)))
    assert info is not None
    assert info.supported_versions == ("0.4.0", "1.0.0")  # type: ignore[union-attr]
    # Unscripted ADD passes prevResult through, or returns an empty result of the config version.
    stdin = json.dumps({"cniVersion": "1.0.0", "prevResult": RESULT}).encode()
    res = decode_outcome(req("x", ["/x"], stdin=stdin), fake.run(req("x", ["/x"], stdin=stdin)))
    assert isinstance(res, Result100)
    assert res.all_addresses == ("10.9.0.2/24",)
    with pytest.raises(PluginNotFoundError):
        fake.run(req("gone", ["/x"]))
    with pytest.raises(ValidationError):
        fake.run(req("../sh", ["/x"]))
    fake.script("t", Verb.ADD, lambda r: timeout_outcome(0.5) if r.container_id else exit_outcome())
    with pytest.raises(PluginTimeoutError):
        decode_outcome(req("t", ["/x"]), fake.run(req("t", ["/x"])))
    strict = FakeExecutor(strict=True)
    with pytest.raises(AssertionError, match="nothing scripted"):
        strict.run(req("x", ["/x"]))
    fake.reset()
    assert fake.calls == []
