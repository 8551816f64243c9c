"""A plugin never outlives, unaccounted, the operation that started it (issue 21, item 1), in unit
tests: fake plugins are real executables in a temp dir; no namespace is touched.

- every plugin an operation starts inherits the descriptors of the operation's locks (both
  drivers), so the locks live as long as the plugin even when the runtime is killed; a call that
  holds no lock (VERSION) passes none;
- after a normal end the locks go for every holder: a process a plugin left behind with the
  descriptor does not keep them; a plugin whose end the runtime did not see keeps them until it ends;
- ``cnilib add`` (fast path and typed path) takes SIGTERM, SIGHUP and SIGINT alike: the plugin's
  group is killed, the intent record stays, the exit status is 128 + the signal.

The real plugins, a killed runtime and the GC racing it are in ``test_kill_real.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import conflist, result_for
from test_cli import CLI, CNILIB

from cnilib import CNI, AsyncCNI, ExecOutcome, ExecRequest, LockError, ResultCache, RuntimeConfig
from cnilib._base._operation import OPERATION, gone, spawning
from cnilib.testing.plugins import read_pids, recording_plugin, wait_gone, write_plugin

NET = "killnet"
CID = "ctr1"
RESULT = json.dumps(result_for("1.0.0", "10.0.0.2/24"))


def fd_targets(pid: int | str) -> set[str]:
    """What the descriptors of process ``pid`` refer to."""
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(FileNotFoundError):  # (closed meanwhile)
            found.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
    return found


def lock_file(cache: Path) -> str:
    return str(cache / "locks" / f"{NET}.lock")


def run_engine(kind: str, cache: Path, bindir: Path, verb: str, *args: Any) -> Any:
    if kind == "sync":
        return getattr(CNI([str(bindir)], cache), verb)(*args)
    return asyncio.run(getattr(AsyncCNI([str(bindir)], cache), verb)(*args))


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    d = tmp_path / "bin"
    d.mkdir()
    return d


@pytest.fixture
def left_behind(tmp_path: Path) -> Iterator[Path]:
    """A pid file for a process a plugin leaves running; it is killed after the test."""
    pidfile = tmp_path / "left.pid"
    try:
        yield pidfile
    finally:
        if pidfile.exists():
            pid = int(pidfile.read_text())
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone([pid])


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_every_plugin_of_an_operation_inherits_its_locks(kind: str, bindir: Path, tmp_path: Path) -> None:
    seen = tmp_path / "fds"
    # The plugin lists what its descriptors refer to, then answers.
    version = json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["1.0.0"]})
    body = (
        f'for f in /proc/$$/fd/*; do readlink "$f"; done >> {seen}\n'
        f'if [ "$CNI_COMMAND" = VERSION ]; then printf %s {version!r}; else printf %s {RESULT!r}; fi\n'
    )
    write_plugin(bindir, "fdlist", body)
    cache = tmp_path / "cache"
    conf = conflist("1.0.0", [{"type": "fdlist"}, {"type": "fdlist"}], name=NET)
    rt = RuntimeConfig(container_id=CID, netns="/proc/self/ns/net")

    run_engine(kind, cache, bindir, "add", conf, rt)
    assert seen.read_text().splitlines().count(lock_file(cache)) == 2  # each plugin of the ADD
    seen.unlink()
    run_engine(kind, cache, bindir, "version_info", "fdlist")  # (no lock held: none passed)
    listed = seen.read_text().splitlines()
    assert listed  # (it ran)
    assert lock_file(cache) not in listed


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_process_a_plugin_left_behind_does_not_keep_the_locks(
    kind: str, bindir: Path, tmp_path: Path, left_behind: Path
) -> None:
    # A daemon that keeps inherited descriptors open (its stdio closed, so nothing waits for it).
    body = f"sleep 1000 </dev/null >/dev/null 2>&1 &\necho $! > {left_behind}\nprintf %s {RESULT!r}\n"
    write_plugin(bindir, "daemonizing", body)
    cache = tmp_path / "cache"
    conf = conflist("1.0.0", [{"type": "daemonizing"}], name=NET)

    run_engine(kind, cache, bindir, "add", conf, RuntimeConfig(container_id=CID, netns="/proc/self/ns/net"))
    daemon = int(left_behind.read_text())
    assert lock_file(cache) in fd_targets(daemon)  # it does hold the descriptor...
    store = ResultCache(cache)
    with store.lock(NET, CID, "eth0", timeout=0):  # ...but no longer the locks
        pass
    with store.lock(NET, exclusive=True, timeout=0):
        pass


class InterruptedExecutor:
    """Starts a "plugin" (``sleep``) the way the subprocess executors do, then is interrupted: with
    ``seen``, after it saw the plugin's end (as after the group was killed), else before."""

    def __init__(self, seen: bool) -> None:
        self.seen = seen
        self.procs: list[subprocess.Popen[bytes]] = []

    def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
        locks = OPERATION.get()
        self.procs.append(
            subprocess.Popen(["sleep", "1000"], pass_fds=spawning(locks), start_new_session=True)
        )
        if self.seen:
            gone(locks)
        raise KeyboardInterrupt


