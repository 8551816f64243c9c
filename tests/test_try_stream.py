"""``cnilib try`` and ``cnilib conformance`` as they run: a line per step or check as soon as it
ends (with its duration), a live status line on a terminal and none in a pipe, timeouts named as
timeouts, counts at the end; as root and as uid 65534 (both run rootless as any user)."""

from __future__ import annotations

import json

import pytest
from sandbox_support import nobody_dir
from stream_support import (
    CONTROL,
    COUNTS,
    DURATION,
    conf_file,
    gated_plugin,
    read_until,
    run_in_pty,
    running,
)

from cnilib.testing.broken_plugins import write_conforming
from cnilib.testing.plugins import hanging_plugin

pytestmark = pytest.mark.root

WHO = ["root", "nobody"]


@pytest.mark.parametrize("who", WHO)
def test_try_hanging_plugin_on_a_terminal(who: str) -> None:
    # Before: nothing at all until the end (and no limit by default); the timeout read
    # "timed out after 0.999837s", the time left rather than the limit.
    with nobody_dir() as home:
        gated_plugin(home, "fast", home / "never", wait_on="nothing")
        hanging_plugin(home, "hang", home / "pids")
        conf = conf_file(home, "h", [{"type": "fast"}, {"type": "hang"}])
        rc, out = run_in_pty(["try", "--timeout", "1", "--cni-path", str(home), str(conf)], who, home)
    assert rc == 1, out
    # The live line (rewritten in place, then erased) names the step and the plugin in progress,
    # before the step's line.
    fast = out.index("\r\x1b[KADD try-1: fast ...")
    assert fast < out.index("\r\x1b[KADD try-1: hang ...") < out.index("ADD   try-1: FAILED")
    assert "\r\x1b[KDEL try-1: hang ..." in out
    assert "plugin 'hang' (ADD, container cnilib-try-1) timed out after 1s and was killed" in out
    # DEL of the list shares the limit: hang used it up, fast was never started.
    assert "plugin 'hang' (DEL, container cnilib-try-1) timed out after 1s and was killed" in out
    not_started = "was not started: the time limit of 1s had run out"
    assert f"plugin 'fast' (DEL, container cnilib-try-1) {not_started}" in out
    assert "killed by" not in out
    final = "".join(line.rsplit("\r\x1b[K", 1)[-1] + "\n" for line in out.splitlines())
    assert DURATION.search(final.split("ADD   try-1: FAILED ")[1].splitlines()[0])
    assert COUNTS.search(final)
    assert final.rstrip().endswith("FAILED")


@pytest.mark.parametrize("who", WHO)
def test_try_streams_each_step_as_it_ends_in_a_pipe(who: str) -> None:
    with nobody_dir() as home:
        gate = home / "go"
        gated_plugin(home, "slowdel", gate, wait_on="DEL")
        conf = conf_file(home, "s", [{"type": "slowdel"}])
        with running(["try", "--timeout", "600", "--cni-path", str(home), str(conf)], who, home) as proc:
            # DEL waits for the gate: whatever was printed so far was printed while it ran.
            early = read_until(proc, "ADD   try-1: ok")
            assert proc.poll() is None
            gate.touch()
            assert proc.stdout is not None
            rest = proc.stdout.read()
            assert proc.wait() == 0, early + rest
    out = early + rest
    assert early.startswith("network s (cniVersion 1.0.0) in a sandbox, ")
    assert not CONTROL.search(out)
    steps = ("ADD   try-1", "CHECK try-1", "ADD   try-2", "DEL   try-2", "DEL   try-1")
    for step in (f"{s}: ok " for s in steps):
        line = next(line for line in out.splitlines() if line.startswith(step))
        assert DURATION.fullmatch(line.removeprefix(step)), line
    assert out.splitlines()[-2:] == ["6 passed, 0 failed, 0 skipped", "OK"]


def test_try_json_is_only_the_report_even_on_a_terminal() -> None:
    with nobody_dir() as home:
        write_conforming(home, "good")
        conf = home / "g.conf"  # (the fake reads cniVersion at the start of its stdin)
        conf.write_text(json.dumps({"cniVersion": "1.0.0", "name": "g", "type": "good"}))
        rc, out = run_in_pty(["try", "--json", "--cni-path", str(home), str(conf)], "root", home)
    assert rc == 0, out
    # The live line goes to stderr (here the same terminal), erased; stdout is the JSON alone.
    report = json.loads(out.rsplit("\r\x1b[K", 1)[-1])
    assert report["ok"] is True
    assert report["counts"] == {"passed": 6, "failed": 0, "skipped": 0}
    assert all(isinstance(s["duration"], float) for s in report["steps"])


@pytest.mark.parametrize("who", WHO)
def test_conformance_hanging_plugin_on_a_terminal(who: str) -> None:
    # Before: "FAIL version-reply: VERSION: killed by a signal", no counts, nothing until the end.
    with nobody_dir() as home:
        plugin = hanging_plugin(home, "hang", home / "pids")
        rc, out = run_in_pty(["conformance", "--timeout", "1", str(plugin)], who, home)
    assert rc == 1, out
    assert out.index("\r\x1b[Khang: VERSION ...") < out.index("FAIL version-reply")
    line = next(line for line in out.splitlines() if "FAIL version-reply" in line)
    assert "timed out after 1s and was killed with its process group" in line
    assert DURATION.search(line)
    assert "killed by a signal" not in out
    assert "1 passed, 1 failed, 2 skipped" in out
    assert out.rstrip().endswith("FAILED")


@pytest.mark.parametrize("who", WHO)
def test_conformance_streams_each_check_in_a_pipe(who: str) -> None:
    with nobody_dir() as home:
        gate = home / "go"
        plugin = gated_plugin(home, "slowadd", gate, wait_on="ADD")
        args = ["conformance", "--cni-version", "1.0.0", "--timeout", "600", str(plugin)]
        with running(args, who, home) as proc:
            # The warm-up ADD waits for the gate: the VERSION check is out before it.
            early = read_until(proc, "version-reply")
            assert proc.poll() is None
            gate.touch()
            assert proc.stdout is not None
            rest = proc.stdout.read()
            proc.wait()
    out = early + rest
    assert early.splitlines()[0] == "slowadd (main), versions 1.0.0:"
    assert DURATION.search(early.splitlines()[1])
    assert not CONTROL.search(out)
    assert COUNTS.search(out)
