"""dist/cnilib.pyz (scripts/build-zipapp.py): cnilib and its dependencies in one file that runs with a
node's own ``python3`` in isolated mode without site-packages, as root and as uid 65534, and with
Python 3.10 where one is installed. The archive is built into a temporary directory, never dist/.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

import pytest
from sandbox_support import NOBODY, nobody_dir

import cnilib
from cnilib import netns
from cnilib.testing.podman import PrivatePodman, podman_available

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "scripts" / "build-zipapp.py"
NODE_PYTHON = "/usr/bin/python3"  # the node's own: not a version manager's shim, not the venv
PY310 = sorted(Path("/root/.pyenv/versions").glob("3.10.*/bin/python3"))
# What a node has: no PYTHON* variables (-I ignores them anyway), nothing of the test run's.
NODE_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}

pytestmark = pytest.mark.skipif(not os.access(NODE_PYTHON, os.X_OK), reason=f"needs {NODE_PYTHON}")


class Built(NamedTuple):
    pyz: Path
    output: str
    tree_before: dict[str, int]
    tree_after: dict[str, int]


def _tree() -> dict[str, int]:
    """Every file of the checkout but .git, .venv and dist/, with its modification time."""
    found: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(ROOT):
        if dirpath == str(ROOT):
            dirnames[:] = [d for d in dirnames if d not in (".git", ".venv", "dist")]
            # (the test run's own coverage data: every measured process writes a file there)
            filenames[:] = [f for f in filenames if not f.startswith(".coverage")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            found[path] = os.lstat(path).st_mtime_ns
    return found


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    out_dir = Path(tempfile.mkdtemp(prefix="cnilib-pyz-"))
    try:
        before = _tree()
        proc = subprocess.run(
            [sys.executable, str(BUILD), "--output", str(out_dir / "cnilib.pyz")],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        yield Built(out_dir / "cnilib.pyz", proc.stdout, before, _tree())
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)


def _run(
    pyz: Path, *args: str, python: str = NODE_PYTHON, cwd: Path | None = None, user: int | None = None
) -> subprocess.CompletedProcess[str]:
    setpriv = (
        [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]
    )
    return subprocess.run(
        [*setpriv, python, "-I", "-S", str(pyz), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=NODE_ENV,
        cwd=str(cwd or pyz.parent),  # not the checkout: nothing of cnilib's source is at hand
    )


def _check_root_free_commands(
    pyz: Path, confdir: Path, *, python: str = NODE_PYTHON, user: int | None = None
) -> None:
    version = _run(pyz, "--version", python=python, user=user)
    assert (version.returncode, version.stdout) == (0, f"cnilib {cnilib.__version__}\n"), version.stderr
    common = ["--conf-dir", str(confdir), "--cni-path", "/usr/lib/cni"]
    validate = _run(pyz, "validate", "mybridge", *common, "--json", python=python, user=user)
    assert validate.returncode == 0, validate.stderr
    report = json.loads(validate.stdout)
    assert report["ok"] is True
    assert [p["path"] for p in report["plugins"]] == ["/usr/lib/cni/bridge"]
    explain = _run(
        pyz, "explain", "add", "mybridge", "/run/netns/web", *common, "--json", python=python, user=user
    )
    assert explain.returncode == 0, explain.stderr
    [call] = json.loads(explain.stdout)
    assert (call["plugin"], call["env"]["CNI_COMMAND"], call["env"]["CNI_NETNS"]) == (
        "bridge",
        "ADD",
        "/run/netns/web",
    )


# -- the build --------------------------------------------------------------------------------------


def test_build_bundles_pure_python_dependencies_and_writes_only_its_output(built: Built) -> None:
    assert built.tree_after == built.tree_before  # not even __pycache__ in the checkout
    for dist in ("attrs==", "cattrs==", "typing_extensions==", "exceptiongroup==", "httpx=="):
        assert dist in built.output
    with zipfile.ZipFile(built.pyz) as zf:
        names = set(zf.namelist())
    assert {
        "__main__.py",
        "cnilib/_cli/__init__.py",
        "cnilib/_cli/__init__.pyc",
        "exceptiongroup/__init__.py",
    } <= names
    assert not [n for n in names if n.startswith("cnilib/testing/")]  # pytest helpers stay out
    assert built.pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_zipapp", BUILD)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("wheel_tag", "record", "message"),
    [
        (
            "cp311-cp311-linux_x86_64",
            "fast/__init__.py,,\nfast/_speedups.cpython-311-x86_64-linux-gnu.so,,\n",
            "pure",
        ),
        ("py3-none-any", "fast/__init__.py,,\nfast/_speedups.so,,\n", "compiled extensions"),
    ],
)
def test_a_compiled_dependency_fails_the_build(
    tmp_path: Path, wheel_tag: str, record: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no scripts/__pycache__ in the checkout
    info = tmp_path / "fast-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fast\nVersion: 1.0\n")
    (info / "WHEEL").write_text(f"Wheel-Version: 1.0\nTag: {wheel_tag}\n")
    (info / "RECORD").write_text(record)
    build = _build_module()
    with pytest.raises(build.BuildError, match=message):
        build._pure(importlib.metadata.PathDistribution(info))


# -- running it ---------------------------------------------------------------------------------------


def test_the_node_python_has_no_cnilib_of_its_own() -> None:
    # The control: whatever the archive does, it does not borrow from an installation.
    proc = subprocess.run(
        [NODE_PYTHON, "-I", "-S", "-c", "import attrs"],
        capture_output=True,
        text=True,
        check=False,
        env=NODE_ENV,
    )
    assert "ModuleNotFoundError" in proc.stderr


@pytest.fixture
def confdir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "examples" / "net.d", tmp_path / "net.d")
    return tmp_path / "net.d"


def test_runs_with_the_node_python(built: Built, confdir: Path) -> None:
    _check_root_free_commands(built.pyz, confdir)


@pytest.mark.skipif(not PY310, reason="no Python 3.10 installed here (pyenv)")
def test_runs_with_python_310(built: Built, confdir: Path) -> None:
    _check_root_free_commands(built.pyz, confdir, python=str(PY310[-1]))


@pytest.mark.root
def test_runs_as_an_unprivileged_user(built: Built) -> None:
    with nobody_dir() as home:
        pyz = home / "cnilib.pyz"
        shutil.copyfile(built.pyz, pyz)
        shutil.copytree(ROOT / "examples" / "net.d", home / "net.d")
        for path in (pyz, home / "net.d"):
            os.chown(path, NOBODY, NOBODY)
        _check_root_free_commands(pyz, home / "net.d", user=NOBODY)


@pytest.mark.root
@pytest.mark.skipif(not podman_available(), reason="needs root, podman (CNI backend), busybox-static")
def test_doctor_json_on_a_node(built: Built) -> None:
    try:
        import cnilib.doctor  # noqa: F401
    except ImportError:
        pytest.skip("needs cnilib.doctor")
    # On a node of the test's own (podman's state and /var/lib/cni private), with no containers.
    with netns.create(loopback_up=True) as host, PrivatePodman(netns=host.path) as node:
        argv = [NODE_PYTHON, "-I", "-S", str(built.pyz), "doctor", "--json"]
        for extra in ((), ("--source", "podman")):
            proc = node.run([*argv, *extra], check=False, env=NODE_ENV)
            assert proc.returncode in (0, 1), proc.stderr  # 0 nothing found, 1 found; 2 is an error
            report = json.loads(proc.stdout)
            assert report["ok"] is (proc.returncode == 0)
            assert (report["findings"] == []) is (proc.returncode == 0)
            assert isinstance(report["checked"], dict)
        assert proc.returncode == 0, report  # podman's side of an empty node is clean
