"""Run Python code and the ``cnilib`` command as an unprivileged user (uid 65534) for the sandbox,
``try`` and conformance tests.

The suite runs as root; these helpers drop to ``nobody`` with ``setpriv``. The interpreter must be
one that uid 65534 can execute: the test run's own when it can, else the system's Python of the
same version with this checkout and the run's site-packages on ``PYTHONPATH`` (a virtualenv made
from a Python under ``/root`` is not executable by other users).
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534
ROOT = Path(__file__).resolve().parent.parent
_SETPRIV = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--")


def _pythonpath() -> str:
    return os.pathsep.join([str(ROOT), *site.getsitepackages()])


def _env(home: Path) -> dict[str, str]:
    path = os.pathsep.join(
        d for d in os.environ.get("PATH", "").split(os.pathsep) if not d.startswith("/root")
    )
    return {
        "PATH": path or "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(home),
        "PYTHONPATH": _pythonpath(),
        "LC_ALL": "C.UTF-8",
    }


@functools.cache
def nobody_python() -> str:
    """An interpreter that uid 65534 can run and that imports cnilib from this checkout."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable, shutil.which(version) or "", f"/usr/bin/{version}"]
    for candidate in candidates:
        if not candidate:
            continue
        proc = subprocess.run(
            [*_SETPRIV, candidate, "-c", "import attrs, cattrs, cnilib.sandbox"],
            env=_env(Path("/tmp")),
            cwd="/",
            capture_output=True,
            check=False,
        )
        if proc.returncode == 0:
            return candidate
    raise RuntimeError(f"no Python that uid {NOBODY} can run among {candidates}")


@contextmanager
def nobody_dir() -> Iterator[Path]:
    """A temporary directory owned by uid 65534 (pytest's tmp_path is not reachable for it)."""
    path = Path(tempfile.mkdtemp(prefix="cnilib-nobody-"))
    try:
        os.chown(path, NOBODY, NOBODY)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_as_nobody(
    args: Sequence[str], home: Path, *, cwd: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS...`` as uid 65534 with HOME=``home``; output captured as text."""
    return subprocess.run(
        [*_SETPRIV, nobody_python(), *args],
        env=_env(home),
        cwd=str(cwd or home),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def popen_as_nobody(args: Sequence[str], home: Path) -> subprocess.Popen[str]:
    """Start ``python ARGS...`` as uid 65534, stdout piped."""
    return subprocess.Popen(
        [*_SETPRIV, nobody_python(), *args],
        env=_env(home),
        cwd=str(home),
        stdout=subprocess.PIPE,
        text=True,
    )
