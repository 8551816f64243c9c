"""What a :class:`~cnilib.testing.dockerd.PrivateDockerd` leaves on the host and how it is found
and removed (its mounts, leftover processes and shim sockets, cgroups, run directories), the
engine's command line, and the busybox root file system its test image is made from."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import signal
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

_APPLETS = ("sh", "httpd", "ip", "ls", "cat", "sleep", "wget", "ifconfig", "route", "nc", "echo")
_CGROUP_ROOT = Path("/sys/fs/cgroup")


def _unescape_mountinfo(field: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as \ooo octal.
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root).rstrip("/") + "/"
    found: list[str] = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            point = _unescape_mountinfo(line.split()[4])
            if point == str(root) or point.startswith(prefix):
                found.append(point)
    return found


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            # A zombie is as good as dead: its parent (maybe not us) will reap it.
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # gone before the open, or before the read (ESRCH)
        return False


def _kill_and_wait(pids: set[int], timeout: float = 5.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while any(_pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def _cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [a.decode(errors="surrogateescape") for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def _dockerd_argv(dockerd: str, host: str, w: Path, cgroup_parent: str, extra: Sequence[str]) -> list[str]:
    """dockerd's command line: all state in the work directory ``w``, Docker's networking off."""
    return [
        dockerd,
        f"--host={host}",
        f"--data-root={w / 'data'}",
        f"--exec-root={w / 'exec'}",
        f"--pidfile={w / 'dockerd.pid'}",
        f"--config-file={w / 'daemon.json'}",
        "--bridge=none",
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
        "--ip-masq=false",
        "--userland-proxy=false",
        f"--cgroup-parent={cgroup_parent}",
        *extra,
    ]


def _kill_leftovers(w: Path, cgroup_parent: str) -> None:
    # After a crash containerd, its shims and the containers' processes survive dockerd.
    pids = _cgroup_pids(cgroup_parent)
    containerd_dir = str(w / "exec" / "containerd")
    shim_sockets: list[str] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _cmdline(int(entry))
        if any(containerd_dir in a for a in argv):
            pids.add(int(entry))
            if "-id" in argv and "-address" in argv:
                shim_sockets.append(_shim_socket(argv))
    pids.discard(os.getpid())
    if pids:
        _kill_and_wait(pids)
    for sock in shim_sockets:
        with contextlib.suppress(OSError):
            os.unlink(sock)


def _cgroup_dirs(cgroup_parent: str) -> list[Path]:
    rel = cgroup_parent.strip("/")
    if not rel or not _CGROUP_ROOT.is_dir():
        return []
    candidates = [_CGROUP_ROOT / rel]  # cgroup v2 unified hierarchy
    candidates += [h / rel for h in _CGROUP_ROOT.iterdir() if h.is_dir()]  # v1 hierarchies
    return [c for c in candidates if c.is_dir()]


def _cgroup_pids(cgroup_parent: str) -> set[int]:
    pids: set[int] = set()
    for top in _cgroup_dirs(cgroup_parent):
        for procs in top.rglob("cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(p) for p in procs.read_text().split())
    return pids


def _remove_cgroups(cgroup_parent: str) -> None:
    for top in _cgroup_dirs(cgroup_parent):
        # Deepest first: a cgroup directory can only be removed once it has no children.
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _remove_run_dirs(preexisting: set[str]) -> None:
    # dockerd/containerd create these hard-coded directories even with --exec-root; remove
    # them only if they did not exist before and are empty now (another engine may use them).
    for top in ("/run/docker", "/run/containerd"):
        if top in preexisting or not os.path.isdir(top):
            continue
        for dirpath, _dirs, _files in sorted(os.walk(top, topdown=False), key=lambda t: -len(t[0])):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)


def _shim_socket(argv: list[str]) -> str:
    # containerd 1.6 names a shim's socket /run/containerd/s/sha256(<address>/<namespace>/<id>).
    def opt(name: str) -> str:
        i = argv.index(name)
        return argv[i + 1] if i + 1 < len(argv) else ""

    ns = opt("-namespace") if "-namespace" in argv else "moby"
    digest = hashlib.sha256(f"{opt('-address')}/{ns}/{opt('-id')}".encode()).hexdigest()
    return f"/run/containerd/s/{digest}"


def _busybox_rootfs_tar(busybox: str, index_html: str) -> bytes:
    buf = io.BytesIO()
    now = int(time.time())

    def add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, now
        tar.addfile(info)

    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("bin", "www", "etc", "proc", "sys", "dev", "root"):
            add_dir(tar, d)
        add_dir(tar, "tmp", 0o1777)
        tar.add(busybox, arcname="bin/busybox")
        for applet in _APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname, link.mode, link.mtime = tarfile.SYMTYPE, "busybox", 0o777, now
            tar.addfile(link)
        for name, text in (
            ("www/index.html", index_html),
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
            ("etc/group", "root:x:0:\n"),
        ):
            body = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(body), 0o644, now
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()