@pytest.mark.parametrize("seen", [False, True], ids=["end-not-seen", "end-seen"])
def test_a_plugin_whose_end_was_not_seen_keeps_the_locks_until_it_ends(tmp_path: Path, seen: bool) -> None:
    cache = tmp_path / "cache"
    executor = InterruptedExecutor(seen)
    cni = CNI(["/nonexistent"], cache, executor=executor)
    conf = conflist("1.0.0", [{"type": "any"}], name=NET)
    store = ResultCache(cache)
    try:
        with pytest.raises(KeyboardInterrupt):
            cni.add(conf, RuntimeConfig(container_id=CID, netns="/proc/self/ns/net"))
        [proc] = executor.procs
        if seen:  # released for every holder: the sleep holds the descriptor, not the locks
            with store.lock(NET, CID, "eth0", timeout=0):
                pass
        else:
            with pytest.raises(LockError), store.lock(NET, CID, "eth0", timeout=0):
                pass
            with pytest.raises(LockError), store.lock(NET, exclusive=True, timeout=0):
                pass
        proc.kill()
        proc.wait()
        with store.lock(NET, exclusive=True, timeout=0):  # the last holder is gone
            pass
        assert [p.name for p in (cache / "intents").iterdir()] != []  # for GC and recover()
    finally:
        for p in executor.procs:
            p.kill()
            p.wait()


# -- the command line -----------------------------------------------------------------------------


def wait_delivered(pid: int, sig: int) -> None:
    """Wait until the kernel delivered ``sig`` to ``pid`` (its bit left the pending sets).

    ``cnilib``'s main thread waits in poll(2) while a plugin runs: a delivered signal interrupts it,
    and the Python handler runs before that thread does anything else (reaping the plugin included).
    """
    bit = 1 << (sig - 1)
    while True:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return
        fields = {k: v.strip() for k, v in (line.split(":", 1) for line in text.splitlines())}
        if fields["State"].startswith(("Z", "X")):  # it died of it (a zombie keeps it pending)
            return
        if not (int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)) & bit:
            return
        time.sleep(0.005)


