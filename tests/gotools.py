"""Build and run ``cnigo`` (tests/go/cnigo), a cnitool-compatible front end to Go's libcni.

cnigo is built offline in GOPATH mode against Debian's ``golang-github-appc-cni-dev`` source
(libcni v1.1.2). Builds are cached by a hash of the Go sources, the Go version and the libcni
source tree, under ``$CNILIB_GO_CACHE`` (default: ``<tempdir>/cnilib-go-cache``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "CNIGO_SOURCE",
    "LIBCNI_GOPATH",
    "GoBuildError",
    "build_cnigo",
    "go_available",
    "run_cnigo",
]

CNIGO_SOURCE = Path(__file__).resolve().parent / "go" / "cnigo"
LIBCNI_GOPATH = Path("/usr/share/gocode")
_LIBCNI_SRC = LIBCNI_GOPATH / "src" / "github.com" / "containernetworking" / "cni"


class GoBuildError(RuntimeError):
    """``go build`` failed; the message holds the command's output."""


def go_available() -> bool:
    """True when a Go toolchain and Debian's libcni source are installed."""
    return shutil.which("go") is not None and (_LIBCNI_SRC / "libcni" / "api.go").is_file()


def _cache_root() -> Path:
    root = os.environ.get("CNILIB_GO_CACHE")
    return Path(root) if root else Path(tempfile.gettempdir()) / "cnilib-go-cache"


def _go_env(cache_root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GO111MODULE="off",
        GOPATH=str(LIBCNI_GOPATH),
        GOPROXY="off",
        GOFLAGS="",
        GOWORK="off",
        CGO_ENABLED="0",
    )
    if "GOCACHE" not in os.environ and not os.environ.get("HOME"):
        env["GOCACHE"] = str(cache_root / "gocache")
    return env


def _source_hash(go: str) -> str:
    h = hashlib.sha256()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=False)
    h.update(version.stdout.encode())
    for base in (CNIGO_SOURCE, _LIBCNI_SRC):
        for path in sorted(base.rglob("*.go")):
            if path.name.endswith("_test.go"):
                continue
            h.update(str(path.relative_to(base)).encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def build_cnigo(dest_dir: str | os.PathLike[str]) -> Path:
    """Build cnigo (or reuse a cached build) and return its path inside ``dest_dir``."""
    go = shutil.which("go")
    if go is None or not go_available():
        raise GoBuildError("go toolchain or Debian's golang-github-appc-cni-dev is not installed")
    cache_root = _cache_root()
    cached = cache_root / f"cnigo-{_source_hash(go)}"
    if not cached.is_file():
        cache_root.mkdir(parents=True, exist_ok=True)
        tmp = cache_root / f".cnigo-{os.getpid()}.tmp"
        proc = subprocess.run(
            [go, "build", "-trimpath", "-o", str(tmp), "."],
            cwd=CNIGO_SOURCE,
            env=_go_env(cache_root),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise GoBuildError(f"go build failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")
        os.replace(tmp, cached)  # atomic: concurrent sessions never see half a binary
    dest = Path(dest_dir) / "cnigo"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(cached, dest)
    return dest


def run_cnigo(
    binary: str | os.PathLike[str],
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    *,
    timeout: float | None = 120.0,
    host_netns: str | os.PathLike[str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run cnigo with ``args``; ``env`` is the complete environment (default: inherit).

    ``host_netns`` (a netns path such as ``/run/netns/NAME``) runs cnigo inside that network
    namespace via ``nsenter --net=PATH --``. stdout/stderr are captured as bytes (cnigo's
    ``add`` output has no trailing newline).
    """
    cmd = [os.fspath(binary), *args]
    if host_netns is not None:
        cmd = ["nsenter", f"--net={os.fspath(host_netns)}", "--", *cmd]
    return subprocess.run(
        cmd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
