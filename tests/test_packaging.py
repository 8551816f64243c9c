"""cnilib as Python users get it: built with ``python -m build`` from a read-only checkout (nothing
written into it), checked by ``twine check``, a LICENSE with an SPDX license expression, extras named
for what they enable, and a wheel and an sdist that install into a fresh virtual environment whose
``cnilib try`` runs the founding configuration as uid 65534.

The checkout is copied (without ``.git``, ``.venv`` and what builds and test runs leave) and made
read-only: no write bits on its files and directories, and, as root (whom permissions do not stop),
a read-only bind mount of it in a private mount namespace made for each command, gone with it.
"""

from __future__ import annotations

import ast
import email.parser
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import pytest
from sandbox_support import NOBODY, nobody_dir

from cnilib._base._defaults import __version__

ROOT = Path(__file__).resolve().parent.parent
# What builds, test runs and editors leave in a checkout: not part of a fresh clone.
_LEFT_BY_RUNS = (
    ".git", ".venv", "__pycache__", "*.pyc", "dist", "build", "*.egg-info", "_build", ".tox",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", ".coverage", ".coverage.*",
)  # fmt: skip
# The machine's own interpreter: what a Debian user makes a virtual environment with, and one that
# uid 65534 can run (a Python under /root is not).
SYSTEM_PYTHON = "/usr/bin/python3"
SETPRIV = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--")


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` with its mode and modification time."""
    found: dict[str, tuple[int, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            found[os.path.relpath(os.path.join(dirpath, name), root)] = (st.st_mode, st.st_mtime_ns)
    return found


class Checkout:
    """A read-only copy of the checkout and a way to run commands that see it read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.before = _tree(path)

    def run(self, argv: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        if os.geteuid() == 0:
            # `sh -c SCRIPT PATH ARGV...`: $0 is the copy, "$@" the command.
            script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
            unshare = ["unshare", "--mount", "--propagation", "private", "--"]
            argv = [*unshare, "sh", "-c", script, str(self.path), *argv]
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600, cwd=cwd)

    def changes(self) -> list[str]:
        after = _tree(self.path)
        return sorted(
            [f"new: {p}" for p in after.keys() - self.before.keys()]
            + [f"gone: {p}" for p in self.before.keys() - after.keys()]
            + [f"changed: {p}" for p in after.keys() & self.before.keys() if after[p] != self.before[p]]
        )


def _make_read_only(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, os.stat(path).st_mode & ~0o222)
        for name in dirnames:
            os.chmod(os.path.join(dirpath, name), 0o555)
    os.chmod(root, 0o555)


def _remove(root: Path) -> None:
    for dirpath, dirnames, _ in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o755)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def checkout() -> Iterator[Checkout]:
    base = Path(tempfile.mkdtemp(prefix="cnilib-ro-"))
    try:
        base.chmod(0o755)  # uid 65534 reads examples/ from it
        copy = base / "cnilib"
        shutil.copytree(ROOT, copy, symlinks=True, ignore=shutil.ignore_patterns(*_LEFT_BY_RUNS))
        _make_read_only(copy)
        yield Checkout(copy)
    finally:
        _remove(base)


class Built(NamedTuple):
    proc: subprocess.CompletedProcess[str]
    wheel: Path
    sdist: Path


@pytest.fixture(scope="module")
def built(checkout: Checkout) -> Iterator[Built]:
    out = Path(tempfile.mkdtemp(prefix="cnilib-dist-"))
    try:
        out.chmod(0o755)
        # --no-isolation: the build backend from this environment (the `test` extra), offline.
        build = [sys.executable, "-m", "build", "--sdist", "--wheel", "--no-isolation", "--outdir", str(out)]
        proc = checkout.run([*build, "."], cwd=checkout.path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
        assert len(wheels) == len(sdists) == 1, proc.stdout
        yield Built(proc, wheels[0], sdists[0])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _metadata(text: str) -> email.message.Message:
    return email.parser.Parser().parsestr(text)


def _wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as zf:
        return _metadata(zf.read(f"cnilib-{__version__}.dist-info/METADATA").decode())


def _requirements(meta: email.message.Message) -> dict[str, set[str]]:
    """Requirement names by extra ("" for the dependencies every install gets)."""
    found: dict[str, set[str]] = {"": set()}
    for req in meta.get_all("Requires-Dist") or []:
        name = re.match(r"[A-Za-z0-9._-]+", req)
        assert name is not None, req
        extra = re.search(r"""extra\s*==\s*['"]([^'"]+)['"]""", req)
        found.setdefault(extra.group(1) if extra else "", set()).add(name.group(0).lower())
    return found


# -- building from a read-only checkout ------------------------------------------------------------


def test_build_writes_nothing_into_a_read_only_checkout(checkout: Checkout, built: Built) -> None:
    assert checkout.changes() == []
    # (setuptools' warned that the license table was deprecated, in a box the build printed twice)
    assert "warning" not in (built.proc.stdout + built.proc.stderr).lower()
    assert not list(checkout.path.glob("*.egg-info"))
    assert not (checkout.path / "build").exists()


def test_pip_install_from_a_read_only_checkout(checkout: Checkout, tmp_path: Path) -> None:
    # As the README shows it (`pip install './cnilib[docker]'`); pip builds in place. Without build
    # isolation and dependencies, offline: the backend is this environment's.
    target = tmp_path / "site"
    proc = checkout.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), f"{checkout.path}[docker]"],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert checkout.changes() == []
    assert (target / "cnilib" / "py.typed").is_file()
    assert (target / "bin" / "cnilib").read_text().startswith("#!")


def test_twine_check_passes(built: Built) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(built.wheel), str(built.sdist)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


# -- what the distributions hold -------------------------------------------------------------------


def test_license_is_an_spdx_expression_with_its_file(built: Built) -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.split()[:3] == ["Apache", "License", "Version"]
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    meta = _wheel_metadata(built.wheel)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert meta["License"] is None  # the deprecated free-text field
    assert not [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    with zipfile.ZipFile(built.wheel) as zf:
        assert zf.read(f"cnilib-{__version__}.dist-info/licenses/LICENSE").decode() == text
    with tarfile.open(built.sdist) as tf:
        member = tf.extractfile(f"cnilib-{__version__}/LICENSE")
        assert member is not None
        assert member.read().decode() == text


def _package_files() -> set[str]:
    """Every file of the cnilib package in the checkout (code, py.typed, data such as schemas)."""
    found = set()
    for path in (ROOT / "cnilib").rglob("*"):
        rel = path.relative_to(ROOT)
        if path.is_file() and "__pycache__" not in rel.parts and path.suffix != ".pyc":
            found.add(rel.as_posix())
    return found


def test_wheel_holds_the_package_the_command_and_the_pytest_plugin(built: Built) -> None:
    data = f"cnilib-{__version__}.data/scripts/"
    info = f"cnilib-{__version__}.dist-info/"
    with zipfile.ZipFile(built.wheel) as zf:
        names = set(zf.namelist())
        script = zf.read(data + "cnilib").decode()
        script_mode = zf.getinfo(data + "cnilib").external_attr >> 16
        entry_points = zf.read(info + "entry_points.txt").decode()
    assert {n for n in names if n.startswith("cnilib/")} == _package_files()
    assert "cnilib/py.typed" in names
    assert not [n for n in names if not n.startswith(("cnilib/", data, info))], "files outside the package"
    # The command is scripts/cnilib itself (fast start: no wrapper); installers rewrite `#!python`.
    source = (ROOT / "scripts" / "cnilib").read_text()
    assert source.startswith("#!python\n")
    assert script == source
    assert script_mode & 0o111 == 0o111, oct(script_mode)  # installers keep the mode: a command runs
    assert "[console_scripts]" not in entry_points
    assert re.search(r"^\[pytest11\]\ncnilib = cnilib\.testing\.pytest_plugin$", entry_points, re.MULTILINE)
    assert _wheel_metadata(built.wheel)["Version"] == __version__


