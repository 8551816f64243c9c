"""The first hour as a normal user (uid 65534), with Debian's real plugins (issue 24).

``cnilib add`` as a normal user fails: at the cache's lock file (the default cache, or any
directory it may not write), or at the plugin (bridge cannot make its bridge: "operation not
permitted"; host-local cannot make its store: "permission denied"). Before, the one line said just
that; now it says that the command needs root (CAP_NET_ADMIN), that ``cnilib try`` runs the
configuration without root (the command to type), and, for the cache, which directory and the
option and variable that choose another. The plugins run in the test's own namespace as uid 65534,
where they can change nothing; the container namespace is made here and deleted after.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sandbox_support import _SETPRIV, NOBODY, _env, nobody_dir, nobody_python

from cnilib import netns

pytestmark = pytest.mark.root

PLUGIN_DIR = "/usr/lib/cni"
SIDE = {
    "cniVersion": "1.0.0",
    "name": "side",
    "type": "bridge",
    "bridge": "cni-side0",
    "ipam": {"type": "host-local", "subnet": "10.99.0.0/24"},
}
NEEDS_ROOT = (
    "`cnilib {verb}` needs root (CAP_NET_ADMIN): run it as root, or try the configuration without root "
    "with `cnilib try {conf}`"
)


class User:
    """uid 65534 with a home, a configuration directory holding ``side`` and a container namespace."""

    def __init__(self, home: Path, ctr: str, filename: str) -> None:
        self.home = home
        self.ctr = ctr
        self.conf_dir = home / "net.d"
        self.conf_dir.mkdir()
        plugin = {k: v for k, v in SIDE.items() if k not in ("cniVersion", "name")}
        doc = (
            SIDE
            if filename.endswith(".conf")
            else {"cniVersion": "1.0.0", "name": "side", "plugins": [plugin]}
        )
        self.conf = self.conf_dir / filename
        self.conf.write_text(json.dumps(doc))
        self.cache = home / "cache"
        self.cache.mkdir()
        for path in (self.conf_dir, self.conf, self.cache):
            os.chown(path, NOBODY, NOBODY)

    def cnilib(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full = {**_env(self.home), "NETCONFPATH": str(self.conf_dir), "CNI_PATH": PLUGIN_DIR, **(env or {})}
        return subprocess.run(
            [*_SETPRIV, nobody_python(), "-m", "cnilib", *args],
            env=full,
            cwd=str(self.home),
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )

    def hint(self, verb: str) -> str:
        return NEEDS_ROOT.format(verb=verb, conf=shlex.quote(str(self.conf)))


def _line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ".conflist": the command line's fast path; ".conf": the typed one.
@pytest.fixture(params=["20-side.conflist", "20-side.conf"])
def user(request: pytest.FixtureRequest, ctr_ns: Callable[[], netns.NetNS]) -> Iterator[User]:
    with nobody_dir() as home:
        yield User(home, ctr_ns().path, request.param)


def test_add_with_the_default_cache_names_root_try_and_the_cache_option(user: User) -> None:
    # Before: "cnilib: add side: cannot open lock file /var/lib/cni/locks/side.lock: Permission denied"
    line = _line(user.cnilib("add", "side", user.ctr))
    assert line.startswith(
        "cnilib: add side: the cache directory /var/lib/cni is not writable by uid 65534 ("
    )
    assert "cannot open lock file /var/lib/cni/locks/side.lock: Permission denied" in line
    assert user.hint("add") in line
    assert line.endswith("; or use another cache directory: --cache-dir DIR or CNI_CACHE_DIR")


@pytest.mark.parametrize("how", ["CNI_CACHE_DIR", "--cache-dir"])
def test_an_unwritable_cache_directory_names_it_and_how_to_choose_another(
    user: User, tmp_path: Path, how: str
) -> None:
    # Before: "cannot open lock file <dir>/locks/side.lock: Permission denied", no word of the option.
    theirs = tmp_path / "root-cache"
    theirs.mkdir(mode=0o755)
    args = ("--cache-dir", str(theirs)) if how == "--cache-dir" else ()
    env = {"CNI_CACHE_DIR": str(theirs)} if how == "CNI_CACHE_DIR" else {}
    line = _line(user.cnilib("add", *args, "side", user.ctr, env=env))
    assert f"the cache directory {theirs} (from {how}) is not writable by uid 65534 (" in line
    assert line.endswith("; or use another cache directory: --cache-dir DIR or CNI_CACHE_DIR")
    assert os.listdir(theirs) == []


def test_add_that_fails_in_the_plugin_names_root_and_the_try_that_works(user: User) -> None:
    # Before: "plugin 'bridge' (ADD, ...) failed with CNI error 999: failed to create bridge
    # "cni-side0": could not add "cni-side0": operation not permitted [exit status 1]", no more.
    line = _line(user.cnilib("add", "side", user.ctr, env={"CNI_CACHE_DIR": str(user.cache)}))
    assert "plugin 'bridge' (ADD, container cnitool-" in line
    assert "operation not permitted [exit status 1]" in line
    assert line.endswith(f" ({user.hint('add')})")
    if user.conf.suffix == ".conf":
        return  # (the sandbox run below once is enough)
    command = re.search(r"`(cnilib try [^`]+)`", line)
    assert command is not None
    proc = user.cnilib(*shlex.split(command.group(1))[1:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("OK")


@pytest.mark.parametrize(
    ("verb", "words"), [("check", "permission denied"), ("del", "operation not permitted")]
)
def test_check_and_del_that_fail_in_the_plugin_name_root(user: User, verb: str, words: str) -> None:
    # CHECK: host-local cannot make /var/lib/cni/networks/side; DEL: the plugins cannot enter the
    # container's namespace.
    line = _line(user.cnilib(verb, "side", user.ctr, env={"CNI_CACHE_DIR": str(user.cache)}))
    assert words in line
    assert user.hint(verb) in line
