"""An interrupted ``Networks.setup`` (``KeyboardInterrupt``, any exception that is not a CNIError)
leaves nothing attached, as a cancelled ``AsyncNetworks.setup`` does; it never DELs a network whose
ADD it did not start, that failed (and rolled itself back) or that was attached before it.

The plugins are real executables in a temporary directory; the interrupt is a real SIGINT sent to
this process while a plugin runs (Python raises ``KeyboardInterrupt`` in the main thread, where the
setup runs). The same with the real plugins, in a child process: ``test_netset_interrupt_real.py``.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import cnilib
from cnilib.testing.plugins import write_plugin

RESULT = '{"cniVersion":"1.0.0","interfaces":[{"name":"%s"}],"ips":[{"address":"10.7.0.2/24","interface":0}]}'
#: A live network namespace (this process's): fake plugins do not enter it, the pre-flight may look.
NETNS = f"/proc/{os.getpid()}/ns/net"


def plugin(bindir: Path, name: str, *, hold: str = "", fail: bool = False) -> None:
    """Logs ``VERB IFNAME`` per call. On the verbs in ``hold`` it writes ``<name>.<VERB>.started``
    and waits until ``<name>.<VERB>.go`` exists (at most 60 s); an ADD answers a result, or fails
    with ``fail``."""
    log = bindir / f"{name}.log"
    add = 'printf \'{"code":7,"msg":"refused"}\'; exit 1' if fail else f"printf '{RESULT}' \"$CNI_IFNAME\""
    write_plugin(
        bindir,
        name,
        f"""cat >/dev/null
echo "$CNI_COMMAND $CNI_IFNAME" >> {log}
case " {hold} " in *" $CNI_COMMAND "*)
  : > {bindir}/{name}.$CNI_COMMAND.started
  i=0; while [ ! -e {bindir}/{name}.$CNI_COMMAND.go ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done ;;
esac
case "$CNI_COMMAND" in
ADD) {add} ;;
VERSION) printf '{{"cniVersion":"1.0.0","supportedVersions":["0.4.0","1.0.0"]}}' ;;
esac
""",
    )


def log(bindir: Path, name: str) -> list[str]:
    path = bindir / f"{name}.log"
    return path.read_text().splitlines() if path.exists() else []


def conflist(name: str, *types: str) -> cnilib.NetworkConfigList:
    doc = {"cniVersion": "1.0.0", "name": name, "plugins": [{"type": t} for t in types]}
    return cnilib.NetworkConfigList.from_bytes(json.dumps(doc))


def wait_for(path: Path) -> None:
    # Waiting for a plugin to get somewhere, not a timing assertion.
    event = threading.Event()
    for _ in range(6000):
        if path.exists():
            return
        event.wait(0.01)
    raise AssertionError(f"{path} never appeared")


@pytest.fixture
def bindir(tmp_path: Path) -> Path:
    path = tmp_path / "bin"
    plugin(path, "quick")
    plugin(path, "slow", hold="ADD")
    plugin(path, "slowdel", hold="ADD DEL")
    plugin(path, "refusing", fail=True)
    return path


@pytest.fixture
def interrupter() -> Iterator[Callable[..., None]]:
    """``interrupt(when, *then)``: a thread that waits for the file ``when``, sends SIGINT to this
    process's main thread, then creates the files ``then`` (releasing held plugins)."""
    threads: list[threading.Thread] = []

    def interrupt(when: Path, *then: Path) -> None:
        def run() -> None:
            wait_for(when)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            for path in then:
                path.touch()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)

    yield interrupt
    for thread in threads:
        thread.join(timeout=120)


def networks(bindir: Path, cache: Path, *lists: cnilib.NetworkConfigList, **kw: Any) -> cnilib.Networks:
    return cnilib.Networks(list(lists), plugin_dirs=[str(bindir)], cache_dir=cache, **kw)


def nothing_cached(cache: Path) -> None:
    cni = cnilib.CNI(cache_dir=cache)
    assert cni.cached_attachments() == []
    assert cni.unfinished_adds() == []


def notes(exc: BaseException) -> list[str]:
    return list(getattr(exc, "__notes__", []))


def test_sequential_the_finished_and_the_stopped_one_are_deleted(
    bindir: Path, tmp_path: Path, interrupter: Callable[..., None]
) -> None:
    cache = tmp_path / "cache"
    nets = networks(bindir, cache, conflist("a", "quick"), conflist("b", "slow"), parallel=False)
    interrupter(bindir / "slow.ADD.started")
    with pytest.raises(KeyboardInterrupt) as info:
        nets.setup("c1", NETNS)
    assert log(bindir, "quick") == ["ADD eth0", "DEL eth0"]  # attached, then DELeted
    assert log(bindir, "slow") == ["ADD eth1", "DEL eth1"]  # stopped in flight (intent), DELeted
    assert notes(info.value) == ["setup interrupted: a/eth0 DELeted", "setup interrupted: b/eth1 DELeted"]
    nothing_cached(cache)


def test_sequential_a_network_not_started_is_not_deleted(
    bindir: Path, tmp_path: Path, interrupter: Callable[..., None]
) -> None:
    cache = tmp_path / "cache"
    nets = networks(bindir, cache, conflist("b", "slow"), conflist("a", "quick"), parallel=False)
    interrupter(bindir / "slow.ADD.started")
    with pytest.raises(KeyboardInterrupt):
        nets.setup("c1", NETNS)
    assert log(bindir, "slow") == ["ADD eth0", "DEL eth0"]
    assert log(bindir, "quick") == []  # its ADD never started: nothing to undo
    nothing_cached(cache)