def test_sdist_holds_what_rebuilds_and_tests_it(checkout: Checkout, built: Built) -> None:
    with tarfile.open(built.sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    # Every file of the checkout but what git ignores (the copy has none of what runs leave).
    files = {p for p, (mode, _) in checkout.before.items() if not stat.S_ISDIR(mode)}
    assert sorted(files - names) == [], "files missing from the sdist"
    left_by_runs = re.compile(r"(^|/)(\.venv|\.git|__pycache__|_build|\.coverage)(/|$)|\.pyc$")
    assert [n for n in names if left_by_runs.search(n)] == []


# -- extras ----------------------------------------------------------------------------------------

# For each extra a user installs, what it enables: the modules that import its requirements.
USER_EXTRAS = {
    "docker": (
        "cnilib/docker/",
        "cnilib/_cli/_watch.py",
        "cnilib/doctor/_sources.py",  # `cnilib doctor --source docker`: the engine's API (DockerSource)
    ),
    "watch": ("cnilib/_networks",),
    "otel": ("cnilib/_exec/_tracing.py",),
    "pytest": ("cnilib/testing/pytest_plugin.py",),
    "hypothesis": ("cnilib/testing/strategies.py", "cnilib/testing/_st_"),
}
# Distribution name of each import name that is not the standard library's.
DISTRIBUTIONS = {
    "attrs": "attrs", "cattrs": "cattrs", "typing_extensions": "typing-extensions", "httpx": "httpx",
    "watchfiles": "watchfiles", "opentelemetry": "opentelemetry-api", "hypothesis": "hypothesis",
    "pytest": "pytest",
}  # fmt: skip


def _third_party_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name != "cnilib"}


