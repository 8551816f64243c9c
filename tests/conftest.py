"""Shared fixtures: sandbox namespaces, the private Docker engine, and the "real tests must run" rule.

Everything that touches the network happens inside namespaces created here: a session "host"
namespace where plugins run (bridges, veths and iptables rules live and die with it) and per-test
container namespaces. Nothing is ever sent to an address outside them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_support import netns_link

from cnilib import netns
from cnilib.testing.dockerd import PrivateDockerd

PLUGIN_DIR = "/usr/lib/cni"
REAL_MARKERS = ("root", "docker", "go")


def _real_required() -> bool:
    # On CI every test needing root, real plugins, Docker or Go must run; a skip is a failure.
    return os.environ.get("CI", "").lower() in ("1", "true", "yes") or bool(
        os.environ.get("CNILIB_REQUIRE_REAL")
    )


def _real_available() -> tuple[bool, str]:
    if os.geteuid() != 0:
        return False, "needs root"
    if not os.path.isfile(os.path.join(PLUGIN_DIR, "bridge")):
        return False, f"needs the Debian CNI plugins in {PLUGIN_DIR}"
    if shutil.which("nsenter") is None or shutil.which("ip") is None:
        return False, "needs nsenter and ip"
    return True, ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    ok, why = _real_available()
    if ok:
        return
    for item in items:
        if any(item.get_closest_marker(m) for m in REAL_MARKERS):
            if _real_required():
                item.add_marker(pytest.mark.usefixtures("_real_components_missing"))
            else:
                item.add_marker(pytest.mark.skip(reason=why))


_REAL_PASSED: list[str] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if any(item.get_closest_marker(m) for m in REAL_MARKERS):
        if report.when == "call" and report.passed:
            _REAL_PASSED.append(item.nodeid)
        if _real_required() and report.skipped:
            report.outcome = "failed"
            report.longrepr = f"real-component test was skipped on CI: {report.longrepr}"


# The machine's own CNI state: every test works in directories of its own, so a run must leave
# these as it found them (a default path slipping into a test would otherwise go unnoticed).
_MACHINE_STATE = ("/var/lib/cni", "/etc/cni/net.d", "/run/netns")


def _machine_state() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for top in _MACHINE_STATE:
        found[top] = {str(p) for p in Path(top).rglob("*")} if os.path.isdir(top) else set()
    return found


_STATE_BEFORE = _machine_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # A CI run in which no real-component test passed proves nothing: fail it.
    selective = session.config.option.collectonly or session.config.getoption("keyword")
    if _real_required() and exitstatus == 0 and session.testscollected and not _REAL_PASSED and not selective:
        session.exitstatus = 1
        print("\nERROR: no test needing root and the real plugins ran", flush=True)
    after = _machine_state()
    left = sorted(path for top, paths in after.items() for path in paths - _STATE_BEFORE[top])
    if left and session.testscollected:
        session.exitstatus = 1
        print("\nERROR: the run left this in the machine's own CNI state:", *left, sep="\n  ", flush=True)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(f"cnilib: {len(_REAL_PASSED)} real-component tests passed")


@pytest.fixture
def _real_components_missing() -> None:
    pytest.fail(f"real-component test cannot run on CI: {_real_available()[1]}")


@pytest.fixture(scope="session")
def host_ns() -> Iterator[netns.NetNS]:
    """The sandbox "host" namespace: plugins run here, so their bridges and rules vanish with it."""
    with netns.create(loopback_up=True) as ns:
        yield ns


@pytest.fixture
def ctr_ns() -> Iterator[Callable[[], netns.NetNS]]:
    """A factory of container namespaces, all deleted after the test (also on failure)."""
    made: list[netns.NetNS] = []

    def make() -> netns.NetNS:
        ns = netns.create(loopback_up=False)
        made.append(ns)
        return ns

    try:
        yield make
    finally:
        for ns in made:
            ns.delete()


@pytest.fixture
def host_prefix(host_ns: netns.NetNS) -> tuple[str, ...]:
    """argv prefix that runs a plugin inside the sandbox host namespace."""
    return tuple(netns.enter_argv(host_ns.path))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A host-local IPAM store private to the test."""
    d = tmp_path / "ipam"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def dockerd(host_ns: netns.NetNS) -> Iterator[PrivateDockerd]:
    """A private Docker engine living in the sandbox host namespace, stopped by pid at the end."""
    with PrivateDockerd(netns=host_ns.path) as engine:
        yield engine


@pytest.fixture(scope="session")
def busybox_image(dockerd: PrivateDockerd) -> str:
    """The busybox httpd image, built offline with ``docker import``."""
    return dockerd.build_busybox_image()


# -- the command line with fake plugins (test_cli.py, test_lean.py) -------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    """A sandbox of files for the command line (``test_cli.CLI``) under ``tmp_path``."""
    from test_cli import CLI

    return CLI(tmp_path)


@pytest.fixture
def ns_file(tmp_path: Path) -> str:
    """Stands in for a network namespace (see ``engine_support.netns_link``)."""
    return netns_link(tmp_path / "netns" / "ctr1")
