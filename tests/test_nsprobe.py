"""The netns probe tells live namespaces from what a reboot or a removal leaves, without guessing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cnilib._base import _nsprobe as probe


def test_own_network_namespace_is_live() -> None:
    assert probe.netns_state("/proc/self/ns/net") == probe.LIVE
    assert not probe.is_gone("/proc/self/ns/net")


def test_symlink_to_a_namespace_is_followed(tmp_path: Path) -> None:
    link = tmp_path / "ns"
    link.symlink_to("/proc/self/ns/net")
    assert probe.netns_state(str(link)) == probe.LIVE


def test_other_namespace_kinds_are_not_network_namespaces() -> None:
    assert probe.netns_state("/proc/self/ns/mnt") == probe.NOT_NETNS
    assert probe.is_gone("/proc/self/ns/mnt")


def test_missing_path(tmp_path: Path) -> None:
    assert probe.netns_state(str(tmp_path / "nothing")) == probe.MISSING
    assert probe.netns_state(str(tmp_path / "no" / "dir")) == probe.MISSING
    assert probe.is_gone(str(tmp_path / "nothing"))


@pytest.mark.parametrize("kind", ["empty file", "directory", "file as a directory"])
def test_what_a_reboot_leaves_is_not_a_namespace(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "ns"
    if kind == "directory":
        path.mkdir()
    else:
        path.touch()
    target = path / "x" if kind == "file as a directory" else path
    assert probe.netns_state(str(target)) == probe.NOT_NETNS
    assert probe.is_gone(str(target))


def test_empty_path_is_not_evidence() -> None:
    assert not probe.is_gone("")


@pytest.mark.skipif(os.geteuid() != 0, reason="an unreadable directory only stops non-root")
def test_unexaminable_path_is_unknown_as_unprivileged_user(tmp_path: Path) -> None:
    import subprocess
    import sys

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    os.chmod(tmp_path, 0o755)
    code = "import sys; from cnilib._base import _nsprobe as p; print(p.netns_state(sys.argv[1]))"
    out = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            code,
            str(locked / "ns"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(probe.__file__).parents[1])},
    )
    assert out.stdout.strip() == probe.UNKNOWN
