"""Starting a sandbox: the holder process (``unshare`` of a user, network, mount and PID
namespace running a small shell script) and why it could not start."""

from __future__ import annotations

import contextlib
import select
import subprocess
from pathlib import Path

from cnilib.sandbox._state import _CACHE_IN_SANDBOX, SandboxError, UserNamespaceUnavailable

_READY_TIMEOUT = 30.0

# Runs as the holder, inside the new namespaces. /var/lib/cni may not exist and, as root, must not
# be created on the real file system: then the tmpfs goes over /var/lib (only plugins see it).
_HOLDER_SCRIPT = f"""set -e
mount -t tmpfs -o mode=0755 cnilib-run /run
mkdir -p /run/netns /run/lock {_CACHE_IN_SANDBOX}
if [ -d /var/lib/cni ]; then
  mount -t tmpfs -o mode=0755 cnilib-cni /var/lib/cni
else
  mount -t tmpfs -o mode=0755 cnilib-varlib /var/lib
  mkdir /var/lib/cni
fi
ip link set lo up
echo ready
exec cat >/dev/null
"""


def _userns_hint() -> str:
    for path, good in (
        ("/proc/sys/kernel/unprivileged_userns_clone", "1"),
        ("/proc/sys/user/max_user_namespaces", None),
    ):
        with contextlib.suppress(OSError):
            value = Path(path).read_text().strip()
            if (good is not None and value != good) or value == "0":
                return f" ({path} is {value})"
    return ""


def _holder_argv(rootless: bool) -> list[str]:
    ns = ["--user", "--map-root-user"] if rootless else []
    return [
        "unshare",
        *ns,
        "--net",
        "--mount",
        # A PID namespace too: when its first process (the holder) exits, the kernel kills
        # every process left in it, even when this process was SIGKILLed and cleaned nothing.
        "--pid",
        "--fork",
        "--mount-proc",  # plugins read /proc/PID/task/TID/ns/net with their own pids
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        _HOLDER_SCRIPT,
    ]


def _start_holder(rootless: bool) -> subprocess.Popen[bytes]:
    """Start the holder and wait for its ``ready``; :class:`SandboxError` when it cannot start."""
    try:
        proc = subprocess.Popen(
            _holder_argv(rootless),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,  # a ^C to the test run reaches us, and we close it
        )
    except FileNotFoundError as exc:
        raise SandboxError("the `unshare` program (util-linux) is not installed") from exc
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], _READY_TIMEOUT)
    line = proc.stdout.readline() if ready else b""
    if line.strip() == b"ready":
        return proc
    proc.kill()
    _, err = proc.communicate()
    text = err.decode(errors="replace").strip() or "no output"
    # EPERM/EACCES (a sysctl or an LSM forbids it) or ENOSPC (max_user_namespaces is 0).
    if rootless and "unshare failed" in text:
        raise UserNamespaceUnavailable(
            "this kernel does not let an unprivileged user create a user namespace"
            f"{_userns_hint()}: the sandbox needs one when not run as root ({text})"
        )
    raise SandboxError(f"could not create the sandbox's namespaces: {text}")