def gated_plugin(directory: Path, name: str, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A plugin that says it started (its pid in ``DIR/pid``), waits for the file ``go``, then logs
    ``end`` and answers; returns (DIR, go, log)."""
    piddir, go, log = tmp_path / f"{name}.pids", tmp_path / "go", tmp_path / f"{name}.log"
    piddir.mkdir()
    pid = piddir / "pid"
    body = (
        f"echo $$ > {pid}.tmp && mv {pid}.tmp {pid}\n"
        f"while [ ! -e {go} ]; do sleep 0.02; done\n"
        f"echo end >> {log}\nprintf %s {RESULT!r}\n"
    )
    write_plugin(directory, name, body)
    return piddir, go, log


def kill_group_of(pidfile: Path) -> None:
    """SIGKILL the process group led by the pid in ``pidfile``, if there is one."""
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
@pytest.mark.parametrize("path", ["fast", "typed"])
@pytest.mark.parametrize("force", [False, True], ids=["once", "twice"])
def test_cnilib_add_stopped_by_a_signal_keeps_the_intent(
    cli: CLI, ns_file: str, tmp_path: Path, sig: signal.Signals, path: str, force: bool
) -> None:
    """Once: the plugin finishes (it may not be cut half-way), then the command stops before the
    next step. Twice: the plugin's group is killed at once. Either way the intent record stays."""
    piddir, go, log = gated_plugin(cli.bin, "gated", tmp_path)
    second = recording_plugin(cli.bin, "second", log=tmp_path / "second.log")
    plugins = [{"type": "gated"}, {"type": "second"}]
    cli.write_conf("10-kill.conflist", {"cniVersion": "1.0.0", "name": NET, "plugins": plugins})
    args = ["add", NET, ns_file] if path == "fast" else ["--debug", "add", NET, ns_file]
    proc = subprocess.Popen([*CNILIB, *args], env=cli.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        [plugin] = read_pids(piddir, timeout=60)
        for _ in range(2 if force else 1):
            proc.send_signal(sig)
            wait_delivered(proc.pid, sig)
        go.touch()
        _, err = proc.communicate(timeout=60)
    finally:
        go.touch()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        kill_group_of(piddir / "pid")  # (only after a failure: a plugin left running)
    assert proc.returncode == 128 + sig, err
    text = err.decode()
    assert ("interrupted" if sig == signal.SIGINT else f"stopped by {sig.name}") in text, text
    assert "Traceback" not in text, text
    assert wait_gone([plugin]) == []
    assert log.exists() is not force  # killed only when forced; else it ended by itself
    assert second.records() == []  # nothing ran after the stop
    assert [p.name for p in (cli.cache / "intents").iterdir()] != []  # the unfinished ADD, for GC
    assert not (cli.cache / "results").exists() or list((cli.cache / "results").iterdir()) == []
    with ResultCache(cli.cache).lock(NET, exclusive=True, timeout=0):
        pass


class _Stop(Exception):
    """What the command line's handler defers (a KeyboardInterrupt there)."""


class _Marking:
    """Answers every plugin call, marking the running operation as a stop signal handler would."""

    def __init__(self) -> None:
        self.ran: list[str] = []

    def answer(self, request: ExecRequest) -> ExecOutcome:
        op = OPERATION.get()
        assert op is not None
        op.stop = _Stop()
        self.ran.append(request.plugin)
        return ExecOutcome(exit_status=0, stdout=RESULT.encode())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_stop_asked_while_a_plugin_runs_takes_effect_once_it_ended(kind: str, tmp_path: Path) -> None:
    marking = _Marking()

    class Sync:
        def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
            return marking.answer(request)

    class Async:
        async def run(self, request: ExecRequest, *, timeout: float | None = None) -> ExecOutcome:
            return marking.answer(request)

    conf = conflist("1.0.0", [{"type": "a"}, {"type": "b"}], name=NET)
    rt = RuntimeConfig(container_id=CID, netns="/x")

    def add() -> object:
        if kind == "sync":
            return CNI(["/nonexistent"], tmp_path / "cache", executor=Sync()).add(conf, rt)
        return asyncio.run(AsyncCNI(["/nonexistent"], tmp_path / "cache", executor=Async()).add(conf, rt))

    with pytest.raises(_Stop):
        add()
    assert marking.ran == ["a"]  # the next plugin never started
    assert [p.name for p in (tmp_path / "cache" / "intents").iterdir()] != []  # left for GC


def test_cnilib_restores_the_signal_handlers_it_replaced(cli: CLI, ns_file: str) -> None:
    # ``main`` may run inside a program with handlers of its own: they are back afterwards.
    write_plugin(cli.bin, "ok", f"printf %s {RESULT!r}\n")
    cli.write_conf("10-kill.conflist", {"cniVersion": "1.0.0", "name": NET, "plugins": [{"type": "ok"}]})
    script = (
        "import signal, sys\n"
        "from cnilib._cli import main\n"
        "mine = lambda *a: None\n"
        "for s in (signal.SIGTERM, signal.SIGHUP): signal.signal(s, mine)\n"
        "rc = main(sys.argv[1:])\n"
        "kept = all(signal.getsignal(s) is mine for s in (signal.SIGTERM, signal.SIGHUP))\n"
        "print('\\n', rc, kept, signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "add", NET, ns_file], env=cli.env(), capture_output=True, check=False
    )
    assert proc.returncode == 0, proc
    assert proc.stdout.decode().split()[-3:] == ["0", "True", "True"], proc