def test_extras_are_named_for_what_they_enable(built: Built) -> None:
    requirements = _requirements(_wheel_metadata(built.wheel))
    for path in sorted((ROOT / "cnilib").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        extra = next((e for e, prefixes in USER_EXTRAS.items() if rel.startswith(prefixes)), "")
        for name in _third_party_imports(path):
            assert name in DISTRIBUTIONS, f"{rel} imports {name}: which extra brings it?"
            dist = DISTRIBUTIONS[name]
            assert dist in requirements[""] | requirements.get(extra, set()), (
                f"{rel} needs {dist}: neither a dependency nor in the {extra or '(none)'} extra"
            )
    # `cnilib docker watch` needs what `cnilib docker attach` needs: the `docker` extra, nothing more.
    assert requirements["docker"] == {"httpx"}
    # The pytest plugin needs pytest only: its extra brings nothing of this repository's own checks.
    assert requirements["pytest"] == {"pytest"}
    assert requirements["hypothesis"] == {"hypothesis"}


@pytest.mark.parametrize("page", ["README.md", "docs/quickstart.md"])
def test_install_section_lists_every_user_extra(page: str, built: Built) -> None:
    text = (ROOT / page).read_text()
    assert "\n## Install\n" in text, f"{page} has no Install section"
    install = text.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([a-z-]+)` \|", install, re.MULTILINE))
    assert listed == set(USER_EXTRAS), listed
    assert listed <= set(_wheel_metadata(built.wheel).get_all("Provides-Extra") or [])


# -- the must-show: a user's install, run as uid 65534 ---------------------------------------------


@pytest.mark.root
@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_fresh_venv_runs_cnilib_try_as_nobody(kind: str, checkout: Checkout, built: Built) -> None:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.fail(f"needs {SYSTEM_PYTHON} with venv (Debian: python3-venv)")
    dist = built.wheel if kind == "wheel" else built.sdist
    base = Path(tempfile.mkdtemp(prefix=f"cnilib-venv-{kind}-"))
    try:
        base.chmod(0o755)
        venv = base / "venv"
        subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(venv)], check=True, capture_output=True)
        # As a user installs: pip resolves the dependencies (and, for the sdist, builds in isolation).
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(dist)],
            capture_output=True, text=True, check=False, env=env, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        cnilib_cmd = venv / "bin" / "cnilib"
        assert cnilib_cmd.read_text().startswith(f"#!{venv}/bin/python")
        site = Path(
            subprocess.run(
                [str(venv / "bin" / "python"), "-c", "import cnilib; print(cnilib.__file__)"],
                capture_output=True, text=True, check=True, env=env, cwd=base,
            ).stdout.strip()
        )  # fmt: skip
        assert site.is_relative_to(venv), site  # the installed copy, not the checkout
        conf = checkout.path / "examples" / "net.d" / "10-mybridge.conf"
        with nobody_dir() as home:
            path = f"{venv}/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            proc = subprocess.run(
                [*SETPRIV, str(cnilib_cmd), "try", str(conf)],
                capture_output=True, text=True, check=False, cwd=home, timeout=600,
                env={"PATH": path, "HOME": str(home), "LC_ALL": "C.UTF-8"},
            )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "as an unprivileged user (user namespace)" in proc.stdout
        assert "left behind by DEL: nothing" in proc.stdout
        assert proc.stdout.rstrip().endswith("OK")
        assert checkout.changes() == []
        # Installed without extras, `cnilib docker watch` names the one it needs.
        cache = base / "cache"
        proc = subprocess.run(
            [str(cnilib_cmd), "docker", "watch", "--once", "--cache-dir", str(cache)],
            capture_output=True, text=True, check=False, cwd=base, env=env, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 1
        assert "pip install cnilib[docker]" in proc.stderr, proc.stderr
        assert not cache.exists()  # said before the watcher made any state
    finally:
        shutil.rmtree(base, ignore_errors=True)