def test_parallel_the_running_adds_end_then_everything_is_deleted(
    bindir: Path, tmp_path: Path, interrupter: Callable[..., None]
) -> None:
    cache = tmp_path / "cache"
    lists = (conflist("a", "quick"), conflist("b", "slow"), conflist("r", "refusing"))
    nets = networks(bindir, cache, *lists, parallel=True)
    # SIGINT while "slow" waits, then let it go on: the setup waits for it, then undoes it.
    interrupter(bindir / "slow.ADD.started", bindir / "slow.ADD.go")
    with pytest.raises(KeyboardInterrupt) as info:
        nets.setup("c1", NETNS)
    assert log(bindir, "quick") == ["ADD eth0", "DEL eth0"]
    assert log(bindir, "slow") == ["ADD eth1", "DEL eth1"]  # finished after the interrupt, DELeted
    assert log(bindir, "refusing") == ["ADD eth2", "DEL eth2"]  # its own rollback, not one more DEL
    assert sorted(notes(info.value)) == [
        "setup interrupted: a/eth0 DELeted",
        "setup interrupted: b/eth1 DELeted",
    ]
    nothing_cached(cache)


class _Interrupting(cnilib.CNI):
    """An engine whose ADD of network ``after`` raises ``exc`` once the ADD has finished (the
    moment between its return and the setup noting it), or ``before`` it starts."""

    def __init__(self, *args: Any, after: str = "", before: str = "", exc: BaseException, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.after, self.before, self.exc = after, before, exc

    def add(self, conflist: cnilib.NetworkConfigList, rt: cnilib.RuntimeConfig, **kw: Any) -> Any:
        if conflist.name == self.before:
            raise self.exc
        result = super().add(conflist, rt, **kw)
        if conflist.name == self.after:
            raise self.exc
        return result


@pytest.mark.parametrize("parallel", [False, True])
def test_an_add_that_finished_as_the_interrupt_came_is_deleted(
    bindir: Path, tmp_path: Path, parallel: bool
) -> None:
    # In a worker thread the exception is not an interrupt but a bug: the same rule applies.
    cache = tmp_path / "cache"
    cni = _Interrupting([str(bindir)], cache, after="b", exc=RuntimeError("boom"))
    nets = cnilib.Networks([conflist("a", "quick"), conflist("b", "quick")], cni=cni, parallel=parallel)
    with pytest.raises(RuntimeError, match="boom"):
        nets.setup("c1", NETNS)
    assert sorted(log(bindir, "quick")) == ["ADD eth0", "ADD eth1", "DEL eth0", "DEL eth1"]
    nothing_cached(cache)


def test_a_network_attached_before_the_setup_is_never_deleted(bindir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    earlier = cnilib.CNI([str(bindir)], cache)
    earlier.add(conflist("b", "quick"), cnilib.RuntimeConfig(container_id="c1", netns=NETNS, ifname="eth1"))
    (bindir / "quick.log").unlink()
    cni = _Interrupting([str(bindir)], cache, before="b", exc=KeyboardInterrupt())
    nets = cnilib.Networks([conflist("a", "quick"), conflist("b", "quick")], cni=cni, parallel=False)
    with pytest.raises(KeyboardInterrupt) as info:
        nets.setup("c1", NETNS)
    assert log(bindir, "quick") == ["ADD eth0", "DEL eth0"]  # not b's: it was there before
    assert notes(info.value) == ["setup interrupted: a/eth0 DELeted"]
    assert [e.key for e in earlier.cached_attachments()] == [("b", "c1", "eth1")]


def test_a_second_interrupt_stops_the_cleanup_and_remove_finishes_it(
    bindir: Path, tmp_path: Path, interrupter: Callable[..., None]
) -> None:
    cache = tmp_path / "cache"
    nets = networks(bindir, cache, conflist("b", "slowdel"), conflist("a", "slow"), parallel=False)
    (bindir / "slowdel.ADD.go").touch()  # b's ADD goes through; its DEL (in the cleanup) waits
    interrupter(bindir / "slow.ADD.started")  # the first: during a's ADD
    interrupter(bindir / "slowdel.DEL.started")  # the second: during the cleanup's DEL of b
    with pytest.raises(KeyboardInterrupt) as info:
        nets.setup("c1", NETNS)
    assert isinstance(info.value.__context__, KeyboardInterrupt)  # the first one
    assert log(bindir, "slowdel") == ["ADD eth0", "DEL eth0"]
    assert log(bindir, "slow") == ["ADD eth1"]  # never reached by the cleanup
    left = cnilib.CNI(cache_dir=cache)
    assert [e.key for e in left.cached_attachments()] == [("b", "c1", "eth0")]  # its DEL was stopped
    assert [e.key for e in left.unfinished_adds()] == [("a", "c1", "eth1")]  # stopped in flight
    (bindir / "slowdel.DEL.go").touch()
    nets.remove("c1", NETNS)
    assert log(bindir, "slow") == ["ADD eth1", "DEL eth1"]
    nothing_cached(cache)
